//! The state directory: the last accepted config, kept so that a restarted
//! data plane serves it with no controller around. It is written so that a
//! crash at any moment leaves the old file or the new one, whole.

use crate::dataplane::config::{ConfigError, DataplaneConfig};
use crate::dataplane::{ApplyError, Dataplane};
pub(crate) use crate::fsutil::write_atomically;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The last accepted config, in the state directory, as `GET /v1/config`
/// shows it.
pub const CONFIG_FILE: &str = "dataplane-config.json";

/// Why the saved config could not be served again.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("cannot read the saved config {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the saved config {}:{source}; fix or remove the file, or send a config to the admin API",
        path.display()
    )]
    Invalid {
        path: PathBuf,
        #[source]
        source: ConfigError,
    },
    #[error("cannot serve the saved config {}: {source}", path.display())]
    Apply {
        path: PathBuf,
        #[source]
        source: ApplyError,
    },
}

/// Serves the config last accepted through the admin API with `state_dir`,
/// if there is one, and returns its version (`None`: nothing saved, nothing
/// changed). Call it before starting the admin server.
pub async fn restore(dataplane: &Dataplane, state_dir: &Path) -> Result<Option<u64>, RestoreError> {
    let path = state_dir.join(CONFIG_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RestoreError::Read { path, source }),
    };
    let config = match DataplaneConfig::parse(&text) {
        Ok(config) => config,
        Err(source) => return Err(RestoreError::Invalid { path, source }),
    };
    let version = config.version;
    match dataplane.apply(config).await {
        Ok(()) => Ok(Some(version)),
        Err(source) => Err(RestoreError::Apply { path, source }),
    }
}

/// Saves `config` as the one to restore, unless the file holds it already.
pub(super) async fn save(state_dir: &Path, config: &DataplaneConfig) -> io::Result<()> {
    let path = state_dir.join(CONFIG_FILE);
    let mut text = config.to_json();
    text.push('\n');
    tokio::task::spawn_blocking(move || {
        if fs::read(&path).is_ok_and(|saved| saved == text.as_bytes()) {
            return Ok(());
        }
        write_atomically(&path, text.as_bytes())
    })
    .await
    .map_err(io::Error::other)?
}
