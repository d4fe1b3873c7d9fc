//! The MWS protocol: signing, XML models, the quota model.
