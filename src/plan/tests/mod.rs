//! Plans as a reviewer reads them: exact steps in exact order for the
//! changes teams make every day, each beside a twin proving the unsafe
//! order is refused, and a generated run proving that applying a plan
//! leaves nothing to plan.

use super::*;
use crate::model::{Health, ObservedCertificate, ObservedPool, ObservedTarget};
use crate::spec::alloc::Assigned;
use crate::spec::kinds::certificate::{CertificateSpec, KeyRef};
use crate::spec::kinds::loadbalancer::{
    Action, AddressSpec, Forward, Listener, LoadBalancerSpec, Protocol, TlsPolicy, WeightedPool,
};
use crate::spec::kinds::pool::{Algorithm, HashKey, HealthCheck, Probe, Target};
use crate::spec::kinds::{Origin, Resource};
use crate::spec::units::{Dur, TargetAddr};
use crate::spec::yaml::{Pos, Spanned};
use crate::spec::{load, Options, SourceFile};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

/// 2026-11-26, 00:00 UTC. Both test chains start on 2026-11-25 after
/// 15:00 UTC, so the spec tests' midnight of that day would find them not
/// valid yet.
const NOW: i64 = 1_795_651_200;

/// The example repository's chain (leaf valid until 2046).
const CHAIN_2026: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/repo/certificates/wildcard-example-test.pem"
));
/// Another chain for the same names, as a renewal would bring.
const CHAIN_2027: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/material/chain.pem"
));

const STABLE: &str = "\
kind: Pool
name: web-stable
spec:
  targets:
    - {address: 127.0.0.1:9001, weight: 1}
    - {address: 127.0.0.1:9002, weight: 1}
  health_check:
    probe: {http: {path: /healthz}}
    interval: 5s
    timeout: 2s
  draining_timeout: 20s
";

/// Waits are 4s × 2 (default threshold) × 3 = 24s.
const CANARY: &str = "\
kind: Pool
name: web-canary
spec:
  targets:
    - address: 127.0.0.1:9003
  health_check:
    probe: tcp
    interval: 4s
    timeout: 1s
";

/// Balancer `web`: one HTTP listener forwarding to `pools`.
fn web(pools: &str) -> String {
    format!(
        "\
kind: LoadBalancer
name: web
spec:
  addresses: [127.0.10.1]
  listeners:
    - name: http
      protocol: http
      port: 8080
      default_action: {{forward: {{pools: [{pools}]}}}}
"
    )
}

/// Balancer `web`: one HTTPS listener on `certificate`, forwarding to web-stable.
fn web_tls(certificate: &str) -> String {
    format!(
        "\
kind: LoadBalancer
name: web
spec:
  addresses: [127.0.10.1]
  listeners:
    - name: https
      protocol: https
      port: 8443
      tls: {{certificates: [{certificate}]}}
      default_action: {{forward: {{pools: [{{pool: web-stable}}]}}}}
"
    )
}

/// A Certificate document reading its chain from `certs/<name>.pem`.
fn certificate(name: &str) -> (String, String) {
    let yaml = format!(
        "kind: Certificate\nname: {name}\nspec:\n  chain_file: {name}.pem\n  private_key: {{file: /etc/lbops/keys/web.key}}\n"
    );
    (format!("certs/{name}.yaml"), yaml)
}

fn catalog(files: &[(&str, &str)]) -> Catalog {
    let files: Vec<SourceFile> = files.iter().map(|(p, t)| SourceFile::new(*p, *t)).collect();
    match load(&files, &Options::at(NOW)) {
        Ok(validated) => validated.catalog,
        Err(invalid) => panic!("test repository is invalid: {:#?}", invalid.diagnostics),
    }
}

fn name(text: &str) -> Name {
    text.parse().unwrap()
}

fn addr(text: &str) -> TargetAddr {
    text.parse().unwrap()
}

fn target(address: &str, weight: u32) -> Target {
    Target {
        address: Spanned::unplaced(addr(address)),
        weight: Spanned::unplaced(weight),
    }
}

fn empty_pool(catalog: &Catalog, pool: &str) -> PoolSpec {
    let mut spec = catalog.pools[pool].spec.clone();
    spec.targets.clear();
    spec.backup_targets.clear();
    spec
}

fn put_balancer(catalog: &Catalog, balancer: &str) -> Step {
    Step::PutLoadBalancer {
        name: name(balancer),
        spec: catalog.load_balancers[balancer].spec.clone(),
    }
}

fn steps(desired: &Catalog, before: &Catalog) -> Vec<Step> {
    plan(desired, &observed_from(before)).steps
}

fn position(steps: &[Step], wanted: impl Fn(&Step) -> bool) -> usize {
    steps
        .iter()
        .position(wanted)
        .unwrap_or_else(|| panic!("no such step in {:#?}", steps))
}

pub(crate) mod fixpoint;
mod replay;
mod scenarios;
