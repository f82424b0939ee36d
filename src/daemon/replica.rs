//! This daemon as one of several replicas on etcd: the election started
//! from the `cluster:` config, the shared state read back when this
//! replica takes over, and what the pages and `/metrics` show of it.

use super::reconcile::Reconciler;
use super::scim::Directory;
use super::state::DaemonState;
use crate::cluster::etcd::Etcd;
use crate::cluster::lease::Election;
use crate::cluster::{ClusterConfig, Leadership, Role, SharedStore};
use crate::provider::placed::Placed;
use std::sync::{Arc, Mutex};

/// The running election and the shared store.
pub struct Replica {
    pub name: String,
    pub leadership: Leadership,
    pub shared: SharedStore,
    pub view: Arc<ClusterView>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    /// Keeps the view's list of replicas and last takeover fresh.
    _looking: crate::support::task::AbortOnDrop,
}

impl Replica {
    /// Starts campaigning.
    pub fn start(config: &ClusterConfig) -> Result<Self, String> {
        let etcd = Arc::new(Etcd::new(&config.etcd).map_err(|e| format!("cluster.etcd: {e}"))?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (leadership, task) = Election {
            etcd: etcd.clone(),
            key: SharedStore::leader_key(&config.prefix),
            name: config.replica.clone(),
            ttl: config.lease_ttl,
        }
        .start(async move {
            let _ = stopped.await;
        });
        tracing::info!(replica = %config.replica, prefix = %config.prefix, endpoints = %config.etcd.endpoints.join(","), "a replica on etcd");
        let shared = SharedStore::new(etcd, &config.prefix, leadership.clone());
        let view = Arc::new(ClusterView::new(config.replica.clone()));
        let looking = {
            let (shared, view) = (shared.clone(), view.clone());
            tokio::spawn(async move {
                loop {
                    if let Ok(members) = shared.members().await {
                        view.set_members(members);
                    }
                    if let Ok(Some(bytes)) = shared.read(TAKEOVER).await {
                        if let Ok(takeover) = serde_json::from_slice(&bytes) {
                            view.set_takeover(takeover);
                        }
                    }
                    tokio::time::sleep(LOOK_EVERY).await;
                }
            })
        };
        Ok(Replica {
            name: config.replica.clone(),
            shared,
            leadership,
            view,
            stop: Some(stop),
            task,
            _looking: crate::support::task::AbortOnDrop(looking),
        })
    }

    /// Takes over as leader under `epoch`: takes up the shared SCIM
    /// directory and the state the last leader left, claims every
    /// data-plane node under the epoch and records the takeover (at
    /// `now`, unix seconds). `Err`: not yet (etcd could not be read).
    pub async fn take_over(
        &self,
        reconciler: &mut Reconciler<std::sync::Arc<Placed>>,
        directory: Option<&Directory>,
        provider: &Placed,
        epoch: u64,
        now: i64,
    ) -> Result<(), String> {
        if let Some(directory) = directory {
            directory.follow().await?;
        }
        let shared = shared_state(&self.shared).await?;
        tracing::info!(epoch, trusted = ?shared.as_ref().and_then(|s| s.trusted).map(|c| c.short()), "taking over as leader");
        reconciler.lead(shared, epoch);
        let claimed = provider.claim(epoch).await;
        tracing::info!(
            epoch,
            nodes = claimed,
            "claimed the data-plane nodes for this epoch"
        );
        let takeover = Takeover {
            replica: self.name.clone(),
            epoch,
            at: now,
        };
        if let Err(e) = record_takeover(&self.shared, &takeover).await {
            tracing::warn!(error = %e, "cannot record the takeover");
        }
        self.view.set_takeover(takeover);
        Ok(())
    }

    /// A standby's look at the leader's work: the SCIM directory and the
    /// trusted commit, taken up for the pages and API reads. `Ok(true)`
    /// once it follows a leader it knows by name.
    pub async fn follow(
        &self,
        reconciler: &mut Reconciler<std::sync::Arc<Placed>>,
        directory: Option<&Directory>,
    ) -> Result<bool, String> {
        if let Some(directory) = directory {
            directory.follow().await?;
        }
        if let Some(shared) = shared_state(&self.shared).await? {
            reconciler.follow(shared).map_err(|e| e.to_string())?;
        }
        Ok(matches!(
            self.leadership.role(),
            Role::Standby {
                leader: Some(_),
                ..
            }
        ))
    }

    /// Stops campaigning; a leader gives its lease up, so that a standby
    /// takes over at once.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(3), &mut self.task).await;
    }
}

/// How often a replica lists the replicas and reads the last takeover.
const LOOK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The name of the last takeover's record in etcd.
pub const TAKEOVER: &str = "takeover";

/// Who took over last, under which epoch, when: written (under the
/// fence) by each new leader.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Takeover {
    pub replica: String,
    pub epoch: u64,
    /// Unix seconds.
    pub at: i64,
}

/// Records that this replica took over.
pub async fn record_takeover(shared: &SharedStore, takeover: &Takeover) -> Result<(), String> {
    let json = serde_json::to_vec(takeover).unwrap_or_default();
    shared
        .write(TAKEOVER, json)
        .await
        .map_err(|e| e.to_string())
}

/// The state the last leader left in etcd; `None` before any leader wrote one.
pub async fn shared_state(shared: &SharedStore) -> Result<Option<DaemonState>, String> {
    let Some(bytes) = shared
        .read(super::reconcile::SHARED_STATE)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("the shared state in etcd is damaged ({e})"))
}

/// What the pages and `/metrics` show of the replicas.
#[derive(Debug)]
pub struct ClusterView {
    pub replica: String,
    inner: Mutex<ClusterFacts>,
}

/// This replica's view of the cluster, as of its last change.
#[derive(Clone, Debug, Default)]
pub struct ClusterFacts {
    pub leading: bool,
    /// The leader's name, when known (this replica's while it leads).
    pub leader: Option<String>,
    /// The epoch this replica leads under, or led under last.
    pub epoch: Option<u64>,
    /// Unix seconds: when this replica last took over.
    pub took_over_at: Option<i64>,
    /// Why etcd could not be asked, while it cannot.
    pub etcd_error: Option<String>,
    /// The replicas listed in etcd at the last look.
    pub members: Vec<String>,
    /// The last takeover by any replica.
    pub last_takeover: Option<Takeover>,
}

impl ClusterView {
    #[must_use]
    pub fn new(replica: String) -> Self {
        ClusterView {
            replica,
            inner: Mutex::new(ClusterFacts::default()),
        }
    }

    #[must_use]
    pub fn facts(&self) -> ClusterFacts {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_members(&self, members: Vec<String>) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).members = members;
    }

    pub fn set_takeover(&self, takeover: Takeover) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_takeover = Some(takeover);
    }

    /// Records `role`; `now` (unix seconds) is when a takeover happened.
    pub fn saw(&self, role: &Role, now: i64) {
        let mut facts = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match role {
            Role::Leader { epoch, .. } => {
                if !facts.leading {
                    facts.took_over_at = Some(now);
                }
                facts.leading = true;
                facts.leader = Some(self.replica.clone());
                facts.epoch = Some(*epoch);
                facts.etcd_error = None;
            }
            Role::Standby { leader, etcd_error } => {
                facts.leading = false;
                facts.leader.clone_from(leader);
                facts.etcd_error.clone_from(etcd_error);
            }
        }
    }
}
