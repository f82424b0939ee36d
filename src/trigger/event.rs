//! What a verified webhook request asks for.

use super::{Forge, Trigger, TriggerSource};

/// A webhook request whose signature or token checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookEvent {
    /// The forge checking that the hook works (GitHub's `ping`).
    Ping,
    /// Commits were pushed (or a branch or tag deleted): reconcile.
    Push {
        forge: Forge,
        /// e.g. `refs/heads/main`.
        git_ref: Option<String>,
        /// The new head, or `None` when the push deleted the ref.
        after: Option<String>,
    },
    /// Any other event the hook was set up to send, by its name; nothing
    /// to do.
    Ignored(String),
}

impl WebhookEvent {
    /// The trigger a push asks for; `None` for anything else.
    #[must_use]
    pub fn into_trigger(self) -> Option<Trigger> {
        match self {
            WebhookEvent::Push {
                forge,
                git_ref,
                after,
            } => Some(Trigger {
                source: TriggerSource::Webhook(forge),
                git_ref,
                after,
            }),
            WebhookEvent::Ping | WebhookEvent::Ignored(_) => None,
        }
    }
}
