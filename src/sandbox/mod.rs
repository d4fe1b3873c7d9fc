//! The built-in fake MWS.
