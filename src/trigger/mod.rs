//! What wakes the daemon up to reconcile: a poll timer, a filesystem watch,
//! or a forge's push webhook. Each sends a [`Trigger`] on the daemon's
//! channel; the daemon fetches and reconciles whatever the trigger says.
//!
//! The webhook is the one trigger a stranger can reach, so it trusts
//! nothing it has not verified: [`verify`] is a pure function over the
//! request's headers, body and the shared secret, checked in constant time
//! before the body is even parsed, and [`serve`] answers `401` and sends
//! nothing when it fails. A verified delivery that comes again (by its
//! delivery id or by its signed body, see [`delivery`]) is answered `409`
//! and sends nothing either.

mod delivery;
mod event;
mod payload;
mod rejection;
mod verify;
mod webhook;

pub use delivery::{delivery, Delivery, DeliveryId, MAX_DELIVERY_ID_LEN};
pub use event::WebhookEvent;
pub use rejection::{BadRequest, Rejection, Unauthorized};
pub use verify::verify;
pub use webhook::{
    serve, BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT, MAX_BODY_BYTES, MAX_HEADER_BYTES, PATH,
    REMEMBERED_DELIVERIES, SEND_TIMEOUT, SHUTDOWN_GRACE,
};

use std::fmt;

/// One reason to reconcile now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub source: TriggerSource,
    /// The ref the event is about, e.g. `refs/heads/main`, if it says.
    pub git_ref: Option<String>,
    /// The new head commit the event reports, if it reports one (a
    /// deleted branch reports none).
    pub after: Option<String>,
}

/// What sent a [`Trigger`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerSource {
    Poll,
    Watch,
    /// The daemon's API moved the branch.
    Api,
    Webhook(Forge),
}

/// The forge a webhook came from. Forgejo is a fork of Gitea that signs
/// the same way, so it counts as [`Forge::Gitea`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    GitLab,
    Gitea,
    /// Bitbucket Cloud.
    Bitbucket,
}

impl fmt::Display for Forge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Forge::GitHub => "GitHub",
            Forge::GitLab => "GitLab",
            Forge::Gitea => "Gitea/Forgejo",
            Forge::Bitbucket => "Bitbucket",
        })
    }
}
