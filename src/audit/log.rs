//! Appending to the log on disk: verify on open, one write and one
//! `fdatasync` per record, and the end of the file checked before each.
//!
//! A write that fails (a full disk, an I/O error) leaves the end of the file
//! uncertain: nothing, part of the line, or all of it without the sync.
//! The record was not acknowledged, so its change is not made. The next
//! append opens the file again, checks that it still ends with the last
//! acknowledged record followed by nothing but a part of the failed line,
//! cuts that part away, syncs, and only then writes. So appends resume by
//! themselves once the disk has room again, and the chain stays whole.

use super::accept::{self, Accepted};
use super::event::AuditEvent;
use super::record::{self, Head};
use super::secrets::{self, SecretInEvent};
use super::verify::{self, Problem, VerifyError};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Why the log could not be opened or written. After any error from
/// [`AuditLog::append`] the change the event describes must not be made.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot {action} the audit log {path}: {source}; {}", io_hint(.source))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}:{}: {}; refusing to append to a broken chain — run `lbops audit verify {path}` to see it, then restore the log from a backup or move it aside and keep it as evidence", .error.line, .error.problem)]
    Broken { path: PathBuf, error: VerifyError },
    #[error("{0}")]
    Secret(#[from] SecretInEvent),
    #[error(
        "cannot write the time {time} as RFC 3339 ({reason}); pass a time between years 0 and 9999"
    )]
    Time {
        time: OffsetDateTime,
        reason: String,
    },
    #[error("cannot encode the event as JSON: {0}; this is a bug in the caller")]
    Encode(#[from] serde_json::Error),
    #[error("the audit log {path} does not end with the record lbops wrote last ({head}): {found}; something else wrote to it, cut it or replaced it, so lbops appends nothing — run `lbops audit verify {path}` to see it, keep the file as evidence, restore the log from a backup and restart lbops")]
    EndChanged {
        path: PathBuf,
        /// The head this writer acknowledged last, `SEQ:HASH`.
        head: Head,
        /// What is there instead.
        found: String,
    },
    #[error(transparent)]
    Discontinued(Box<Discontinuity>),
}

/// What to do about an I/O error.
fn io_hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
            "make room on its disk: lbops tries the write again and goes on once it succeeds"
        }
        _ => "check that its directory exists and that lbops may write there",
    }
}

/// A log that does not hold the head its writer persisted: its end was
/// cut, or it was replaced.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{}: {}; lbops had written up to record {} (the head it keeps, {expected}) and will not go on from a log that lost it. Restore the log from a backup that holds record {}, or, if the records are gone for good, accept the log's end as it is with `lbops audit accept-end {path} --was {expected} --reason \"…\"` (the acceptance is recorded in the log itself); then start lbops again", .error.line, .error.problem, .expected.seq, .expected.seq, path = .path.display())]
pub struct Discontinuity {
    pub path: PathBuf,
    /// Where the log stops matching `expected`, and how.
    pub error: VerifyError,
    /// The head the writer persisted.
    pub expected: Head,
    /// The log's last complete record.
    pub end: Head,
}

/// A torn last line that [`AuditLog::open`] removed: a write interrupted by
/// a crash. Its record was never acknowledged, so its change never happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repaired {
    /// The line's number (the seq it would have had).
    pub line: u64,
    /// How many bytes were cut.
    pub bytes: u64,
}

impl fmt::Display for Repaired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "removed a torn last line {} ({} bytes without a newline) left by an interrupted write; its record was never acknowledged",
            self.line, self.bytes
        )
    }
}

/// What [`AuditLog::open`] found and did; log `repaired` and `accepted` if
/// they are set.
#[derive(Debug)]
#[must_use]
pub struct Opened {
    pub log: AuditLog,
    /// The file did not exist and was created.
    pub created: bool,
    pub repaired: Option<Repaired>,
    /// The log does not hold the expected head, but a record accepts that
    /// (see [`accept`](crate::audit::accept)).
    pub accepted: Option<Accepted>,
}

/// An open, verified audit log that one process appends to.
///
/// Only one writer may have a log open: nothing here locks the file, but
/// each append first checks that the file still ends with this writer's
/// last record, and refuses ([`AuditError::EndChanged`]) when it does not.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    head: Head,
    /// Length of the file up to the head's newline.
    len: u64,
    /// The head's line, with its newline (empty for an empty log): what
    /// the file must end with.
    last_line: Vec<u8>,
    /// The line whose write failed, until the next append has cut whatever
    /// of it reached the file.
    failed: Option<Vec<u8>>,
    /// Test-only faults at the file edge (see the tests).
    #[cfg(test)]
    fault: Option<tests::Fault>,
}

impl AuditLog {
    /// Opens the log at `path`, creating it (mode 0600, directory synced)
    /// if it does not exist. An existing log is verified completely first
    /// and refused if its chain is broken. A last line without a newline
    /// is the one thing repaired: it is cut away, and reported in
    /// [`Opened::repaired`].
    pub fn open(path: &Path) -> Result<Opened, AuditError> {
        Self::open_continuing(path, None)
    }

    /// Opens the log as [`AuditLog::open`] does, and checks that it still
    /// holds `expected`, the head its writer persisted elsewhere: the
    /// record at that seq, with that hash (the log may have grown since).
    /// A log that does not, whose end was cut or that was replaced, is
    /// refused ([`AuditError::Discontinued`]) and left untouched, unless a
    /// record in it accepts that loss ([`Opened::accepted`]). With an
    /// expected head past genesis, a missing log is refused, not created.
    pub fn open_continuing(path: &Path, expected: Option<&Head>) -> Result<Opened, AuditError> {
        let io_err = |action| {
            move |source| AuditError::Io {
                action,
                path: path.to_owned(),
                source,
            }
        };
        let expected = expected.filter(|head| head.seq > 0);
        if expected.is_none() {
            match create_new(path) {
                Ok(file) => {
                    sync_dir(path).map_err(io_err("sync the directory of"))?;
                    return Ok(Opened {
                        log: AuditLog::at_end(path, file, Head::genesis(), 0, Vec::new()),
                        created: true,
                        repaired: None,
                        accepted: None,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err("create")(e)),
            }
        }
        let file = match OpenOptions::new().read(true).append(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound && expected.is_some() => {
                let expected = expected.cloned().unwrap_or_else(Head::genesis);
                return Err(AuditError::Discontinued(Box::new(Discontinuity {
                    path: path.to_owned(),
                    error: VerifyError {
                        line: 1,
                        problem: Problem::TailMissing {
                            last: 0,
                            expected: expected.seq,
                        },
                    },
                    expected,
                    end: Head::genesis(),
                })));
            }
            Err(e) => return Err(io_err("open")(e)),
        };
        let scan =
            verify::scan(BufReader::new(&file), expected.map(|h| h.seq)).map_err(|error| {
                if let verify::Problem::Unreadable(message) = &error.problem {
                    io_err("read")(io::Error::other(message.clone()))
                } else {
                    AuditError::Broken {
                        path: path.to_owned(),
                        error,
                    }
                }
            })?;
        let accepted = match expected {
            Some(expected) => continues(path, &file, &scan, expected)?,
            None => None,
        };
        let repaired = match scan.torn {
            Some((line, bytes)) => {
                file.set_len(scan.complete_len)
                    .map_err(io_err("cut the torn last line of"))?;
                file.sync_all().map_err(io_err("sync"))?;
                Some(Repaired { line, bytes })
            }
            None => None,
        };
        let mut last_line =
            vec![0; usize::try_from(scan.complete_len - scan.last_start).unwrap_or(0)];
        read_at(&file, scan.last_start, &mut last_line).map_err(io_err("read"))?;
        Ok(Opened {
            log: AuditLog::at_end(path, file, scan.summary.head, scan.complete_len, last_line),
            created: false,
            repaired,
            accepted,
        })
    }

    fn at_end(path: &Path, file: File, head: Head, len: u64, last_line: Vec<u8>) -> Self {
        AuditLog {
            path: path.to_owned(),
            file,
            head,
            len,
            last_line,
            failed: None,
            #[cfg(test)]
            fault: None,
        }
    }

    /// Seals `event` as the next record, writes it in one write and syncs
    /// it to disk. Make the change the event records only after this
    /// returned `Ok`; the returned head is worth persisting elsewhere.
    ///
    /// Refuses, writing nothing, an event that looks like it holds a secret.
    ///
    /// Checks the end of the file first: it must end with the last record
    /// acknowledged here. After a failed write, the file is opened again
    /// and whatever part of the failed line reached it is cut away, so a
    /// failure lasts only as long as its cause.
    pub fn append(&mut self, event: &AuditEvent, now: OffsetDateTime) -> Result<Head, AuditError> {
        secrets::check(event)?;
        let time = now
            .to_offset(UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|e| AuditError::Time {
                time: now,
                reason: e.to_string(),
            })?;
        let seq = self.head.seq + 1;
        let (line, hash) = record::seal(seq, &time, &self.head.hash, event)?;
        match self.failed.take() {
            Some(failed) => self.recover(failed)?,
            None => self.check_end()?,
        }
        if let Err(source) = self.write_synced(&line) {
            // The end of the file is unknown now: try to put it back at
            // once (a crash before the next append then leaves no record
            // that was never acknowledged), and have the next append check
            // and repair it.
            let _ = self.cut(&self.file, self.len);
            self.failed = Some(line);
            return Err(AuditError::Io {
                action: "write",
                path: self.path.clone(),
                source,
            });
        }
        self.len += line.len() as u64;
        self.last_line = line;
        self.head = Head { seq, hash };
        Ok(self.head.clone())
    }

    fn write_synced(&mut self, line: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        if let Some(fault) = self.fault.as_mut() {
            return fault.write(&mut self.file, line);
        }
        self.file.write_all(line)?;
        self.file.sync_data()
    }

    /// Shortens `file` to `len` bytes.
    fn cut(&self, file: &File, len: u64) -> io::Result<()> {
        #[cfg(test)]
        if self.fault.as_ref().is_some_and(|f| f.cut_fails) {
            return Err(io::Error::other("injected: cannot cut"));
        }
        file.set_len(len)
    }

    /// Checks that the file ends exactly with the last acknowledged record.
    fn check_end(&self) -> Result<(), AuditError> {
        let tail = self.tail_after_head(&self.file)?;
        if tail > 0 {
            return Err(
                self.end_changed(format!("{tail} byte(s) follow it that lbops did not write"))
            );
        }
        Ok(())
    }

    /// After a failed write: opens the file again (a fresh descriptor, so
    /// that an error the old one saw cannot hide a lost write), checks that
    /// it ends with the last acknowledged record followed by nothing but a
    /// beginning of `failed`, cuts that away and syncs. Until this succeeds
    /// the failed line stays pending, and appends keep being refused.
    fn recover(&mut self, failed: Vec<u8>) -> Result<(), AuditError> {
        let result = self.reopen_and_cut(&failed);
        if result.is_err() {
            self.failed = Some(failed);
        }
        result
    }

    fn reopen_and_cut(&mut self, failed: &[u8]) -> Result<(), AuditError> {
        let path = self.path.clone();
        let io_err = |action| {
            let path = path.clone();
            move |source| AuditError::Io {
                action,
                path,
                source,
            }
        };
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(io_err("reopen"))?;
        let tail = self.tail_after_head(&file)?;
        if tail > failed.len() as u64 {
            return Err(self.end_changed(format!(
                "{tail} byte(s) follow it, more than the {} of the record whose write failed",
                failed.len()
            )));
        }
        let mut written = vec![0; usize::try_from(tail).unwrap_or(0)];
        read_at(&file, self.len, &mut written).map_err(io_err("read"))?;
        if !failed.starts_with(&written) {
            return Err(self.end_changed(format!(
                "the {tail} byte(s) after it are not the record whose write failed"
            )));
        }
        if tail > 0 {
            self.cut(&file, self.len)
                .map_err(io_err("cut the failed write from"))?;
        }
        file.sync_all().map_err(io_err("sync"))?;
        self.file = file;
        Ok(())
    }

    /// How many bytes follow the last acknowledged record in `file`, once
    /// that record is checked to be where it was written.
    fn tail_after_head(&self, file: &File) -> Result<u64, AuditError> {
        let io_err = |source| AuditError::Io {
            action: "check the end of",
            path: self.path.clone(),
            source,
        };
        let len = file.metadata().map_err(io_err)?.len();
        if len < self.len {
            return Err(self.end_changed(format!(
                "the file is {len} bytes long, shorter than the {} bytes lbops wrote: records were cut off",
                self.len
            )));
        }
        let start = self.len - self.last_line.len() as u64;
        let mut there = vec![0; self.last_line.len()];
        read_at(file, start, &mut there).map_err(io_err)?;
        if there != self.last_line {
            return Err(self.end_changed(format!(
                "the bytes where record {} ends are another record now",
                self.head.seq
            )));
        }
        Ok(len - self.len)
    }

    fn end_changed(&self, found: String) -> AuditError {
        AuditError::EndChanged {
            path: self.path.clone(),
            head: self.head.clone(),
            found,
        }
    }

    /// A test seam for the modules that write the log: while `full` is
    /// set, every write fails as on a full disk, with nothing reaching the
    /// file.
    #[cfg(test)]
    pub(crate) fn set_disk_full(&mut self, full: bool) {
        self.fault = full.then_some(tests::Fault {
            written: Some(0),
            cut_fails: false,
        });
    }

    /// The last record's seq and hash ([`Head::genesis`] for an empty log).
    #[must_use]
    pub fn head(&self) -> &Head {
        &self.head
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Checks that the log `scan` read holds `expected`; when it does not, looks
/// for a record that accepts the loss. `Ok(None)`: it holds it.
fn continues(
    path: &Path,
    mut file: &File,
    scan: &verify::Scan,
    expected: &Head,
) -> Result<Option<Accepted>, AuditError> {
    let end = &scan.summary.head;
    let error = if end.seq < expected.seq {
        VerifyError {
            line: end.seq + 1,
            problem: Problem::TailMissing {
                last: end.seq,
                expected: expected.seq,
            },
        }
    } else if scan.hash_at.as_deref() != Some(expected.hash.as_str()) {
        VerifyError {
            line: expected.seq,
            problem: Problem::HeadMismatch {
                seq: expected.seq,
                expected_hash: expected.hash.clone(),
            },
        }
    } else {
        return Ok(None);
    };
    let read = |source| AuditError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    };
    file.seek(SeekFrom::Start(0)).map_err(read)?;
    // Only the records the scan verified: not a torn last line.
    let complete = file.take(scan.complete_len);
    let mut found = None;
    for record in super::filter::read_records(BufReader::new(complete)) {
        if let Some(accepted) = accept::accepts(&record.map_err(read)?, expected) {
            found = Some(accepted);
        }
    }
    match found {
        Some(accepted) => Ok(Some(accepted)),
        None => Err(AuditError::Discontinued(Box::new(Discontinuity {
            path: path.to_owned(),
            error,
            expected: expected.clone(),
            end: end.clone(),
        }))),
    }
}

/// Reads exactly `buf.len()` bytes at `offset` (an appending descriptor
/// writes at the end whatever its position).
fn read_at(mut file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

#[cfg(unix)]
fn create_new(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .open(path)
}

/// Makes a newly created file's directory entry durable.
#[cfg(unix)]
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
