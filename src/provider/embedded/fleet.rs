//! A fleet of data-plane nodes driven as one balancer: every plan step
//! goes to every node, in parallel, and a step counts as applied when at
//! least `min_nodes` took it.
//!
//! **Apply.** Each node's running config is read first; fewer than
//! `min_nodes` answering means nothing is sent (a commit that cannot be
//! trusted is not half-spread). The steps are edited into one config —
//! that of the node the fleet's observation came from, see
//! [`representative`] — and the steps up to each `WaitHealthy` are sent
//! whole to every node still in step, each under its own next version,
//! so nodes that started apart end alike. `WaitHealthy` waits on each
//! node that applied, as that node sees its targets. A node that fails
//! drops out of the rest of the apply and is *behind*: its step outcomes
//! become [`StepOutcome::Partly`] naming it, or `Failed` once fewer than
//! `min_nodes` remain (the reconciler then retries the commit).
//!
//! **Catch-up.** The config of the last apply that reached `min_nodes`,
//! with the epoch it was applied under, is pushed by [`Fleet::catch_up`]
//! to nodes that are behind, as soon as they answer: one attempt per node
//! at a time, each within [`CATCH_UP_ATTEMPT`], retried after a doubling
//! wait ([`CATCH_UP_BACKOFF`]). A node that refuses the epoch fences this
//! daemon: it stops pushing under that epoch and says so, never retries.
//!
//! **Observe.** Every node is read; nodes known to be behind are left out
//! (the fleet reports them itself, and catch-up is already on its way),
//! and of the rest the first that differs from what the fleet last pushed
//! stands for the fleet, so a hand change on any one node is seen as
//! drift and logged with the node's name.

use super::status::{shortfall, Fenced, FleetStatus, NodeStatus};
use super::{edit_config, EmbeddedProvider, PushError, CAPABILITIES};
use crate::dataplane::config::DataplaneConfig;
use crate::model::{Capabilities, ObservedState, Step, StepOutcome};
use crate::provider::{ApplyContext, Provider, ProviderError};
use crate::spec::units::TargetAddr;
use crate::support::backoff::{Backoff, Jitter};
use crate::support::clock::Clock;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// How long one catch-up attempt on one node may take, reading its config
/// and sending the fleet's.
pub const CATCH_UP_ATTEMPT: Duration = Duration::from_secs(10);

/// The waits between catch-up attempts on a node that does not answer.
pub const CATCH_UP_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(200),
    cap: Duration::from_secs(10),
};

/// One node of a fleet: its name in the daemon config and its admin API.
pub struct FleetNode {
    pub name: String,
    pub client: EmbeddedProvider,
}

/// What the fleet runs: the config (version 0; each node has its own
/// versions) of the last apply that reached `min_nodes`, and the epoch
/// it was applied under.
#[derive(Clone)]
struct Current {
    config: DataplaneConfig,
    epoch: Option<u64>,
}

/// Several data planes as one.
pub struct Fleet {
    nodes: Vec<FleetNode>,
    min_nodes: usize,
    status: watch::Sender<FleetStatus>,
    current: Mutex<Option<Current>>,
    /// One push at a time: an apply, or one catch-up attempt.
    pushing: tokio::sync::Mutex<()>,
    /// Tells the catch-up task that a node fell behind.
    wake: Notify,
    clock: Arc<dyn Clock>,
}

impl Fleet {
    /// `min_nodes` is kept within 1 and the number of nodes (the daemon
    /// config refuses anything else).
    #[must_use]
    pub fn new(nodes: Vec<FleetNode>, min_nodes: usize, clock: Arc<dyn Clock>) -> Self {
        let min_nodes = min_nodes.clamp(1, nodes.len().max(1));
        let status = FleetStatus {
            nodes: nodes
                .iter()
                .map(|n| NodeStatus::new(&n.name, n.client.endpoint()))
                .collect(),
            min_nodes,
            fenced: None,
        };
        Self {
            nodes,
            min_nodes,
            status: watch::Sender::new(status),
            current: Mutex::new(None),
            pushing: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            clock,
        }
    }

    /// What the fleet knows of its nodes, now and as it changes.
    #[must_use]
    pub fn status(&self) -> watch::Receiver<FleetStatus> {
        self.status.subscribe()
    }

    fn current(&self) -> Option<Current> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn saw(&self, index: usize, answered: Result<u64, String>, epoch: Option<Option<u64>>) {
        let now = self.clock.unix_seconds();
        self.status.send_modify(|status| {
            let node = &mut status.nodes[index];
            match answered {
                Ok(version) => {
                    node.reachable = true;
                    node.version = Some(version);
                    node.last_contact = Some(now);
                    if let Some(epoch) = epoch {
                        node.epoch = epoch;
                    }
                }
                Err(why) => {
                    node.reachable = false;
                    node.last_error = Some(why);
                }
            }
        });
    }

    fn fell_behind(&self, index: usize, why: &str) {
        self.status.send_modify(|status| {
            let node = &mut status.nodes[index];
            node.behind = Some(why.to_owned());
            node.last_error = Some(why.to_owned());
        });
        self.wake.notify_one();
    }

    fn in_step(&self, index: usize, version: u64) {
        let now = self.clock.unix_seconds();
        self.status.send_modify(|status| {
            let node = &mut status.nodes[index];
            node.behind = None;
            node.differs = false;
            node.reachable = true;
            node.version = Some(version);
            node.last_contact = Some(now);
        });
    }

    fn fence(&self, index: usize, ours: u64, highest: u64) {
        let node = self.nodes[index].name.clone();
        tracing::error!(%node, ours, highest, "fenced: a data-plane node has accepted a newer leader's epoch; this daemon pushes nothing more under its own");
        self.status.send_modify(|status| {
            status.fenced = Some(Fenced {
                node,
                ours,
                highest,
            });
            status.nodes[index].epoch = Some(highest);
        });
    }

    fn is_behind(&self, index: usize) -> bool {
        self.status.borrow().nodes[index].behind.is_some()
    }

    /// The outcome text of the nodes in `behind`, by name.
    fn behind_text(
        &self,
        applied: usize,
        needed: Option<usize>,
        behind: &[(usize, String)],
    ) -> String {
        let named: Vec<(&str, &str)> = behind
            .iter()
            .map(|(i, why)| (self.nodes[*i].name.as_str(), why.as_str()))
            .collect();
        shortfall(applied, self.nodes.len(), needed, &named)
    }

    /// Runs `call` on every node in `indices` at once; the answers in the
    /// same order.
    async fn on_each<'a, T, F, Fut>(&'a self, indices: &[usize], call: F) -> Vec<(usize, T)>
    where
        F: Fn(&'a EmbeddedProvider) -> Fut,
        Fut: Future<Output = T> + 'a,
    {
        let call = &call;
        let mut running = Vec::with_capacity(indices.len());
        for &i in indices {
            running.push(async move { (i, call(&self.nodes[i].client).await) });
        }
        join_all(running).await
    }
}

/// Awaits every future, concurrently, keeping their order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::with_capacity(futures.len());
    for future in futures {
        set.push(Box::pin(future));
    }
    let mut outputs: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, future) in outputs.iter_mut().zip(set.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(output) => *slot = Some(output),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Two configs run the same balancers, whatever their versions.
fn same(a: &DataplaneConfig, b: &DataplaneConfig) -> bool {
    a.load_balancers == b.load_balancers && a.pools == b.pools && a.certificates == b.certificates
}

/// Which of the `candidates` (nodes not known to be behind, in config
/// order) stands for the fleet, and whether it differs from the others
/// or from `current`, what the fleet last pushed. The first that differs
/// from `current` does, so that a change on any one node is seen; with
/// nothing pushed yet by this daemon (it just started), the node in the
/// smallest group of alike nodes does (on a tie, the later one), since a
/// hand change is usually on one node, not most. Pure.
fn representative(
    candidates: &[&DataplaneConfig],
    current: Option<&DataplaneConfig>,
) -> Option<(usize, bool)> {
    let first = candidates.first()?;
    if let Some(current) = current {
        return Some(
            candidates
                .iter()
                .position(|c| !same(c, current))
                .map_or((0, false), |at| (at, true)),
        );
    }
    if candidates.iter().all(|c| same(c, first)) {
        return Some((0, false));
    }
    let alike = |c: &DataplaneConfig| candidates.iter().filter(|o| same(o, c)).count();
    let mut best = (0, usize::MAX);
    for (at, c) in candidates.iter().enumerate() {
        let n = alike(c);
        if n <= best.1 {
            best = (at, n);
        }
    }
    Some((best.0, true))
}

/// The nodes an apply still drives, each with the version it runs.
struct Driving {
    live: Vec<(usize, u64)>,
    behind: Vec<(usize, String)>,
    fenced: Option<String>,
}

impl Driving {
    fn indices(&self) -> Vec<usize> {
        self.live.iter().map(|(i, _)| *i).collect()
    }
}

impl Fleet {
    /// Each target's load, as the first node that answers reports it (a
    /// node counts only the traffic it carried itself).
    pub async fn loads(&self) -> Result<Vec<crate::dataplane::admin::TargetLoad>, ProviderError> {
        let mut last = None;
        for node in &self.nodes {
            match node.client.loads().await {
                Ok(loads) => return Ok(loads),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ProviderError::Unreachable {
            endpoint: "the data plane".to_owned(),
            reason: "no node".to_owned(),
        }))
    }

    /// A new leader's first word to the nodes: each one's own running
    /// config sent back under `epoch`, so that from now on every node
    /// refuses what an older leader may still send (a PUT it made just
    /// before it was paused) — even when the new leader's plan is empty
    /// and it would send nothing. Traffic does not change. Returns how
    /// many nodes took it; one that is down takes it with its catch-up.
    pub async fn claim(&self, epoch: u64) -> usize {
        let _pushing = self.pushing.lock().await;
        let claims = self.nodes.iter().enumerate().map(|(i, node)| async move {
            let claimed = match node.client.running_config().await {
                Ok(mut config) => {
                    config.version += 1;
                    let version = config.version;
                    node.client
                        .put_config(&config, Some(epoch))
                        .await
                        .map(|()| version)
                }
                Err(e) => Err(PushError::Unreachable(e.to_string())),
            };
            (i, claimed)
        });
        let claims: Vec<_> = claims.collect();
        let mut taken = 0;
        for (i, claimed) in join_all(claims).await {
            match claimed {
                Ok(version) => {
                    taken += 1;
                    self.saw(i, Ok(version), Some(Some(epoch)));
                }
                Err(PushError::Fenced { offered, highest }) => self.fence(i, offered, highest),
                Err(e) => {
                    tracing::warn!(node = %self.nodes[i].name, error = %e, "cannot claim the node for this leader's epoch")
                }
            }
        }
        taken
    }

    /// Sends `config` to every live node, each under its next version;
    /// the ones that fail drop out.
    async fn push(&self, config: &DataplaneConfig, epoch: Option<u64>, driving: &mut Driving) {
        let indices = driving.indices();
        let versions: Vec<u64> = driving.live.iter().map(|(_, v)| v + 1).collect();
        let mut sends = Vec::with_capacity(indices.len());
        for (&i, &version) in indices.iter().zip(&versions) {
            let mut config = config.clone();
            config.version = version;
            sends.push(async move {
                let sent = self.nodes[i].client.put_config(&config, epoch).await;
                (i, version, sent)
            });
        }
        let mut live = Vec::new();
        for (i, version, sent) in join_all(sends).await {
            match sent {
                Ok(()) => live.push((i, version)),
                Err(PushError::Fenced { offered, highest }) => {
                    self.fence(i, offered, highest);
                    let why = PushError::Fenced { offered, highest }.to_string();
                    driving.fenced = Some(format!("{}: {why}", self.nodes[i].name));
                    driving.behind.push((i, why));
                }
                Err(e) => driving.behind.push((i, e.to_string())),
            }
        }
        driving.live = live;
    }

    /// Waits, on each live node, until `targets` are healthy as it sees
    /// them; the ones that time out drop out.
    async fn wait(
        &self,
        pool: &str,
        targets: &[TargetAddr],
        timeout: Duration,
        driving: &mut Driving,
    ) {
        let waited = self
            .on_each(&driving.indices(), |node| {
                node.wait_healthy(pool, targets, timeout)
            })
            .await;
        let versions: std::collections::BTreeMap<usize, u64> =
            driving.live.iter().copied().collect();
        driving.live.clear();
        for (i, result) in waited {
            match result {
                Ok(()) => driving.live.push((i, versions[&i])),
                Err(why) => driving.behind.push((i, why)),
            }
        }
    }

    /// The outcome of `steps` (indices) now that `driving` is where it is;
    /// `Err` at `failed_at` when too few nodes are left, or a node fenced
    /// this daemon.
    fn judge(
        &self,
        steps: &mut Vec<usize>,
        failed_at: usize,
        driving: &Driving,
        outcomes: &mut [StepOutcome],
    ) -> Result<(), ()> {
        let applied = driving.live.len();
        let failure = match (&driving.fenced, applied >= self.min_nodes) {
            (Some(fenced), _) => Some(fenced.clone()),
            (None, false) if self.nodes.len() == 1 => {
                // One node: its own words, as a lone data plane says them.
                Some(
                    driving
                        .behind
                        .first()
                        .map(|(_, why)| why.clone())
                        .unwrap_or_default(),
                )
            }
            (None, false) => Some(self.behind_text(applied, Some(self.min_nodes), &driving.behind)),
            (None, true) => None,
        };
        if let Some(reason) = failure {
            steps.clear();
            outcomes[failed_at] = StepOutcome::Failed { reason };
            return Err(());
        }
        let outcome = if driving.behind.is_empty() {
            StepOutcome::Applied
        } else {
            StepOutcome::Partly {
                behind: self.behind_text(applied, None, &driving.behind),
            }
        };
        for index in steps.drain(..) {
            outcomes[index] = outcome.clone();
        }
        Ok(())
    }

    /// Reads every node's running config; `None` when too few answered.
    async fn start(&self, outcomes: &mut [StepOutcome]) -> Option<(DataplaneConfig, Driving)> {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        let read = self.on_each(&all, EmbeddedProvider::running_config).await;
        let mut driving = Driving {
            live: Vec::new(),
            behind: Vec::new(),
            fenced: None,
        };
        let mut configs = Vec::new();
        for (i, answer) in read {
            match answer {
                Ok(config) => {
                    self.saw(i, Ok(config.version), None);
                    driving.live.push((i, config.version));
                    configs.push((i, config));
                }
                Err(e) => {
                    self.saw(i, Err(e.to_string()), None);
                    driving.behind.push((i, e.to_string()));
                }
            }
        }
        let current = self.current();
        let candidates: Vec<&DataplaneConfig> = configs
            .iter()
            .filter(|(i, _)| !self.is_behind(*i))
            .map(|(_, c)| c)
            .collect();
        let base = match representative(&candidates, current.as_ref().map(|c| &c.config)) {
            Some((at, _)) => candidates[at].clone(),
            // Every node that answered is behind: the first one's config.
            None => configs.first().map(|(_, c)| c.clone()).unwrap_or_default(),
        };
        let mut first = Vec::new();
        if self.judge(&mut first, 0, &driving, outcomes).is_err() {
            for (i, why) in &driving.behind {
                self.fell_behind(*i, why);
            }
            return None;
        }
        Some((base, driving))
    }
}

impl Provider for Fleet {
    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn observe(&self) -> Result<ObservedState, ProviderError> {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        let answers = self
            .on_each(&all, |node| async move {
                let config = node.running_config().await?;
                let (state, epoch) = node.state().await?;
                Ok::<_, ProviderError>((config, state, epoch))
            })
            .await;
        let current = self.current();
        let mut seen = Vec::new();
        let mut errors = Vec::new();
        for (i, answer) in answers {
            match answer {
                Ok((config, state, epoch)) => {
                    self.saw(i, Ok(config.version), Some(epoch));
                    // A node that was only out of reach, and runs what the
                    // fleet runs (or nothing is known to compare), is back.
                    if self.is_behind(i)
                        && current.as_ref().is_none_or(|c| same(&c.config, &config))
                    {
                        self.in_step(i, config.version);
                    }
                    seen.push((i, config, state));
                }
                Err(e) => {
                    let why = e.to_string();
                    self.saw(i, Err(why.clone()), None);
                    if !self.is_behind(i) {
                        self.fell_behind(i, &why);
                    }
                    errors.push(e);
                }
            }
        }
        let candidates: Vec<&(usize, DataplaneConfig, ObservedState)> = seen
            .iter()
            .filter(|(i, _, _)| !self.is_behind(*i))
            .collect();
        let configs: Vec<&DataplaneConfig> = candidates.iter().map(|(_, c, _)| c).collect();
        match representative(&configs, current.as_ref().map(|c| &c.config)) {
            Some((at, differs)) => {
                let (index, _, state) = candidates[at];
                self.status.send_modify(|status| {
                    for (n, node) in status.nodes.iter_mut().enumerate() {
                        node.differs = differs && n == *index;
                    }
                });
                if differs {
                    tracing::warn!(node = %self.nodes[*index].name, "a data-plane node runs a config the rest of the fleet does not; it stands for the fleet in the drift check");
                }
                Ok(state.clone())
            }
            // Every node that answered is behind: the first one's state.
            None => match seen.into_iter().next() {
                Some((_, _, state)) => Ok(state),
                None => Err(errors
                    .into_iter()
                    .next()
                    .unwrap_or(ProviderError::Unreachable {
                        endpoint: "the data-plane fleet".into(),
                        reason: "it has no nodes".into(),
                    })),
            },
        }
    }

    async fn apply(&self, steps: &[Step], context: ApplyContext<'_>) -> Vec<StepOutcome> {
        let _pushing = self.pushing.lock().await;
        let mut outcomes = vec![StepOutcome::Skipped; steps.len()];
        if steps.is_empty() {
            return outcomes;
        }
        let Some((mut config, mut driving)) = self.start(&mut outcomes).await else {
            return outcomes;
        };
        let epoch = context.epoch;
        let fenced = self.status.borrow().fenced.clone();
        if let Some(fenced) = fenced {
            if epoch.is_some_and(|ours| ours >= fenced.highest) {
                // Elected again since: this daemon leads once more.
                self.status.send_modify(|s| s.fenced = None);
            } else {
                // Known to be replaced: pushing again would only be
                // refused again, or worse, reach a node that has not
                // heard of the new leader yet.
                outcomes[0] = StepOutcome::Failed {
                    reason: format!(
                        "fenced: {} has accepted epoch {}, newer than this daemon's epoch {}; \
                         another leader drives the data plane, so nothing is pushed",
                        fenced.node, fenced.highest, fenced.ours
                    ),
                };
                return outcomes;
            }
        }
        let mut pending: Vec<usize> = Vec::new();
        let mut finished = true;
        for (index, step) in steps.iter().enumerate() {
            let Step::WaitHealthy {
                pool,
                targets,
                timeout,
            } = step
            else {
                edit_config(&mut config, step);
                pending.push(index);
                continue;
            };
            if !pending.is_empty() {
                self.push(&config, epoch, &mut driving).await;
            }
            if self
                .judge(&mut pending, index, &driving, &mut outcomes)
                .is_err()
            {
                finished = false;
                break;
            }
            self.wait(pool.as_str(), targets, *timeout, &mut driving)
                .await;
            if self
                .judge(&mut vec![index], index, &driving, &mut outcomes)
                .is_err()
            {
                finished = false;
                break;
            }
        }
        if finished && !pending.is_empty() {
            self.push(&config, epoch, &mut driving).await;
            let last = pending[pending.len() - 1];
            finished = self
                .judge(&mut pending, last, &driving, &mut outcomes)
                .is_ok();
        }
        for &(i, version) in &driving.live {
            if finished {
                self.in_step(i, version);
            } else {
                self.saw(i, Ok(version), None);
            }
        }
        for (i, why) in &driving.behind {
            self.fell_behind(*i, why);
        }
        if finished {
            config.version = 0;
            *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(Current { config, epoch });
        }
        outcomes
    }
}

/// The catch-up task; it stops when dropped.
pub struct CatchUp(tokio::task::JoinHandle<()>);

impl Drop for CatchUp {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Fleet {
    /// Starts pushing the fleet's config to nodes that are behind, as
    /// soon as each answers again.
    #[must_use]
    pub fn catch_up(self: &Arc<Self>) -> CatchUp {
        let fleet = self.clone();
        CatchUp(tokio::spawn(async move { fleet.catching_up().await }))
    }

    async fn catching_up(&self) {
        let mut failures = vec![0u32; self.nodes.len()];
        let mut next_try = vec![Instant::now(); self.nodes.len()];
        loop {
            let due: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.is_behind(i))
                .collect();
            let current = self.current();
            let fenced = self.status.borrow().fenced.is_some();
            if due.is_empty() || current.is_none() || fenced {
                // Nothing to push, or nothing that may be pushed: wait
                // for an apply or an observation to change that.
                self.wake.notified().await;
                continue;
            }
            let now = Instant::now();
            for &i in &due {
                if next_try[i] > now {
                    continue;
                }
                match self.bring_up(i).await {
                    Ok(()) => failures[i] = 0,
                    Err(CatchUpError::Fenced) => break,
                    Err(CatchUpError::Failed(why)) => {
                        failures[i] = failures[i].saturating_add(1);
                        let wait = CATCH_UP_BACKOFF.wait(
                            failures[i],
                            Jitter::up_to(20, crate::support::backoff::random_seed()),
                        );
                        next_try[i] = Instant::now() + wait;
                        tracing::debug!(node = %self.nodes[i].name, error = %why, retry_in = ?wait, "catch-up failed");
                    }
                }
            }
            let soonest = due
                .iter()
                .filter(|&&i| self.is_behind(i))
                .map(|&i| next_try[i])
                .min();
            if let Some(at) = soonest {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = self.wake.notified() => {}
                }
            }
        }
    }

    /// One attempt to bring node `i` to the fleet's config, within
    /// [`CATCH_UP_ATTEMPT`].
    async fn bring_up(&self, i: usize) -> Result<(), CatchUpError> {
        let _pushing = self.pushing.lock().await;
        // An apply may have brought it up meanwhile, or moved the config.
        if !self.is_behind(i) {
            return Ok(());
        }
        let Some(current) = self.current() else {
            return Ok(());
        };
        let node = &self.nodes[i];
        let attempt = async {
            let running = node
                .client
                .running_config()
                .await
                .map_err(|e| PushError::Unreachable(e.to_string()))?;
            if same(&running, &current.config) {
                return Ok(running.version);
            }
            let mut config = current.config.clone();
            config.version = running.version + 1;
            node.client.put_config(&config, current.epoch).await?;
            Ok(config.version)
        };
        match tokio::time::timeout(CATCH_UP_ATTEMPT, attempt).await {
            Ok(Ok(version)) => {
                tracing::info!(node = %node.name, version, "data-plane node caught up with the fleet");
                self.in_step(i, version);
                Ok(())
            }
            Ok(Err(PushError::Fenced { offered, highest })) => {
                self.fence(i, offered, highest);
                let why = PushError::Fenced { offered, highest }.to_string();
                self.saw(i, Err(why), None);
                Err(CatchUpError::Fenced)
            }
            Ok(Err(e)) => {
                let why = e.to_string();
                self.saw(i, Err(why.clone()), None);
                Err(CatchUpError::Failed(why))
            }
            Err(_) => {
                let why = format!("no answer within {CATCH_UP_ATTEMPT:?}");
                self.saw(i, Err(why.clone()), None);
                Err(CatchUpError::Failed(why))
            }
        }
    }
}

enum CatchUpError {
    Fenced,
    Failed(String),
}

#[cfg(test)]
mod tests;
