//! The on-disk format: one sealed record per line.
//!
//! A line is the compact JSON
//!
//! ```text
//! {"seq":N,"time":"RFC3339","prev":"<64 hex>","event":{…},"hash":"<64 hex>"}
//! ```
//!
//! followed by `\n`, with the members in exactly that order (and the event's
//! as [`AuditEvent`] declares them). `seq` starts at 1 and goes up by one per line,
//! so a record's `seq` is its line number. `prev` is the previous record's
//! `hash`, or [`GENESIS`] (64 zeros) for the first. `time` is UTC.
//!
//! `hash` is the lowercase hex SHA-256 of the *canonical* JSON of the record
//! without `hash`: `serde_json::to_vec` of the struct `{seq, time, prev,
//! event}` in that fixed order, no whitespace. Because the line is that same
//! text with `,"hash":"…"` spliced in before the final `}`, a verifier can
//! recompute the hash from the line's own bytes: strip the fixed-length
//! suffix `,"hash":"<64 hex>"}`, put back the `}`, hash. Any change to any
//! byte of a record therefore changes its hash; any change to a hash breaks
//! the next record's `prev`.

use super::event::AuditEvent;
use crate::model::sha256_hex;
use crate::support::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The `prev` of the first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `,"hash":"` + 64 hex + `"}`: how every line ends.
const SUFFIX_LEN: usize = HASH_PREFIX.len() + 64 + 2;
const HASH_PREFIX: &[u8] = b",\"hash\":\"";

/// One line of the log, as read back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub time: String,
    pub prev: String,
    pub event: AuditEvent,
    pub hash: String,
}

/// What is hashed: the record without its hash, fields in on-disk order.
#[derive(Serialize)]
struct Unsigned<'a> {
    seq: u64,
    time: &'a str,
    prev: &'a str,
    event: &'a AuditEvent,
}

/// The last record of a log: its `seq` and `hash`. An empty log's head is
/// seq 0 with [`GENESIS`]. Written and parsed as `SEQ:HASH`, which is what
/// `lbops audit verify --head` takes and what the daemon should persist.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    /// The head of an empty log.
    #[must_use]
    pub fn genesis() -> Self {
        Head {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// A `SEQ:HASH` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an audit head; give SEQ:HASH, e.g. 42:<64 lowercase hex digits> — the seq and hash `lbops audit verify` prints, joined by `:`")]
pub struct HeadParseError(String);

impl FromStr for Head {
    type Err = HeadParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || HeadParseError(s.chars().take(80).collect());
        let (seq, hash) = s.split_once(':').ok_or_else(bad)?;
        let seq = seq.parse::<u64>().map_err(|_| bad())?;
        if !is_hash(hash.as_bytes()) || (seq == 0) != (hash == GENESIS) {
            return Err(bad());
        }
        Ok(Head {
            seq,
            hash: hash.to_owned(),
        })
    }
}

/// Whether `s` is 64 lowercase hex digits.
pub(crate) fn is_hash(s: &[u8]) -> bool {
    s.len() == 64 && s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The line (with its `\n`) that records `event` as record `seq` after a
/// record whose hash is `prev`, and that line's hash.
pub(crate) fn seal(
    seq: u64,
    time: &str,
    prev: &str,
    event: &AuditEvent,
) -> Result<(Vec<u8>, String), serde_json::Error> {
    let mut line = serde_json::to_vec(&Unsigned {
        seq,
        time,
        prev,
        event,
    })?;
    let hash = sha256_hex(&line);
    line.pop(); // the closing `}`
    line.extend_from_slice(HASH_PREFIX);
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    Ok((line, hash))
}

/// Why one line (without its `\n`) is not a sound record on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LineError {
    /// Not the shape lbops writes; the text says what is missing.
    Malformed(String),
    /// The hash does not match the bytes.
    HashMismatch,
}

/// Checks one line's own hash and parses it. Says nothing about how the
/// record fits the chain: that is [`crate::audit::verify`]'s job.
pub(crate) fn open_line(line: &[u8]) -> Result<Record, LineError> {
    let text = std::str::from_utf8(line)
        .map_err(|_| LineError::Malformed("the line is not UTF-8 text".into()))?;
    if line.len() < SUFFIX_LEN + 2 || !line.starts_with(b"{") {
        return Err(LineError::Malformed(
            "the line is not a JSON audit record".into(),
        ));
    }
    let (body, suffix) = line.split_at(line.len() - SUFFIX_LEN);
    let claimed = &suffix[HASH_PREFIX.len()..HASH_PREFIX.len() + 64];
    if !suffix.starts_with(HASH_PREFIX) || !suffix.ends_with(b"\"}") || !is_hash(claimed) {
        return Err(LineError::Malformed(
            "the line does not end with the record's hash, ,\"hash\":\"<64 hex>\"}".into(),
        ));
    }
    let mut hasher = Sha256::new();
    hasher.update(body);
    hasher.update(b"}");
    if hex::encode(&hasher.finalize()).as_bytes() != claimed {
        return Err(LineError::HashMismatch);
    }
    let record: Record = serde_json::from_str(text)
        .map_err(|e| LineError::Malformed(format!("the record does not parse: {e}")))?;
    if !is_hash(record.prev.as_bytes()) {
        return Err(LineError::Malformed(
            "`prev` is not 64 lowercase hex digits".into(),
        ));
    }
    if time::OffsetDateTime::parse(&record.time, &time::format_description::well_known::Rfc3339)
        .is_err()
    {
        return Err(LineError::Malformed(
            "`time` is not an RFC 3339 time".into(),
        ));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::EventKind;

    fn event() -> AuditEvent {
        AuditEvent::new(EventKind::Apply, "user/alice", "applying")
            .with_commit("0123456789abcdef0123456789abcdef01234567")
            .with_resources(["pool/web"])
            .with_detail(serde_json::json!({"steps": 2, "note": "ü \"quoted\"\n"}))
    }

    #[test]
    fn a_sealed_line_is_the_record_serialized_with_its_hash_and_opens_again() {
        let (line, hash) = seal(1, "2026-01-02T03:04:05Z", GENESIS, &event()).unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        let body = &line[..line.len() - 1];
        let record = open_line(body).unwrap();
        assert_eq!(record.hash, hash);
        assert_eq!(record.event, event());
        // The line is exactly serde_json of `Record`: the documented format.
        assert_eq!(serde_json::to_vec(&record).unwrap(), body);
        // And the hash is SHA-256 of the record without `hash`.
        let canonical = serde_json::to_vec(&Unsigned {
            seq: 1,
            time: "2026-01-02T03:04:05Z",
            prev: GENESIS,
            event: &event(),
        })
        .unwrap();
        assert_eq!(sha256_hex(&canonical), hash);
    }

    #[test]
    fn any_changed_byte_is_caught() {
        let (line, _) = seal(1, "2026-01-02T03:04:05Z", GENESIS, &event()).unwrap();
        let body = &line[..line.len() - 1];
        for i in 0..body.len() {
            let mut edited = body.to_vec();
            edited[i] = if edited[i] == b'x' { b'y' } else { b'x' };
            assert!(open_line(&edited).is_err(), "byte {i} changed unnoticed");
        }
    }

    #[test]
    fn heads_round_trip_and_bad_ones_are_refused() {
        let head = Head {
            seq: 7,
            hash: "ab".repeat(32),
        };
        assert_eq!(head.to_string().parse::<Head>().unwrap(), head);
        assert_eq!(
            format!("0:{GENESIS}").parse::<Head>().unwrap(),
            Head::genesis()
        );
        for bad in [
            "7",
            "x:ab",
            "7:abc",
            &format!("7:{}", "AB".repeat(32)),
            &format!("0:{}", "ab".repeat(32)),
            &format!("3:{GENESIS}"),
        ] {
            assert!(bad.parse::<Head>().is_err(), "{bad} parsed");
        }
    }
}
