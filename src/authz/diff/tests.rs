//! `changes` on edits a commit makes to the example repository: each
//! classification, and what is not a change.

use super::super::fixture::{added, edited, trusted};
use super::changes;
use crate::spec::Catalog;

/// `action resource: detail` for each change, in order.
fn lines(candidate: &Catalog) -> Vec<String> {
    changes(&trusted(), candidate)
        .iter()
        .map(|c| {
            let resource = c
                .resource
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            format!("{} {resource}: {}", c.action.name, c.detail)
        })
        .collect()
}

const WEB: &str = "pools/web.yaml";
const LB: &str = "balancers/web.yaml";

#[test]
fn the_same_repository_has_no_changes() {
    assert!(changes(&trusted(), &trusted()).is_empty());
}

#[test]
fn moved_lines_comments_and_key_order_are_no_change() {
    let candidate = edited(&[
        (
            WEB,
            "    - address: 127.0.0.1:9001\n      weight: 1\n",
            "    # a comment\n\n    - weight: 1\n      address: 127.0.0.1:9001\n",
        ),
        (
            "pools/db.yaml",
            "  draining_timeout: 5m\n",
            "\n\n  draining_timeout: 5m # same\n",
        ),
    ]);
    assert_eq!(lines(&candidate), Vec::<String>::new());
}

#[test]
fn an_allocation_only_difference_is_no_change() {
    let mut candidate = trusted();
    candidate.allocation = Default::default();
    assert_ne!(candidate.allocation, trusted().allocation);
    assert!(changes(&trusted(), &candidate).is_empty());
}

#[test]
fn a_weight_edit_is_a_weights_update_only() {
    let candidate = edited(&[(
        WEB,
        "    - address: 127.0.0.1:9002\n      weight: 1\n",
        "    - address: 127.0.0.1:9002\n      weight: 3\n",
    )]);
    assert_eq!(
        lines(&candidate),
        ["pool.weights.update pool/web-stable: weight of 127.0.0.1:9002 1 → 3"]
    );
    let change = &changes(&trusted(), &candidate)[0];
    assert_eq!(change.labels_before, change.labels_after);
    assert_eq!(change.labels_after.as_ref().unwrap()["team"], "web");
}

#[test]
fn targets_added_removed_replaced_or_moved_are_a_targets_update() {
    let candidate = edited(&[(
        WEB,
        "    - address: 127.0.0.1:9002\n      weight: 1\n  backup_targets:\n    - address: 127.0.0.1:9009",
        "    - address: 127.0.0.1:9004\n      weight: 1\n  backup_targets:\n    - address: 127.0.0.1:9002",
    )]);
    assert_eq!(
        lines(&candidate),
        [
            "pool.targets.update pool/web-stable: target 127.0.0.1:9002 moved to backup targets; \
          backup target 127.0.0.1:9009 removed; target 127.0.0.1:9004 added (weight 1)"
        ]
    );
}

#[test]
fn reordered_targets_are_still_a_targets_update() {
    let candidate = edited(&[(
        "pools/web.yaml",
        "    - address: 127.0.0.1:9101\n    - address: 127.0.0.1:9102\n",
        "    - address: 127.0.0.1:9102\n    - address: 127.0.0.1:9101\n",
    )]);
    assert_eq!(
        lines(&candidate),
        ["pool.targets.update pool/web-api: targets reordered"]
    );
}

#[test]
fn health_check_algorithm_settings_and_labels_each_have_their_action() {
    let candidate = edited(&[
        (
            WEB,
            "    interval: 5s\n    timeout: 2s\n    healthy_threshold: 2",
            "    interval: 10s\n    timeout: 2s\n    healthy_threshold: 2",
        ),
        (
            WEB,
            "  algorithm: least_requests\n",
            "  algorithm: round_robin\n",
        ),
        (WEB, "  slow_start: 30s\n", ""),
        (WEB, "  draining_timeout: 30s\n", "  draining_timeout: 1m\n"),
        (
            WEB,
            "name: web-stable\nlabels:\n  team: web\n",
            "name: web-stable\nlabels:\n  team: web\n  tier: gold\n",
        ),
        (WEB, "      header: x-user-id", "      header: x-session"),
    ]);
    assert_eq!(
        lines(&candidate),
        [
            "pool.algorithm.update pool/web-api: algorithm consistent_hash on header x-user-id → consistent_hash on header x-session",
            "pool.health_check.update pool/web-stable: health check interval 5s → 10s",
            "pool.algorithm.update pool/web-stable: algorithm least_requests → round_robin",
            "pool.settings.update pool/web-stable: draining timeout 30s → 60s; slow start 30s → default",
            "pool.labels.update pool/web-stable: label tier=gold added",
        ]
    );
}

#[test]
fn pools_created_and_deleted() {
    let candidate = edited(&[
        ("pools/db.yaml", "name: db\n", "name: db2\n"),
        (
            "balancers/db.yaml",
            "pools: [{pool: db}]\n    - name: postgres-tls",
            "pools: [{pool: db2}]\n    - name: postgres-tls",
        ),
        (
            "balancers/db.yaml",
            "pools: [{pool: db}]\n",
            "pools: [{pool: db2}]\n",
        ),
    ]);
    let found = changes(&trusted(), &candidate);
    let pools: Vec<String> = found
        .iter()
        .filter(|c| c.action.name.starts_with("pool."))
        .map(|c| {
            format!(
                "{} {}: {}",
                c.action.name,
                c.resource.as_ref().unwrap(),
                c.detail
            )
        })
        .collect();
    assert_eq!(
        pools,
        [
            "pool.delete pool/db: deleted (with 1 target)",
            "pool.create pool/db2: created with 1 target",
        ]
    );
    let created = found
        .iter()
        .find(|c| c.action.name == "pool.create")
        .unwrap();
    assert_eq!(created.labels_before, None);
    assert_eq!(created.labels_after.as_ref().unwrap()["team"], "data");
    let deleted = found
        .iter()
        .find(|c| c.action.name == "pool.delete")
        .unwrap();
    assert_eq!(deleted.labels_after, None);
}

#[test]
fn balancer_routes_tls_listeners_and_addresses() {
    let candidate = edited(&[
        (
            LB,
            "                  weight: 90",
            "                  weight: 50",
        ),
        (
            LB,
            "          - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n",
            "",
        ),
        (
            LB,
            "      port: 8080\n",
            "      port: 8081\n      idle_timeout: 1m\n",
        ),
        (
            LB,
            "      address: 127.0.10.1 ",
            "      address: 127.0.10.2 ",
        ),
        (LB, "          priority: 20\n", "          priority: 30\n"),
    ]);
    assert_eq!(
        lines(&candidate),
        [
            "loadbalancer.listeners.update loadbalancer/web: listener `http` port 8080 → 8081; listener `http` idle timeout default → 60s",
            "loadbalancer.routes.update loadbalancer/web: route `api` priority 20 → 30; route `www` forward to web-stable×90, web-canary×10 → forward to web-stable×50, web-canary×10",
            "loadbalancer.tls.update loadbalancer/web: listener `https` ciphers −TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "loadbalancer.addresses.update loadbalancer/web: addresses +127.0.10.2 from loopback −127.0.10.1 from loopback",
        ]
    );
}

#[test]
fn turning_session_resumption_off_and_on_is_a_tls_update() {
    let min_version = "        min_version: \"1.2\"\n";
    let off = edited(&[(
        LB,
        min_version,
        &format!("{min_version}        resumption: false\n"),
    )]);
    assert_eq!(
        lines(&off),
        ["loadbalancer.tls.update loadbalancer/web: listener `https` TLS session resumption off"]
    );
    assert_eq!(
        changes(&off, &trusted())
            .iter()
            .map(|c| format!("{} {}", c.action.name, c.detail))
            .collect::<Vec<_>>(),
        ["loadbalancer.tls.update listener `https` TLS session resumption on"]
    );
    // Saying the default is no change.
    let explicit = edited(&[(
        LB,
        min_version,
        &format!("{min_version}        resumption: true\n"),
    )]);
    assert_eq!(lines(&explicit), Vec::<String>::new());
}

#[test]
fn route_retries_are_a_routes_update() {
    let api_forward = "                - pool: web-api\n";
    let with =
        |attempts: u32| format!("{api_forward}          retries: {{attempts: {attempts}}}\n");
    let candidate = edited(&[(LB, api_forward, &with(2))]);
    assert_eq!(
        lines(&candidate),
        ["loadbalancer.routes.update loadbalancer/web: route `api` retries none → 2 attempts"]
    );
    let more = edited(&[(LB, api_forward, &with(3))]);
    assert_eq!(
        changes(&candidate, &more)
            .iter()
            .map(|c| format!("{} {}", c.action.name, c.detail))
            .collect::<Vec<_>>(),
        ["loadbalancer.routes.update route `api` retries 2 attempts → 3 attempts"]
    );
}

#[test]
fn a_new_listener_needs_the_actions_of_everything_it_brings() {
    let candidate = edited(&[(
        LB,
        "  listeners:\n",
        "  listeners:\n    - name: alt\n      protocol: https\n      port: 9443\n      tls: {certificates: [wildcard-example-test]}\n      routes:\n        - {name: all, priority: 1, action: {forward: {pools: [{pool: db}]}}}\n",
    )]);
    assert_eq!(
        lines(&candidate),
        [
            "loadbalancer.listeners.update loadbalancer/web: listener `alt` (https:9443) added",
            "loadbalancer.routes.update loadbalancer/web: listener `alt` route `all` added: forward to db×1",
            "loadbalancer.tls.update loadbalancer/web: listener `alt` TLS set: certificates wildcard-example-test, minimum 1.2",
        ]
    );
}

#[test]
fn balancers_created_and_deleted() {
    let candidate = edited(&[("balancers/db.yaml", "name: db-edge\n", "name: db-edge2\n")]);
    assert_eq!(
        lines(&candidate),
        [
            "loadbalancer.delete loadbalancer/db-edge: deleted (with listeners `postgres` (tcp:5432), `postgres-tls` (tls:6432))",
            "loadbalancer.create loadbalancer/db-edge2: created with listeners `postgres` (tcp:5432), `postgres-tls` (tls:6432)",
        ]
    );
}

#[test]
fn certificate_key_reference_is_a_rotation_and_labels_their_own() {
    let candidate = edited(&[(
        "certificates/wildcard-example-test.yaml",
        "  team: web\nspec:\n  chain_file: wildcard-example-test.pem   # leaf first, then the intermediate\n  private_key:\n    file: /etc/lbops/keys/wildcard-example-test.key",
        "  team: edge\nspec:\n  chain_file: wildcard-example-test.pem\n  private_key:\n    env: WILDCARD_KEY",
    )]);
    assert_eq!(
        lines(&candidate),
        [
            "certificate.rotate certificate/wildcard-example-test: private key file /etc/lbops/keys/wildcard-example-test.key → env WILDCARD_KEY",
            "certificate.labels.update certificate/wildcard-example-test: label team web → edge",
        ]
    );
}

#[test]
fn address_pool_cidrs_are_an_update() {
    let candidate = edited(&[(
        "addresspools/loopback.yaml",
        "    - fd00:10::/120\n",
        "    - fd00:10::/120\n    - 127.0.11.0/28\n",
    )]);
    assert_eq!(
        lines(&candidate),
        ["addresspool.update addresspool/loopback: cidrs +127.0.11.0/28"]
    );
}

#[test]
fn access_kinds_each_have_one_update_action() {
    let candidate = edited(&[
        (
            "access/users.yaml",
            "  roles: [auditor]",
            "  roles: [auditor, sre-admin]",
        ),
        (
            "access/roles.yaml",
            "      resources: [\"pool/*\"]",
            "      resources: [\"pool/*\", \"loadbalancer/*\"]",
        ),
        (
            "access/groups.yaml",
            "  roles: [web-oncall]",
            "  roles: [web-oncall, auditor]",
        ),
        (
            "access/service-accounts.yaml",
            "  owner: alice",
            "  owner: bob",
        ),
    ]);
    assert_eq!(
        lines(&candidate),
        [
            "access.roles.update role/web-oncall: rule 1 pool.weights.update,pool.targets.update on pool/* when team=web → pool.weights.update,pool.targets.update on pool/*,loadbalancer/* when team=web",
            "access.users.update user/carol: roles +sre-admin",
            "access.groups.update group/web-team: roles +auditor",
            "access.serviceaccounts.update serviceaccount/deploy-bot: owner alice → bob",
        ]
    );
}

const HASH: &str = "sha256:0057f0d09cace7c71e89bd66d1166cbe24de9006a935a734cde61fcdb5956ea2";
const OTHER_HASH: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

#[test]
fn tokens_issued_replaced_and_revoked() {
    let sa = "access/service-accounts.yaml";
    let issued = edited(&[(
        sa,
        "      scopes: [state.read, pool.weights.update]\n",
        &format!("      scopes: [state.read, pool.weights.update]\n    - name: deploy\n      hash: {OTHER_HASH}\n      expires: 2027-01-01\n"),
    )]);
    assert_eq!(
        lines(&issued),
        ["access.tokens.issue serviceaccount/deploy-bot: token `deploy` issued (expires 2027-01-01, scopes [])"]
    );
    let replaced = edited(&[(sa, HASH, OTHER_HASH)]);
    assert_eq!(
        lines(&replaced),
        ["access.tokens.issue serviceaccount/deploy-bot: token `ci` replaced (new hash)"]
    );
    let scoped = edited(&[(sa, "[state.read, pool.weights.update]", "[state.read]")]);
    assert_eq!(
        lines(&scoped),
        ["access.tokens.issue serviceaccount/deploy-bot: token `ci` scopes −pool.weights.update"]
    );
    let revoked = edited(&[(
        sa,
        &format!("  tokens:\n    - name: ci\n      hash: {HASH}\n      expires: 2027-11-25\n      scopes: [state.read, pool.weights.update]\n"),
        "",
    )]);
    assert_eq!(
        lines(&revoked),
        ["access.tokens.revoke serviceaccount/deploy-bot: token `ci` revoked"]
    );
    for change in changes(&trusted(), &replaced) {
        assert!(!change.detail.contains("sha256"), "{}", change.detail);
    }
}

#[test]
fn a_service_account_created_with_a_token_issues_it() {
    let candidate = added(
        "access/bot2.yaml",
        &format!("kind: ServiceAccount\nname: bot2\nspec:\n  owner: alice\n  tokens:\n    - {{name: ci, hash: \"{OTHER_HASH}\", expires: 2027-01-01}}\n"),
    );
    assert_eq!(
        lines(&candidate),
        [
            "access.serviceaccounts.update serviceaccount/bot2: created owned by alice",
            "access.tokens.issue serviceaccount/bot2: token `ci` issued (expires 2027-01-01, scopes [])",
        ]
    );
}

#[test]
fn changes_come_in_kind_then_name_then_catalogue_order() {
    let candidate = edited(&[
        (
            "access/users.yaml",
            "  roles: [auditor]",
            "  roles: [sre-admin]",
        ),
        (WEB, "  slow_start: 30s\n", ""),
        (
            WEB,
            "name: web-stable\nlabels:\n  team: web\n",
            "name: web-stable\nlabels:\n  team: data\n",
        ),
        (
            WEB,
            "      weight: 1\n    - address: 127.0.0.1:9002",
            "      weight: 2\n    - address: 127.0.0.1:9002",
        ),
        (
            LB,
            "                  weight: 90",
            "                  weight: 50",
        ),
    ]);
    let order: Vec<String> = changes(&trusted(), &candidate)
        .iter()
        .map(|c| format!("{} {}", c.action.name, c.resource.as_ref().unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            "loadbalancer.routes.update loadbalancer/web",
            "pool.weights.update pool/web-stable",
            "pool.settings.update pool/web-stable",
            "pool.labels.update pool/web-stable",
            "access.users.update user/carol",
        ]
    );
    let relabelled = changes(&trusted(), &candidate);
    let weights = relabelled
        .iter()
        .find(|c| c.action.name == "pool.weights.update")
        .unwrap();
    assert_eq!(weights.labels_before.as_ref().unwrap()["team"], "web");
    assert_eq!(weights.labels_after.as_ref().unwrap()["team"], "data");
}

#[test]
fn an_equal_length_body_change_shows_what_changed() {
    let candidate = edited(&[(
        LB,
        "Checkout is down for maintenance; back at 06:00 UTC.",
        "Checkout is down for maintenance; back at 09:00 UTC.",
    )]);
    let lines = lines(&candidate);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert!(
        line.starts_with("loadbalancer.routes.update loadbalancer/web:"),
        "{line}"
    );
    assert!(
        line.ends_with(r#"body from character 44: "6:00 UTC.\n" → "9:00 UTC.\n""#),
        "{line}"
    );
    // The digests differ too, for a body too long to quote.
    let digests: Vec<&str> = line.split("sha256 ").skip(1).map(|d| &d[..12]).collect();
    assert_eq!(digests.len(), 2, "{line}");
    assert_ne!(digests[0], digests[1], "{line}");
}
