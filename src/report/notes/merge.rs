//! Putting our statuses on top of notes someone else pushed: a
//! three-way merge of one commit's note, line by context.

use super::format::NoteText;
use std::collections::BTreeSet;

/// The note `theirs` with what changed from `base` to `ours` applied: each
/// context we set or removed since `base` is set or removed in `theirs`,
/// every other line is theirs. Where both changed a context, ours wins —
/// a context has one writer, and ours is the newer word.
#[must_use]
pub(super) fn reapply(base: &str, ours: &str, theirs: &str) -> String {
    let (base, ours) = (NoteText::parse(base), NoteText::parse(ours));
    let mut merged = NoteText::parse(theirs);
    let contexts: BTreeSet<String> = base
        .entries()
        .into_iter()
        .chain(ours.entries())
        .map(|e| e.context)
        .collect();
    for context in &contexts {
        let mine = ours.get(context);
        if mine == base.get(context) {
            continue;
        }
        match mine {
            Some(entry) => merged.set(entry.clone()),
            None => merged.remove(context),
        }
    }
    merged.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_changes_land_on_their_note_and_theirs_stay() {
        let base = "lbops/validate: pending\n";
        let ours = "lbops/validate: success — ok\n";
        let theirs = "lbops/validate: pending\nlbops/prod/apply: success — applied\n";
        assert_eq!(
            reapply(base, ours, theirs),
            "lbops/validate: success — ok\nlbops/prod/apply: success — applied\n"
        );
    }

    #[test]
    fn what_we_did_not_touch_is_theirs_even_if_we_hold_an_older_copy() {
        let base = "lbops/validate: success\nlbops/prod/apply: pending\n";
        let ours = "lbops/validate: failure — no\nlbops/prod/apply: pending\n";
        let theirs = "lbops/validate: success\nlbops/prod/apply: success — applied\n";
        assert_eq!(
            reapply(base, ours, theirs),
            "lbops/validate: failure — no\nlbops/prod/apply: success — applied\n"
        );
        assert_eq!(reapply("", "", "note\n"), "note\n");
        assert_eq!(
            reapply("", "lbops/drift: success\n", ""),
            "lbops/drift: success\n"
        );
    }
}
