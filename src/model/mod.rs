//! Vocabulary without I/O: the order lifecycle and shipment states as enums, and the
//! item quantities a package carries.

pub mod lifecycle;
pub mod package;
