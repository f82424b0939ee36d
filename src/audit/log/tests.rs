use super::*;
use crate::audit::event::EventKind;
use crate::audit::verify::{verify, Problem};
use std::fs;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-03-04 05:06:07.5 +01:00);

fn event(outcome: &str) -> Event {
    Event::new(EventKind::Apply, "user/alice", outcome)
        .with_commit("0123456789abcdef0123456789abcdef01234567")
        .with_resources(["pool/web"])
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

fn log_with(path: &Path, n: usize) -> Head {
    let mut log = AuditLog::open(path).unwrap().log;
    for i in 1..=n {
        log.append(&event(&format!("step {i}")), NOW).unwrap();
    }
    log.head().clone()
}

#[test]
fn creates_a_private_file_and_appends_synced_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let opened = AuditLog::open(&path).unwrap();
    assert!(opened.created);
    assert_eq!(opened.repaired, None);
    let mut log = opened.log;
    assert_eq!(log.head(), &Head::genesis());
    let head = log.append(&event("applying"), NOW).unwrap();
    assert_eq!(head.seq, 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    let record: crate::audit::Record = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(record.time, "2026-03-04T04:06:07.5Z");
    assert_eq!(record.prev, record::GENESIS);
    assert_eq!(record.hash, head.hash);
}

#[test]
fn append_reopen_append_keeps_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let first = log_with(&path, 2);
    let opened = AuditLog::open(&path).unwrap();
    assert!(!opened.created);
    assert_eq!(opened.repaired, None);
    let mut log = opened.log;
    assert_eq!(log.head(), &first);
    let head = log.append(&event("step 3"), NOW).unwrap();
    drop(log);
    let summary = verify(BufReader::new(File::open(&path).unwrap()), Some(&first)).unwrap();
    assert_eq!(summary.records, 3);
    assert_eq!(summary.head, head);
}

#[test]
fn a_torn_last_line_is_cut_on_open_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let head = log_with(&path, 2);
    let intact = fs::read(&path).unwrap();
    let mut torn = intact.clone();
    let partial = b"{\"seq\":3,\"time\":\"2026-";
    torn.extend_from_slice(partial);
    fs::write(&path, &torn).unwrap();
    let opened = AuditLog::open(&path).unwrap();
    assert_eq!(
        opened.repaired,
        Some(Repaired {
            line: 3,
            bytes: partial.len() as u64
        })
    );
    assert!(opened
        .repaired
        .unwrap()
        .to_string()
        .contains("torn last line 3"));
    assert_eq!(fs::read(&path).unwrap(), intact);
    let mut log = opened.log;
    assert_eq!(log.head(), &head);
    assert_eq!(log.append(&event("step 3"), NOW).unwrap().seq, 3);
    let summary = verify(BufReader::new(File::open(&path).unwrap()), None).unwrap();
    assert_eq!(summary.records, 3);
}

#[test]
fn a_broken_chain_refuses_open_and_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    log_with(&path, 3);
    let mut edited = lines(&path);
    edited[1] = edited[1].replace("step 2", "step 7");
    write_lines(&path, &edited);
    let before = fs::read(&path).unwrap();
    let err = AuditLog::open(&path).unwrap_err();
    match &err {
        AuditError::Broken { error, .. } => {
            assert_eq!(error.line, 2);
            assert_eq!(error.problem, Problem::Edited);
        }
        other => panic!("expected Broken, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("audit.log:2: "), "{message}");
    assert!(message.contains("lbops audit verify"), "{message}");
    assert_eq!(
        fs::read(&path).unwrap(),
        before,
        "open must not touch a broken log"
    );
}

#[test]
fn a_secret_looking_event_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let head = log_with(&path, 1);
    let before = fs::read(&path).unwrap();
    let mut log = AuditLog::open(&path).unwrap().log;
    let leaky = event("called").with_detail(serde_json::json!({
        "header": "Bearer glpat-abcdefghij0123456789xyz"
    }));
    let err = log.append(&leaky, NOW).unwrap_err();
    assert!(matches!(err, AuditError::Secret(_)), "{err:?}");
    assert!(!err.to_string().contains("glpat-"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(log.head(), &head);
    // The log is still usable.
    assert_eq!(log.append(&event("step 2"), NOW).unwrap().seq, 2);
}

#[test]
fn an_unwritable_location_is_an_io_error_that_says_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("audit.log");
    let err = AuditLog::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Io {
                action: "create",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("directory exists"), "{err}");
}
