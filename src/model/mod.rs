//! Vocabulary shared by the workflows and the adapters, free of I/O and protocol names.

pub mod order;
