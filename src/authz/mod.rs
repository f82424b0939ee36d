//! What changed between the trusted catalog and a candidate, and whether
//! a principal may make each change (pure).
//!
//! [`changes`] turns two catalogs into [`Change`]s, each naming the most
//! specific action of the [catalogue](crate::spec::actions) it needs; every field
//! of every spec is classified, so a new field does not compile until it
//! is. [`authorize`] (or an [`Authorizer`] for many changes) judges one
//! change against the *trusted* policy, deny by default: a [`Permit`]
//! names the rule that allowed it, a [`Denied`] says which rule was
//! missing and who holds it.

pub mod approvals;
mod authorizer;
mod change;
mod diff;
pub mod freeze;
mod grants;
mod permit;
mod rules;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod idp_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod token_tests;

pub use authorizer::{
    authorize, authorize_claimed, authorize_token, holds_action, token_holds_action, Authorizer,
};
pub use change::Change;
pub use diff::changes;
pub use permit::{Denied, Grant, HeldBy, Holders, Miss, NearMiss, Permit, Via, Why};
