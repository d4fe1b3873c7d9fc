//! Vocabulary without I/O, shared by the workflows and the adapters: the order lifecycle and
//! shipment states as enums, the item quantities a package carries, the protocol-neutral
//! order and Buy Shipping types, and the bounds a remote quantity or price must keep.

pub mod lifecycle;
pub mod marketplace;
pub mod order;
pub mod package;
pub mod packing;
pub mod plausible;
pub mod retention;
pub mod shipping;
pub mod tracking;
pub mod urgency;
