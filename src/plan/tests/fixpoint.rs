//! Generated estates: re-planning after applying is always empty.
//!
//! The generator ([`Rng`], [`random_catalog`]) is shared: the embedded
//! provider's tests apply the same estates to a running data plane.

use super::replay::*;
use super::*;

/// How many generated (desired, observed) pairs the property runs over.
const CASES: u64 = 3000;

#[test]
fn applying_a_plan_leaves_nothing_to_plan() {
    let mut sizes = BTreeSet::new();
    for seed in 0..CASES {
        let mut rng = Rng::new(seed);
        let desired = random_catalog(&mut rng);
        let observed = random_observed(&mut rng, &desired);
        let first = plan(&desired, &observed);
        sizes.insert(first.steps.len());
        let after = apply_to(&observed, &first.steps);
        let again = plan(&desired, &after);
        assert!(
            again.is_empty(),
            "seed {seed}: first plan\n{first}\nleft\n{again}"
        );
        if let Err(why) = zero_downtime(&observed, &first.steps) {
            panic!("seed {seed}: {why}");
        }
        assert_eq!(
            runs(&after),
            runs(&observed_from(&desired)),
            "seed {seed}:\n{first}"
        );
        assert!(
            plan(&desired, &observed_from(&desired)).is_empty(),
            "seed {seed}"
        );
        assert_eq!(
            first,
            plan(&desired, &observed),
            "seed {seed}: deterministic"
        );
    }
    assert!(
        sizes.contains(&0) && sizes.iter().any(|n| *n > 15),
        "cases vary: {sizes:?}"
    );
}

/// xorshift64*: deterministic, dependency-free, varied enough for cases.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn resource<S>(text: &str, spec: S) -> Resource<S> {
    Resource {
        name: name(text),
        labels: Default::default(),
        spec,
        origin: Origin {
            file: Arc::from("generated.yaml"),
            pos: Pos::default(),
        },
    }
}

/// Few names and addresses, so that desired and observed overlap often.
pub(crate) fn random_catalog(rng: &mut Rng) -> Catalog {
    let mut catalog = Catalog::default();
    for pool in ["a", "b", "c", "d"] {
        if rng.chance(60) {
            catalog
                .pools
                .insert(name(pool), resource(pool, random_pool(rng)));
        }
    }
    for cert in ["c1", "c2", "c3"] {
        if rng.chance(50) {
            let spec = CertificateSpec {
                // The planner hashes chains, it never parses them.
                chain: Some(Spanned::unplaced(
                    (*rng.pick(&["PEM one\n", "PEM two\n"])).to_owned(),
                )),
                chain_file: None,
                private_key: Spanned::unplaced(
                    rng.pick(&[KeyRef::File("/k/a".into()), KeyRef::Env("TLS_KEY".into())])
                        .clone(),
                ),
            };
            catalog
                .certificates
                .insert(name(cert), resource(cert, spec));
        }
    }
    let pools: Vec<Name> = catalog.pools.keys().cloned().collect();
    let certs: Vec<Name> = catalog.certificates.keys().cloned().collect();
    let mut allocation = Vec::new();
    for (i, balancer) in ["edge", "front", "internal"].into_iter().enumerate() {
        if !pools.is_empty() && rng.chance(60) {
            let (spec, assigned) = random_balancer(rng, i, &pools, &certs);
            catalog
                .load_balancers
                .insert(name(balancer), resource(balancer, spec));
            allocation.push((format!("loadbalancer/{balancer}"), assigned));
        }
    }
    catalog.allocation = allocation.into_iter().collect();
    catalog
}

fn random_pool(rng: &mut Rng) -> PoolSpec {
    let (mut targets, mut backup_targets) = (Vec::new(), Vec::new());
    for port in 9001..=9006 {
        let t = target(&format!("127.0.0.1:{port}"), rng.below(4) as u32);
        match rng.below(4) {
            0 | 1 => targets.push(t),
            2 => backup_targets.push(t),
            _ => {}
        }
    }
    if rng.chance(50) {
        targets.reverse();
    }
    let health_check = rng.chance(60).then(|| {
        Spanned::unplaced(HealthCheck {
            probe: Probe::Tcp,
            interval: Spanned::unplaced(Dur(Duration::from_secs(2 + rng.below(3) as u64))),
            timeout: Spanned::unplaced(Dur(Duration::from_secs(1))),
            healthy_threshold: Spanned::unplaced(1 + rng.below(3) as u32),
            unhealthy_threshold: Spanned::unplaced(3),
        })
    });
    PoolSpec {
        targets,
        backup_targets,
        algorithm: rng
            .pick(&[
                Algorithm::RoundRobin,
                Algorithm::LeastRequests,
                Algorithm::ConsistentHash(HashKey::SourceIp),
            ])
            .clone(),
        health_check,
        draining_timeout: Dur(Duration::from_secs(*rng.pick(&[10, 30]))),
        slow_start: rng.chance(30).then_some(Dur(Duration::from_secs(30))),
    }
}

fn random_balancer(
    rng: &mut Rng,
    index: usize,
    pools: &[Name],
    certs: &[Name],
) -> (LoadBalancerSpec, Vec<Assigned>) {
    let (address, assigned) = if rng.chance(50) {
        let ip: IpAddr = format!("127.0.10.{}", index + 1).parse().unwrap();
        (
            AddressSpec::Static(ip),
            Assigned {
                pool: None,
                address: ip,
            },
        )
    } else {
        let ip: IpAddr = format!("127.0.11.{}", rng.below(3) + 1).parse().unwrap();
        let spec = AddressSpec::FromPool {
            pool: Spanned::unplaced(name("loopback")),
            address: None,
        };
        (
            spec,
            Assigned {
                pool: Some("addresspool/loopback".to_owned()),
                address: ip,
            },
        )
    };
    let mut listeners = vec![listener(
        "http",
        Protocol::Http,
        80,
        None,
        forward(rng, pools),
    )];
    if !certs.is_empty() && rng.chance(60) {
        let tls = TlsPolicy {
            certificates: vec![Spanned::unplaced(rng.pick(certs).clone())],
            min_version: Default::default(),
            ciphers: Vec::new(),
            resumption: rng.chance(80),
        };
        let tls = Some(Spanned::unplaced(tls));
        listeners.push(listener(
            "https",
            Protocol::Https,
            443,
            tls,
            forward(rng, pools),
        ));
    }
    let spec = LoadBalancerSpec {
        addresses: vec![Spanned::unplaced(address)],
        listeners,
    };
    (spec, vec![assigned])
}

fn forward(rng: &mut Rng, pools: &[Name]) -> Option<Spanned<Action>> {
    let pools = (0..1 + rng.below(2))
        .map(|_| WeightedPool {
            pool: Spanned::unplaced(rng.pick(pools).clone()),
            weight: Spanned::unplaced(rng.below(100) as u32),
        })
        .collect();
    Some(Spanned::unplaced(Action::Forward(Forward { pools })))
}

fn listener(
    listener: &str,
    protocol: Protocol,
    port: u32,
    tls: Option<Spanned<TlsPolicy>>,
    default_action: Option<Spanned<Action>>,
) -> Listener {
    Listener {
        name: Spanned::unplaced(name(listener)),
        protocol: Spanned::unplaced(protocol),
        port: Spanned::unplaced(port),
        tls,
        routes: Vec::new(),
        default_action,
        idle_timeout: None,
    }
}

/// What a provider might run: nothing, another estate, or this one after
/// crashes, hand edits and health changes.
fn random_observed(rng: &mut Rng, desired: &Catalog) -> ObservedState {
    let mut state = match rng.below(4) {
        0 => return ObservedState::default(),
        1 => observed_from(&random_catalog(rng)),
        _ => observed_from(desired),
    };
    state.version = rng.next() % 5;
    for pool in state.pools.values_mut() {
        disturb_pool(rng, pool);
    }
    for certificate in state.certificates.values_mut() {
        if rng.chance(15) {
            certificate.chain_sha256 = certificate.chain_sha256.to_uppercase();
        }
        if rng.chance(15) {
            certificate.key = KeyRef::Provider("arn:cert".into());
        }
    }
    if rng.chance(20) {
        state.pools.insert(
            name("stray"),
            ObservedPool {
                spec: random_pool(rng),
                targets: Vec::new(),
            },
        );
    }
    state
}

fn disturb_pool(rng: &mut Rng, pool: &mut ObservedPool) {
    let healths = [
        Health::Unknown,
        Health::Healthy,
        Health::Healthy,
        Health::Unhealthy,
        Health::Draining,
    ];
    pool.targets.retain(|_| !rng.chance(10));
    for target in &mut pool.targets {
        target.health = *rng.pick(&healths);
        if rng.chance(15) {
            target.weight += 1;
        }
        if rng.chance(10) {
            target.backup = !target.backup;
        }
    }
    if rng.chance(15) {
        pool.targets.push(ObservedTarget {
            address: addr(&format!("127.0.0.1:{}", 9001 + rng.below(8))),
            weight: 1,
            backup: rng.chance(30),
            health: *rng.pick(&healths),
        });
    }
    if rng.chance(10) {
        pool.spec.algorithm = Algorithm::WeightedRandom;
    }
    if rng.chance(20) {
        pool.targets.reverse();
    }
}
