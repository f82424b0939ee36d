//! Small wordings shared by the kinds: what a human reads in a detail.

use crate::spec::kinds::Labels;
use crate::spec::units::{Dur, Timestamp};
use std::collections::BTreeSet;

/// `label team web → data; label env=prod added`, or None when equal.
pub(super) fn labels(before: &Labels, after: &Labels) -> Option<String> {
    if before == after {
        return None;
    }
    let mut parts = Vec::new();
    for (key, old) in before {
        match after.get(key) {
            None => parts.push(format!("label {key}={old} removed")),
            Some(new) if new != old => parts.push(format!("label {key} {old} → {new}")),
            Some(_) => {}
        }
    }
    for (key, new) in after {
        if !before.contains_key(key) {
            parts.push(format!("label {key}={new} added"));
        }
    }
    Some(parts.join("; "))
}

/// `roles +sre-admin −auditor` for two lists compared as sets, `roles
/// reordered` when only the order differs, None when equal.
pub(super) fn plus_minus<'a>(
    what: &str,
    before: impl IntoIterator<Item = &'a str>,
    after: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let before: Vec<&str> = before.into_iter().collect();
    let after: Vec<&str> = after.into_iter().collect();
    if before == after {
        return None;
    }
    let old: BTreeSet<&str> = before.iter().copied().collect();
    let new: BTreeSet<&str> = after.iter().copied().collect();
    let mut parts = Vec::new();
    parts.extend(new.difference(&old).map(|s| format!("+{s}")));
    parts.extend(old.difference(&new).map(|s| format!("−{s}")));
    if parts.is_empty() {
        return Some(format!("{what} reordered"));
    }
    Some(format!("{what} {}", parts.join(" ")))
}

/// A duration as people write it: `30s`, `1.5s`, `250ms`.
pub(super) fn dur(d: Dur) -> String {
    format!("{:?}", d.0)
}

/// An optional duration, `default` when unset.
pub(super) fn opt_dur(d: Option<Dur>) -> String {
    d.map_or_else(|| "default".to_owned(), dur)
}

/// A time as a date, or an RFC 3339 time when it is not midnight UTC.
pub(super) fn timestamp(t: Timestamp) -> String {
    use time::format_description::well_known::Rfc3339;
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(t.unix()) else {
        return t.unix().to_string();
    };
    if at.time() == time::Time::MIDNIGHT {
        let date = time::macros::format_description!("[year]-[month]-[day]");
        at.date()
            .format(&date)
            .unwrap_or_else(|_| t.unix().to_string())
    } else {
        at.format(&Rfc3339).unwrap_or_else(|_| t.unix().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wordings() {
        let a: Labels = [("team".into(), "web".into()), ("tier".into(), "1".into())].into();
        let b: Labels = [
            ("team".into(), "data".into()),
            ("env".into(), "prod".into()),
        ]
        .into();
        assert_eq!(
            labels(&a, &b).unwrap(),
            "label team web → data; label tier=1 removed; label env=prod added"
        );
        assert_eq!(labels(&a, &a), None);
        assert_eq!(
            plus_minus("roles", ["a", "b"], ["b", "c"]).unwrap(),
            "roles +c −a"
        );
        assert_eq!(
            plus_minus("roles", ["a", "b"], ["b", "a"]).unwrap(),
            "roles reordered"
        );
        assert_eq!(dur(Dur(std::time::Duration::from_millis(1500))), "1.5s");
        assert_eq!(timestamp(Timestamp(1_795_564_800)), "2026-11-25");
    }
}
