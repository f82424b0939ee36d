//! What the identity provider says about people, kept apart from git:
//! it can take access away (a deactivated or deleted User, a lost group
//! membership), never grant it (DESIGN.md, "Access beyond git").
//!
//! * [`scim`]: the SCIM 2.0 directory the identity provider pushes, as
//!   pure values and functions;
//! * [`view`]: the read view the rest of lbops asks — who is active,
//!   who was deactivated or deleted and by which change, who is in which
//!   group — cheap to share, rebuilt after every change;
//! * [`access`]: what that takes away from the principals of a git
//!   policy — who is deprovisioned, who is in which IdP group;
//! * [`oidc`]: OpenID Connect sign-in, the pure part — tokens checked
//!   against the provider's keys, and a person mapped to a git `User`.

pub mod access;
pub mod oidc;
pub mod scim;
pub mod view;

pub use access::{
    deprovisioned_users, groups_of, standing_changes, standing_of, user_standing, Cause,
    Deprovisioned, Idp, IdpGroups, StandingChange,
};
pub use view::{DirectoryView, IdpGroup, IdpUser, Standing};
