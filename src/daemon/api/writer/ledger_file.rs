//! The Idempotency-Key [`Ledger`] in the state directory, so that a retry
//! after a restart (or a crash) gets the first call's commit.
//!
//! One JSON file, replaced whole at each change (written beside, synced,
//! renamed: the old version or the new one survives a crash, never a
//! mix). It holds at most [`REMEMBERED_KEYS`](super::REMEMBERED_KEYS) entries of a few hundred
//! bytes, so it stays under [`MAX_FILE_BYTES`], and a larger file is not
//! read at all.
//!
//! A file that cannot be read as a ledger (cut short by a full disk,
//! edited by hand, from a newer lbops) does not stop the daemon: the keys
//! only spare clients a second commit, git stays the truth, and a daemon
//! that will not start applies nobody's push. It is moved aside to
//! `FILE.corrupt` for a person to read, the daemon logs a warning and
//! starts with no keys. A file that exists but cannot be read at all
//! (permissions) is an error: the state directory is broken, not the file.

use super::ledger::{BodyDigest, Entry, KeyOwner, Ledger};
use crate::fsutil::write_atomically;
use crate::source::CommitId;
use crate::spec::api_commit::RequestId;
use crate::spec::material::api_token::TokenId;
use serde::{Deserialize, Serialize};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The ledger's file, in the state directory.
pub const FILE: &str = "api-idempotency-keys.json";

/// The largest ledger file read: [`REMEMBERED_KEYS`](super::REMEMBERED_KEYS) entries of the longest
/// keys, every character escaped, fit in it.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The format's version; another one is not read.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    keys: Vec<EntryOnDisk>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryOnDisk {
    /// A token's key (by id), or …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// … a signed-in person's (by git User): exactly one of the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    key: String,
    body_sha256: String,
    request: String,
    since: Option<CommitId>,
    commit: Option<CommitId>,
}

/// A ledger file that was set aside instead of read.
#[derive(Debug, PartialEq, Eq)]
pub struct SetAside {
    /// Where the file is now.
    pub moved_to: PathBuf,
    /// Why it could not be read as a ledger.
    pub problem: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerFileError {
    #[error(
        "cannot read the Idempotency-Key ledger {}: {source}; make the state directory readable \
         and writable by the daemon's user",
        path.display()
    )]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The ledger as bytes for the file.
#[must_use]
pub fn encode(ledger: &Ledger) -> Vec<u8> {
    let keys = ledger
        .entries()
        .map(|e| EntryOnDisk {
            token: match &e.owner {
                KeyOwner::Token(id) => Some(id.to_string()),
                KeyOwner::User(_) => None,
            },
            user: match &e.owner {
                KeyOwner::User(user) => Some(user.to_string()),
                KeyOwner::Token(_) => None,
            },
            key: e.key.clone(),
            body_sha256: e.body.as_str().to_owned(),
            request: e.request.to_string(),
            since: e.since,
            commit: e.commit,
        })
        .collect();
    let file = OnDisk {
        version: VERSION,
        keys,
    };
    serde_json::to_vec(&file).unwrap_or_else(|_| unreachable!("strings and ids serialize"))
}

/// The ledger in `bytes`, or why they are not one.
pub fn decode(bytes: &[u8]) -> Result<Ledger, String> {
    let file: OnDisk = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if file.version != VERSION {
        return Err(format!(
            "version {} (this lbops reads version {VERSION})",
            file.version
        ));
    }
    let entries = file
        .keys
        .into_iter()
        .enumerate()
        .map(|(n, e)| {
            let bad = |what: &str| format!("entry {n}: its {what} is not well formed");
            let owner = match (&e.token, &e.user) {
                (Some(token), None) => {
                    KeyOwner::Token(TokenId::parse(token).map_err(|_| bad("token"))?)
                }
                (None, Some(user)) => KeyOwner::User(user.parse().map_err(|_| bad("user"))?),
                _ => return Err(bad("owner (one of token and user)")),
            };
            Ok(Entry {
                owner,
                body: BodyDigest::parse(&e.body_sha256).ok_or_else(|| bad("body_sha256"))?,
                request: RequestId::parse(&e.request).map_err(|_| bad("request"))?,
                key: e.key,
                since: e.since,
                commit: e.commit,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ledger::from_entries(entries).map_err(|e| e.to_string())
}

/// Writes `ledger` to `path`, replacing it whole.
pub fn save(path: &Path, ledger: &Ledger) -> std::io::Result<()> {
    write_atomically(path, &encode(ledger))
}

/// The ledger at `path`: empty when there is none; empty, and the file
/// moved aside, when it is not a ledger (see the module's comment).
pub fn load(path: &Path) -> Result<(Ledger, Option<SetAside>), LedgerFileError> {
    let unreadable = |source| LedgerFileError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Ledger::default(), None)),
        Err(e) => return Err(unreadable(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    let problem = if bytes.len() as u64 > MAX_FILE_BYTES {
        format!("it is over {MAX_FILE_BYTES} bytes")
    } else {
        match decode(&bytes) {
            Ok(ledger) => return Ok((ledger, None)),
            Err(problem) => problem,
        }
    };
    let mut moved_to = path.as_os_str().to_owned();
    moved_to.push(".corrupt");
    let moved_to = PathBuf::from(moved_to);
    std::fs::rename(path, &moved_to).map_err(unreadable)?;
    Ok((Ledger::default(), Some(SetAside { moved_to, problem })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::api::writer::ledger::{Seen, MAX_KEY_LEN, REMEMBERED_KEYS};

    fn entry(n: usize, key: String) -> Entry {
        Entry {
            owner: KeyOwner::Token(TokenId::parse("0a1b2c3d4e5f").unwrap()),
            key,
            body: BodyDigest::of(n.to_string().as_bytes()),
            request: RequestId::parse(&format!("req-{:x}-{:x}-{n}", u128::MAX, u32::MAX)).unwrap(),
            since: Some(CommitId::parse(&"ab".repeat(20)).unwrap()),
            commit: Some(CommitId::parse(&"cd".repeat(20)).unwrap()),
        }
    }

    #[test]
    fn a_ledger_survives_its_file_and_a_full_one_of_the_longest_keys_fits_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert_eq!(load(&path).unwrap(), (Ledger::default(), None));
        // Every key as long as allowed, every character one JSON escapes.
        let mut ledger = Ledger::default();
        for n in 0..REMEMBERED_KEYS {
            let key = format!("{n:04}{}", "\"".repeat(MAX_KEY_LEN - 4));
            ledger.intend(entry(n, key.clone()));
            ledger.settle(
                &entry(n, key.clone()).owner,
                &key,
                entry(n, key.clone()).commit.unwrap(),
            );
        }
        save(&path, &ledger).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= MAX_FILE_BYTES, "{size} bytes");
        let (read, set_aside) = load(&path).unwrap();
        assert_eq!(set_aside, None);
        assert_eq!(read, ledger);
        let key = format!("0007{}", "\"".repeat(MAX_KEY_LEN - 4));
        assert!(matches!(
            read.seen(&entry(7, key.clone()).owner, &key, &BodyDigest::of(b"7")),
            Seen::Made { .. }
        ));
    }

    #[test]
    fn a_file_that_is_no_ledger_is_set_aside_and_the_daemon_starts_with_no_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut ledger = Ledger::default();
        ledger.intend(entry(1, "k".into()));
        let whole = encode(&ledger);
        for (bytes, why) in [
            (whole[..whole.len() / 2].to_vec(), "EOF"),
            (b"{\"version\": 2, \"keys\": []}".to_vec(), "version 2"),
            (
                String::from_utf8(whole.clone())
                    .unwrap()
                    .replace("0a1b2c3d4e5f", "NOT-A-TOKEN")
                    .into_bytes(),
                "entry 0: its token",
            ),
            (
                vec![b' '; MAX_FILE_BYTES as usize + 1],
                "over 1048576 bytes",
            ),
        ] {
            std::fs::write(&path, &bytes).unwrap();
            let (read, set_aside) = load(&path).unwrap();
            assert_eq!(read, Ledger::default());
            let set_aside = set_aside.unwrap();
            assert!(set_aside.problem.contains(why), "{}", set_aside.problem);
            assert_eq!(std::fs::read(&set_aside.moved_to).unwrap(), bytes);
            assert!(!path.exists());
        }
    }

    #[test]
    fn an_unreadable_file_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: it exists, it cannot be read.
        let path = dir.path().join(FILE);
        std::fs::create_dir(&path).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(
            err.contains(FILE) && err.contains("readable and writable"),
            "{err}"
        );
    }
}
