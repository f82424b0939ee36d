//! The planner's model of a step and the embedded provider's real edit
//! agree: over the plan tests' generated estates, every plan is applied
//! both to [`apply_to`] (what a perfect provider would then observe) and
//! through the admin API of a running data plane, and what the data plane
//! then reports is what the model predicts.
//!
//! Both start from what the data plane reports: nothing, or what an
//! earlier plan left. [`comparable`] lists what is set aside and why.
//! Not covered, because no step decides it and this test sends no
//! traffic:
//!
//! - states between steps: the provider sends the steps up to each
//!   `WaitHealthy` as one config, so a target the model shows `Draining`
//!   between `DrainTargets` and `RemoveTargets` is already out of the
//!   data plane's config (it stays listed as `Draining` only while
//!   requests to it are in flight);
//! - draining with requests in flight: such a target is reported until
//!   they finish or its draining timeout passes, and one added back
//!   meanwhile is reported twice (leaving and serving), where the model
//!   keeps only the one serving;
//! - targets that fail their checks: every target here is a live
//!   listener, so a `WaitHealthy` never times out.

use super::*;
use crate::dataplane::admin::{token_sha256, AdminConfig, AdminServer};
use crate::dataplane::Dataplane;
use crate::plan::tests::fixpoint::{random_catalog, Rng};
use crate::plan::{apply_to, plan, Plan};
use crate::spec::alloc::Assigned;
use crate::spec::kinds::certificate::KeyRef;
use crate::spec::Catalog;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// Generated estates. Each runs on its own data plane from nothing to a
/// generated catalog, to another, and back to nothing.
const CASES: u64 = 48;

/// How many estates run at once: most of a case is waiting for health
/// checks, which costs timers, not cores.
const AT_ONCE: usize = 12;

/// The generator writes health-check intervals in whole seconds; each
/// becomes this many milliseconds here, so that a `WaitHealthy` ends in a
/// few polls. Generated values that differ still differ.
const MILLIS_PER_GENERATED_SECOND: u64 = 50;

const TOKEN: &str = "model-agreement-test-token-not-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_plane_observes_what_the_plan_model_predicts() {
    let world = Arc::new(World::start().await);
    let mut kinds = BTreeSet::new();
    let seeds: Vec<u64> = (0..CASES).collect();
    for batch in seeds.chunks(AT_ONCE) {
        let mut running = tokio::task::JoinSet::new();
        for &seed in batch {
            running.spawn(estate(seed, world.clone()));
        }
        while let Some(done) = running.join_next().await {
            match done {
                Ok(seen) => kinds.extend(seen),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("{e}"),
            }
        }
    }
    assert_eq!(kinds, EVERY_KIND.into_iter().collect(), "the cases vary");
}

/// One generated estate: each catalog planned against what the data plane
/// reports, the plan applied through the provider, and the state it then
/// reports compared with the model's, from the same starting state.
/// Returns the kinds of step its plans had.
async fn estate(seed: u64, world: Arc<World>) -> BTreeSet<&'static str> {
    let mut rng = Rng::new(seed);
    let first = world.runnable(random_catalog(&mut rng), seed);
    let second = world.runnable(random_catalog(&mut rng), seed);
    let dataplane = Arc::new(Dataplane::with_workers(1).expect("a worker thread"));
    let state_dir = tempfile::tempdir().expect("a temporary directory");
    let admin = AdminServer::start(
        dataplane.clone(),
        AdminConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            token_sha256: token_sha256(TOKEN),
            state_dir: state_dir.path().to_path_buf(),
        },
    )
    .await
    .expect("the admin API starts");
    let provider = EmbeddedProvider::new(format!("http://{}", admin.local_addr()), TOKEN);

    let mut kinds = BTreeSet::new();
    for (stage, desired) in [
        ("first", first),
        ("second", second),
        ("empty", Catalog::default()),
    ] {
        let before = provider.observe().await.expect("observe before");
        let steps = plan(&desired, &before).steps;
        let shown = Plan {
            steps: steps.clone(),
        };
        let context = crate::provider::ApplyContext {
            catalog: &desired,
            commit: crate::source::CommitId::parse(&"ab".repeat(20)).unwrap(),
            epoch: None,
            may_start: None,
        };
        let outcomes = provider.apply(&steps, context).await;
        let failed: Vec<_> = (steps.iter().zip(&outcomes))
            .filter(|(_, outcome)| **outcome != StepOutcome::Applied)
            .collect();
        assert!(
            failed.is_empty(),
            "seed {seed}, to the {stage} catalog: {failed:#?}\nof\n{shown}"
        );
        let observed = provider.observe().await.expect("observe after");
        let predicted = apply_to(&before, &steps);
        assert_eq!(
            comparable(&observed),
            comparable(&predicted),
            "seed {seed}, to the {stage} catalog: the data plane (left) and the model (right) \
             differ after\n{shown}"
        );
        kinds.extend(steps.iter().map(kind));
    }
    admin.shutdown().await;
    dataplane.shutdown().await;
    kinds
}

/// What of an observed state the model predicts. Each change here is
/// something the model rightly leaves to the provider:
///
/// - `version` counts the data plane's configs (one per batch of steps
///   between waits); `apply_to` leaves the provider's counter as it was.
/// - `Unknown` health reads as `Healthy`. A live target is `Unknown`
///   until its first check, and stays so in a pool without a check (which
///   `WaitHealthy` accepts, and where the data plane sends traffic all the
///   same); when that first check runs is timing, not something a step
///   decides. `Unhealthy` and `Draining` stay: every target here is a live
///   listener, and with no traffic a drained target has nothing to finish,
///   so either would be a real difference.
/// - A pool's targets are listed primaries first. The data plane keeps
///   primaries and backups in two lists and reports them in that order;
///   the model keeps one list, in the order steps added to it. Within a
///   role the orders are the same, and the planner reads targets by
///   address, never by position.
fn comparable(state: &ObservedState) -> ObservedState {
    let mut state = state.clone();
    state.version = 0;
    for pool in state.pools.values_mut() {
        pool.targets.sort_by_key(|target| target.backup);
        for target in &mut pool.targets {
            if target.health == Health::Unknown {
                target.health = Health::Healthy;
            }
        }
    }
    state
}

/// Every kind of step: the property covers each at least once.
const EVERY_KIND: [&str; 12] = [
    "PutCertificate",
    "CreatePool",
    "UpdatePoolSettings",
    "AddTargets",
    "WaitHealthy",
    "SetWeights",
    "PutLoadBalancer",
    "DrainTargets",
    "RemoveTargets",
    "DeleteLoadBalancer",
    "DeletePool",
    "DeleteCertificate",
];

/// Exhaustive, so a new kind of step cannot compile until it is listed.
fn kind(step: &Step) -> &'static str {
    match step {
        Step::PutCertificate { .. } => "PutCertificate",
        Step::CreatePool { .. } => "CreatePool",
        Step::UpdatePoolSettings { .. } => "UpdatePoolSettings",
        Step::AddTargets { .. } => "AddTargets",
        Step::WaitHealthy { .. } => "WaitHealthy",
        Step::SetWeights { .. } => "SetWeights",
        Step::PutLoadBalancer { .. } => "PutLoadBalancer",
        Step::DrainTargets { .. } => "DrainTargets",
        Step::RemoveTargets { .. } => "RemoveTargets",
        Step::DeleteLoadBalancer { .. } => "DeleteLoadBalancer",
        Step::DeletePool { .. } => "DeletePool",
        Step::DeleteCertificate { .. } => "DeleteCertificate",
    }
}

/// What the generated names stand for on this machine. The generator
/// writes estates for the planner, which never connects to anything; a
/// data plane binds, probes and loads what they name, so [`World::runnable`]
/// swaps each for a real one, keeping equal what was equal and different
/// what was different.
struct World {
    /// Live TCP listeners for the generated targets `127.0.0.1:9001…`,
    /// which every health check (TCP probes) finds up.
    backends: Vec<SocketAddr>,
    /// The second octet of this process's balancer addresses.
    net: u8,
    /// Free ports for the generated listener ports (80 and 443).
    ports: BTreeMap<u32, u32>,
    /// One key for every certificate, so any generated key reference can
    /// point at a file holding it.
    key: rcgen::KeyPair,
    keys: tempfile::TempDir,
    /// A self-signed chain for each generated chain text.
    chains: Mutex<BTreeMap<String, String>>,
}

/// The generator's targets are `127.0.0.1:` one of these ports.
const GENERATED_TARGET_PORTS: std::ops::RangeInclusive<u16> = 9001..=9008;

impl World {
    async fn start() -> Self {
        let mut backends = Vec::new();
        for _ in GENERATED_TARGET_PORTS {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
            backends.push(listener.local_addr().unwrap());
            // A TCP probe only needs the connection accepted.
            tokio::spawn(async move { while listener.accept().await.is_ok() {} });
        }
        let ports = [80, 443]
            .into_iter()
            .map(|generated| {
                let free = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
                (generated, u32::from(free.local_addr().unwrap().port()))
            })
            .collect();
        Self {
            backends,
            // Balancers bind 127.<net>.<seed>.x: apart from each other
            // case, and unlikely to meet another run of this test.
            net: 100 + (std::process::id() % 100) as u8,
            ports,
            key: rcgen::KeyPair::generate().unwrap(),
            keys: tempfile::tempdir().unwrap(),
            chains: Mutex::default(),
        }
    }

    /// `catalog` with real targets, fast health checks, loadable
    /// certificates and bindable balancer addresses.
    fn runnable(&self, mut catalog: Catalog, seed: u64) -> Catalog {
        for pool in catalog.pools.values_mut() {
            let spec = &mut pool.spec;
            for target in spec.targets.iter_mut().chain(&mut spec.backup_targets) {
                target.address.value = self.backend(&target.address.value);
            }
            if let Some(check) = &mut spec.health_check {
                let interval = &mut check.value.interval.value.0;
                *interval = Duration::from_millis(interval.as_secs() * MILLIS_PER_GENERATED_SECOND);
            }
        }
        for certificate in catalog.certificates.values_mut() {
            let spec = &mut certificate.spec;
            if let Some(chain) = &mut spec.chain {
                chain.value = self.chain(&chain.value);
            }
            spec.private_key.value = self.key_file(&spec.private_key.value);
        }
        for balancer in catalog.load_balancers.values_mut() {
            for address in &mut balancer.spec.addresses {
                if let AddressSpec::Static(ip) = &mut address.value {
                    *ip = self.address(*ip, seed);
                }
            }
            for listener in &mut balancer.spec.listeners {
                listener.port.value = self.ports[&listener.port.value];
            }
        }
        catalog.allocation = (catalog.allocation.iter())
            .map(|(balancer, assigned)| {
                let assigned = (assigned.iter())
                    .map(|a| Assigned {
                        pool: a.pool.clone(),
                        address: self.address(a.address, seed),
                    })
                    .collect();
                (balancer.to_owned(), assigned)
            })
            .collect();
        catalog
    }

    fn backend(&self, generated: &TargetAddr) -> TargetAddr {
        let port = (generated.to_string())
            .strip_prefix("127.0.0.1:")
            .and_then(|port| port.parse::<u16>().ok())
            .filter(|port| GENERATED_TARGET_PORTS.contains(port))
            .unwrap_or_else(|| panic!("a generated target this test cannot run: {generated}"));
        let live = self.backends[usize::from(port - GENERATED_TARGET_PORTS.start())];
        live.to_string().parse().unwrap()
    }

    /// `127.0.c.d` → `127.<net>.<seed>.(c·16 + d)`: the generator's
    /// `127.0.10.x` and `127.0.11.x` stay apart.
    fn address(&self, generated: IpAddr, seed: u64) -> IpAddr {
        let IpAddr::V4(v4) = generated else {
            panic!("a generated IPv6 address: {generated}");
        };
        let [127, 0, c, d] = v4.octets() else {
            panic!("a generated address outside 127.0/16: {generated}");
        };
        let seed = u8::try_from(seed).expect("fewer than 256 cases");
        IpAddr::V4(Ipv4Addr::new(127, self.net, seed, c.wrapping_mul(16) + d))
    }

    fn chain(&self, generated: &str) -> String {
        let mut chains = self.chains.lock().unwrap();
        let made = chains.len();
        let chain = chains.entry(generated.to_owned()).or_insert_with(|| {
            let name = format!("chain{made}.example.test");
            let params = rcgen::CertificateParams::new(vec![name]).unwrap();
            params.self_signed(&self.key).unwrap().pem()
        });
        chain.clone()
    }

    /// A file holding the key, standing in for `generated`: each file or
    /// variable gets a file of its own (setting a variable would race other
    /// tests), so that references that differ still differ.
    fn key_file(&self, generated: &KeyRef) -> KeyRef {
        let file = match generated {
            KeyRef::File(path) => format!("file{}", path.replace('/', "_")),
            KeyRef::Env(var) => format!("env_{var}"),
            KeyRef::Provider(id) => panic!("a key the data plane cannot read: {id}"),
        };
        let path: PathBuf = self.keys.path().join(file);
        let _writing = self.chains.lock().unwrap();
        if !path.exists() {
            std::fs::write(&path, self.key.serialize_pem()).unwrap();
        }
        KeyRef::File(path.to_str().unwrap().to_owned())
    }
}
