//! A step as people review it: the resource as `kind/name`, then what
//! happens in plain words.

use crate::model::{algorithm_name, sha256_hex, Step};
use crate::spec::kinds::certificate::KeyRef;
use crate::spec::kinds::loadbalancer::{AddressSpec, LoadBalancerSpec, Protocol};
use crate::spec::kinds::pool::{PoolSpec, Probe, Target};
use crate::spec::units::Name;
use std::fmt::{self, Display, Write as _};
use std::time::Duration;

/// How many hex digits of a chain's SHA-256 a plan shows: enough to tell
/// two chains apart at a glance, short enough to read.
const SHOWN_DIGEST_LEN: usize = 12;

fn line(f: &mut fmt::Formatter<'_>, step: &Step) -> fmt::Result {
    match step {
        Step::PutCertificate {
            name,
            chain_pem,
            key,
        } => {
            let digest = sha256_hex(chain_pem);
            let short = digest.get(..SHOWN_DIGEST_LEN).unwrap_or(&digest);
            write!(
                f,
                "certificate/{name}: put chain sha256:{short} with private key {}",
                key_ref(key)
            )
        }
        Step::CreatePool { name, spec } => {
            write!(
                f,
                "pool/{name}: create ({}), no targets yet",
                settings(spec)
            )
        }
        Step::UpdatePoolSettings { name, spec } => {
            write!(f, "pool/{name}: update settings ({})", settings(spec))
        }
        Step::AddTargets {
            pool,
            targets,
            backup,
        } => {
            let role = if *backup { "backup " } else { "" };
            let noun = plural(targets.len(), "target", "targets");
            let list = join(targets.iter().map(weighted));
            write!(f, "pool/{pool}: add {role}{noun} {list}")
        }
        Step::WaitHealthy {
            pool,
            targets,
            timeout,
        } => {
            let verb = plural(targets.len(), "is", "are");
            write!(
                f,
                "pool/{pool}: wait until {} {verb} healthy (at most {})",
                join(targets.iter()),
                duration(*timeout)
            )
        }
        Step::SetWeights { pool, weights } => {
            let noun = plural(weights.len(), "weight", "weights");
            let list = join(weights.iter().map(|(a, w)| format!("{a} to {w}")));
            write!(f, "pool/{pool}: set {noun} of {list}")
        }
        Step::PutLoadBalancer { name, spec } => {
            write!(f, "loadbalancer/{name}: put {}", balancer(spec))
        }
        Step::DrainTargets {
            pool,
            targets,
            timeout,
        } => write!(
            f,
            "pool/{pool}: drain {} (at most {})",
            join(targets.iter()),
            duration(*timeout)
        ),
        Step::RemoveTargets { pool, targets } => {
            let noun = plural(targets.len(), "target", "targets");
            write!(f, "pool/{pool}: remove {noun} {}", join(targets.iter()))
        }
        Step::DeleteLoadBalancer { name } => deleted(f, "loadbalancer", name),
        Step::DeletePool { name } => deleted(f, "pool", name),
        Step::DeleteCertificate { name } => deleted(f, "certificate", name),
    }
}

fn deleted(f: &mut fmt::Formatter<'_>, kind: &str, name: &Name) -> fmt::Result {
    write!(f, "{kind}/{name}: delete")
}

/// `algorithm round_robin, health check http /healthz every 5s, draining 30s`.
fn settings(spec: &PoolSpec) -> String {
    let mut text = format!("algorithm {}", algorithm_name(&spec.algorithm));
    match &spec.health_check {
        Some(check) => {
            let probe = match &check.probe {
                Probe::Http(http) => format!("http {}", http.path.value),
                Probe::Tcp => "tcp".to_owned(),
            };
            let every = duration(check.interval.value.0);
            let _ = write!(text, ", health check {probe} every {every}");
        }
        None => text.push_str(", no health check"),
    }
    let _ = write!(text, ", draining {}", duration(spec.draining_timeout.0));
    if let Some(ramp) = spec.slow_start {
        let _ = write!(text, ", slow start {}", duration(ramp.0));
    }
    text
}

/// `2 listeners (http:8080, https:8443) on 127.0.10.1`.
fn balancer(spec: &LoadBalancerSpec) -> String {
    let noun = plural(spec.listeners.len(), "listener", "listeners");
    let listeners = join(
        spec.listeners
            .iter()
            .map(|l| format!("{}:{}", protocol(l.protocol.value), l.port.value)),
    );
    let mut text = format!("{} {noun} ({listeners})", spec.listeners.len());
    if !spec.addresses.is_empty() {
        let addresses = join(spec.addresses.iter().map(|a| address(&a.value)));
        let _ = write!(text, " on {addresses}");
    }
    text
}

fn address(spec: &AddressSpec) -> String {
    match spec {
        AddressSpec::Static(ip)
        | AddressSpec::FromPool {
            address: Some(ip), ..
        } => ip.to_string(),
        AddressSpec::FromPool {
            pool,
            address: None,
        } => format!("an address from addresspool/{}", pool.value),
    }
}

fn protocol(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Http => "http",
        Protocol::Https => "https",
        Protocol::Tcp => "tcp",
        Protocol::Tls => "tls",
    }
}

/// A key reference names where the key lives, never the key itself, so it
/// is safe to show.
fn key_ref(key: &KeyRef) -> String {
    match key {
        KeyRef::File(path) => format!("file:{path}"),
        KeyRef::Env(variable) => format!("env:{variable}"),
        KeyRef::Provider(id) => format!("provider:{id}"),
    }
}

fn weighted(target: &Target) -> String {
    format!("{} (weight {})", target.address.value, target.weight.value)
}

fn join<T: Display>(items: impl Iterator<Item = T>) -> String {
    items
        .map(|item| item.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 {
        one
    } else {
        many
    }
}

/// `500ms`, `30s`, `1m30s`, `2h`: as durations are written in the YAML.
fn duration(d: Duration) -> String {
    if d.subsec_nanos() != 0 {
        return format!("{}ms", d.as_millis());
    }
    let secs = d.as_secs();
    let parts = [(secs / 3600, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")];
    let text: String = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if text.is_empty() {
        "0s".to_owned()
    } else {
        text
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        line(f, self)
    }
}
