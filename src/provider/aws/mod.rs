//! The `aws` provider: Elastic Load Balancing v2 (an ALB for http/https
//! listeners, an NLB for tcp/tls ones), ACM certificates and Elastic IPs,
//! through the official AWS SDK for Rust.
//!
//! - [`limits`] (pure): what ELBv2 cannot do, refused at `file:line`
//!   before anything is applied.
//! - [`map`] (pure): lbops' kinds in ELBv2's vocabulary, both ways.
//! - [`health`] (pure): when a `WaitHealthy` is done, from what
//!   `DescribeTargetHealth` says.
//! - `tags` (pure): what lbops keeps in tags, as values ELBv2 and ACM
//!   take (escaped, and cut into numbered parts when long), both ways.
//! - `observe` and `apply`: the SDK calls. Everything lbops creates is
//!   tagged `lbops:id` (`kind/name`) and `lbops:commit`, and is found by
//!   that tag, never by name: what lbops does not own is left alone, and a
//!   plan cut off halfway is finished, not repeated, by the next one.
//!   Elastic IPs whose balancer does not run (its delete ran out of
//!   patience while AWS still held them, or its create failed) are
//!   observed as that balancer with only its addresses, so the next plan
//!   shows them deleted (or the balancer created with them): the planner
//!   stays as it is, and the plan on the commit's status says what runs.
//!
//! Credentials come from the standard AWS chain (environment, profile,
//! IMDS, IRSA), never from the repository.

mod acm;
mod apply;
mod balancer;
pub mod health;
pub mod limits;
pub mod map;
mod observe;
mod tags;
#[cfg(test)]
pub(crate) mod testing;

use super::{ApplyContext, Provider, ProviderError};
use crate::model::{Capabilities, ObservedState, Step, StepOutcome};
use crate::source::CommitId;
use crate::spec::kinds::loadbalancer::{Action, LoadBalancerSpec, Protocol};
use crate::spec::units::Name;
use crate::spec::{Catalog, Diagnostic};
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What ELBv2 can do, for the generic checks; [`limits::check`] has the
/// rest (ranges, counts, forms).
pub const CAPABILITIES: Capabilities = Capabilities {
    name: "aws",
    protocols: &["http", "https", "tcp", "tls"],
    algorithms: &["round_robin", "least_requests", "weighted_random"],
    backup_targets: false,
    slow_start: true,
    fixed_responses: true,
    retries: false,
    needs_addresses: false,
};

/// How often `WaitHealthy` and draining look at target health.
pub const HEALTH_POLL: Duration = Duration::from_secs(2);

/// The `provider.aws` section of the daemon config: one account and region,
/// and which balancers live there.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    pub region: String,
    /// Another ELBv2-compatible endpoint (tests use moto's).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// The VPC target groups are created in.
    pub vpc: String,
    /// Which daemon this is, when more than one puts balancers in the
    /// same account and region: everything it creates is tagged
    /// `lbops:instance` with it (and named `lbops-INSTANCE-…`), and it
    /// owns only what carries its own. Without one it owns only what
    /// carries no `lbops:instance` (as everything an older lbops
    /// created), so an upgrade keeps what runs.
    ///
    /// Its own key, not `statuses.instance`: that one names status
    /// contexts of daemons sharing a repository, which is another
    /// question than sharing an account; reusing it would also hand
    /// whatever an existing daemon with it created to nobody.
    #[serde(default)]
    pub instance: Option<Name>,
    /// The balancers placed on AWS, by name; every other balancer stays on
    /// the embedded data plane.
    pub balancers: BTreeMap<Name, AwsBalancer>,
}

/// Where one balancer runs in the VPC.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsBalancer {
    /// At least two, in different availability zones, for an ALB. An NLB
    /// with addresses gets one Elastic IP per subnet, in this order.
    pub subnets: Vec<String>,
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default)]
    pub security_groups: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    #[default]
    InternetFacing,
    Internal,
}

/// Which ELBv2 a balancer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// http/https listeners.
    Application,
    /// tcp/tls listeners.
    Network,
}

impl Family {
    #[must_use]
    pub fn of(protocol: Protocol) -> Self {
        if protocol.is_http() {
            Self::Application
        } else {
            Self::Network
        }
    }
}

/// Which resources of a catalog live on AWS: the placed balancers, the
/// pools they forward to (with the family that decides their target
/// group's protocol), and the certificates their listeners use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    pub balancers: BTreeSet<Name>,
    pub pools: BTreeMap<Name, Family>,
    pub certificates: BTreeSet<Name>,
    /// The pools among `pools` whose targets are IPv6: their target
    /// groups are `ipv6`, and only a dualstack balancer forwards to one.
    pub ipv6_pools: BTreeSet<Name>,
}

impl Placement {
    /// The part of `catalog` that `config` places on AWS.
    #[must_use]
    pub fn of(catalog: &Catalog, config: &AwsConfig) -> Self {
        let mut placement = Self::default();
        for (name, balancer) in &catalog.load_balancers {
            if !config.balancers.contains_key(name) {
                continue;
            }
            placement.balancers.insert(name.clone());
            for listener in &balancer.spec.listeners {
                let family = Family::of(listener.protocol.value);
                let actions = listener.routes.iter().map(|r| &r.action);
                for action in actions.chain(&listener.default_action) {
                    if let Action::Forward(forward) = &action.value {
                        for pool in &forward.pools {
                            placement.pools.insert(pool.pool.value.clone(), family);
                        }
                    }
                }
                for certificate in listener.tls.iter().flat_map(|t| &t.value.certificates) {
                    placement.certificates.insert(certificate.value.clone());
                }
            }
        }
        placement.ipv6_pools = placement
            .pools
            .keys()
            .filter(|name| {
                catalog.pools.get(*name).is_some_and(|pool| {
                    map::ip_address_type(&pool.spec)
                        == aws_sdk_elasticloadbalancingv2::types::TargetGroupIpAddressTypeEnum::Ipv6
                })
            })
            .cloned()
            .collect();
        placement
    }

    /// Whether a balancer must be created dualstack: it forwards to an
    /// IPv6 pool (ELBv2 refuses an `ipv6` target group to an `ipv4`
    /// balancer). Its subnets then need IPv6 ranges.
    #[must_use]
    pub fn dualstack(&self, spec: &LoadBalancerSpec) -> bool {
        spec.listeners.iter().any(|listener| {
            let actions = listener.routes.iter().map(|r| &r.action);
            actions.chain(&listener.default_action).any(|action| {
                matches!(&action.value, Action::Forward(forward)
                    if forward.pools.iter().any(|p| self.ipv6_pools.contains(&p.pool.value)))
            })
        })
    }
}

/// What the balancers `placement` puts on AWS ask that ELBv2 cannot do:
/// [`limits::check`], and [`limits::check_placed`] against where the
/// daemon config puts them.
#[must_use]
pub fn refusals(catalog: &Catalog, config: &AwsConfig, placement: &Placement) -> Vec<Diagnostic> {
    let mut out = limits::check(catalog, &placement.balancers);
    out.extend(limits::check_placed(catalog, config, &placement.balancers));
    out
}

/// The `aws` provider: ELBv2, ACM and EC2 clients for one region.
pub struct AwsProvider {
    elb: aws_sdk_elasticloadbalancingv2::Client,
    acm: aws_sdk_acm::Client,
    ec2: aws_sdk_ec2::Client,
    config: AwsConfig,
    /// What the last observe read, and when: the plan an apply runs was
    /// made from it, so the apply starts from it instead of reading the
    /// whole account again (while it is [`INVENTORY_FRESH`]).
    last_read: Mutex<Option<(Instant, observe::Inventory)>>,
    poll: Duration,
    /// How long a delete waits for AWS to let go of what it deletes.
    in_use_patience: Duration,
}

/// How long deletes wait for AWS to let go of what still uses a resource
/// (a listener just deleted, a balancer still shutting down). An NLB's
/// network interfaces can hold its Elastic IPs for longer (minutes): what
/// is still held then is found again by the next observe (see `observe`).
pub const IN_USE_PATIENCE: Duration = Duration::from_secs(120);

/// How long an observe's inventory serves the apply that follows it.
pub const INVENTORY_FRESH: Duration = Duration::from_secs(5);

impl AwsProvider {
    /// Clients for `config`'s region, with credentials from the standard
    /// chain. `interceptors` see every SDK call (tests inject faults).
    pub async fn connect(config: AwsConfig, interceptors: Vec<SharedInterceptor>) -> Self {
        use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider as Tls};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Tls::Rustls(CryptoMode::Ring))
            .build_https();
        let loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
        Self::from_loader(config, interceptors, loader).await
    }

    /// Clients from `loader` (its HTTP client and credentials; unit tests
    /// replay recorded answers) for `config`'s region and endpoint.
    async fn from_loader(
        config: AwsConfig,
        interceptors: Vec<SharedInterceptor>,
        loader: aws_config::ConfigLoader,
    ) -> Self {
        let mut loader = loader
            .region(aws_config::Region::new(config.region.clone()))
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5));
        if let Some(url) = &config.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let mut elb = aws_sdk_elasticloadbalancingv2::config::Builder::from(&shared);
        let mut acm = aws_sdk_acm::config::Builder::from(&shared);
        let mut ec2 = aws_sdk_ec2::config::Builder::from(&shared);
        for interceptor in interceptors {
            elb.push_interceptor(interceptor.clone());
            acm.push_interceptor(interceptor.clone());
            ec2.push_interceptor(interceptor);
        }
        Self {
            elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb.build()),
            acm: aws_sdk_acm::Client::from_conf(acm.build()),
            ec2: aws_sdk_ec2::Client::from_conf(ec2.build()),
            config,
            last_read: Mutex::new(None),
            poll: HEALTH_POLL,
            in_use_patience: IN_USE_PATIENCE,
        }
    }

    /// Looks at target health this often while waiting (tests shorten it).
    #[must_use]
    pub fn with_health_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Waits this long for AWS to let go of what a delete removes (tests
    /// shorten it to see what the next reconcile does after it runs out).
    #[must_use]
    pub fn with_in_use_patience(mut self, patience: Duration) -> Self {
        self.in_use_patience = patience;
        self
    }

    /// What `catalog` places here, by this provider's config.
    #[must_use]
    pub fn placement(&self, catalog: &Catalog) -> Placement {
        Placement::of(catalog, &self.config)
    }

    /// Everything lbops owns in the account; an error names the endpoint.
    async fn read(&self) -> Result<observe::Inventory, ProviderError> {
        observe::Inventory::read(self)
            .await
            .map_err(|e| ProviderError::Unreachable {
                endpoint: self.endpoint(),
                reason: e.to_string(),
            })
    }

    /// Whether a resource tagged `lbops:instance` with `tagged` (or not
    /// tagged so) belongs to this daemon (see [`AwsConfig::instance`]).
    fn owns_instance(&self, tagged: Option<&str>) -> bool {
        tagged == self.config.instance.as_ref().map(Name::as_str)
    }

    fn endpoint(&self) -> String {
        self.config
            .endpoint_url
            .clone()
            .unwrap_or_else(|| format!("aws {}", self.config.region))
    }
}

impl Provider for AwsProvider {
    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn observe(&self) -> Result<ObservedState, ProviderError> {
        let inventory = self.read().await?;
        let state = inventory.state.clone();
        *self.last_read.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), inventory));
        Ok(state)
    }

    async fn apply(&self, steps: &[Step], context: ApplyContext<'_>) -> Vec<StepOutcome> {
        let applying = Applying {
            placement: self.placement(context.catalog),
            commit: context.commit,
            instance: self.config.instance.clone(),
        };
        let mut outcomes = vec![StepOutcome::Skipped; steps.len()];
        let recent = self
            .last_read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|(at, _)| at.elapsed() < INVENTORY_FRESH);
        let mut inventory = match recent {
            Some((_, inventory)) => inventory,
            None => match self.read().await {
                Ok(inventory) => inventory,
                Err(e) => {
                    if let Some(first) = outcomes.first_mut() {
                        *first = StepOutcome::Failed {
                            reason: e.to_string(),
                        };
                    }
                    return outcomes;
                }
            },
        };
        for (step, outcome) in steps.iter().zip(&mut outcomes) {
            // AWS has no conditional writes: a leader whose lease is close
            // to lapsing starts no further call (the next leader goes on).
            if context.may_start.is_some_and(|may_start| !may_start()) {
                *outcome = StepOutcome::Failed {
                    reason: "this replica's leader lease is too close to lapsing to start another AWS call; the next leader goes on".to_owned(),
                };
                break;
            }
            if let Err(e) = apply::step(self, &applying, &mut inventory, step).await {
                tracing::warn!(step = %step, error = %e, "aws step failed");
                *outcome = StepOutcome::Failed {
                    reason: e.to_string(),
                };
                break;
            }
            *outcome = StepOutcome::Applied;
        }
        outcomes
    }
}

/// What one apply is for, as AWS needs it: where its catalog places each
/// pool, and the commit what it creates is tagged with.
struct Applying {
    placement: Placement,
    commit: CommitId,
    /// The daemon's `provider.aws.instance`, tagged on what it creates.
    instance: Option<Name>,
}

impl Applying {
    /// Which ELBv2 a pool's target group serves (its protocol): that of
    /// the balancers forwarding to it, an ALB when none does yet.
    fn family_of(&self, pool: &Name) -> Family {
        self.placement
            .pools
            .get(pool)
            .copied()
            .unwrap_or(Family::Application)
    }

    /// Which addresses a pool's target group holds, fixed when it is
    /// created: the catalog's targets say (a `CreatePool` step has none).
    fn ip_address_type(
        &self,
        pool: &Name,
    ) -> aws_sdk_elasticloadbalancingv2::types::TargetGroupIpAddressTypeEnum {
        use aws_sdk_elasticloadbalancingv2::types::TargetGroupIpAddressTypeEnum as Type;
        if self.placement.ipv6_pools.contains(pool) {
            Type::Ipv6
        } else {
            Type::Ipv4
        }
    }

    /// The value of the `lbops:instance` tag, when this daemon has one.
    fn instance_tag(&self) -> Option<String> {
        self.instance.as_ref().map(ToString::to_string)
    }

    /// The value of the `lbops:commit` tag.
    fn commit_tag(&self) -> String {
        self.commit.to_string()
    }
}

/// Why an AWS call or step failed. Messages name the operation and what
/// AWS said; never a credential or key material.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{operation}: {message}")]
    Call {
        operation: &'static str,
        /// AWS's error code, when AWS answered (`ResourceInUse`, …).
        code: Option<String>,
        message: String,
    },
    #[error("{0}")]
    Map(#[from] map::MapError),
    #[error("{0}")]
    Step(String),
}

impl AwsError {
    /// An SDK error as the operation that failed and AWS's own words.
    pub(crate) fn call<E>(
        operation: &'static str,
        error: &aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::http::Response,
        >,
    ) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    {
        use aws_smithy_runtime_api::client::result::SdkError;
        let (code, message) = match error {
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().map(str::to_owned);
                let text = format!(
                    "{}: {}",
                    e.code().unwrap_or("error"),
                    e.message().unwrap_or("no message")
                );
                (code, text)
            }
            other => (
                None,
                aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
            ),
        };
        Self::Call {
            operation,
            code,
            message,
        }
    }

    /// The AWS error code, when AWS answered with one.
    #[must_use]
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Call { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
