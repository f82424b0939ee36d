//! Appending to the log on disk: verify on open, one write and one
//! `fdatasync` per record.

use super::event::Event;
use super::record::{self, Head};
use super::secrets::{self, SecretInEvent};
use super::verify::{self, VerifyError};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Why the log could not be opened or written. After any error from
/// [`AuditLog::append`] the change the event describes must not be made.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot {action} the audit log {path}: {source}; check that its directory exists and that lbops may write there")]
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
    #[error("an earlier write to the audit log {path} failed, so its end is uncertain; open it again (that checks it and removes a torn last line) before appending")]
    Poisoned { path: PathBuf },
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

/// What [`AuditLog::open`] found and did; log `repaired` if it is set.
#[derive(Debug)]
#[must_use]
pub struct Opened {
    pub log: AuditLog,
    /// The file did not exist and was created.
    pub created: bool,
    pub repaired: Option<Repaired>,
}

/// An open, verified audit log that one process appends to.
///
/// Only one writer may have a log open: nothing here locks the file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    head: Head,
    /// Length of the file up to the head's newline.
    len: u64,
    /// Set when a write failed part-way; appends are refused after that.
    poisoned: bool,
}

impl AuditLog {
    /// Opens the log at `path`, creating it (mode 0600, directory synced)
    /// if it does not exist. An existing log is verified completely first
    /// and refused if its chain is broken. A last line without a newline
    /// is the one thing repaired: it is cut away, and reported in
    /// [`Opened::repaired`].
    pub fn open(path: &Path) -> Result<Opened, AuditError> {
        let io_err = |action| {
            move |source| AuditError::Io {
                action,
                path: path.to_owned(),
                source,
            }
        };
        match create_new(path) {
            Ok(file) => {
                sync_dir(path).map_err(io_err("sync the directory of"))?;
                return Ok(Opened {
                    log: AuditLog {
                        path: path.to_owned(),
                        file,
                        head: Head::genesis(),
                        len: 0,
                        poisoned: false,
                    },
                    created: true,
                    repaired: None,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("create")(e)),
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(io_err("open"))?;
        let scan = verify::scan(BufReader::new(&file), None).map_err(|error| {
            if let verify::Problem::Unreadable(message) = &error.problem {
                io_err("read")(io::Error::other(message.clone()))
            } else {
                AuditError::Broken {
                    path: path.to_owned(),
                    error,
                }
            }
        })?;
        let repaired = match scan.torn {
            Some((line, bytes)) => {
                file.set_len(scan.complete_len)
                    .map_err(io_err("cut the torn last line of"))?;
                file.sync_all().map_err(io_err("sync"))?;
                Some(Repaired { line, bytes })
            }
            None => None,
        };
        Ok(Opened {
            log: AuditLog {
                path: path.to_owned(),
                file,
                head: scan.summary.head,
                len: scan.complete_len,
                poisoned: false,
            },
            created: false,
            repaired,
        })
    }

    /// Seals `event` as the next record, writes it in one write and syncs
    /// it to disk. Make the change the event records only after this
    /// returned `Ok`; the returned head is worth persisting elsewhere.
    ///
    /// Refuses, writing nothing, an event that looks like it holds a secret.
    pub fn append(&mut self, event: &Event, now: OffsetDateTime) -> Result<Head, AuditError> {
        if self.poisoned {
            return Err(AuditError::Poisoned {
                path: self.path.clone(),
            });
        }
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
        if let Err(source) = self.write_synced(&line) {
            // The end of the file is unknown now: try to put it back, and
            // refuse further appends until the log is opened (and checked)
            // again.
            self.poisoned = true;
            let _ = self.file.set_len(self.len);
            return Err(AuditError::Io {
                action: "write",
                path: self.path.clone(),
                source,
            });
        }
        self.len += line.len() as u64;
        self.head = Head { seq, hash };
        Ok(self.head.clone())
    }

    fn write_synced(&mut self, line: &[u8]) -> io::Result<()> {
        self.file.write_all(line)?;
        self.file.sync_data()
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
