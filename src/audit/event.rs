//! What happened: one audit event, before it is sealed into a [`Record`].
//!
//! The daemon builds these; this module only fixes their shape. Field order
//! is part of the on-disk format (see [`crate::audit::record`]), so new
//! fields go at the end.
//!
//! [`Record`]: crate::audit::Record

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of thing an [`AuditEvent`] records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A commit was judged (authorized or not) and a plan chosen. Named
    /// `decision` on disk and on the command line, as before.
    #[serde(rename = "decision")]
    Judgement,
    /// Steps are about to be applied to a provider.
    Apply,
    /// The observed state differs from the last applied one.
    Drift,
    /// A change or request was refused by authz.
    Denial,
    /// Drift is about to be reverted.
    Revert,
    /// A call to lbops' own API.
    ApiCall,
    /// Trust changed: bootstrap, a new trusted policy, an accepted force-push.
    Trust,
    /// The daemon started.
    Startup,
    /// A call to the SCIM endpoints (`/scim/v2`), by the identity provider
    /// or anyone else.
    ScimCall,
    /// A person signed in (or out) through the identity provider, or was
    /// refused at sign-in (`/auth/…`).
    SignIn,
    /// The identity provider deprovisioned a git User, or gave them back
    /// what git grants.
    Deprovision,
    /// A commit broke the glass of a change freeze: who, why, and what.
    BreakGlass,
}

impl EventKind {
    /// The name used on disk and on the command line, e.g. `api_call`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Judgement => "decision",
            EventKind::Apply => "apply",
            EventKind::Drift => "drift",
            EventKind::Denial => "denial",
            EventKind::Revert => "revert",
            EventKind::ApiCall => "api_call",
            EventKind::Trust => "trust",
            EventKind::Startup => "startup",
            EventKind::ScimCall => "scim_call",
            EventKind::SignIn => "sign_in",
            EventKind::Deprovision => "deprovision",
            EventKind::BreakGlass => "break_glass",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing that happened, tied to who made it happen.
///
/// Never put a secret in any field: [`AuditLog::append`] refuses events that
/// look like they hold one (see [`crate::audit::secrets`]).
///
/// [`AuditLog::append`]: crate::audit::AuditLog::append
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub kind: EventKind,
    /// Who: `user/alice`, `serviceaccount/deploy-bot`, `bootstrap admin <fpr>`,
    /// `unverified <email>`, or `lbops` for the daemon itself. A verified
    /// [`Principal`](crate::identity::Principal)'s `Display` gives the first three.
    pub actor: String,
    /// The commit the event is about, if any (full id).
    pub commit: Option<String>,
    /// The resources it touches, as `kind/name` (`pool/web`, `loadbalancer/edge`).
    pub resources: Vec<String>,
    /// A short result: `authorized`, `denied`, `applying`, `drifted`, …
    pub outcome: String,
    /// Anything else worth keeping, e.g. a plan summary. Free-form.
    pub detail: serde_json::Value,
    /// The leader's epoch, on what a replica on etcd records while it
    /// leads: `lbops audit verify` joins the replicas' logs by it. Left
    /// out by a daemon alone (and so by every earlier record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
}

/// The actor of events the daemon causes on its own (startup, drift checks).
pub const DAEMON_ACTOR: &str = "lbops";

impl AuditEvent {
    /// An event with no commit, no resources and no detail; add them with
    /// the `with_*` methods.
    #[must_use]
    pub fn new(kind: EventKind, actor: impl Into<String>, outcome: impl Into<String>) -> Self {
        AuditEvent {
            kind,
            actor: actor.into(),
            commit: None,
            resources: Vec::new(),
            outcome: outcome.into(),
            detail: serde_json::Value::Null,
            epoch: None,
        }
    }

    #[must_use]
    pub fn with_commit(mut self, commit: impl Into<String>) -> Self {
        self.commit = Some(commit.into());
        self
    }

    #[must_use]
    pub fn with_resources<I, S>(mut self, resources: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.resources = resources.into_iter().map(Into::into).collect();
        self
    }

    #[must_use]
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_fixed_field_order_and_snake_case_kind() {
        let event = AuditEvent::new(EventKind::ApiCall, "user/alice", "ok")
            .with_commit("abc")
            .with_resources(["pool/web"])
            .with_detail(serde_json::json!({"path": "/v1/status"}));
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"kind":"api_call","actor":"user/alice","commit":"abc","resources":["pool/web"],"outcome":"ok","detail":{"path":"/v1/status"}}"#
        );
    }

    #[test]
    fn kind_names_match_serde() {
        for kind in [
            EventKind::Judgement,
            EventKind::Apply,
            EventKind::Drift,
            EventKind::Denial,
            EventKind::Revert,
            EventKind::ApiCall,
            EventKind::Trust,
            EventKind::Startup,
            EventKind::ScimCall,
            EventKind::BreakGlass,
            EventKind::SignIn,
            EventKind::Deprovision,
        ] {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
    }
}
