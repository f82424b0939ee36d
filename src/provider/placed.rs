//! The providers a daemon drives, as one: the embedded data plane for
//! every balancer, and AWS for the balancers `provider.aws` places there
//! (with the pools and certificates they use).
//!
//! The planner sees one [`ObservedState`]: what both run, merged (a name
//! is on one provider only). A plan's steps go, in order, to the provider
//! that holds their resource: consecutive steps for one provider are
//! applied together, and nothing after a failure is tried, so the plan's
//! zero-downtime order holds across providers too.

use super::aws::{AwsProvider, Placement};
use super::embedded::Fleet;
use super::{ApplyContext, Provider, ProviderError};
use crate::model::{Capabilities, ObservedState, Step, StepOutcome};
use crate::spec::kinds::{Kind, ResourceId};
use std::collections::BTreeSet;
use std::sync::Mutex;

/// The embedded data plane's nodes, and AWS when the daemon config has it.
pub struct Placed {
    embedded: std::sync::Arc<Fleet>,
    aws: Option<AwsProvider>,
    /// What AWS ran at the last observe: deletes of resources git no
    /// longer places anywhere go where the resource is.
    on_aws: Mutex<BTreeSet<ResourceId>>,
}

impl Placed {
    #[must_use]
    /// A new leader claims the data-plane nodes under its epoch
    /// ([`Fleet::claim`]); AWS has nothing to claim.
    pub async fn claim(&self, epoch: u64) -> usize {
        self.embedded.claim(epoch).await
    }

    pub fn new(embedded: std::sync::Arc<Fleet>, aws: Option<AwsProvider>) -> Self {
        Self {
            embedded,
            aws,
            on_aws: Mutex::new(BTreeSet::new()),
        }
    }

    /// The names of the embedded data plane's nodes.
    #[must_use]
    pub fn node_names(&self) -> Vec<String> {
        self.embedded
            .status()
            .borrow()
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// Each target's load on the embedded data plane (AWS reports none).
    pub async fn loads(&self) -> Result<Vec<crate::dataplane::admin::TargetLoad>, ProviderError> {
        self.embedded.loads().await
    }

    /// Whether AWS ran `resource` at the last observe.
    #[must_use]
    pub fn runs_on_aws(&self, resource: &ResourceId) -> bool {
        self.on_aws
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(resource)
    }

    fn goes_to_aws(&self, step: &Step, placement: &Placement) -> bool {
        let resource = step.resource();
        let placed = match resource.kind {
            Kind::LoadBalancer => placement.balancers.contains(&resource.name),
            Kind::Pool => placement.pools.contains_key(&resource.name),
            Kind::Certificate => placement.certificates.contains(&resource.name),
            _ => false,
        };
        placed
            || self
                .on_aws
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&resource)
    }
}

/// The resources an observed state holds.
fn resources(state: &ObservedState) -> BTreeSet<ResourceId> {
    let balancers = state
        .load_balancers
        .keys()
        .map(|n| ResourceId::new(Kind::LoadBalancer, n.clone()));
    let pools = state
        .pools
        .keys()
        .map(|n| ResourceId::new(Kind::Pool, n.clone()));
    let certificates = state
        .certificates
        .keys()
        .map(|n| ResourceId::new(Kind::Certificate, n.clone()));
    balancers.chain(pools).chain(certificates).collect()
}

impl Provider for Placed {
    fn capabilities(&self) -> Capabilities {
        self.embedded.capabilities()
    }

    async fn observe(&self) -> Result<ObservedState, ProviderError> {
        let mut state = self.embedded.observe().await?;
        if let Some(aws) = &self.aws {
            let cloud = aws.observe().await?;
            *self.on_aws.lock().unwrap_or_else(|p| p.into_inner()) = resources(&cloud);
            state.load_balancers.extend(cloud.load_balancers);
            state.pools.extend(cloud.pools);
            state.certificates.extend(cloud.certificates);
        }
        Ok(state)
    }

    /// Routes each step by where `context`'s catalog places its resource.
    async fn apply(&self, steps: &[Step], context: ApplyContext<'_>) -> Vec<StepOutcome> {
        let Some(aws) = &self.aws else {
            return self.embedded.apply(steps, context).await;
        };
        let placement = aws.placement(context.catalog);
        let mut outcomes = Vec::with_capacity(steps.len());
        let mut rest = steps;
        while let Some(first) = rest.first() {
            let cloud = self.goes_to_aws(first, &placement);
            let run = rest
                .iter()
                .take_while(|s| self.goes_to_aws(s, &placement) == cloud)
                .count();
            let (batch, after) = rest.split_at(run);
            let done = if cloud {
                aws.apply(batch, context).await
            } else {
                self.embedded.apply(batch, context).await
            };
            let failed = done.iter().any(|o| matches!(o, StepOutcome::Failed { .. }));
            outcomes.extend(done);
            rest = after;
            if failed {
                outcomes.extend(rest.iter().map(|_| StepOutcome::Skipped));
                break;
            }
        }
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = r#"
kind: Pool
name: cloud
spec:
  targets: [{address: "10.0.1.10:8080"}]
  health_check: {probe: {http: {path: /}}}
---
kind: Pool
name: local
spec: {targets: [{address: "127.0.0.1:9001"}]}
---
kind: LoadBalancer
name: shop
spec:
  listeners:
    - {name: http, protocol: http, port: 80, default_action: {forward: {pools: [{pool: cloud}]}}}
---
kind: LoadBalancer
name: dev
spec:
  addresses: [127.0.0.1]
  listeners:
    - {name: http, protocol: http, port: 8080, default_action: {forward: {pools: [{pool: local}]}}}
"#;

    async fn placed() -> (Placed, Placement) {
        let catalog = crate::provider::aws::testing::catalog(REPO);
        // Nothing is sent: these tests only route (were anything sent, it
        // would meet the strict request check).
        let config = crate::provider::aws::testing::config(&["shop"], Some("http://127.0.0.1:9"));
        let strict = crate::provider::aws::testing::aws_model::StrictModel::shared();
        let aws = AwsProvider::connect(config, vec![strict]).await;
        let node = crate::provider::embedded::FleetNode {
            name: "dp".into(),
            client: crate::provider::embedded::EmbeddedProvider::new(
                "http://127.0.0.1:9",
                "unused",
            ),
        };
        let clock = std::sync::Arc::new(crate::support::clock::SystemClock);
        let embedded = std::sync::Arc::new(Fleet::new(vec![node], 1, clock));
        let placement = aws.placement(&catalog);
        (Placed::new(embedded, Some(aws)), placement)
    }

    fn delete(kind: Kind, name: &str) -> Step {
        let name = name.parse().unwrap();
        match kind {
            Kind::LoadBalancer => Step::DeleteLoadBalancer { name },
            Kind::Pool => Step::DeletePool { name },
            _ => Step::DeleteCertificate { name },
        }
    }

    #[tokio::test]
    async fn placed_balancers_and_their_pools_go_to_aws_the_rest_stays_local() {
        let (placed, placement) = placed().await;
        let route = |kind, name| placed.goes_to_aws(&delete(kind, name), &placement);
        assert!(route(Kind::LoadBalancer, "shop"));
        assert!(route(Kind::Pool, "cloud"));
        assert!(!route(Kind::LoadBalancer, "dev"));
        assert!(!route(Kind::Pool, "local"));
    }

    #[tokio::test]
    async fn what_git_dropped_is_deleted_where_it_runs() {
        let (placed, placement) = placed().await;
        // `old` is placed nowhere any more; the last observe saw it on AWS.
        assert!(!placed.goes_to_aws(&delete(Kind::Pool, "old"), &placement));
        placed
            .on_aws
            .lock()
            .unwrap()
            .insert(ResourceId::new(Kind::Pool, "old".parse().unwrap()));
        assert!(placed.goes_to_aws(&delete(Kind::Pool, "old"), &placement));
    }
}
