use super::*;
use crate::audit::accept;
use crate::audit::event::EventKind;
use crate::audit::verify::VerifySummary;
use crate::audit::verify::{verify, Problem};
use std::fs;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-03-04 05:06:07.5 +01:00);

fn event(outcome: &str) -> AuditEvent {
    AuditEvent::new(EventKind::Apply, "user/alice", outcome)
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

/// A fault at the file edge, the one seam these tests use: the next write
/// puts `written` bytes of the line into the file (all of it when `None`)
/// and then fails as a full disk does; `cut_fails` makes shortening the
/// file fail as well.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fault {
    pub written: Option<usize>,
    pub cut_fails: bool,
}

impl Fault {
    pub(super) fn write(&mut self, file: &mut File, line: &[u8]) -> io::Result<()> {
        let n = self.written.unwrap_or(line.len()).min(line.len());
        file.write_all(&line[..n])?;
        Err(io::Error::from_raw_os_error(28)) // ENOSPC
    }
}

fn verified(path: &Path) -> VerifySummary {
    verify(BufReader::new(File::open(path).unwrap()), None).unwrap()
}

#[test]
fn a_part_line_left_by_a_failed_write_is_cut_before_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let head = log_with(&path, 2);
    let intact = fs::read(&path).unwrap();
    let mut log = AuditLog::open(&path).unwrap().log;

    // 20 bytes of record 3 reach the disk, then it is full, and putting
    // the file back fails too.
    log.fault = Some(Fault {
        written: Some(20),
        cut_fails: true,
    });
    let err = log.append(&event("step 3"), NOW).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Io {
                action: "write",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fs::read(&path).unwrap().len(), intact.len() + 20);
    assert_eq!(log.head(), &head, "nothing acknowledged");

    // Still failing: the part line is recognised but cannot be cut yet.
    let err = log.append(&event("step 3"), NOW).unwrap_err();
    assert!(
        matches!(
            err,
            AuditError::Io {
                action: "cut the failed write from",
                ..
            }
        ),
        "{err:?}"
    );

    // Room again: the part line is cut, the record goes after record 2.
    log.fault = None;
    let next = log.append(&event("step 3 again"), NOW).unwrap();
    assert_eq!(next.seq, 3);
    let text = fs::read(&path).unwrap();
    assert!(text.starts_with(&intact));
    assert_eq!(verified(&path).head, next);
    assert_eq!(log.append(&event("step 4"), NOW).unwrap().seq, 4);
    assert_eq!(verified(&path).records, 4);
}

#[test]
fn a_whole_line_whose_sync_failed_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    log_with(&path, 1);
    let mut log = AuditLog::open(&path).unwrap().log;
    log.fault = Some(Fault {
        written: None,
        cut_fails: true,
    });
    log.append(&event("never acknowledged"), NOW).unwrap_err();
    log.fault = None;
    assert_eq!(log.append(&event("step 2"), NOW).unwrap().seq, 2);
    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains("never acknowledged"), "{text}");
    assert_eq!(verified(&path).records, 2);
}

#[test]
fn a_failed_write_whose_cut_worked_resumes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    log_with(&path, 1);
    let intact = fs::read(&path).unwrap();
    let mut log = AuditLog::open(&path).unwrap().log;
    log.fault = Some(Fault {
        written: Some(7),
        cut_fails: false,
    });
    log.append(&event("step 2"), NOW).unwrap_err();
    assert_eq!(fs::read(&path).unwrap(), intact, "put back at once");
    log.fault = None;
    assert_eq!(log.append(&event("step 2"), NOW).unwrap().seq, 2);
    assert_eq!(verified(&path).records, 2);
}

#[test]
fn an_end_that_someone_else_changed_is_refused_and_left_alone() {
    // Someone else appended a line.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    log_with(&path, 2);
    let mut log = AuditLog::open(&path).unwrap().log;
    let mut other = fs::OpenOptions::new().append(true).open(&path).unwrap();
    other.write_all(b"{\"forged\":true}\n").unwrap();
    let before = fs::read(&path).unwrap();
    let err = log.append(&event("step 3"), NOW).unwrap_err();
    match &err {
        AuditError::EndChanged { head, found, .. } => {
            assert_eq!(head.seq, 2);
            assert!(found.contains("16 byte(s) follow it"), "{found}");
        }
        other => panic!("expected EndChanged, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("lbops audit verify"), "{message}");
    assert!(
        message.contains("restore the log from a backup"),
        "{message}"
    );
    assert_eq!(fs::read(&path).unwrap(), before, "left as evidence");

    // The last record was cut off.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    log_with(&path, 3);
    let mut log = AuditLog::open(&path).unwrap().log;
    let mut cut = lines(&path);
    cut.pop();
    write_lines(&path, &cut);
    let err = log.append(&event("step 4"), NOW).unwrap_err();
    assert!(
        matches!(&err, AuditError::EndChanged { found, .. } if found.contains("records were cut off")),
        "{err:?}"
    );

    // The last record was replaced by one of the same length.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    log_with(&path, 2);
    let mut log = AuditLog::open(&path).unwrap().log;
    let mut edited = lines(&path);
    edited[1] = edited[1].replace("step 2", "step 9");
    write_lines(&path, &edited);
    let err = log.append(&event("step 3"), NOW).unwrap_err();
    assert!(
        matches!(&err, AuditError::EndChanged { found, .. } if found.contains("another record")),
        "{err:?}"
    );

    // After a failed write, bytes that are not the failed record.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    log_with(&path, 1);
    let mut log = AuditLog::open(&path).unwrap().log;
    log.fault = Some(Fault {
        written: Some(0),
        cut_fails: false,
    });
    log.append(&event("step 2"), NOW).unwrap_err();
    log.fault = None;
    let mut other = fs::OpenOptions::new().append(true).open(&path).unwrap();
    other.write_all(b"{\"seq\":7").unwrap();
    let err = log.append(&event("step 2"), NOW).unwrap_err();
    assert!(
        matches!(&err, AuditError::EndChanged { found, .. } if found.contains("not the record whose write failed")),
        "{err:?}"
    );
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped;
/// `None` (with the reason printed) where this process may not mount.
pub(crate) struct SmallDisk {
    dir: Option<tempfile::TempDir>,
}

impl SmallDisk {
    pub(crate) fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(SmallDisk { dir: Some(dir) }),
            Ok(out) => {
                println!(
                    "skipped: cannot mount a tmpfs here ({}); the fault-seam tests cover this",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("skipped: cannot run mount ({e}); the fault-seam tests cover this");
                None
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// Writes a filler file until the disk is full.
    pub(crate) fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = File::create(&filler).unwrap();
        let block = [0u8; 4096];
        loop {
            match file.write(&block) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        while file.write(&[0]).is_ok_and(|n| n == 1) {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::process::Command::new("umount")
                .arg(dir.path())
                .status();
        }
    }
}

#[test]
fn a_full_disk_refuses_appends_until_it_has_room_again() {
    let Some(disk) = SmallDisk::mount("16k") else {
        return;
    };
    let path = disk.path().join("audit.log");
    let head = log_with(&path, 1);
    let intact = fs::read(&path).unwrap();
    let mut log = AuditLog::open(&path).unwrap().log;
    let filler = disk.fill();

    // Bigger than what is left of the log's last page: part of it fits,
    // then the disk is full.
    let big = event("applying").with_detail(serde_json::json!({ "steps": ["x".repeat(6000)] }));
    for _ in 0..2 {
        let err = log.append(&big, NOW).unwrap_err();
        match &err {
            AuditError::Io {
                action: "write",
                source,
                ..
            } => {
                assert_eq!(source.raw_os_error(), Some(28), "{source}");
                assert!(err.to_string().contains("make room on its disk"), "{err}");
            }
            other => panic!("expected a write error, got {other:?}"),
        }
        assert_eq!(log.head(), &head);
        assert_eq!(fs::read(&path).unwrap(), intact, "no part record left");
    }

    // Room again: the same log, no reopen by the caller.
    fs::remove_file(&filler).unwrap();
    let next = log.append(&big, NOW).unwrap();
    assert_eq!(next.seq, 2);
    assert_eq!(log.append(&event("applied"), NOW).unwrap().seq, 3);
    drop(log);
    assert_eq!(verified(&path).records, 3);
    // And a reopen finds the same chain.
    assert_eq!(AuditLog::open(&path).unwrap().log.head().seq, 3);
}

fn discontinued(result: Result<Opened, AuditError>) -> (VerifyError, Head, String) {
    match result {
        Err(AuditError::Discontinued(d)) => {
            let message = d.to_string();
            (d.error, d.end, message)
        }
        other => panic!("expected Discontinued, got {other:?}"),
    }
}

#[test]
fn a_log_that_holds_the_expected_head_continues_even_if_it_grew() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let kept = log_with(&path, 2);
    let mut log = AuditLog::open(&path).unwrap().log;
    log.append(&event("step 3"), NOW).unwrap();
    drop(log);
    let opened = AuditLog::open_continuing(&path, Some(&kept)).unwrap();
    assert_eq!(opened.accepted, None);
    assert_eq!(opened.log.head().seq, 3);
    // Nothing kept yet (a first start): anything goes, a new log too.
    let fresh = dir.path().join("new.log");
    assert!(
        AuditLog::open_continuing(&fresh, Some(&Head::genesis()))
            .unwrap()
            .created
    );
}

#[test]
fn a_log_that_lost_its_end_is_refused_untouched_and_says_how_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let kept = log_with(&path, 3);
    let mut cut = lines(&path);
    cut.pop();
    write_lines(&path, &cut);
    // A torn line after the cut stays too: the file is evidence.
    let mut text = fs::read(&path).unwrap();
    text.extend_from_slice(b"{\"seq\":3,");
    fs::write(&path, &text).unwrap();

    let (error, end, message) = discontinued(AuditLog::open_continuing(&path, Some(&kept)));
    println!("{message}");
    assert_eq!(error.line, 3);
    assert_eq!(
        error.problem,
        Problem::TailMissing {
            last: 2,
            expected: 3
        }
    );
    assert_eq!(end.seq, 2);
    assert_eq!(fs::read(&path).unwrap(), text, "left as it was");
    for words in [
        "audit.log:3: the log ends at seq 2 but the expected head is seq 3",
        "lbops had written up to record 3",
        "Restore the log from a backup that holds record 3",
        &format!(
            "lbops audit accept-end {} --was {kept} --reason",
            path.display()
        ),
    ] {
        assert!(message.contains(words), "{words}: {message}");
    }
}

#[test]
fn a_replaced_or_missing_log_is_refused_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let kept = log_with(&path, 2);
    // Another log of the same length: record 2 has another hash.
    fs::remove_file(&path).unwrap();
    let mut other = AuditLog::open(&path).unwrap().log;
    other.append(&event("other 1"), NOW).unwrap();
    other.append(&event("other 2"), NOW).unwrap();
    other.append(&event("other 3"), NOW).unwrap();
    drop(other);
    let (error, _, _) = discontinued(AuditLog::open_continuing(&path, Some(&kept)));
    assert_eq!(error.line, 2);
    assert!(
        matches!(error.problem, Problem::HeadMismatch { seq: 2, .. }),
        "{error:?}"
    );

    fs::remove_file(&path).unwrap();
    let (error, end, _) = discontinued(AuditLog::open_continuing(&path, Some(&kept)));
    assert_eq!((error.line, end), (1, Head::genesis()));
    assert!(!path.exists(), "a missing log is not made up");
}

#[test]
fn only_an_acceptance_of_that_head_right_after_the_end_it_names_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let kept = log_with(&path, 3);
    let mut cut = lines(&path);
    cut.pop();
    write_lines(&path, &cut);
    let end = AuditLog::open(&path).unwrap().log.head().clone();

    // An acceptance of some other head does not count.
    let mut log = AuditLog::open(&path).unwrap().log;
    let other = Head {
        seq: 9,
        hash: "ab".repeat(32),
    };
    log.append(&accept::end_accepted(&other, &end, "operator x", "no"), NOW)
        .unwrap();
    // Nor one that names an end it does not follow.
    let first: crate::audit::Record = serde_json::from_str(&lines(&path)[0]).unwrap();
    let stale = Head {
        seq: first.seq,
        hash: first.hash,
    };
    log.append(
        &accept::end_accepted(&kept, &stale, "operator x", "no"),
        NOW,
    )
    .unwrap();
    drop(log);
    discontinued(AuditLog::open_continuing(&path, Some(&kept)));

    // The real one, after which the log may grow.
    let mut log = AuditLog::open(&path).unwrap().log;
    let now_end = log.head().clone();
    let record = log
        .append(
            &accept::end_accepted(&kept, &now_end, "operator alice", "disk lost"),
            NOW,
        )
        .unwrap();
    log.append(&event("step on"), NOW).unwrap();
    drop(log);
    let opened = AuditLog::open_continuing(&path, Some(&kept)).unwrap();
    let accepted = opened.accepted.unwrap();
    assert_eq!(accepted.record, record.seq);
    assert_eq!(accepted.end, now_end);
    assert_eq!(accepted.actor, "operator alice");
    assert!(
        accepted.to_string().contains("by operator alice"),
        "{accepted}"
    );
}
