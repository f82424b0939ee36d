//! Plans as a reviewer reads them: exact steps in exact order for the
//! changes teams make every day, each beside a twin proving the unsafe
//! order is refused, and a generated run proving that applying a plan
//! leaves nothing to plan.

use super::*;
use crate::provider::{Health, ObservedCertificate, ObservedPool, ObservedTarget};
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

// ---- adding a pool ----

#[test]
fn adding_a_pool_creates_it_fills_it_waits_then_points_the_balancer_at_it() {
    let before = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", STABLE)]);
    let after = catalog(&[
        (
            "lb.yaml",
            &web("{pool: web-stable, weight: 90}, {pool: web-canary, weight: 10}"),
        ),
        ("p.yaml", STABLE),
        ("c.yaml", CANARY),
    ]);
    assert_eq!(
        steps(&after, &before),
        [
            Step::CreatePool {
                name: name("web-canary"),
                spec: empty_pool(&after, "web-canary"),
            },
            Step::AddTargets {
                pool: name("web-canary"),
                targets: vec![target("127.0.0.1:9003", 1)],
                backup: false,
            },
            Step::WaitHealthy {
                pool: name("web-canary"),
                targets: vec![addr("127.0.0.1:9003")],
                timeout: Duration::from_secs(24),
            },
            put_balancer(&after, "web"),
        ]
    );
}

#[test]
fn traffic_never_reaches_new_targets_before_they_are_healthy() {
    // Twin: new targets in a running pool, a weight shift and a route
    // change at once; the checker refuses the wrong orders.
    let before = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", STABLE)]);
    let grown = STABLE.replace(
        "weight: 1}\n  health",
        "weight: 3}\n    - {address: 127.0.0.1:9004}\n  health",
    ) + "  backup_targets: [{address: 127.0.0.1:9009}]\n";
    let after = catalog(&[
        ("lb.yaml", &web("{pool: web-stable}, {pool: web-canary}")),
        ("p.yaml", &grown),
        ("c.yaml", CANARY),
    ]);
    let observed = observed_from(&before);
    let good = plan(&after, &observed).steps;
    assert_eq!(zero_downtime(&observed, &good), Ok(()));

    let wait = position(
        &good,
        |s| matches!(s, Step::WaitHealthy { pool, .. } if pool.as_str() == "web-stable"),
    );
    let waited = &good[wait];
    assert_eq!(
        waited,
        &Step::WaitHealthy {
            pool: name("web-stable"),
            targets: vec![addr("127.0.0.1:9004")],
            timeout: Duration::from_secs(30),
        },
        "the backup is added but not waited for"
    );
    for early in ["SetWeights", "PutLoadBalancer"] {
        let mut wrong = good.clone();
        let moved = position(&wrong, |s| format!("{s:?}").starts_with(early));
        let step = wrong.remove(moved);
        let first_wait = position(&wrong, |s| matches!(s, Step::WaitHealthy { .. }));
        wrong.insert(first_wait, step);
        let refused = zero_downtime(&observed, &wrong).unwrap_err();
        assert!(
            refused.contains("not healthy yet"),
            "{early} before the wait: {refused}"
        );
    }
}

// ---- shifting canary weight ----

#[test]
fn shifting_forward_weights_is_only_a_balancer_put() {
    let pools = [("p.yaml", STABLE), ("c.yaml", CANARY)];
    let at = |forward: &str| {
        let lb = web(forward);
        let mut files = vec![("lb.yaml", lb.as_str())];
        files.extend(pools);
        catalog(&files)
    };
    let before = at("{pool: web-stable, weight: 90}, {pool: web-canary, weight: 10}");
    let after = at("{pool: web-stable, weight: 50}, {pool: web-canary, weight: 50}");
    assert_eq!(steps(&after, &before), [put_balancer(&after, "web")]);
}

#[test]
fn shifting_target_weights_is_only_set_weights() {
    let pool = |stable: u32, canary: u32| {
        let yaml = format!(
            "kind: Pool\nname: web\nspec:\n  targets:\n    - {{address: 127.0.0.1:9001, weight: {stable}}}\n    - {{address: 127.0.0.1:9003, weight: {canary}}}\n"
        );
        catalog(&[("lb.yaml", &web("{pool: web}")), ("p.yaml", &yaml)])
    };
    assert_eq!(
        steps(&pool(5, 5), &pool(9, 1)),
        [Step::SetWeights {
            pool: name("web"),
            weights: vec![(addr("127.0.0.1:9001"), 5), (addr("127.0.0.1:9003"), 5)],
        }]
    );
}

#[test]
fn moving_a_target_to_backup_is_drain_remove_add_not_a_weight_change() {
    // Twin of the weight shift: a change of role, unlike a change of
    // weight, cannot be made in place.
    let before = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", STABLE)]);
    let demoted = STABLE.replace("    - {address: 127.0.0.1:9002, weight: 1}\n", "")
        + "  backup_targets: [{address: 127.0.0.1:9002, weight: 1}]\n";
    let after = catalog(&[
        ("lb.yaml", &web("{pool: web-stable}")),
        ("p.yaml", &demoted),
    ]);
    let nine_oh_two = || vec![addr("127.0.0.1:9002")];
    assert_eq!(
        steps(&after, &before),
        [
            Step::DrainTargets {
                pool: name("web-stable"),
                targets: nine_oh_two(),
                timeout: Duration::from_secs(20),
            },
            Step::RemoveTargets {
                pool: name("web-stable"),
                targets: nine_oh_two(),
            },
            Step::AddTargets {
                pool: name("web-stable"),
                targets: vec![target("127.0.0.1:9002", 1)],
                backup: true,
            },
        ]
    );
}

#[test]
fn swapping_primary_and_backup_promotes_and_waits_before_demoting() {
    let pool = |primary: &str, backup: &str| {
        let yaml = format!(
            "kind: Pool\nname: db\nspec:\n  targets: [{{address: {primary}}}]\n  backup_targets: [{{address: {backup}}}]\n"
        );
        catalog(&[("lb.yaml", &web("{pool: db}")), ("p.yaml", &yaml)])
    };
    let (a, b) = ("127.0.0.1:15432", "127.0.0.1:15433");
    let before = pool(a, b);
    let after = pool(b, a);
    let observed = observed_from(&before);
    let steps = plan(&after, &observed).steps;
    let db = || name("db");
    let drain = |address: &str| Step::DrainTargets {
        pool: db(),
        targets: vec![addr(address)],
        timeout: Duration::from_secs(30),
    };
    let remove = |address: &str| Step::RemoveTargets {
        pool: db(),
        targets: vec![addr(address)],
    };
    let add = |address: &str, backup: bool| Step::AddTargets {
        pool: db(),
        targets: vec![target(address, 1)],
        backup,
    };
    assert_eq!(
        steps,
        [
            drain(b),
            remove(b),
            add(b, false),
            Step::WaitHealthy {
                pool: db(),
                targets: vec![addr(b)],
                timeout: DEFAULT_WAIT_HEALTHY,
            },
            drain(a),
            remove(a),
            add(a, true),
        ],
        "the old primary drains only once the new one is healthy"
    );
    assert_eq!(zero_downtime(&observed, &steps), Ok(()));
}

// ---- removing a target ----

#[test]
fn removing_a_target_drains_then_removes_it_after_weights_and_routes_move() {
    let before = catalog(&[
        (
            "lb.yaml",
            &web("{pool: web-stable, weight: 90}, {pool: web-canary, weight: 10}"),
        ),
        ("p.yaml", STABLE),
        ("c.yaml", CANARY),
    ]);
    let shrunk = STABLE.replace(
        "    - {address: 127.0.0.1:9001, weight: 1}\n    - {address: 127.0.0.1:9002, weight: 1}\n",
        "    - {address: 127.0.0.1:9001, weight: 2}\n",
    );
    let after = catalog(&[
        (
            "lb.yaml",
            &web("{pool: web-stable, weight: 100}, {pool: web-canary, weight: 0}"),
        ),
        ("p.yaml", &shrunk),
        ("c.yaml", CANARY),
    ]);
    assert_eq!(
        steps(&after, &before),
        [
            Step::SetWeights {
                pool: name("web-stable"),
                weights: vec![(addr("127.0.0.1:9001"), 2)],
            },
            put_balancer(&after, "web"),
            Step::DrainTargets {
                pool: name("web-stable"),
                targets: vec![addr("127.0.0.1:9002")],
                timeout: Duration::from_secs(20),
            },
            Step::RemoveTargets {
                pool: name("web-stable"),
                targets: vec![addr("127.0.0.1:9002")],
            },
        ]
    );
}

#[test]
fn a_target_is_never_removed_undrained_nor_drained_while_traffic_still_moves() {
    // Twin: the two unsafe reorderings of the plan above are refused.
    let before = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", STABLE)]);
    let shrunk = STABLE.replace("    - {address: 127.0.0.1:9002, weight: 1}\n", "");
    let after = catalog(&[
        ("lb.yaml", &web("{pool: web-stable}, {pool: web-canary}")),
        ("p.yaml", &shrunk),
        ("c.yaml", CANARY),
    ]);
    let observed = observed_from(&before);
    let good = plan(&after, &observed).steps;
    assert_eq!(zero_downtime(&observed, &good), Ok(()));

    let drain = position(&good, |s| matches!(s, Step::DrainTargets { .. }));
    let mut undrained = good.clone();
    undrained.remove(drain);
    let refused = zero_downtime(&observed, &undrained).unwrap_err();
    assert!(refused.contains("without draining"), "{refused}");

    let mut drained_early = good.clone();
    let step = drained_early.remove(drain);
    drained_early.insert(0, step);
    let refused = zero_downtime(&observed, &drained_early).unwrap_err();
    assert!(refused.contains("after a drain began"), "{refused}");
}

// ---- replacing a certificate ----

fn tls_site(certificate_name: &str, chain: &str) -> Catalog {
    let (cert_path, cert_yaml) = certificate(certificate_name);
    let pem_path = format!("certs/{certificate_name}.pem");
    catalog(&[
        ("lb.yaml", &web_tls(certificate_name)),
        ("p.yaml", STABLE),
        (&cert_path, &cert_yaml),
        (&pem_path, chain),
    ])
}

#[test]
fn replacing_a_certificate_puts_the_new_one_first_and_deletes_the_old_one_last() {
    let before = tls_site("web-2026", CHAIN_2026);
    let after = tls_site("web-2027", CHAIN_2027);
    assert_eq!(
        steps(&after, &before),
        [
            Step::PutCertificate {
                name: name("web-2027"),
                chain_pem: CHAIN_2027.to_owned(),
                key: KeyRef::File("/etc/lbops/keys/web.key".to_owned()),
            },
            put_balancer(&after, "web"),
            Step::DeleteCertificate {
                name: name("web-2026"),
            },
        ]
    );
}

#[test]
fn a_certificate_is_never_used_before_it_is_put_nor_deleted_while_named() {
    // Twin: moving the put after the balancer, or the delete before it, is refused.
    let observed = observed_from(&tls_site("web-2026", CHAIN_2026));
    let good = plan(&tls_site("web-2027", CHAIN_2027), &observed).steps;
    assert_eq!(zero_downtime(&observed, &good), Ok(()));

    let late_put = vec![good[1].clone(), good[0].clone(), good[2].clone()];
    let refused = zero_downtime(&observed, &late_put).unwrap_err();
    assert!(
        refused.contains("certificate/web-2027 that does not run"),
        "{refused}"
    );

    let early_delete = vec![good[0].clone(), good[2].clone(), good[1].clone()];
    let refused = zero_downtime(&observed, &early_delete).unwrap_err();
    assert!(refused.contains("still names it"), "{refused}");
}

#[test]
fn renewing_a_certificate_in_place_is_one_put() {
    let after = tls_site("web", CHAIN_2027);
    assert_eq!(
        steps(&after, &tls_site("web", CHAIN_2026)),
        [Step::PutCertificate {
            name: name("web"),
            chain_pem: CHAIN_2027.to_owned(),
            key: KeyRef::File("/etc/lbops/keys/web.key".to_owned()),
        }]
    );
}

#[test]
fn a_certificate_is_compared_by_chain_digest_and_key_not_by_where_it_is_written() {
    // Twin of the renewal: the same chain moved inline is no change…
    let before = tls_site("web", CHAIN_2026);
    let indented: String = CHAIN_2026.lines().map(|l| format!("    {l}\n")).collect();
    let inline = format!(
        "kind: Certificate\nname: web\nspec:\n  chain: |\n{indented}  private_key: {{file: /etc/lbops/keys/web.key}}\n"
    );
    let moved = catalog(&[
        ("lb.yaml", &web_tls("web")),
        ("p.yaml", STABLE),
        ("c.yaml", &inline),
    ]);
    assert_eq!(steps(&moved, &before), []);

    // …a digest reported in capitals is the same digest…
    let mut shouting = observed_from(&before);
    for certificate in shouting.certificates.values_mut() {
        certificate.chain_sha256 = certificate.chain_sha256.to_uppercase();
    }
    assert!(plan(&before, &shouting).is_empty());

    // …and another key reference for the same chain is a put.
    let rekeyed_yaml = inline.replace("file: /etc/lbops/keys/web.key", "env: WEB_TLS_KEY");
    let rekeyed = catalog(&[
        ("lb.yaml", &web_tls("web")),
        ("p.yaml", STABLE),
        ("c.yaml", &rekeyed_yaml),
    ]);
    assert_eq!(
        steps(&rekeyed, &before),
        [Step::PutCertificate {
            name: name("web"),
            chain_pem: CHAIN_2026.to_owned(),
            key: KeyRef::Env("WEB_TLS_KEY".to_owned()),
        }]
    );
}

#[test]
fn a_certificate_without_chain_text_is_left_as_it_runs() {
    let mut desired = tls_site("web", CHAIN_2026);
    let observed = observed_from(&desired);
    desired.certificates.get_mut("web").unwrap().spec.chain = None;
    assert!(
        plan(&desired, &observed).is_empty(),
        "neither put empty nor deleted"
    );
    assert!(!observed_from(&desired).certificates.contains_key("web"));
}

// ---- deleting a balancer ----

#[test]
fn deleting_a_balancer_deletes_it_before_its_pools_and_certificates() {
    let before = tls_site("web", CHAIN_2026);
    let after = Catalog::default();
    assert_eq!(
        steps(&after, &before),
        [
            Step::DeleteLoadBalancer { name: name("web") },
            Step::DeletePool {
                name: name("web-stable"),
            },
            Step::DeleteCertificate { name: name("web") },
        ]
    );
}

#[test]
fn deleting_a_balancer_keeps_what_is_still_wanted_and_never_deletes_a_used_pool_first() {
    // Twin: only the balancer goes when its pool and certificate stay, and
    // deleting the pool before the balancer is refused.
    let before = tls_site("web", CHAIN_2026);
    let (cert_path, cert_yaml) = certificate("web");
    let after = catalog(&[
        ("p.yaml", STABLE),
        (&cert_path, &cert_yaml),
        ("certs/web.pem", CHAIN_2026),
    ]);
    assert_eq!(
        steps(&after, &before),
        [Step::DeleteLoadBalancer { name: name("web") }]
    );

    let observed = observed_from(&before);
    let mut wrong = plan(&Catalog::default(), &observed).steps;
    wrong.swap(0, 1);
    let refused = zero_downtime(&observed, &wrong).unwrap_err();
    assert!(
        refused.contains("loadbalancer/web still forwards to it"),
        "{refused}"
    );
}

// ---- no-op ----

macro_rules! example_file {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/repo/",
                $path
            )),
        )
    };
}

fn example_repo() -> Catalog {
    catalog(&[
        example_file!("access/groups.yaml"),
        example_file!("access/roles.yaml"),
        example_file!("access/service-accounts.yaml"),
        example_file!("access/users.yaml"),
        example_file!("addresspools/loopback.yaml"),
        example_file!("balancers/db.yaml"),
        example_file!("balancers/web.yaml"),
        example_file!("certificates/wildcard-example-test.pem"),
        example_file!("certificates/wildcard-example-test.yaml"),
        example_file!("pools/db.yaml"),
        example_file!("pools/web.yaml"),
    ])
}

#[test]
fn nothing_to_do_when_the_provider_runs_the_catalog() {
    let example = example_repo();
    let plan = plan(&example, &observed_from(&example));
    assert!(plan.is_empty(), "{plan}");
    assert_eq!(plan.to_string(), "no changes");
}

#[test]
fn positions_labels_order_and_policy_are_not_changes_but_values_are() {
    // Twin of the no-op: what the provider does not run changes nothing;
    // any value it runs does.
    let base = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", STABLE)]);
    let observed = observed_from(&base);
    let reordered = STABLE.replace(
        "    - {address: 127.0.0.1:9001, weight: 1}\n    - {address: 127.0.0.1:9002, weight: 1}\n",
        "    - {address: 127.0.0.1:9002, weight: 1}\n    - {address: 127.0.0.1:9001}\n",
    );
    let labelled = format!(
        "\n# moved down\n{}",
        reordered.replace("spec:", "labels: {team: web}\nspec:")
    );
    let role = "kind: Role\nname: oncall\nspec:\n  rules: [{actions: [pool.weights.update], resources: [\"pool/*\"]}]\n";
    let same = catalog(&[
        ("lb.yaml", &web("{pool: web-stable}")),
        ("q.yaml", &labelled),
        ("r.yaml", role),
    ]);
    assert!(plan(&same, &observed).is_empty());

    let changed = [
        (STABLE.replace("20s", "25s"), "UpdatePoolSettings"),
        (
            STABLE.replace("9002, weight: 1", "9002, weight: 2"),
            "SetWeights",
        ),
        (STABLE.replace("9002", "9005"), "AddTargets"),
    ];
    for (pool, kind) in changed {
        let desired = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", &pool)]);
        let first = plan(&desired, &observed).steps.into_iter().next();
        assert!(
            format!("{first:?}").starts_with(&format!("Some({kind}")),
            "{kind}: {first:?}"
        );
    }
}

#[test]
fn changing_pool_settings_sends_them_with_the_targets_that_run() {
    let before = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", STABLE)]);
    let slower = STABLE.replace("interval: 5s", "interval: 10s")
        + "  slow_start: 30s\n  algorithm: least_requests\n";
    let after = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", &slower)]);
    let mut observed = observed_from(&before);
    let running = &mut observed.pools.get_mut("web-stable").unwrap().targets;
    running[1].health = Health::Draining;

    let mut expected = after.pools["web-stable"].spec.clone();
    expected.targets = vec![target("127.0.0.1:9001", 1)];
    let steps = plan(&after, &observed).steps;
    assert_eq!(
        steps[0],
        Step::UpdatePoolSettings {
            name: name("web-stable"),
            spec: expected,
        },
        "a draining target is no longer part of the pool"
    );
}

#[test]
fn adding_a_target_does_not_touch_settings() {
    // Twin of the settings change.
    let before = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", STABLE)]);
    let grown = STABLE.replace(
        "  health_check:",
        "    - {address: 127.0.0.1:9004}\n  health_check:",
    );
    let after = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", &grown)]);
    assert_eq!(
        steps(&after, &before),
        [
            Step::AddTargets {
                pool: name("web-stable"),
                targets: vec![target("127.0.0.1:9004", 1)],
                backup: false,
            },
            Step::WaitHealthy {
                pool: name("web-stable"),
                targets: vec![addr("127.0.0.1:9004")],
                timeout: Duration::from_secs(30),
            },
        ]
    );
}

#[test]
fn a_draining_target_wanted_again_is_registered_and_waited_for_again() {
    let desired = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", STABLE)]);
    let mut observed = observed_from(&desired);
    observed.pools.get_mut("web-stable").unwrap().targets[1].health = Health::Draining;
    let steps = plan(&desired, &observed).steps;
    assert_eq!(
        steps,
        [
            Step::AddTargets {
                pool: name("web-stable"),
                targets: vec![target("127.0.0.1:9002", 1)],
                backup: false,
            },
            Step::WaitHealthy {
                pool: name("web-stable"),
                targets: vec![addr("127.0.0.1:9002")],
                timeout: Duration::from_secs(30),
            },
        ]
    );
    assert!(plan(&desired, &apply_to(&observed, &steps)).is_empty());
}

#[test]
fn wait_timeouts_follow_the_health_check() {
    let spec = |yaml: &str| {
        let pool =
            format!("kind: Pool\nname: p\nspec:\n  targets: [{{address: 10.0.0.1:80}}]\n{yaml}");
        catalog(&[("p.yaml", &pool)]).pools["p"].spec.clone()
    };
    let checked = "  health_check:\n    probe: tcp\n";
    assert_eq!(wait_healthy_timeout(&spec("")), DEFAULT_WAIT_HEALTHY);
    assert_eq!(
        wait_healthy_timeout(&spec(checked)),
        Duration::from_secs(60),
        "10s × 2 × 3"
    );
    let tuned = format!("{checked}    interval: 2s\n    timeout: 1s\n    healthy_threshold: 5\n");
    assert_eq!(
        wait_healthy_timeout(&spec(&tuned)),
        Duration::from_secs(30),
        "2s × 5 × 3"
    );
}

#[test]
fn addresses_from_an_address_pool_are_put_pinned_to_their_allocation() {
    let example = example_repo();
    let steps = plan(&example, &ObservedState::default()).steps;
    let Some(Step::PutLoadBalancer { spec, .. }) = steps
        .iter()
        .find(|s| matches!(s, Step::PutLoadBalancer { name, .. } if name.as_str() == "db-edge"))
    else {
        panic!("db-edge is not put: {steps:#?}");
    };
    let allocated = example.allocation.get("loadbalancer/db-edge").unwrap()[0].address;
    assert_eq!(
        spec.addresses[0].value,
        AddressSpec::FromPool {
            pool: Spanned::unplaced(name("loopback")),
            address: Some(allocated),
        }
    );
    assert_eq!(zero_downtime(&ObservedState::default(), &steps), Ok(()));
    assert!(plan(&example, &apply_to(&ObservedState::default(), &steps)).is_empty());
}

#[test]
fn the_first_apply_builds_everything_in_order() {
    let example = example_repo();
    let kinds: Vec<String> = plan(&example, &ObservedState::default())
        .steps
        .iter()
        .map(|s| {
            format!("{s:?}")
                .split([' ', '{'])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let mut deduped = kinds.clone();
    deduped.dedup();
    assert_eq!(
        deduped,
        [
            "PutCertificate",
            "CreatePool",
            "AddTargets",
            "CreatePool",
            "AddTargets",
            "CreatePool",
            "AddTargets",
            "CreatePool",
            "AddTargets",
            "WaitHealthy",
            "PutLoadBalancer"
        ]
        .map(str::to_owned),
        "{kinds:?}"
    );
}

// ---- apply_to and observed_from ----

#[test]
fn apply_to_follows_each_target_through_its_health_states() {
    let desired = catalog(&[("lb.yaml", &web("{pool: web-canary}")), ("c.yaml", CANARY)]);
    let empty = ObservedState::default();
    let steps = plan(&desired, &empty).steps;
    let health_after = |n: usize| {
        let state = apply_to(&empty, &steps[..n]);
        state.pools["web-canary"]
            .targets
            .iter()
            .map(|t| t.health)
            .collect::<Vec<_>>()
    };
    assert_eq!(health_after(1), []);
    assert_eq!(health_after(2), [Health::Unknown]);
    assert_eq!(health_after(3), [Health::Healthy]);
    assert_eq!(apply_to(&empty, &steps), observed_from(&desired));

    let gone = plan(&Catalog::default(), &observed_from(&desired)).steps;
    assert_eq!(apply_to(&observed_from(&desired), &gone), empty);
    let drain = [Step::DrainTargets {
        pool: name("web-canary"),
        targets: vec![addr("127.0.0.1:9003")],
        timeout: Duration::from_secs(30),
    }];
    let drained = apply_to(&observed_from(&desired), &drain);
    assert_eq!(
        drained.pools["web-canary"].targets[0].health,
        Health::Draining
    );
    assert_eq!(
        drained.pools["web-canary"].spec.targets,
        [],
        "out of the configuration"
    );
}

#[test]
fn observed_from_runs_every_target_healthy_and_hashes_chains() {
    let site = tls_site("web", CHAIN_2026);
    let observed = observed_from(&site);
    assert_eq!(observed.version, 0);
    assert!(observed.pools["web-stable"]
        .targets
        .iter()
        .all(|t| t.health == Health::Healthy && !t.backup));
    assert_eq!(
        observed.certificates["web"],
        ObservedCertificate {
            chain_sha256: sha256_hex(CHAIN_2026),
            key: KeyRef::File("/etc/lbops/keys/web.key".to_owned()),
        }
    );
    assert_eq!(
        sha256_hex("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

// ---- display ----

#[test]
fn a_plan_reads_as_numbered_lines() {
    let before = tls_site("web-2026", CHAIN_2026);
    let (cert_path, cert_yaml) = certificate("web-2027");
    let shrunk = STABLE.replace(
        "    - {address: 127.0.0.1:9001, weight: 1}\n    - {address: 127.0.0.1:9002, weight: 1}\n",
        "    - {address: 127.0.0.1:9001, weight: 3}\n",
    ) + "  backup_targets: [{address: 127.0.0.1:9009}]\n  slow_start: 1m30s\n";
    let after = catalog(&[
        (
            "lb.yaml",
            &web_tls("web-2027").replace(
                "{pool: web-stable}",
                "{pool: web-stable, weight: 9}, {pool: web-canary}",
            ),
        ),
        ("p.yaml", &shrunk),
        ("c.yaml", CANARY),
        (&cert_path, &cert_yaml),
        ("certs/web-2027.pem", CHAIN_2027),
    ]);
    let mut observed = observed_from(&before);
    observed
        .load_balancers
        .insert(name("old"), before.load_balancers["web"].spec.clone());
    observed
        .pools
        .insert(name("retired"), observed.pools["web-stable"].clone());
    let digest = &sha256_hex(CHAIN_2027)[..12];
    let text = plan(&after, &observed).to_string();
    assert_eq!(
        text,
        format!(
            "\
1. certificate/web-2027: put chain sha256:{digest} with private key file:/etc/lbops/keys/web.key
2. pool/web-canary: create (algorithm round_robin, health check tcp every 4s, draining 30s), no targets yet
3. pool/web-canary: add target 127.0.0.1:9003 (weight 1)
4. pool/web-stable: update settings (algorithm round_robin, health check http /healthz every 5s, draining 20s, slow start 1m30s)
5. pool/web-stable: add backup target 127.0.0.1:9009 (weight 1)
6. pool/web-canary: wait until 127.0.0.1:9003 is healthy (at most 24s)
7. pool/web-stable: set weight of 127.0.0.1:9001 to 3
8. loadbalancer/web: put 1 listener (https:8443) on 127.0.10.1
9. pool/web-stable: drain 127.0.0.1:9002 (at most 20s)
10. pool/web-stable: remove target 127.0.0.1:9002
11. loadbalancer/old: delete
12. pool/retired: delete
13. certificate/web-2026: delete"
        )
    );
    assert_eq!(Plan::default().to_string(), "no changes");
}

// ---- the fixpoint, over generated estates ----

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

/// A pool's settings, listed field by field here rather than through the
/// planner's own helper, so that a setting the planner ignores shows.
type Settings = (Algorithm, Option<HealthCheck>, Dur, Option<Dur>);

/// What a state serves, whatever the health, order or duplicate reports
/// of its targets: balancers, pool settings and `address → (weight,
/// backup)`, certificates by digest and key.
type Serves = (
    BTreeMap<Name, LoadBalancerSpec>,
    BTreeMap<Name, (Settings, BTreeMap<TargetAddr, (u32, bool)>)>,
    BTreeMap<Name, (String, KeyRef)>,
);

fn runs(state: &ObservedState) -> Serves {
    let pools = state
        .pools
        .iter()
        .map(|(name, pool)| {
            let spec = &pool.spec;
            let settings = (
                spec.algorithm.clone(),
                spec.health_check.as_ref().map(|h| h.value.clone()),
                spec.draining_timeout,
                spec.slow_start,
            );
            // As the planner reads duplicates: serving over draining, else first.
            let mut targets = BTreeMap::new();
            let serving = pool.targets.iter().filter(|t| t.health != Health::Draining);
            let draining = pool.targets.iter().filter(|t| t.health == Health::Draining);
            for t in serving.chain(draining) {
                targets
                    .entry(t.address.clone())
                    .or_insert((t.weight, t.backup));
            }
            (name.clone(), (settings, targets))
        })
        .collect();
    let certificates = state
        .certificates
        .iter()
        .map(|(name, c)| (name.clone(), (c.chain_sha256.to_lowercase(), c.key.clone())))
        .collect();
    (state.load_balancers.clone(), pools, certificates)
}

/// Replays `steps` on `observed` and fails at the first one that could
/// drop or misroute a request: traffic shifted to targets not yet healthy,
/// a listener naming a certificate or pool that does not run, a target
/// removed without draining, traffic shifted after drains began, or a
/// pool or certificate deleted while a balancer still uses it.
fn zero_downtime(observed: &ObservedState, steps: &[Step]) -> Result<(), String> {
    let mut state = observed.clone();
    let mut added: BTreeSet<(Name, TargetAddr)> = BTreeSet::new();
    let mut draining = false;
    for (i, step) in steps.iter().enumerate() {
        let fail = |why: String| {
            Err(format!(
                "step {} {why}:\n{}",
                i + 1,
                Plan {
                    steps: steps.to_vec()
                }
            ))
        };
        match step {
            Step::CreatePool { name, spec } => {
                if state.pools.contains_key(name)
                    || !spec.targets.is_empty()
                    || !spec.backup_targets.is_empty()
                {
                    return fail(format!("creates pool/{name} with targets, or again"));
                }
            }
            Step::AddTargets {
                pool,
                targets,
                backup,
            } => {
                let Some(running) = state.pools.get(pool) else {
                    return fail(format!("adds to pool/{pool} that does not run"));
                };
                for t in targets {
                    let live = running
                        .targets
                        .iter()
                        .any(|r| r.address == t.address.value && r.health != Health::Draining);
                    if live {
                        return fail(format!(
                            "adds {} to pool/{pool} where it runs already",
                            t.address.value
                        ));
                    }
                    if !backup {
                        added.insert((pool.clone(), t.address.value.clone()));
                    }
                }
            }
            Step::WaitHealthy { pool, targets, .. } => {
                let running = state.pools.get(pool).map_or(&[][..], |p| &p.targets);
                if let Some(t) = targets
                    .iter()
                    .find(|t| !running.iter().any(|r| r.address == **t))
                {
                    return fail(format!("waits for {t} that pool/{pool} does not run"));
                }
            }
            Step::SetWeights { .. } | Step::PutLoadBalancer { .. } => {
                if draining {
                    return fail("shifts traffic after a drain began".to_owned());
                }
                for (pool, address) in &added {
                    let health = state
                        .pools
                        .get(pool)
                        .and_then(|p| p.targets.iter().find(|t| t.address == *address))
                        .map(|t| t.health);
                    if health != Some(Health::Healthy) {
                        return fail(format!(
                            "shifts traffic while pool/{pool} {address} is not healthy yet"
                        ));
                    }
                }
                if let Step::PutLoadBalancer { name, spec } = step {
                    if let Some(pool) = forwarded_pools(spec)
                        .into_iter()
                        .find(|p| !state.pools.contains_key(*p))
                    {
                        return fail(format!(
                            "points loadbalancer/{name} at pool/{pool} that does not run"
                        ));
                    }
                    if let Some(c) = named_certificates(spec)
                        .into_iter()
                        .find(|c| !state.certificates.contains_key(*c))
                    {
                        return fail(format!(
                            "names certificate/{c} that does not run in loadbalancer/{name}"
                        ));
                    }
                }
            }
            Step::DrainTargets { .. } => draining = true,
            Step::RemoveTargets { pool, targets } => {
                let running = state.pools.get(pool).map_or(&[][..], |p| &p.targets);
                for t in targets {
                    if !running
                        .iter()
                        .any(|r| r.address == *t && r.health == Health::Draining)
                    {
                        return fail(format!("removes {t} from pool/{pool} without draining it"));
                    }
                }
            }
            Step::DeletePool { name } => {
                if let Some((lb, _)) = state
                    .load_balancers
                    .iter()
                    .find(|(_, spec)| forwarded_pools(spec).contains(&name))
                {
                    return fail(format!(
                        "deletes pool/{name} while loadbalancer/{lb} still forwards to it"
                    ));
                }
            }
            Step::DeleteCertificate { name } => {
                if let Some((lb, _)) = state
                    .load_balancers
                    .iter()
                    .find(|(_, spec)| named_certificates(spec).contains(&name))
                {
                    return fail(format!(
                        "deletes certificate/{name} while loadbalancer/{lb} still names it"
                    ));
                }
            }
            Step::PutCertificate { .. }
            | Step::UpdatePoolSettings { .. }
            | Step::DeleteLoadBalancer { .. } => {}
        }
        state = apply_to(&state, std::slice::from_ref(step));
    }
    Ok(())
}

fn actions(spec: &LoadBalancerSpec) -> impl Iterator<Item = &Action> {
    spec.listeners.iter().flat_map(|l| {
        let routes = l.routes.iter().map(|r| &r.action.value);
        routes.chain(l.default_action.iter().map(|a| &a.value))
    })
}

fn forwarded_pools(spec: &LoadBalancerSpec) -> Vec<&Name> {
    actions(spec)
        .flat_map(|action| match action {
            Action::Forward(forward) => forward.pools.iter().map(|p| &p.pool.value).collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn named_certificates(spec: &LoadBalancerSpec) -> Vec<&Name> {
    spec.listeners
        .iter()
        .flat_map(|l| {
            l.tls
                .iter()
                .flat_map(|tls| tls.certificates.iter().map(|c| &c.value))
        })
        .collect()
}

/// xorshift64*: deterministic, dependency-free, varied enough for cases.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
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
fn random_catalog(rng: &mut Rng) -> Catalog {
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
