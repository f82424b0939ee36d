//! The `embedded` provider: lbops' own data plane, driven through its
//! authenticated admin API.
//!
//! Steps become edits of the data plane's config ([`edit_config`], pure);
//! edits are sent as one versioned `PUT /v1/config` per batch, and a batch
//! ends at every `WaitHealthy`, which polls `GET /v1/state` until the new
//! targets pass their checks — so traffic only moves to targets that are
//! up.
//!
//! [`EmbeddedProvider`] drives one data plane; [`Fleet`] drives several
//! as one balancer (the daemon always drives a fleet, of one node unless
//! the config lists more).

mod fleet;
mod status;

pub use fleet::{CatchUp, Fleet, FleetNode, CATCH_UP_ATTEMPT, CATCH_UP_BACKOFF};
pub use status::{Fenced, FleetStatus, NodeStatus};

use super::{ApplyContext, Provider, ProviderError};
use crate::dataplane::admin::EPOCH_HEADER;
use crate::dataplane::config::{BalancerConfig, CertificateConfig, DataplaneConfig};
use crate::model::{Capabilities, Health, ObservedState, Step, StepOutcome};
use crate::spec::kinds::loadbalancer::AddressSpec;
use crate::spec::units::TargetAddr;
use crate::spec::yaml::{self, de};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// How often `WaitHealthy` looks at the data plane's state.
pub const HEALTH_POLL: Duration = Duration::from_millis(100);

/// What the embedded data plane can do.
pub const CAPABILITIES: Capabilities = Capabilities {
    name: "embedded",
    protocols: &["http", "https", "tcp", "tls"],
    algorithms: &[
        "round_robin",
        "least_requests",
        "weighted_random",
        "consistent_hash",
    ],
    backup_targets: true,
    slow_start: true,
    fixed_responses: true,
    retries: true,
    needs_addresses: true,
};

/// Why a config push did not land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// No answer, or an answer that is not the data plane's.
    Unreachable(String),
    /// The data plane answered and refused the config.
    Refused { status: u16, body: String },
    /// The data plane has accepted a newer leader's epoch: this daemon
    /// does not lead any more, and must not push again under `offered`.
    Fenced { offered: u64, highest: u64 },
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(reason) => f.write_str(reason),
            Self::Refused { status, body } => match StatusCode::from_u16(*status) {
                Ok(status) => write!(f, "the data plane refused the config ({status}): {body}"),
                Err(_) => write!(f, "the data plane refused the config ({status}): {body}"),
            },
            Self::Fenced { offered, highest } => write!(
                f,
                "fenced: the data plane has accepted epoch {highest}, newer than this daemon's \
                 epoch {offered}, so another leader drives it; this daemon pushes nothing more"
            ),
        }
    }
}

/// The error body of a data plane's refusal, as far as a push needs it.
#[derive(serde::Deserialize)]
struct Refusal {
    #[serde(default)]
    code: String,
    #[serde(default)]
    highest_epoch: Option<u64>,
}

/// A data plane's admin API, and the token to use it.
pub struct EmbeddedProvider {
    endpoint: String,
    token: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl EmbeddedProvider {
    /// `endpoint` is the admin API's base URL, e.g. `http://127.0.0.1:8711`.
    #[must_use]
    pub fn new(endpoint: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            token: token.into(),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    /// The admin API's base URL.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: String,
        epoch: Option<u64>,
    ) -> Result<(StatusCode, String), ProviderError> {
        let url = format!("{}{path}", self.endpoint);
        let unreachable = |reason: String| ProviderError::Unreachable {
            endpoint: url.clone(),
            reason,
        };
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json");
        if let Some(epoch) = epoch {
            request = request.header(EPOCH_HEADER, epoch.to_string());
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unreachable(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    async fn get_ok(&self, path: &str) -> Result<String, ProviderError> {
        match self.call(Method::GET, path, String::new(), None).await? {
            (StatusCode::OK, body) => Ok(body),
            (status, body) => Err(ProviderError::Refused {
                endpoint: format!("{}{path}", self.endpoint),
                status: status.as_u16(),
                body,
            }),
        }
    }

    /// Each target's load as the data plane reports it (`GET /v1/state`'s
    /// `targets`): counters, health history, slow start and draining.
    pub async fn loads(&self) -> Result<Vec<crate::dataplane::admin::TargetLoad>, ProviderError> {
        #[derive(serde::Deserialize)]
        struct Loads {
            targets: Vec<crate::dataplane::admin::TargetLoad>,
        }
        let text = self.get_ok("/v1/state").await?;
        serde_json::from_str::<Loads>(&text)
            .map(|l| l.targets)
            .map_err(|e| ProviderError::BadAnswer {
                endpoint: format!("{}/v1/state", self.endpoint),
                reason: e.to_string(),
            })
    }

    /// What the data plane runs, and the highest leader epoch it has
    /// accepted (`None` from one that predates fencing, too).
    pub(crate) async fn state(&self) -> Result<(ObservedState, Option<u64>), ProviderError> {
        let text = self.get_ok("/v1/state").await?;
        let bad = |reason: String| ProviderError::BadAnswer {
            endpoint: format!("{}/v1/state", self.endpoint),
            reason,
        };
        let parsed = yaml::parse(&text);
        let root = parsed
            .documents
            .first()
            .map(|d| &d.root)
            .ok_or_else(|| bad("an empty answer".into()))?;
        let observed = root
            .get("observed")
            .ok_or_else(|| bad("no `observed` field".into()))?;
        let observed = de::from_node::<ObservedState>(observed)
            .map_err(|errors| bad(errors[0].to_string()))?;
        let epoch = root
            .get("highest_epoch")
            .and_then(|n| de::from_node::<Option<u64>>(n).ok())
            .flatten();
        Ok((observed, epoch))
    }

    pub(crate) async fn running_config(&self) -> Result<DataplaneConfig, ProviderError> {
        let text = self.get_ok("/v1/config").await?;
        DataplaneConfig::parse(&text).map_err(|e| ProviderError::BadAnswer {
            endpoint: format!("{}/v1/config", self.endpoint),
            reason: e.to_string(),
        })
    }

    /// Sends `config`, under the leader's `epoch` when there is one.
    pub(crate) async fn put_config(
        &self,
        config: &DataplaneConfig,
        epoch: Option<u64>,
    ) -> Result<(), PushError> {
        match self
            .call(Method::PUT, "/v1/config", config.to_json(), epoch)
            .await
        {
            Ok((StatusCode::OK, _)) => Ok(()),
            Ok((status, body)) => {
                let refusal = serde_json::from_str::<Refusal>(&body).ok();
                match (refusal, epoch) {
                    (Some(r), Some(offered)) if r.code == "stale_epoch" => Err(PushError::Fenced {
                        offered,
                        highest: r.highest_epoch.unwrap_or(offered),
                    }),
                    _ => Err(PushError::Refused {
                        status: status.as_u16(),
                        body: body.trim().to_owned(),
                    }),
                }
            }
            Err(e) => Err(PushError::Unreachable(e.to_string())),
        }
    }

    /// Polls until every target is healthy, or the timeout passes. In a
    /// pool without a health check nothing ever judges a target, so
    /// "not known to be down" is as healthy as it gets.
    pub(crate) async fn wait_healthy(
        &self,
        pool: &str,
        targets: &[TargetAddr],
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let observed = self.observe().await.map_err(|e| e.to_string())?;
            let pending: Vec<String> = targets
                .iter()
                .filter(|address| {
                    !observed.pools.get(pool).is_some_and(|p| {
                        let unchecked = p.spec.health_check.is_none();
                        p.targets.iter().any(|t| {
                            &t.address == *address
                                && (t.health == Health::Healthy
                                    || (unchecked && t.health == Health::Unknown))
                        })
                    })
                })
                .map(ToString::to_string)
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "pool/{pool}: {} not healthy after {timeout:?}; traffic was not shifted",
                    pending.join(", ")
                ));
            }
            tokio::time::sleep(HEALTH_POLL).await;
        }
    }
}

impl Provider for EmbeddedProvider {
    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn observe(&self) -> Result<ObservedState, ProviderError> {
        self.state().await.map(|(observed, _)| observed)
    }

    /// The steps say all the data plane needs, and the context's epoch
    /// goes with every config sent.
    async fn apply(&self, steps: &[Step], context: ApplyContext<'_>) -> Vec<StepOutcome> {
        let mut outcomes = vec![StepOutcome::Skipped; steps.len()];
        let mut config = match self.running_config().await {
            Ok(config) => config,
            Err(e) => {
                if let Some(first) = outcomes.first_mut() {
                    *first = StepOutcome::Failed {
                        reason: e.to_string(),
                    };
                }
                return outcomes;
            }
        };
        // Steps edited into `config` but not yet sent.
        let mut pending: Vec<usize> = Vec::new();
        for (index, step) in steps.iter().enumerate() {
            let result = match step {
                Step::WaitHealthy {
                    pool,
                    targets,
                    timeout,
                } => match self
                    .flush(&mut config, &mut pending, &mut outcomes, context.epoch)
                    .await
                {
                    Ok(()) => self.wait_healthy(pool.as_str(), targets, *timeout).await,
                    Err(reason) => Err(reason),
                },
                other => {
                    edit_config(&mut config, other);
                    pending.push(index);
                    Ok(())
                }
            };
            match result {
                Ok(()) if matches!(step, Step::WaitHealthy { .. }) => {
                    outcomes[index] = StepOutcome::Applied
                }
                Ok(()) => {}
                Err(reason) => {
                    outcomes[index] = StepOutcome::Failed { reason };
                    return outcomes;
                }
            }
        }
        if let Err(reason) = self
            .flush(&mut config, &mut pending, &mut outcomes, context.epoch)
            .await
        {
            if let Some(&last) = pending.last() {
                outcomes[last] = StepOutcome::Failed { reason };
            }
        }
        outcomes
    }
}

impl EmbeddedProvider {
    /// Sends the edits made since the last flush as one new version.
    async fn flush(
        &self,
        config: &mut DataplaneConfig,
        pending: &mut Vec<usize>,
        outcomes: &mut [StepOutcome],
        epoch: Option<u64>,
    ) -> Result<(), String> {
        if pending.is_empty() {
            return Ok(());
        }
        config.version += 1;
        self.put_config(config, epoch)
            .await
            .map_err(|e| e.to_string())?;
        for index in pending.drain(..) {
            outcomes[index] = StepOutcome::Applied;
        }
        Ok(())
    }
}

/// Applies one step to a data-plane config. Pure; `WaitHealthy` changes
/// nothing (it is a pause, not an edit), and draining is the data plane's
/// own doing once a target leaves the config.
pub fn edit_config(config: &mut DataplaneConfig, step: &Step) {
    match step {
        Step::PutCertificate {
            name,
            chain_pem,
            key,
        } => {
            let certificate = CertificateConfig {
                chain_pem: chain_pem.clone(),
                key: key.clone(),
            };
            config.certificates.insert(name.clone(), certificate);
        }
        Step::CreatePool { name, spec } | Step::UpdatePoolSettings { name, spec } => {
            config.pools.insert(name.clone(), spec.clone());
        }
        Step::AddTargets {
            pool,
            targets,
            backup,
        } => {
            if let Some(spec) = config.pools.get_mut(pool.as_str()) {
                let list = if *backup {
                    &mut spec.backup_targets
                } else {
                    &mut spec.targets
                };
                list.extend(targets.iter().cloned());
            }
        }
        Step::SetWeights { pool, weights } => {
            if let Some(spec) = config.pools.get_mut(pool.as_str()) {
                for target in spec
                    .targets
                    .iter_mut()
                    .chain(spec.backup_targets.iter_mut())
                {
                    if let Some((_, weight)) =
                        weights.iter().find(|(a, _)| *a == target.address.value)
                    {
                        target.weight.value = *weight;
                    }
                }
            }
        }
        Step::PutLoadBalancer { name, spec } => {
            let addresses = spec
                .addresses
                .iter()
                .filter_map(|a| match &a.value {
                    AddressSpec::Static(ip) => Some(*ip),
                    AddressSpec::FromPool { address, .. } => *address,
                })
                .collect();
            config.load_balancers.insert(
                name.clone(),
                BalancerConfig {
                    addresses,
                    spec: spec.clone(),
                },
            );
        }
        Step::DrainTargets { pool, targets, .. } => {
            if let Some(spec) = config.pools.get_mut(pool.as_str()) {
                spec.targets.retain(|t| !targets.contains(&t.address.value));
                spec.backup_targets
                    .retain(|t| !targets.contains(&t.address.value));
            }
        }
        Step::WaitHealthy { .. } | Step::RemoveTargets { .. } => {}
        Step::DeleteLoadBalancer { name } => {
            config.load_balancers.remove(name.as_str());
        }
        Step::DeletePool { name } => {
            config.pools.remove(name.as_str());
        }
        Step::DeleteCertificate { name } => {
            config.certificates.remove(name.as_str());
        }
    }
}

#[cfg(test)]
mod tests;
