//! Picking records out of a log, for `lbops audit show`.

use super::event::AuditEvent;
use super::record::{self, Record};
use std::io::{self, BufRead};

/// Which records to show. Every criterion given must match; none given
/// matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// A prefix of the commit id, any case (`1a2b3c`).
    pub commit: Option<String>,
    /// The exact actor (`user/alice`, `lbops`).
    pub identity: Option<String>,
    /// One of the resources, exactly (`pool/web`).
    pub resource: Option<String>,
}

impl Filter {
    #[must_use]
    pub fn matches(&self, event: &AuditEvent) -> bool {
        let commit = self.commit.as_ref().is_none_or(|prefix| {
            event.commit.as_ref().is_some_and(|c| {
                c.get(..prefix.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
            })
        });
        let identity = self.identity.as_ref().is_none_or(|a| *a == event.actor);
        let resource = self
            .resource
            .as_ref()
            .is_none_or(|r| event.resources.iter().any(|x| x == r));
        commit && identity && resource
    }
}

/// Every line of a log that is a sound record on its own, in order. Lines
/// that are not are skipped: run [`verify`](crate::audit::verify) to learn
/// whether the log can be trusted at all.
pub fn read_records<R: BufRead>(reader: R) -> impl Iterator<Item = io::Result<Record>> {
    reader.split(b'\n').filter_map(|line| match line {
        Ok(bytes) => record::open_line(&bytes).ok().map(Ok),
        Err(e) => Some(Err(e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::EventKind;
    use crate::audit::record::{seal, GENESIS};

    fn event() -> AuditEvent {
        AuditEvent::new(EventKind::Apply, "user/alice", "applying")
            .with_commit("1A2B3C4D5E6F1A2B3C4D5E6F1A2B3C4D5E6F1A2B")
            .with_resources(["pool/web", "loadbalancer/edge"])
    }

    fn filter(commit: Option<&str>, identity: Option<&str>, resource: Option<&str>) -> Filter {
        Filter {
            commit: commit.map(Into::into),
            identity: identity.map(Into::into),
            resource: resource.map(Into::into),
        }
    }

    #[test]
    fn every_given_criterion_must_match() {
        assert!(Filter::default().matches(&event()));
        assert!(filter(Some("1a2b3c"), Some("user/alice"), Some("pool/web")).matches(&event()));
        assert!(!filter(Some("1a2b3d"), None, None).matches(&event()));
        assert!(!filter(Some(&"1a2b3c".repeat(8)), None, None).matches(&event()));
        assert!(!filter(None, Some("user/ali"), None).matches(&event()));
        assert!(!filter(None, None, Some("pool/api")).matches(&event()));
        let daemon = AuditEvent::new(EventKind::Startup, "lbops", "started");
        assert!(!filter(Some("1a"), None, None).matches(&daemon));
    }

    #[test]
    fn reads_sound_records_and_skips_the_rest() {
        let (one, hash) = seal(1, "2026-01-02T03:04:05Z", GENESIS, &event()).unwrap();
        let (two, _) = seal(2, "2026-01-02T03:04:06Z", &hash, &event()).unwrap();
        let text = [one, b"junk\n".to_vec(), two].concat();
        let seqs: Vec<u64> = read_records(&text[..]).map(|r| r.unwrap().seq).collect();
        assert_eq!(seqs, [1, 2]);
    }
}
