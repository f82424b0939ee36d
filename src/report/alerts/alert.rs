//! What an alert says, and which alerts count as "the same" for
//! de-duplication. Pure: no I/O, no clock.

use serde::Serialize;
use std::fmt;

/// The longest title an alert carries, in characters (one line in a chat
/// client or a mail subject).
pub const MAX_TITLE: usize = 150;

/// Why lbops is raising an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A commit was refused: its author may not make that change.
    Denial,
    /// An authorised change could not be applied to a load balancer.
    ApplyFailure,
    /// A load balancer no longer matches the applied commit.
    Drift,
    /// The watched branch was force-pushed: a commit lbops had applied is
    /// no longer in its history.
    RewrittenHistory,
    /// The repository or the daemon config cannot be read or is invalid.
    BadConfig,
    /// The identity provider deprovisioned a git User (deactivated,
    /// deleted, unknown), or re-activated one.
    Deprovision,
    /// A commit broke the glass of a change freeze: applied in a freeze
    /// because its author holds `freeze.break_glass` and gave a reason.
    BreakGlass,
    /// A data-plane node fell behind the fleet or came back, or refused
    /// this daemon's leader epoch.
    DataplaneNode,
}

impl AlertKind {
    pub const ALL: [AlertKind; 8] = [
        AlertKind::Denial,
        AlertKind::ApplyFailure,
        AlertKind::Drift,
        AlertKind::RewrittenHistory,
        AlertKind::BadConfig,
        AlertKind::Deprovision,
        AlertKind::BreakGlass,
        AlertKind::DataplaneNode,
    ];

    /// `denial`, `apply_failure`, …: as in the webhook's `kind` field.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Denial => "denial",
            AlertKind::ApplyFailure => "apply_failure",
            AlertKind::Drift => "drift",
            AlertKind::RewrittenHistory => "rewritten_history",
            AlertKind::BadConfig => "bad_config",
            AlertKind::Deprovision => "deprovision",
            AlertKind::BreakGlass => "break_glass",
            AlertKind::DataplaneNode => "dataplane_node",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert. Build it with a constructor ([`Alert::drift`], …) so that
/// the title is one line and the de-duplication key is the right one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub kind: AlertKind,
    /// The commit it is about, if any.
    pub commit: Option<String>,
    /// One line, at most [`MAX_TITLE`] characters.
    pub title: String,
    /// Who, what and why, over as many lines as needed.
    pub details: String,
    /// The daemon's page for this commit or event.
    pub url: Option<String>,
    /// Two alerts with the same key are the same alert: the second is not
    /// sent (see [`super::Alerter`]).
    pub dedupe_key: String,
}

impl Alert {
    /// `who` may not make the change in `commit`, because `why`. The same
    /// commit refused for the same reason is one alert.
    #[must_use]
    pub fn denial(commit: impl fmt::Display, who: &str, why: &str) -> Alert {
        let commit = commit.to_string();
        Alert::new(
            AlertKind::Denial,
            Some(commit.clone()),
            &format!("Denied: commit {} by {who}", short(&commit)),
            format!("{who} may not make the change in commit {commit}.\n{why}"),
            &[&commit, why],
        )
    }

    /// The change in `commit` could not be applied, because `why`. The
    /// same failure on every retry is one alert; a different error is a
    /// new one.
    #[must_use]
    pub fn apply_failure(commit: impl fmt::Display, why: &str) -> Alert {
        let commit = commit.to_string();
        Alert::new(
            AlertKind::ApplyFailure,
            Some(commit.clone()),
            &format!("Apply failed: commit {}", short(&commit)),
            format!("Commit {commit} could not be applied.\n{why}"),
            &[&commit, why],
        )
    }

    /// The load balancers differ from `commit` as `summary` says. The same
    /// drift seen on every tick is one alert; a different drift (another
    /// summary, or drift from another commit) is a new one.
    #[must_use]
    pub fn drift(commit: impl fmt::Display, summary: &str) -> Alert {
        let commit = commit.to_string();
        Alert::new(
            AlertKind::Drift,
            Some(commit.clone()),
            &format!("Drift from commit {}: {summary}", short(&commit)),
            format!("The load balancers no longer match commit {commit}.\n{summary}"),
            &[&commit, summary],
        )
    }

    /// `branch` was rewritten: it moved from `was` to `now`, and `was` is
    /// not an ancestor of `now`. One alert per rewrite.
    #[must_use]
    pub fn rewritten_history(
        branch: &str,
        was: impl fmt::Display,
        now: impl fmt::Display,
    ) -> Alert {
        let (was, now) = (was.to_string(), now.to_string());
        Alert::new(
            AlertKind::RewrittenHistory,
            Some(now.clone()),
            &format!(
                "History rewritten on {branch}: {} is gone, now at {}",
                short(&was),
                short(&now)
            ),
            format!(
                "{branch} moved from {was} to {now}, which does not contain it \
                 (a force push or a reset). lbops does not apply rewritten history; \
                 check who pushed it and why."
            ),
            &[branch, &was, &now],
        )
    }

    /// `who` broke the glass of `freezes` in `commit`, because `reason`, to
    /// make `changes`. One alert per commit and reason.
    #[must_use]
    pub fn break_glass(
        commit: impl fmt::Display,
        who: &str,
        reason: &str,
        freezes: &str,
        changes: &str,
    ) -> Alert {
        let commit = commit.to_string();
        Alert::new(
            AlertKind::BreakGlass,
            Some(commit.clone()),
            &format!("Break-glass: {who} in commit {}: {reason}", short(&commit)),
            format!(
                "{who} broke the glass of {freezes} in commit {commit}.\nReason: {reason}\nChanges: {changes}"
            ),
            &[&commit, who, reason],
        )
    }

    /// The config (of the repository at `commit`, or of the daemon when
    /// `commit` is `None`) is invalid, because `why`. The same error is one
    /// alert.
    #[must_use]
    pub fn bad_config(commit: Option<&str>, why: &str) -> Alert {
        let title = match commit {
            Some(commit) => format!("Bad config in commit {}", short(commit)),
            None => "Bad daemon config".to_owned(),
        };
        Alert::new(
            AlertKind::BadConfig,
            commit.map(str::to_owned),
            &title,
            why.to_owned(),
            &[commit.unwrap_or(""), why],
        )
    }

    /// The identity provider took `user`'s access, as `why` says (which
    /// names the IdP event). One alert per user and event.
    #[must_use]
    pub fn deprovisioned(user: &str, why: &str) -> Alert {
        Alert::new(
            AlertKind::Deprovision,
            None,
            &format!("Deprovisioned by the identity provider: user/{user}"),
            format!(
                "{why}\nTheir unapplied commits are refused, and the API tokens of the \
                 ServiceAccounts they own are refused from the next call."
            ),
            &[user, why],
        )
    }

    /// The identity provider re-activated `user` (at directory change
    /// `seq`): they have again exactly what git grants.
    #[must_use]
    pub fn restored(user: &str, seq: u64) -> Alert {
        Alert::new(
            AlertKind::Deprovision,
            None,
            &format!("Re-activated by the identity provider: user/{user}"),
            format!(
                "The identity provider re-activated user/{user} (SCIM event {seq}); they have \
                 again what git grants them."
            ),
            &[user, "restored", &seq.to_string()],
        )
    }

    /// Data-plane node `node` missed a change, because `why`; it is
    /// brought up to the fleet's config when it answers. One alert per
    /// node and reason.
    #[must_use]
    pub fn node_behind(node: &str, why: &str) -> Alert {
        Alert::new(
            AlertKind::DataplaneNode,
            None,
            &format!("Data-plane node {node} is behind: {why}"),
            format!(
                "Data-plane node {node} did not take the fleet's last change: {why}\n\
                 The other nodes serve it; lbops pushes it to {node} as soon as {node} answers. \
                 Check that its `lbops dataplane` runs and that its admin API is reachable."
            ),
            &[node, "behind", why],
        )
    }

    /// Data-plane node `node` runs the fleet's config again, at `version`.
    #[must_use]
    pub fn node_back(node: &str, version: Option<u64>) -> Alert {
        let at = version.map_or_else(String::new, |v| format!(", at config version {v}"));
        Alert::new(
            AlertKind::DataplaneNode,
            None,
            &format!("Data-plane node {node} is back{at}"),
            format!("Data-plane node {node} runs the fleet's config again{at}."),
            &[node, "back", &at],
        )
    }

    /// Data-plane node `node` refused this daemon's epoch `ours`: it has
    /// accepted `highest` from a newer leader.
    #[must_use]
    pub fn fenced(node: &str, ours: u64, highest: u64) -> Alert {
        Alert::new(
            AlertKind::DataplaneNode,
            None,
            &format!(
                "Fenced: data-plane node {node} accepted epoch {highest}, newer than this daemon's {ours}"
            ),
            format!(
                "Data-plane node {node} refused a config under epoch {ours}: it has accepted \
                 epoch {highest} from a newer leader. This daemon no longer leads and pushes \
                 nothing more under epoch {ours}; check the leader election."
            ),
            &[node, "fenced", &ours.to_string(), &highest.to_string()],
        )
    }

    /// The same alert, linking to the daemon's page. The link is not part
    /// of the de-duplication key.
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Alert {
        self.url = Some(url.into());
        self
    }

    fn new(
        kind: AlertKind,
        commit: Option<String>,
        title: &str,
        details: String,
        key_parts: &[&str],
    ) -> Alert {
        Alert {
            kind,
            commit,
            title: one_line(title),
            details,
            url: None,
            dedupe_key: dedupe_key(kind, key_parts),
        }
    }
}

/// `kind` and the parts, separated by NUL so that no two different lists
/// of parts give the same key.
fn dedupe_key(kind: AlertKind, parts: &[&str]) -> String {
    let mut key = kind.as_str().to_owned();
    for part in parts {
        key.push('\0');
        key.push_str(part);
    }
    key
}

/// The first 12 characters of a commit id, as in a title.
fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Whitespace (newlines included) collapsed to single spaces, cut to
/// [`MAX_TITLE`] characters with `…`.
fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MAX_TITLE {
        return line;
    }
    let mut cut: String = line.chars().take(MAX_TITLE - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    const C1: &str = "0123456789abcdef0123456789abcdef01234567";
    const C2: &str = "fedcba9876543210fedcba9876543210fedcba98";

    #[test]
    fn the_same_drift_has_the_same_key_and_a_different_one_does_not() {
        let a = Alert::drift(C1, "pool web: 2 members, expected 3");
        let b = Alert::drift(C1, "pool web: 2 members, expected 3").with_url("http://lbops/c");
        assert_eq!(a.dedupe_key, b.dedupe_key);
        let other_summary = Alert::drift(C1, "pool web: 1 member, expected 3");
        let other_commit = Alert::drift(C2, "pool web: 2 members, expected 3");
        assert_ne!(a.dedupe_key, other_summary.dedupe_key);
        assert_ne!(a.dedupe_key, other_commit.dedupe_key);
    }

    #[test]
    fn kinds_never_share_keys() {
        let keys = [
            Alert::denial(C1, "alice", "x").dedupe_key,
            Alert::apply_failure(C1, "x").dedupe_key,
            Alert::drift(C1, "x").dedupe_key,
            Alert::bad_config(Some(C1), "x").dedupe_key,
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn parts_cannot_run_into_each_other() {
        let a = Alert::rewritten_history("main", "ab", "c");
        let b = Alert::rewritten_history("main", "a", "bc");
        assert_ne!(a.dedupe_key, b.dedupe_key);
    }

    #[test]
    fn titles_are_one_short_line_and_details_say_who_and_why() {
        let alert = Alert::drift(C1, &format!("line one\nline two {}", "x".repeat(300)));
        assert!(!alert.title.contains('\n'));
        assert_eq!(alert.title.chars().count(), MAX_TITLE);
        assert!(alert
            .title
            .starts_with("Drift from commit 0123456789ab: line one line two"));

        let denial = Alert::denial(C1, "alice <alice@example.com>", "owns no pool web");
        assert_eq!(denial.kind, AlertKind::Denial);
        assert_eq!(denial.commit.as_deref(), Some(C1));
        assert!(denial.details.contains("alice") && denial.details.contains("owns no pool web"));

        let rewrite = Alert::rewritten_history("main", C1, C2);
        assert_eq!(rewrite.commit.as_deref(), Some(C2));
        assert!(rewrite.title.contains("main") && rewrite.title.contains("0123456789ab"));

        let config = Alert::bad_config(None, "alerts.slack[0]: no URL");
        assert_eq!(config.commit, None);
        assert_eq!(config.title, "Bad daemon config");
    }

    #[test]
    fn kinds_read_as_in_the_payload() {
        for kind in AlertKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_str())
            );
        }
    }
}
