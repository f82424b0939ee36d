//! One test per kind of change, asserting the exact ordered steps, each
//! with a twin that proves the unsafe order is refused.

use super::replay::*;
use super::*;

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

// ---- targets no health check has passed yet ----

/// `before` as a provider reports it when `unconfirmed`'s health check
/// has not passed yet: a wait that timed out, or a restart while ELBv2
/// still says `initial`.
fn with_unchecked(before: &Catalog, pool: &str, unconfirmed: &str) -> ObservedState {
    let mut observed = observed_from(before);
    let running = observed.pools.get_mut(pool).expect("the pool runs");
    for target in &mut running.targets {
        if target.address == addr(unconfirmed) {
            target.health = Health::Unknown;
        }
    }
    observed
}

#[test]
fn a_target_no_check_has_passed_is_waited_for_again_before_traffic_leaves_the_others() {
    let before = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", STABLE)]);
    let shrunk = STABLE.replace("    - {address: 127.0.0.1:9001, weight: 1}\n", "");
    let after = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", &shrunk)]);
    let observed = with_unchecked(&before, "web-stable", "127.0.0.1:9002");
    assert_eq!(
        plan(&after, &observed).steps,
        [
            Step::WaitHealthy {
                pool: name("web-stable"),
                targets: vec![addr("127.0.0.1:9002")],
                timeout: Duration::from_secs(30),
            },
            Step::DrainTargets {
                pool: name("web-stable"),
                targets: vec![addr("127.0.0.1:9001")],
                timeout: Duration::from_secs(20),
            },
            Step::RemoveTargets {
                pool: name("web-stable"),
                targets: vec![addr("127.0.0.1:9001")],
            },
        ]
    );
    // Its twin: once the check passed, the same change drains at once.
    let steps = plan(&after, &observed_from(&before)).steps;
    assert!(
        !steps.iter().any(|s| matches!(s, Step::WaitHealthy { .. })),
        "{steps:#?}"
    );
}

#[test]
fn an_unchecked_target_alone_is_no_change_and_without_a_health_check_is_never_awaited() {
    let before = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", STABLE)]);
    let observed = with_unchecked(&before, "web-stable", "127.0.0.1:9002");
    assert_eq!(plan(&before, &observed).steps, []);

    let unchecked = |text: &str| {
        text.replace(
            "  health_check:\n    probe: {http: {path: /healthz}}\n    interval: 5s\n    timeout: 2s\n",
            "",
        )
    };
    let before = catalog(&[
        ("lb.yaml", &web("{pool: web-stable}")),
        ("p.yaml", &unchecked(STABLE)),
    ]);
    let shrunk = unchecked(STABLE).replace("    - {address: 127.0.0.1:9001, weight: 1}\n", "");
    let after = catalog(&[("lb.yaml", &web("{pool: web-stable}")), ("p.yaml", &shrunk)]);
    let observed = with_unchecked(&before, "web-stable", "127.0.0.1:9002");
    let steps = plan(&after, &observed).steps;
    assert!(
        !steps.iter().any(|s| matches!(s, Step::WaitHealthy { .. })),
        "{steps:#?}"
    );
}
