//! Freezes.
//!
//! | field | action |
//! |---|---|
//! | `description`, `time_zone`, `windows`, `scope` | `freeze.update` |
//!
//! A freeze is lifted or narrowed only by a change the trusted policy
//! allows (`freeze.update`, `freeze.delete`), and, when the freeze's own
//! scope covers it, only once it is over or by breaking the glass.

use super::{Classify, Found};
use crate::spec::actions::{self, Action};
use crate::spec::kinds::freeze::FreezeSpec;
use crate::spec::kinds::Kind;

const UPDATE: &Action = &actions::FREEZE_UPDATE;

impl Classify for FreezeSpec {
    const KIND: Kind = Kind::Freeze;
    const CREATE: &'static Action = &actions::FREEZE_CREATE;
    const DELETE: &'static Action = &actions::FREEZE_DELETE;
    const LABELS: &'static Action = &actions::FREEZE_LABELS_UPDATE;

    fn diff(before: &Self, after: &Self, found: &mut Found) {
        let FreezeSpec {
            description,
            time_zone,
            windows,
            scope,
        } = before;
        if *description != after.description {
            found.note(UPDATE, "description changed");
        }
        if *time_zone != after.time_zone {
            let detail = format!("time zone {} → {}", time_zone.value, after.time_zone.value);
            found.note(UPDATE, detail);
        }
        if *windows != after.windows {
            let detail = format!(
                "windows changed ({} → {})",
                windows.len(),
                after.windows.len()
            );
            found.note(UPDATE, detail);
        }
        if *scope != after.scope {
            found.note(UPDATE, "scope changed");
        }
    }

    fn summary(spec: &Self) -> Option<String> {
        Some(format!("with {} window(s)", spec.windows.len()))
    }
}
