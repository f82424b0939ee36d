//! `lbops audit` as a user runs it: the real binary on logs written by the
//! library, then tampered with line by line, asserting the exit code and
//! the `FILE:LINE` of the first bad line.

use lbops::audit::{AuditEvent, AuditLog, EventKind, Head};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use time::macros::datetime;

const ALICE_COMMIT: &str = "a11ce00000000000000000000000000000000001";
const BOB_COMMIT: &str = "b0b0000000000000000000000000000000000002";

struct Log {
    _tmp: tempfile::TempDir,
    path: PathBuf,
    head: Head,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Five records: startup, then a decision and an apply each for alice's
/// and bob's commits.
fn log() -> Log {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("audit.log");
    let mut log = AuditLog::open(&path).expect("open").log;
    let now = datetime!(2026-05-01 12:00:00 UTC);
    let events = [
        AuditEvent::new(EventKind::Startup, "lbops", "started"),
        AuditEvent::new(EventKind::Judgement, "user/alice", "authorized")
            .with_commit(ALICE_COMMIT)
            .with_resources(["pool/web"]),
        AuditEvent::new(EventKind::Apply, "user/alice", "applying")
            .with_commit(ALICE_COMMIT)
            .with_resources(["pool/web"])
            .with_detail(serde_json::json!({"steps": 2})),
        AuditEvent::new(EventKind::Denial, "user/bob", "denied")
            .with_commit(BOB_COMMIT)
            .with_resources(["loadbalancer/edge"]),
        AuditEvent::new(
            EventKind::Trust,
            "bootstrap admin SHA256:abc",
            "policy trusted",
        )
        .with_commit(BOB_COMMIT),
    ];
    for event in &events {
        log.append(event, now).expect("append");
    }
    let head = log.head().clone();
    Log {
        _tmp: tmp,
        path,
        head,
    }
}

impl Log {
    fn lines(&self) -> Vec<String> {
        fs::read_to_string(&self.path)
            .expect("read")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn rewrite(&self, edit: impl FnOnce(&mut Vec<String>)) -> &Self {
        let mut lines = self.lines();
        edit(&mut lines);
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        fs::write(&self.path, text).expect("write");
        self
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

fn lbops(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args(args)
        .output()
        .expect("run lbops");
    Run {
        code: output.status.code().expect("exit code"),
        stdout: String::from_utf8(output.stdout).expect("utf-8"),
        stderr: String::from_utf8(output.stderr).expect("utf-8"),
    }
}

fn verify(path: &Path, extra: &[&str]) -> Run {
    let path = path.to_str().expect("utf-8 path");
    lbops(&[&["audit", "verify", path], extra].concat())
}

/// Asserts exit 1 and that the output names `line` first.
fn assert_bad_line(log: &Log, extra: &[&str], line: u64, words: &str) {
    let run = verify(&log.path, extra);
    assert_eq!(run.code, 1, "stdout: {} stderr: {}", run.stdout, run.stderr);
    let prefix = format!("{}:{line}: ", log.name());
    assert!(run.stdout.starts_with(&prefix), "{}", run.stdout);
    assert!(run.stdout.contains(words), "{}", run.stdout);
}

#[test]
fn an_intact_log_verifies() {
    let log = log();
    let run = verify(&log.path, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "{}: 5 records, chain intact, head 5 {}\n",
            log.name(),
            log.head.hash
        )
    );
    let head = log.head.to_string();
    assert_eq!(verify(&log.path, &["--head", &head]).code, 0);
}

#[test]
fn an_edited_record_is_named() {
    let log = log();
    log.rewrite(|l| l[2] = l[2].replace("\"steps\":2", "\"steps\":3"));
    assert_bad_line(&log, &[], 3, "was edited");
}

#[test]
fn a_deleted_record_is_named() {
    let log = log();
    log.rewrite(|l| {
        l.remove(1);
    });
    assert_bad_line(&log, &[], 2, "record 2 was deleted");
}

/// Line 3 of another log: a record sound on its own, with seq 3.
fn foreign_record_3() -> String {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("other.log");
    let mut log = AuditLog::open(&path).expect("open").log;
    let now = datetime!(2026-05-01 12:00:00 UTC);
    for outcome in ["a", "b", "c"] {
        log.append(
            &AuditEvent::new(EventKind::Apply, "user/mallory", outcome),
            now,
        )
        .expect("append");
    }
    fs::read_to_string(&path)
        .expect("read")
        .lines()
        .nth(2)
        .expect("line 3")
        .to_owned()
}

#[test]
fn an_inserted_record_is_named() {
    let log = log();
    // Only the chain gives it away: its own hash is right.
    log.rewrite(|l| l.insert(2, foreign_record_3()));
    assert_bad_line(&log, &[], 3, "`prev` is not the hash of record 2");
}

#[test]
fn reordered_records_are_named() {
    let log = log();
    log.rewrite(|l| l.swap(1, 3));
    assert_bad_line(&log, &[], 2, "seq 4 where seq 2 was expected");
}

#[test]
fn the_head_catches_a_deleted_last_record() {
    let log = log();
    log.rewrite(|l| {
        l.pop();
    });
    assert_eq!(
        verify(&log.path, &[]).code,
        0,
        "without --head it still chains"
    );
    let head = log.head.to_string();
    assert_bad_line(&log, &["--head", &head], 5, "were deleted");
}

#[test]
fn a_missing_file_or_a_bad_head_is_a_usage_error() {
    let log = log();
    let missing = log.path.with_file_name("nope.log");
    let run = verify(&missing, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot open the audit log"),
        "{}",
        run.stderr
    );
    let run = verify(&log.path, &["--head", "5:xyz"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("SEQ:HASH"), "{}", run.stderr);
}

fn show(log: &Log, extra: &[&str]) -> Run {
    lbops(&[&["audit", "show", &log.name()], extra].concat())
}

#[test]
fn show_filters_by_commit_prefix() {
    let log = log();
    let run = show(&log, &["--commit", "A11CE"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "2026-05-01T12:00:00Z  #2  decision  user/alice  a11ce0000000  pool/web  authorized\n\
         2026-05-01T12:00:00Z  #3  apply  user/alice  a11ce0000000  pool/web  applying\n"
    );
}

#[test]
fn show_filters_by_identity_and_resource_and_prints_json() {
    let log = log();
    let run = show(&log, &["--identity", "user/bob", "--output", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let seqs: Vec<u64> = records
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, [4]);
    let run = show(
        &log,
        &["--resource", "pool/web", "--identity", "user/alice"],
    );
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    let run = show(&log, &[]);
    assert_eq!(run.stdout.lines().count(), 5);
    assert!(run
        .stdout
        .starts_with("2026-05-01T12:00:00Z  #1  startup  lbops  -  -  started\n"));
}

#[test]
fn show_on_a_broken_log_still_shows_but_says_so() {
    let log = log();
    log.rewrite(|l| l[1] = l[1].replace("authorized", "unauthorized"));
    let run = show(&log, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stdout.lines().count(),
        4,
        "the edited line is not shown"
    );
    assert!(
        run.stderr.starts_with(&format!("{}:2: ", log.name())),
        "{}",
        run.stderr
    );
}

fn accept_end(log: &Log, was: &str, extra: &[&str]) -> Run {
    lbops(&[&["audit", "accept-end", &log.name(), "--was", was], extra].concat())
}

#[test]
fn accept_end_records_the_lost_end_in_the_log_which_then_continues_the_old_head() {
    let log = log();
    log.rewrite(|l| {
        l.truncate(3);
    });
    let was = log.head.to_string();
    assert!(matches!(
        AuditLog::open_continuing(&log.path, Some(&log.head)),
        Err(lbops::audit::AuditError::Discontinued(_))
    ));

    let run = accept_end(
        &log,
        &was,
        &["--reason", "two records lost with the old disk"],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("accepted the end at seq 3 in place of seq 5, recorded as record 4"),
        "{}",
        run.stdout
    );
    // The log verifies, and says what happened, who did it and why.
    assert_eq!(verify(&log.path, &[]).code, 0);
    let last: serde_json::Value =
        serde_json::from_str(log.lines().last().expect("a record")).expect("json");
    assert_eq!(last["seq"], 4);
    assert_eq!(last["event"]["kind"], "trust");
    assert_eq!(last["event"]["outcome"], "audit log end accepted");
    assert_eq!(last["event"]["detail"]["was"], was.as_str());
    assert!(last["event"]["detail"]["end"]
        .as_str()
        .expect("end")
        .starts_with("3:"));
    assert_eq!(
        last["event"]["detail"]["reason"],
        "two records lost with the old disk"
    );
    assert!(
        last["event"]["actor"]
            .as_str()
            .expect("actor")
            .starts_with("operator "),
        "{last}"
    );
    // A writer that kept the old head goes on from here.
    let opened = AuditLog::open_continuing(&log.path, Some(&log.head)).expect("continues");
    let accepted = opened.accepted.expect("by the record");
    assert_eq!((accepted.end.seq, accepted.record), (3, 4));

    // Once is enough.
    let run = accept_end(&log, &was, &["--reason", "again"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("accepted before"), "{}", run.stdout);
    assert_eq!(log.lines().len(), 4);
}

#[test]
fn accept_end_refuses_a_log_that_lost_nothing_or_whose_chain_is_broken() {
    let log = log();
    let was = log.head.to_string();
    let before = fs::read(&log.path).expect("read");
    let run = accept_end(&log, &was, &["--reason", "just in case"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("nothing to accept"), "{}", run.stdout);
    assert_eq!(fs::read(&log.path).expect("read"), before);

    log.rewrite(|l| {
        l[1] = l[1].replace("authorized", "unauthorized");
        l.pop();
    });
    let before = fs::read(&log.path).expect("read");
    let run = accept_end(&log, &was, &["--reason", "cover it up"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with(&format!("{}:2: ", log.name()))
            && run.stdout.contains("cannot be accepted"),
        "{}",
        run.stdout
    );
    assert_eq!(fs::read(&log.path).expect("read"), before);
}

#[test]
fn accept_end_wants_a_reason() {
    let log = log();
    log.rewrite(|l| {
        l.pop();
    });
    let was = log.head.to_string();
    let run = accept_end(&log, &was, &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--reason"), "{}", run.stderr);
    let run = accept_end(&log, &was, &["--reason", " "]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("say what happened"), "{}", run.stderr);
    assert_eq!(log.lines().len(), 4, "nothing written");
}
