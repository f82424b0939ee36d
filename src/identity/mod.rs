//! Who wrote a commit: its signature verified in-process against the keys
//! the trusted policy lists.

mod principal;

pub use principal::Principal;
