//! State the replicas share, in etcd, written only under the fence: every
//! write is a transaction that holds only while the leader key still has
//! the writer's epoch as its create revision. A replica whose lease lapsed
//! — stopped, partitioned, or slow — writes nothing, whatever it believes.

use super::etcd::{Compare, Etcd, EtcdError, Op};
use super::lease::{Leadership, Role};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("not the leader (epoch {epoch:?} no longer holds the leader key): another replica leads; nothing was written")]
    Fenced { epoch: Option<u64> },
    #[error(transparent)]
    Etcd(#[from] EtcdError),
}

/// The replicas' shared documents under one prefix.
#[derive(Clone)]
pub struct SharedStore {
    etcd: Arc<Etcd>,
    prefix: String,
    leadership: Leadership,
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SharedStore {
    #[must_use]
    pub fn new(etcd: Arc<Etcd>, prefix: &str, leadership: Leadership) -> Self {
        SharedStore {
            etcd,
            prefix: prefix.trim_end_matches('/').to_owned(),
            leadership,
        }
    }

    /// The leader key: its create revision is the epoch.
    #[must_use]
    pub fn leader_key(prefix: &str) -> Vec<u8> {
        format!("{}/leader", prefix.trim_end_matches('/')).into_bytes()
    }

    fn key(&self, name: &str) -> Vec<u8> {
        format!("{}/{name}", self.prefix).into_bytes()
    }

    /// The document `name`, if written.
    pub async fn read(&self, name: &str) -> Result<Option<Vec<u8>>, SharedError> {
        Ok(self.etcd.get(&self.key(name)).await?.map(|kv| kv.value))
    }

    /// Writes `value` as `name`, if this replica leads under the epoch
    /// etcd holds.
    pub async fn write(&self, name: &str, value: Vec<u8>) -> Result<(), SharedError> {
        let Role::Leader { epoch, .. } = self.leadership.role() else {
            return Err(SharedError::Fenced { epoch: None });
        };
        let fence = Compare::CreateRevision {
            key: Self::leader_key(&self.prefix),
            equals: i64::try_from(epoch).unwrap_or(i64::MAX),
        };
        let put = Op::Put {
            key: self.key(name),
            value,
            lease: None,
        };
        let result = self.etcd.txn(&[fence], &[put], &[]).await?;
        if result.succeeded {
            Ok(())
        } else {
            Err(SharedError::Fenced { epoch: Some(epoch) })
        }
    }

    /// The replicas listed now (each while its lease lives), by name.
    pub async fn members(&self) -> Result<Vec<String>, SharedError> {
        let prefix = super::lease::members_prefix(&Self::leader_key(&self.prefix));
        Ok(self
            .etcd
            .list(&prefix, 64)
            .await?
            .into_iter()
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
            .collect())
    }

    /// The role this store writes under.
    #[must_use]
    pub fn leadership(&self) -> &Leadership {
        &self.leadership
    }
}
