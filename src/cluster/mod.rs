//! Replicas of one daemon on etcd: one leads and applies, the others stand
//! by, serve the read-only pages and API reads, and take over when the
//! leader's lease lapses.
//!
//! * [`etcd`]: the v3 API through etcd's JSON gateway;
//! * [`lease`]: the election, and the epoch that fences a leader;
//! * [`shared`]: documents the replicas share, written only under the fence;
//! * [`config`]: the `cluster:` section of the daemon config.
//!
//! Without a `cluster:` section none of this runs: one process, as before.

pub mod config;
pub mod etcd;
pub mod lease;
pub mod shared;

pub use config::ClusterConfig;
pub use lease::{Leadership, Role};
pub use shared::{SharedError, SharedStore};
