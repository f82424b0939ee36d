//! Where repository trees come from. For now a directory on disk; the git
//! reader joins it later. Both hand `spec` plain `(path, text)` pairs.

pub mod dir;
mod ignore;

pub use dir::{read_tree, ReadError};
pub use ignore::IgnoreRules;
