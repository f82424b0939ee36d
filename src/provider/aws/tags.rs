//! What lbops keeps in tags, as values ELBv2 and ACM accept, both ways
//! (pure).
//!
//! Their models take tag values of letters, digits, spaces and `_.:/=+-@`,
//! at most 256 characters (`TagValue`: `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`).
//! What lbops keeps beside ELBv2's own fields can hold anything: a path
//! prefix as written (`~ $ ' "`), a content type (`text/plain;
//! charset=utf-8`), a key file's path, a list of certificates longer than
//! 256 characters. So a value is written in two steps:
//!
//! 1. **Escaped**: ASCII letters, digits and `_.:/+-@` stay as they are;
//!    every other byte of its UTF-8 (`=` itself, spaces, `;`, non-ASCII)
//!    becomes `=XX`, two upper-case hex digits, as in quoted-printable.
//! 2. **Cut** into parts of at most [`MAX_VALUE`] characters, never inside
//!    an escape: the first under the key itself, the next under `key.2`,
//!    `key.3`, … Every part but the last ends in a lone `=`, which no
//!    escaped text does, so a value that shrinks leaves its old trailing
//!    parts unread rather than wrongly joined.
//!
//! A value of letters, digits and `_.:/+-@` (a name, an id, a commit, a
//! digest) is one part, unchanged: tags lbops wrote before they were
//! escaped read the same.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The longest tag value ELBv2 and ACM take, in characters.
pub const MAX_VALUE: usize = 256;

/// The byte that starts an escape, and ends every part but the last.
const ESCAPE: char = '=';

/// What stays as it is: a subset of every model's tag alphabet.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_.:/+-@".contains(&b)
}

/// `value` under `key`, as the tags to write: `(key, part)` pairs, every
/// part valid in ELBv2 and ACM (see the module doc).
#[must_use]
pub fn encode(key: &str, value: &str) -> Vec<(String, String)> {
    let mut pieces: Vec<String> = Vec::new();
    let mut part = String::new();
    for b in value.bytes() {
        let mut piece = String::new();
        if plain(b) {
            piece.push(char::from(b));
        } else {
            let _ = write!(piece, "{ESCAPE}{b:02X}");
        }
        // Room for the piece and, should more follow, the lone `=`.
        if part.len() + piece.len() > MAX_VALUE - 1 {
            part.push(ESCAPE);
            pieces.push(std::mem::take(&mut part));
        }
        part.push_str(&piece);
    }
    pieces.push(part);
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, part)| (part_key(key, i), part))
        .collect()
}

/// The tag key of the `i`th part (from 0) of the value under `key`.
fn part_key(key: &str, i: usize) -> String {
    if i == 0 {
        key.to_owned()
    } else {
        format!("{key}.{}", i + 1)
    }
}

/// The value [`encode`] wrote under `key`; `None` when there is none, or
/// what is there is not something `encode` writes (a part missing, an
/// escape that is not two hex digits, bytes that are not UTF-8).
#[must_use]
pub fn decode(tags: &BTreeMap<String, String>, key: &str) -> Option<String> {
    let mut escaped = String::new();
    for i in 0.. {
        let part = tags.get(&part_key(key, i))?;
        // An escape ends in a hex digit, so a part ending in `=` is
        // always one that more follow.
        match part.strip_suffix(ESCAPE) {
            Some(more) => escaped.push_str(more),
            None => {
                escaped.push_str(part);
                break;
            }
        }
    }
    unescape(&escaped)
}

fn unescape(text: &str) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'=' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
