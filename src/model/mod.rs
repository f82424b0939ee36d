//! The vocabulary the planner, the providers and the data plane share:
//! what a provider runs ([`ObservedState`]), what it can do
//! ([`Capabilities`]), what to change next ([`Step`]) and how that went
//! ([`StepOutcome`]), and the digests they name certificates by.
//!
//! A leaf: it depends on nothing but `spec` (and `support`'s helpers),
//! does no I/O, and `plan`, `provider` and `dataplane` each depend on it
//! instead of on one another.

mod capabilities;
mod digest;
mod observed;
mod step;

pub use capabilities::{algorithm_name, unsupported, Capabilities};
pub use digest::sha256_hex;
pub use observed::{Health, ObservedCertificate, ObservedPool, ObservedState, ObservedTarget};
pub use step::{Step, StepOutcome};
