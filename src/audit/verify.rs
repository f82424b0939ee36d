//! Checking a whole log: every line sound on its own (see
//! [`crate::audit::record`]) and chained to the one before it.
//!
//! Pure over a [`BufRead`]: no clock, no file system. Stops at the first
//! bad line and names it, because everything after a break is unanchored.

use super::record::{self, Head, LineError, Record};
use std::fmt;
use std::io::BufRead;

/// A log whose chain holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifySummary {
    /// How many records (= lines) there are.
    pub records: u64,
    /// The last record's seq and hash ([`Head::genesis`] when empty).
    pub head: Head,
}

/// The first bad line of a log and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct VerifyError {
    /// 1-based line number (one past the last line when records are missing
    /// from the end).
    pub line: u64,
    pub problem: Problem,
}

/// What is wrong with a line, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The log could not be read at all (an I/O error, not tampering).
    Unreadable(String),
    /// The last line has no newline: a write was interrupted.
    Torn,
    /// The line is not a record as lbops writes it.
    Malformed(String),
    /// The record's hash does not match its contents.
    Edited,
    /// A seq was skipped: records are missing, or lines were moved.
    SeqSkipped { expected: u64, found: u64 },
    /// A seq repeats or goes back: a record was inserted, copied or moved.
    SeqBack { expected: u64, found: u64 },
    /// `prev` is not the hash of the record before.
    PrevMismatch { previous: u64 },
    /// The log ends before the expected head.
    TailMissing { last: u64, expected: u64 },
    /// The record at the expected head's seq has another hash.
    HeadMismatch { seq: u64, expected_hash: String },
}

impl Problem {
    /// True when the log could not be read, as opposed to read and found bad.
    #[must_use]
    pub fn is_io(&self) -> bool {
        matches!(self, Problem::Unreadable(_))
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unreadable(e) => write!(f, "cannot read the log: {e}"),
            Problem::Torn => f.write_str(
                "the last line is incomplete (no newline): a write was interrupted by a crash; \
                 the record was never acknowledged, and opening the log with lbops removes it",
            ),
            Problem::Malformed(what) => {
                write!(f, "not an audit record as lbops writes it: {what}; the line was edited or corrupted")
            }
            Problem::Edited => f.write_str(
                "the record's hash does not match its contents: this record was edited",
            ),
            Problem::SeqSkipped { expected, found } => write!(
                f,
                "seq {found} where seq {expected} was expected: record {expected} was deleted, or records were reordered"
            ),
            Problem::SeqBack { expected, found } => write!(
                f,
                "seq {found} where seq {expected} was expected: a record was inserted, duplicated or moved here"
            ),
            Problem::PrevMismatch { previous } => write!(
                f,
                "`prev` is not the hash of record {previous} on the line before: a record was inserted, replaced or deleted here"
            ),
            Problem::TailMissing { last, expected } => write!(
                f,
                "the log ends at seq {last} but the expected head is seq {expected}: the last {} record(s) were deleted",
                expected - last
            ),
            Problem::HeadMismatch { seq, expected_hash } => write!(
                f,
                "record {seq}'s hash is not the expected head's {expected_hash}: the log was rewritten up to here"
            ),
        }
    }
}

/// The result of reading a log up to its last complete line.
pub(crate) struct Scan {
    pub summary: VerifySummary,
    /// Bytes up to and including the last complete line's newline.
    pub complete_len: u64,
    /// Where the last complete line starts (0 for an empty log).
    pub last_start: u64,
    /// A final line without a newline: its line number and length.
    pub torn: Option<(u64, u64)>,
    /// The hash of the record whose seq was asked for, if it was reached.
    pub hash_at: Option<String>,
}

/// Reads every complete line, checking the chain; a final line without a
/// newline is reported in [`Scan::torn`], not checked.
pub(crate) fn scan<R: BufRead>(
    mut reader: R,
    hash_of_seq: Option<u64>,
) -> Result<Scan, VerifyError> {
    let mut head = Head::genesis();
    let mut complete_len = 0u64;
    let mut last_start = 0u64;
    let mut hash_at = None;
    let mut buf = Vec::new();
    loop {
        let line = head.seq + 1;
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| VerifyError {
                line,
                problem: Problem::Unreadable(e.to_string()),
            })?;
        if read == 0 {
            break;
        }
        if buf.last() != Some(&b'\n') {
            return Ok(Scan {
                summary: VerifySummary {
                    records: head.seq,
                    head,
                },
                complete_len,
                last_start,
                torn: Some((line, read as u64)),
                hash_at,
            });
        }
        let record = check_next(&buf[..buf.len() - 1], &head)
            .map_err(|problem| VerifyError { line, problem })?;
        last_start = complete_len;
        complete_len += read as u64;
        head = Head {
            seq: record.seq,
            hash: record.hash,
        };
        if hash_of_seq == Some(head.seq) {
            hash_at = Some(head.hash.clone());
        }
    }
    Ok(Scan {
        summary: VerifySummary {
            records: head.seq,
            head,
        },
        complete_len,
        last_start,
        torn: None,
        hash_at,
    })
}

/// Checks that `line` is a sound record that follows `head`.
fn check_next(line: &[u8], head: &Head) -> Result<Record, Problem> {
    let record = record::open_line(line).map_err(|e| match e {
        LineError::Malformed(what) => Problem::Malformed(what),
        LineError::HashMismatch => Problem::Edited,
    })?;
    let expected = head.seq + 1;
    if record.seq > expected {
        return Err(Problem::SeqSkipped {
            expected,
            found: record.seq,
        });
    }
    if record.seq < expected {
        return Err(Problem::SeqBack {
            expected,
            found: record.seq,
        });
    }
    if record.prev != head.hash {
        return Err(Problem::PrevMismatch { previous: head.seq });
    }
    Ok(record)
}

/// Verifies a whole log: every record intact, `seq` 1, 2, 3, … one per
/// line, each `prev` the hash of the record before, and a newline after the
/// last. Returns the first bad line.
///
/// A log cut short at the end still chains; give the head the writer
/// persisted as `expected_head` to catch that: the log must reach that seq
/// and the record there must have that hash (it may have grown since).
pub fn verify<R: BufRead>(
    reader: R,
    expected_head: Option<&Head>,
) -> Result<VerifySummary, VerifyError> {
    let scan = scan(reader, expected_head.map(|h| h.seq))?;
    if let Some((line, _)) = scan.torn {
        return Err(VerifyError {
            line,
            problem: Problem::Torn,
        });
    }
    if let Some(expected) = expected_head {
        let last = scan.summary.head.seq;
        if expected.seq > last {
            return Err(VerifyError {
                line: last + 1,
                problem: Problem::TailMissing {
                    last,
                    expected: expected.seq,
                },
            });
        }
        // seq 0 is the genesis head, which every log starts from.
        if expected.seq > 0 && scan.hash_at.as_deref() != Some(expected.hash.as_str()) {
            return Err(VerifyError {
                line: expected.seq,
                problem: Problem::HeadMismatch {
                    seq: expected.seq,
                    expected_hash: expected.hash.clone(),
                },
            });
        }
    }
    Ok(scan.summary)
}

#[cfg(test)]
mod tests;
