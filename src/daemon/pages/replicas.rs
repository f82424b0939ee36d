//! The replicas section of the index, for a daemon on etcd: which
//! replica this is, who leads under which epoch, the replicas listed in
//! etcd, and the last takeover.

use super::html::{badge, esc, utc};
use crate::daemon::replica::ClusterFacts;
use std::fmt::Write as _;

/// The section for replica `replica` with what it knows (`facts`).
#[must_use]
pub fn section(replica: &str, facts: &ClusterFacts) -> String {
    let mut body = String::from("<h2>Replicas</h2>\n<p>");
    let role = match (facts.leading, &facts.leader, &facts.etcd_error) {
        (true, _, _) => badge("success", "leader"),
        (false, Some(_), _) => badge("pending", "standby"),
        (false, None, Some(_)) => badge("failure", "no leader"),
        (false, None, None) => badge("pending", "electing"),
    };
    let _ = write!(body, "This is <code>{}</code>: {role}", esc(replica));
    match (facts.leading, &facts.leader, facts.epoch) {
        (true, _, Some(epoch)) => {
            let _ = write!(body, " under epoch {epoch}");
        }
        (false, Some(leader), _) => {
            let _ = write!(body, "; <code>{}</code> leads", esc(leader));
        }
        _ => {}
    }
    body.push_str(".</p>\n");
    if let Some(why) = &facts.etcd_error {
        let _ = writeln!(
            body,
            "<p>etcd cannot be asked: {}. Nothing is applied until a replica holds the lease again; the balancers keep serving.</p>",
            esc(why)
        );
    }
    if let Some(takeover) = &facts.last_takeover {
        let _ = writeln!(
            body,
            "<p class=\"muted\">Last takeover: <code>{}</code> under epoch {} at {}.</p>",
            esc(&takeover.replica),
            takeover.epoch,
            esc(&utc(takeover.at))
        );
    }
    if !facts.members.is_empty() {
        let members: Vec<String> = facts
            .members
            .iter()
            .map(|m| format!("<code>{}</code>", esc(m)))
            .collect();
        let _ = writeln!(
            body,
            "<p class=\"muted\">Replicas in etcd: {}.</p>",
            members.join(", ")
        );
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::replica::Takeover;

    #[test]
    fn a_standby_names_the_leader_the_replicas_and_the_last_takeover() {
        let facts = ClusterFacts {
            leading: false,
            leader: Some("lbops-b".into()),
            epoch: Some(3),
            took_over_at: None,
            etcd_error: None,
            members: vec!["lbops-a".into(), "lbops-b".into()],
            last_takeover: Some(Takeover {
                replica: "lbops-b".into(),
                epoch: 9,
                at: 1_800_000_000,
            }),
        };
        let html = section("lbops-a", &facts);
        assert!(
            html.contains("<code>lbops-a</code>") && html.contains("standby"),
            "{html}"
        );
        assert!(html.contains("<code>lbops-b</code> leads"), "{html}");
        assert!(html.contains("under epoch 9 at 2027-01-15"), "{html}");
        let cut_off = ClusterFacts {
            leader: None,
            etcd_error: Some("etcd is unreachable <x>".into()),
            ..facts
        };
        let html = section("lbops-a", &cut_off);
        assert!(
            html.contains("no leader") && html.contains("&lt;x&gt;"),
            "{html}"
        );
    }
}
