//! A SCIM 2.0 service provider's core (RFC 7643, RFC 7644), as values:
//! the directory the identity provider pushes and the functions that
//! change and read it. The HTTP edge (`daemon::scim`) authenticates,
//! records, keeps and answers; nothing here does I/O or reads a clock.
//!
//! * [`schema`]: the attributes kept, one table per resource type;
//!   [`discovery`] publishes them;
//! * [`attrs`]: what a client sent → what is kept;
//! * [`filter`] and [`path`]: `attr eq "…" and …`, PATCH paths;
//! * [`patch`]: PatchOp bodies, in Okta's and Entra's shapes;
//! * [`store`]: the directory, its changes ([`Delta`]) and its file form;
//! * [`ops`]: create, replace, patch and delete as [`Planned`] changes;
//! * [`list`] and [`render`]: queries, pages and the JSON a client reads;
//! * [`error`]: every refusal with its status and `scimType`.

pub mod attrs;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod list;
pub mod ops;
pub mod patch;
pub mod path;
pub mod render;
pub mod schema;
pub mod store;

#[cfg(test)]
mod tests;

pub use error::ScimError;
pub use ops::{Action, Change, Planned, Precondition};
pub use store::{Delta, Kind, Resource, Stamp, Store};
