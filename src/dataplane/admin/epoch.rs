//! Fencing: the leader's epoch on every `PUT /v1/config`.
//!
//! A daemon that leads through etcd sends its epoch (the etcd revision of
//! its leader key) as the [`EPOCH_HEADER`]. The data plane remembers the
//! highest epoch it has accepted, in the state directory ([`EPOCH_FILE`]),
//! and refuses a config from an older one: a leader that was paused past
//! its lease, and was replaced meanwhile, can change nothing once its
//! successor has spoken, not even after this data plane restarts.
//!
//! A `PUT` without the header is accepted as it always was: an operator's
//! hand change, or a daemon that runs alone with no etcd. Drift detection
//! relies on such hand changes going through.

use super::AdminError;
use crate::fsutil::write_atomically;
use hyper::header::HeaderMap;
use std::io;
use std::path::Path;

/// The request header carrying the leader's epoch, a decimal `u64`.
pub const EPOCH_HEADER: &str = "lbops-epoch";

/// The highest accepted epoch, in the state directory, as decimal text.
pub const EPOCH_FILE: &str = "dataplane-epoch";

/// What a `PUT` carrying `offered` does to the fence, when the highest
/// epoch accepted so far is `highest`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fence {
    /// No epoch sent: a hand change or a daemon without etcd; the fence
    /// stays where it is.
    Unfenced,
    /// The epoch accepted last time, or an older fence already passed.
    Holds,
    /// A newer leader: its epoch becomes the fence, saved before the
    /// config is.
    Raise(u64),
}

/// Checks `offered` against the fence; an older epoch is refused.
pub(super) fn check(highest: Option<u64>, offered: Option<u64>) -> Result<Fence, AdminError> {
    match (highest, offered) {
        (_, None) => Ok(Fence::Unfenced),
        (Some(highest), Some(offered)) if offered < highest => {
            Err(AdminError::StaleEpoch { offered, highest })
        }
        (Some(highest), Some(offered)) if offered == highest => Ok(Fence::Holds),
        (_, Some(offered)) => Ok(Fence::Raise(offered)),
    }
}

/// The epoch a request carries, if any.
pub(super) fn offered(headers: &HeaderMap) -> Result<Option<u64>, AdminError> {
    let Some(value) = headers.get(EPOCH_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or(AdminError::BadEpoch)
}

/// The highest epoch saved in `state_dir`; `None` when none was ever
/// accepted. A damaged file is an error naming it: starting without the
/// fence would let a fenced leader in again.
pub fn load(state_dir: &Path) -> io::Result<Option<u64>> {
    let path = state_dir.join(EPOCH_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    text.trim().parse::<u64>().map(Some).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} does not hold an epoch (a decimal number); restore it from a backup, or \
                 write the highest epoch any leader used (the etcd revision of the leader key)",
                path.display()
            ),
        )
    })
}

/// Saves `epoch` as the fence, all at once.
pub(super) async fn save(state_dir: &Path, epoch: u64) -> io::Result<()> {
    let path = state_dir.join(EPOCH_FILE);
    tokio::task::spawn_blocking(move || write_atomically(&path, format!("{epoch}\n").as_bytes()))
        .await
        .map_err(io::Error::other)?
}
