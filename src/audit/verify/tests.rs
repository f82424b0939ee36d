use super::*;
use crate::audit::event::{AuditEvent, EventKind};
use crate::audit::record::{seal, GENESIS};

/// `n` chained lines (each with its newline), the i-th event's outcome `step i`.
fn chain(n: u64, actor: &str) -> Vec<String> {
    let mut prev = GENESIS.to_owned();
    (1..=n)
        .map(|seq| {
            let event = AuditEvent::new(EventKind::Apply, actor, format!("step {seq}"))
                .with_resources(["pool/web"]);
            let (line, hash) = seal(seq, "2026-01-02T03:04:05Z", &prev, &event).unwrap();
            prev = hash;
            String::from_utf8(line).unwrap()
        })
        .collect()
}

fn run(lines: &[String], head: Option<&Head>) -> Result<VerifySummary, VerifyError> {
    verify(lines.concat().as_bytes(), head)
}

fn bad_line(lines: &[String]) -> (u64, Problem) {
    let e = run(lines, None).expect_err("tampering must be caught");
    (e.line, e.problem)
}

fn head_of(lines: &[String]) -> Head {
    run(lines, None).unwrap().head
}

#[test]
fn an_intact_chain_verifies_and_reports_its_head() {
    let lines = chain(4, "user/alice");
    let summary = run(&lines, None).unwrap();
    assert_eq!(summary.records, 4);
    assert_eq!(summary.head.seq, 4);
    assert!(lines[3].contains(&summary.head.hash));
}

#[test]
fn an_empty_log_verifies_with_the_genesis_head() {
    let summary = verify(&b""[..], Some(&Head::genesis())).unwrap();
    assert_eq!(summary.records, 0);
    assert_eq!(summary.head, Head::genesis());
}

#[test]
fn an_edited_record_is_named() {
    let mut lines = chain(4, "user/alice");
    lines[2] = lines[2].replace("step 3", "step 9");
    assert_eq!(bad_line(&lines), (3, Problem::Edited));
}

#[test]
fn an_edited_hash_breaks_the_next_records_prev() {
    let mut lines = chain(4, "user/alice");
    let hash = head_of(&lines[..2]).hash;
    lines[1] = lines[1].replace(&hash, &"f".repeat(64));
    // Line 2's own hash no longer matches its body.
    assert_eq!(bad_line(&lines), (2, Problem::Edited));
}

#[test]
fn a_deleted_record_is_named_at_the_line_that_took_its_place() {
    let mut lines = chain(5, "user/alice");
    lines.remove(2);
    assert_eq!(
        bad_line(&lines),
        (
            3,
            Problem::SeqSkipped {
                expected: 3,
                found: 4
            }
        )
    );
}

#[test]
fn an_inserted_foreign_record_is_named() {
    let mut lines = chain(4, "user/alice");
    // A sound record 3 from another log: right seq, wrong prev.
    let forged = chain(3, "user/mallory").remove(2);
    lines.insert(2, forged);
    assert_eq!(bad_line(&lines), (3, Problem::PrevMismatch { previous: 2 }));
}

#[test]
fn an_inserted_copy_of_a_record_is_named() {
    let mut lines = chain(4, "user/alice");
    let copy = lines[0].clone();
    lines.insert(3, copy);
    assert_eq!(
        bad_line(&lines),
        (
            4,
            Problem::SeqBack {
                expected: 4,
                found: 1
            }
        )
    );
}

#[test]
fn reordered_records_are_named_at_the_first_moved_line() {
    let mut lines = chain(5, "user/alice");
    lines.swap(1, 3);
    assert_eq!(
        bad_line(&lines),
        (
            2,
            Problem::SeqSkipped {
                expected: 2,
                found: 4
            }
        )
    );
}

#[test]
fn junk_and_blank_lines_are_malformed() {
    let mut lines = chain(3, "user/alice");
    lines.insert(1, "\n".to_owned());
    assert!(matches!(bad_line(&lines), (2, Problem::Malformed(_))));
    let mut lines = chain(3, "user/alice");
    lines[2] = "{\"seq\":3}\n".to_owned();
    assert!(matches!(bad_line(&lines), (3, Problem::Malformed(_))));
    let mut lines = chain(3, "user/alice");
    lines[0] = "\u{ff}\n".to_owned();
    assert!(matches!(bad_line(&lines), (1, Problem::Malformed(_))));
}

#[test]
fn a_torn_last_line_fails_verification() {
    let mut lines = chain(3, "user/alice");
    lines[2].truncate(30);
    assert_eq!(bad_line(&lines), (3, Problem::Torn));
    // A whole record that only lacks its newline was never acknowledged either.
    let mut lines = chain(3, "user/alice");
    lines[2].pop();
    assert_eq!(bad_line(&lines), (3, Problem::Torn));
}

#[test]
fn the_expected_head_catches_a_deleted_tail() {
    let mut lines = chain(5, "user/alice");
    let head = head_of(&lines);
    assert!(run(&lines, Some(&head)).is_ok());
    lines.pop();
    let e = run(&lines, Some(&head)).unwrap_err();
    assert_eq!(e.line, 5);
    assert_eq!(
        e.problem,
        Problem::TailMissing {
            last: 4,
            expected: 5
        }
    );
    assert!(
        e.to_string().contains("the last 1 record(s) were deleted"),
        "{e}"
    );
}

#[test]
fn the_expected_head_may_be_behind_a_log_that_grew() {
    let lines = chain(5, "user/alice");
    let older = head_of(&lines[..3]);
    assert_eq!(run(&lines, Some(&older)).unwrap().head.seq, 5);
}

#[test]
fn a_rewritten_chain_is_caught_by_the_expected_head() {
    let lines = chain(5, "user/alice");
    let head = head_of(&lines);
    let rewritten = chain(5, "user/mallory");
    let e = run(&rewritten, Some(&head)).unwrap_err();
    assert_eq!(e.line, 5);
    assert!(matches!(e.problem, Problem::HeadMismatch { seq: 5, .. }));
}

#[test]
fn problems_are_explained_in_words() {
    let text = Problem::SeqSkipped {
        expected: 3,
        found: 4,
    }
    .to_string();
    assert!(text.contains("record 3 was deleted"), "{text}");
    assert!(Problem::Edited.to_string().contains("edited"));
}
