//! ELBv2's limits as a reviewer reads them: a repository AWS can run that
//! asks for nothing refused, then one change per limit, each refused at the
//! line it is written on; a balancer not on AWS is not checked, and its
//! twin on AWS is.

use super::*;
use crate::spec::{load, Options, SourceFile};

/// 2026-11-26, 00:00 UTC: the example chain is valid (until 2046).
const NOW: i64 = 1_795_651_200;

const CHAIN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/repo/certificates/wildcard-example-test.pem"
));

/// An ALB `web` (a redirect to HTTPS; routes with a fixed response, a
/// canary forward and a redirect) and an NLB `db`, with their pools.
const BASE: &str = r#"kind: LoadBalancer
name: web
spec:
  listeners:
    - name: http
      protocol: http
      port: 80
      default_action:
        redirect: {status: 301, to: "https://{host}{path}?{query}"}
    - name: https
      protocol: https
      port: 443
      tls: {certificates: [site], min_version: "1.3"}
      routes:
        - name: maintenance
          priority: 10
          match: {path: {prefix: /checkout}}
          action:
            fixed_response: {status: 503, content_type: text/html, body: "<p>back soon</p>"}
        - name: api
          priority: 20
          match:
            host: api.example.test
            path: {exact: /v1}
            methods: [GET, POST]
            headers: [{name: x-canary}]
          action:
            forward:
              pools:
                - {pool: web-stable, weight: 90}
                - {pool: web-canary, weight: 10}
        - name: old
          priority: 30
          match: {host: old.example.test}
          action:
            redirect: {status: 302, to: "https://www.example.test:8443/new{path}"}
      default_action:
        fixed_response: {status: 404}
---
kind: LoadBalancer
name: db
spec:
  addresses: [203.0.113.20]
  listeners:
    - name: postgres
      protocol: tcp
      port: 5432
      default_action: {forward: {pools: [{pool: db}]}}
---
kind: Pool
name: web-stable
spec:
  algorithm: least_requests
  targets:
    - address: 10.0.1.1:8080
    - address: 10.0.1.2:8080
  health_check:
    probe: {http: {path: /healthz, expected_codes: [200, 204]}}
    interval: 10s
    timeout: 5s
  draining_timeout: 30s
---
kind: Pool
name: web-canary
spec:
  targets:
    - address: 10.0.1.3:8080
  health_check:
    probe: {http: {path: /healthz}}
  slow_start: 30s
---
kind: Pool
name: db
spec:
  targets:
    - address: 10.0.2.1:5432
  health_check:
    probe: tcp
    interval: 10s
    timeout: 5s
  draining_timeout: 5m
---
kind: Certificate
name: site
spec:
  chain_file: site.pem
  private_key: {file: /etc/lbops/keys/site.key}
"#;

fn name(text: &str) -> Name {
    text.parse().unwrap()
}

fn load_repo(yaml: &str) -> Catalog {
    let files = [
        SourceFile::new("repo.yaml", yaml),
        SourceFile::new("site.pem", CHAIN),
    ];
    match load(&files, &Options::at(NOW)) {
        Ok(validated) => validated.catalog,
        Err(invalid) => panic!("test repository is invalid: {:#?}", invalid.diagnostics),
    }
}

fn everything(catalog: &Catalog) -> BTreeSet<Name> {
    catalog.load_balancers.keys().cloned().collect()
}

fn refused(yaml: &str) -> Vec<Diagnostic> {
    let catalog = load_repo(yaml);
    check(&catalog, &everything(&catalog))
}

/// `BASE` with each `(from, to)` replaced; `from` must occur exactly once.
fn base_with(edits: &[(&str, &str)]) -> String {
    let mut yaml = BASE.to_owned();
    for (from, to) in edits {
        assert_eq!(yaml.matches(from).count(), 1, "`{from}` in BASE");
        yaml = yaml.replacen(from, to, 1);
    }
    yaml
}

/// The 1-based line where `text`, which occurs once in `yaml`, starts.
fn line_of(yaml: &str, text: &str) -> u32 {
    assert_eq!(yaml.matches(text).count(), 1, "`{text}` should occur once");
    let start = yaml.find(text).unwrap_or_default();
    u32::try_from(yaml[..start].matches('\n').count() + 1).unwrap()
}

/// The line of the `kind:` that starts the document of `kind` named `resource`.
fn document_line(yaml: &str, kind: Kind, resource: &str) -> u32 {
    line_of(
        yaml,
        &format!("kind: {}\nname: {resource}\n", kind.as_str()),
    )
}

/// Asserts that `diagnostics` is one refusal about `resource`, on the line
/// holding `line`, whose message contains `fragment`.
#[track_caller]
fn assert_one(diagnostics: &[Diagnostic], kind: Kind, resource: &str, line: u32, fragment: &str) {
    let [d] = diagnostics else {
        panic!("expected one diagnostic, got {diagnostics:#?}");
    };
    assert_eq!(d.code, Code::UnsupportedByProvider, "{d}");
    assert!(d.is_error(), "{d}");
    assert_eq!(d.file, "repo.yaml", "{d}");
    assert_eq!(
        (d.kind, d.name.as_deref()),
        (Some(kind), Some(resource)),
        "{d}"
    );
    assert_eq!(d.line, line, "{d}");
    assert!(d.message.contains(fragment), "`{fragment}` not in: {d}");
    assert!(!d.hint.is_empty(), "{d}");
}

/// Refuses `edits` of `BASE` once, at the line holding `at`.
#[track_caller]
fn assert_refused(edits: &[(&str, &str)], kind: Kind, resource: &str, at: &str, fragment: &str) {
    let yaml = base_with(edits);
    assert_one(
        &refused(&yaml),
        kind,
        resource,
        line_of(&yaml, at),
        fragment,
    );
}

const LB: Kind = Kind::LoadBalancer;
const POOL: Kind = Kind::Pool;

#[test]
fn the_base_repository_asks_nothing_elbv2_cannot_do() {
    assert_eq!(refused(BASE), []);
}

/// `web` asks for an idle timeout, and its pool `web-stable` for a
/// health check faster than ELBv2's.
const ASKS_TOO_MUCH: [(&str, &str); 2] = [
    (
        "      port: 80\n",
        "      port: 80\n      idle_timeout: 2m\n",
    ),
    (
        "    interval: 10s\n    timeout: 5s\n  draining_timeout: 30s",
        "    interval: 1s\n    timeout: 500ms\n  draining_timeout: 30s",
    ),
];

#[test]
fn a_balancer_not_on_aws_is_not_checked_nor_are_its_pools() {
    let yaml = base_with(&ASKS_TOO_MUCH);
    let catalog = load_repo(&yaml);
    assert_eq!(check(&catalog, &BTreeSet::from([name("db")])), []);
    assert_eq!(check(&catalog, &BTreeSet::new()), []);
}

#[test]
fn the_same_balancer_on_aws_is_checked_and_so_are_its_pools() {
    let yaml = base_with(&ASKS_TOO_MUCH);
    let catalog = load_repo(&yaml);
    let found = check(&catalog, &BTreeSet::from([name("web")]));
    let lines: Vec<(Option<&str>, u32)> =
        found.iter().map(|d| (d.name.as_deref(), d.line)).collect();
    assert_eq!(
        lines,
        [
            (Some("web"), line_of(&yaml, "- name: http\n")),
            (Some("web-stable"), line_of(&yaml, "interval: 1s")),
            (Some("web-stable"), line_of(&yaml, "timeout: 500ms")),
        ]
    );
}

#[test]
fn a_balancer_named_on_aws_but_absent_is_no_error() {
    let catalog = load_repo(BASE);
    assert_eq!(check(&catalog, &BTreeSet::from([name("gone")])), []);
}

// Balancers.

#[test]
fn a_balancer_is_an_alb_or_an_nlb_not_both() {
    let listener = "      default_action:\n        fixed_response: {status: 404}\n";
    let raw = "    - name: raw\n      protocol: tcp\n      port: 9000\n      default_action: {forward: {pools: [{pool: web-canary}]}}\n";
    assert_refused(
        &[(listener, &format!("{listener}{raw}"))],
        LB,
        "web",
        "protocol: tcp\n      port: 9000",
        "listener `raw` is `tcp`",
    );
}

#[test]
fn the_minority_listener_is_the_one_refused() {
    // One http listener among two tcp ones: the balancer is an NLB.
    let yaml = base_with(&[(
        "    - name: postgres\n",
        "    - name: web\n      protocol: http\n      port: 80\n      default_action: {fixed_response: {status: 404}}\n    - name: replica\n      protocol: tcp\n      port: 5433\n      default_action: {forward: {pools: [{pool: db}]}}\n    - name: postgres\n",
    )]);
    let found = refused(&yaml);
    let protocol_line = line_of(
        &yaml,
        "protocol: http\n      port: 80\n      default_action: {fixed",
    );
    assert_one(
        &found,
        LB,
        "db",
        protocol_line,
        "mostly an NLB (tcp/tls), but listener `web` is `http`",
    );
}

#[test]
fn an_alb_cannot_hold_addresses() {
    // `db`, an NLB, holds the same kind of address in BASE.
    assert_refused(
        &[(
            "name: web\nspec:\n",
            "name: web\nspec:\n  addresses: [203.0.113.10]\n",
        )],
        LB,
        "web",
        "[203.0.113.10]",
        "cannot hold address 203.0.113.10",
    );
}

#[test]
fn idle_timeout_is_per_balancer_not_per_listener() {
    assert_refused(
        &[(
            "      port: 80\n",
            "      port: 80\n      idle_timeout: 2m\n",
        )],
        LB,
        "web",
        "- name: http\n",
        "listener `http` asks for 120s",
    );
}

#[test]
fn every_listener_needs_a_default_action() {
    assert_refused(
        &[(
            "      default_action:\n        fixed_response: {status: 404}\n",
            "",
        )],
        LB,
        "web",
        "- name: https",
        "default action on every listener; listener `https` has none",
    );
}

#[test]
fn tls_takes_a_named_policy_not_ciphers() {
    assert_refused(
        &[(
            r#"min_version: "1.3"}"#,
            r#"min_version: "1.3", ciphers: [TLS13_AES_128_GCM_SHA256]}"#,
        )],
        LB,
        "web",
        "tls: {certificates: [site]",
        "named security policy, not a list of ciphers",
    );
}

#[test]
fn tls_session_resumption_cannot_be_turned_off() {
    assert_refused(
        &[(
            r#"min_version: "1.3"}"#,
            r#"min_version: "1.3", resumption: false}"#,
        )],
        LB,
        "web",
        "tls: {certificates: [site]",
        "ELBv2 always offers TLS session resumption; listener `https` turns it off",
    );
}

#[test]
fn a_route_needs_a_condition() {
    assert_refused(
        &[("          match: {path: {prefix: /checkout}}\n", "")],
        LB,
        "web",
        "- name: maintenance",
        "at least one condition; route `maintenance`",
    );
}

#[test]
fn a_route_takes_at_most_five_condition_values() {
    // host 1 + prefix path 2 + methods 2 + header 1 = 6.
    assert_refused(
        &[("{exact: /v1}", "{prefix: /v1}")],
        LB,
        "web",
        "- name: api",
        "route `api` has 6",
    );
    // The base's api route has exactly five.
    assert_eq!(
        refused(&base_with(&[("{exact: /v1}", "{exact: /v1/}")])),
        []
    );
}

#[test]
fn the_root_prefix_is_one_condition_value() {
    assert_eq!(refused(&base_with(&[("{exact: /v1}", "{prefix: /}")])), []);
}

#[test]
fn header_values_cannot_hold_wildcards() {
    for value in ["\"*\"", "\"a*b\"", "\"v?\""] {
        assert_refused(
            &[(
                "{name: x-canary}",
                &format!("{{name: x-canary, value: {value}}}"),
            )],
            LB,
            "web",
            "headers: [{name: x-canary",
            "the value of header `x-canary` has them",
        );
    }
    assert_eq!(
        refused(&base_with(&[(
            "{name: x-canary}",
            "{name: x-canary, value: \"on\"}"
        )])),
        []
    );
}

#[test]
fn paths_cannot_hold_wildcards() {
    assert_refused(
        &[("/checkout}", "/check*out}")],
        LB,
        "web",
        "match: {path:",
        "`*` and `?` in a path",
    );
}

#[test]
fn rule_priorities_are_1_to_50000() {
    for priority in ["0", "50001"] {
        assert_refused(
            &[("priority: 30", &format!("priority: {priority}"))],
            LB,
            "web",
            &format!("priority: {priority}"),
            &format!("route `old` has {priority}"),
        );
    }
    assert_eq!(
        refused(&base_with(&[("priority: 30", "priority: 50000")])),
        []
    );
}

#[test]
fn redirects_are_301_or_302() {
    assert_refused(
        &[("status: 302", "status: 307")],
        LB,
        "web",
        "status: 307",
        "301 or 302 only; this redirect asks for 307",
    );
}

#[test]
fn a_redirect_target_must_be_a_form_elbv2_expresses() {
    assert_refused(
        &[(
            "https://www.example.test:8443/new{path}",
            "https://www.example.test/new{path}#top",
        )],
        LB,
        "web",
        "#top",
        "it takes `SCHEME://HOST[:PORT]PATH[?{query}]`",
    );
}

#[test]
fn a_redirect_does_not_spell_the_default_port() {
    assert_refused(
        &[(
            "https://www.example.test:8443/",
            "https://www.example.test:443/",
        )],
        LB,
        "web",
        "www.example.test:443/",
        "`:443` on an https redirect as no port",
    );
}

#[test]
fn fixed_responses_are_2xx_4xx_or_5xx() {
    for status in ["302", "101"] {
        assert_refused(
            &[("status: 503", &format!("status: {status}"))],
            LB,
            "web",
            &format!("fixed_response: {{status: {status}"),
            &format!("this one asks for {status}"),
        );
    }
}

#[test]
fn fixed_response_bodies_are_at_most_1024_bytes() {
    let long = "x".repeat(1025);
    assert_refused(
        &[("<p>back soon</p>", &long)],
        LB,
        "web",
        "fixed_response: {status: 503",
        "at most 1024 bytes; this one is 1025",
    );
    let exact = "x".repeat(1024);
    assert_eq!(refused(&base_with(&[("<p>back soon</p>", &exact)])), []);
}

#[test]
fn fixed_responses_take_five_content_types_and_the_default() {
    assert_refused(
        &[("content_type: text/html", "content_type: image/png")],
        LB,
        "web",
        "fixed_response: {status: 503",
        "this one is `image/png`",
    );
    for accepted in ["application/json", "\"text/plain; charset=utf-8\""] {
        let yaml = base_with(&[(
            "content_type: text/html",
            &format!("content_type: {accepted}"),
        )]);
        assert_eq!(refused(&yaml), [], "{accepted}");
    }
}

#[test]
fn forward_weights_are_0_to_999() {
    assert_refused(
        &[("weight: 90", "weight: 1000")],
        LB,
        "web",
        "weight: 1000",
        "pool `web-stable` has 1000",
    );
}

#[test]
fn a_forward_splits_between_at_most_five_pools() {
    let six = "                - {pool: web-canary, weight: 10}\n".repeat(5);
    assert_refused(
        &[("                - {pool: web-canary, weight: 10}\n", &six)],
        LB,
        "web",
        "            forward:",
        "this forward lists 6 pools",
    );
}

// Pools an AWS balancer forwards to.

#[test]
fn targets_are_ip_addresses() {
    assert_refused(
        &[("10.0.1.3:8080", "app-3.internal:8080")],
        POOL,
        "web-canary",
        "app-3.internal:8080",
        "names the host `app-3.internal`",
    );
}

#[test]
fn targets_have_no_weights() {
    assert_refused(
        &[(
            "- address: 10.0.1.2:8080",
            "- {address: 10.0.1.2:8080, weight: 2}",
        )],
        POOL,
        "web-stable",
        "weight: 2}",
        "target `10.0.1.2:8080` has weight 2",
    );
}

#[test]
fn pools_have_no_backup_targets() {
    assert_refused(
        &[(
            "    - address: 10.0.2.1:5432\n",
            "    - address: 10.0.2.1:5432\n  backup_targets:\n    - address: 10.0.2.2:5432\n",
        )],
        POOL,
        "db",
        "10.0.2.2:5432",
        "no backup targets; this pool lists 1",
    );
}

#[test]
fn an_alb_pool_cannot_hash() {
    let yaml = base_with(&[(
        "algorithm: least_requests",
        "algorithm: {consistent_hash: source_ip}",
    )]);
    assert_one(
        &refused(&yaml),
        POOL,
        "web-stable",
        document_line(&yaml, POOL, "web-stable"),
        "`consistent_hash`",
    );
    for accepted in ["round_robin", "weighted_random"] {
        let yaml = base_with(&[(
            "algorithm: least_requests",
            &format!("algorithm: {accepted}"),
        )]);
        assert_eq!(refused(&yaml), [], "{accepted}");
    }
}

#[test]
fn an_nlb_pool_only_round_robins() {
    let yaml = base_with(&[(
        "  health_check:\n    probe: tcp\n",
        "  algorithm: least_requests\n  health_check:\n    probe: tcp\n",
    )]);
    assert_one(
        &refused(&yaml),
        POOL,
        "db",
        document_line(&yaml, POOL, "db"),
        "cannot balance with `least_requests`",
    );
}

#[test]
fn pools_need_a_health_check() {
    let yaml = base_with(&[(
        "    - address: 10.0.1.3:8080\n  health_check:\n    probe: {http: {path: /healthz}}\n",
        "    - address: 10.0.1.3:8080\n",
    )]);
    assert_one(
        &refused(&yaml),
        POOL,
        "web-canary",
        document_line(&yaml, POOL, "web-canary"),
        "has no `health_check`",
    );
}

#[test]
fn health_check_intervals_are_5_to_300_whole_seconds() {
    for interval in ["4s", "301s", "5500ms"] {
        assert_refused(
            &[(
                "interval: 10s\n    timeout: 5s\n  draining_timeout: 30s",
                &format!("interval: {interval}\n    timeout: 3s\n  draining_timeout: 30s"),
            )],
            POOL,
            "web-stable",
            &format!("interval: {interval}"),
            "interval must be 5–300 s in whole seconds",
        );
    }
}

#[test]
fn health_check_timeouts_are_2_to_120_whole_seconds() {
    for timeout in ["1s", "2500ms"] {
        assert_refused(
            &[(
                "timeout: 5s\n  draining_timeout: 30s",
                &format!("timeout: {timeout}\n  draining_timeout: 30s"),
            )],
            POOL,
            "web-stable",
            &format!("timeout: {timeout}"),
            "timeout must be 2–120 s in whole seconds",
        );
    }
}

#[test]
fn health_check_thresholds_are_2_to_10() {
    for (field, value) in [("healthy_threshold", 1), ("unhealthy_threshold", 11)] {
        assert_refused(
            &[(
                "    timeout: 5s\n  draining_timeout: 5m",
                &format!("    timeout: 5s\n    {field}: {value}\n  draining_timeout: 5m"),
            )],
            POOL,
            "db",
            &format!("    {field}: {value}"),
            &format!("`{field}` is {value}"),
        );
    }
}

#[test]
fn a_value_left_to_its_default_is_refused_at_the_health_check() {
    // lbops' defaults are within ELBv2's ranges; a default made by code
    // (unplaced) is still reported at the health check, never at 0:0.
    let mut catalog = load_repo(BASE);
    let pool = catalog.pools.get_mut("web-canary").unwrap();
    let hc = pool.spec.health_check.as_mut().unwrap();
    hc.value.unhealthy_threshold = Spanned::unplaced(20);
    let found = check(&catalog, &everything(&catalog));
    let probe = line_of(BASE, "    probe: {http: {path: /healthz}}\n");
    assert_one(
        &found,
        POOL,
        "web-canary",
        probe,
        "`unhealthy_threshold` is 20",
    );
}

#[test]
fn an_alb_pool_is_checked_over_http() {
    let yaml = base_with(&[("    probe: {http: {path: /healthz}}\n", "    probe: tcp\n")]);
    assert_one(
        &refused(&yaml),
        POOL,
        "web-canary",
        line_of(&yaml, "    probe: tcp\n  slow_start"),
        "probes with tcp",
    );
}

#[test]
fn health_checks_expect_200_to_499() {
    assert_refused(
        &[("expected_codes: [200, 204]", "expected_codes: [200, 503]")],
        POOL,
        "web-stable",
        "expected_codes: [200, 503]",
        "this one expects 503",
    );
}

#[test]
fn draining_is_0_to_3600_whole_seconds() {
    for draining in ["2h", "1500ms"] {
        let yaml = base_with(&[(
            "draining_timeout: 5m",
            &format!("draining_timeout: {draining}"),
        )]);
        assert_one(
            &refused(&yaml),
            POOL,
            "db",
            document_line(&yaml, POOL, "db"),
            "deregistration delay must be 0–3600 s",
        );
    }
    assert_eq!(
        refused(&base_with(&[(
            "draining_timeout: 5m",
            "draining_timeout: 0s"
        )])),
        []
    );
}

#[test]
fn slow_start_is_30_to_900_seconds() {
    let yaml = base_with(&[("slow_start: 30s", "slow_start: 10s")]);
    assert_one(
        &refused(&yaml),
        POOL,
        "web-canary",
        document_line(&yaml, POOL, "web-canary"),
        "ELBv2 slow start must be 30–900 s (or off); this pool asks for 10s",
    );
    assert_eq!(
        refused(&base_with(&[("slow_start: 30s", "slow_start: 15m")])),
        []
    );
}

#[test]
fn an_nlb_pool_has_no_slow_start() {
    let yaml = base_with(&[(
        "draining_timeout: 5m",
        "draining_timeout: 5m\n  slow_start: 30s",
    )]);
    assert_one(
        &refused(&yaml),
        POOL,
        "db",
        document_line(&yaml, POOL, "db"),
        "NLB has no slow start",
    );
}

#[test]
fn a_pool_serves_an_alb_or_an_nlb_not_both() {
    // (Without its slow start, which the NLB would refuse as well.)
    let yaml = base_with(&[
        ("[{pool: db}]", "[{pool: web-canary}]"),
        ("  slow_start: 30s\n", ""),
    ]);
    assert_one(
        &refused(&yaml),
        POOL,
        "web-canary",
        document_line(&yaml, POOL, "web-canary"),
        "used by the ALB `web` (http/https) and the NLB `db` (tcp/tls)",
    );
}

#[test]
fn a_pool_serves_one_balancer() {
    let second = "---\nkind: LoadBalancer\nname: shop\nspec:\n  listeners:\n    - name: http\n      protocol: http\n      port: 80\n      default_action: {forward: {pools: [{pool: web-stable}]}}\n";
    let yaml = format!("{BASE}{second}");
    assert_one(
        &refused(&yaml),
        POOL,
        "web-stable",
        document_line(&yaml, POOL, "web-stable"),
        "used by `shop` and `web`",
    );
}

#[test]
fn every_refusal_is_collected_and_reads_well() {
    let yaml = base_with(&[
        (
            "      port: 80\n",
            "      port: 80\n      idle_timeout: 2m\n",
        ),
        ("status: 302", "status: 308"),
        ("weight: 90", "weight: 5000"),
        ("10.0.1.3:8080", "app-3.internal:8080"),
        ("slow_start: 30s", "slow_start: 1h"),
        (
            "draining_timeout: 5m",
            "draining_timeout: 2h\n  slow_start: 1m",
        ),
    ]);
    let found = refused(&yaml);
    for d in &found {
        println!("{d}");
    }
    assert_eq!(found.len(), 7, "{found:#?}");
}

// The redirect form.

fn parts(
    scheme: &str,
    host: &str,
    port: Option<u16>,
    path: &str,
    keep_query: bool,
) -> RedirectParts {
    RedirectParts {
        scheme: scheme.to_owned(),
        host: host.to_owned(),
        port,
        path: path.to_owned(),
        keep_query,
    }
}

#[test]
fn redirect_targets_elbv2_expresses_parse_into_parts() {
    let cases = [
        (
            "https://{host}{path}?{query}",
            parts("https", "{host}", None, "{path}", true),
        ),
        (
            "https://{host}:8443{path}",
            parts("https", "{host}", Some(8443), "{path}", false),
        ),
        (
            "http://www.example.test/",
            parts("http", "www.example.test", None, "/", false),
        ),
        (
            "https://example.test/new{path}",
            parts("https", "example.test", None, "/new{path}", false),
        ),
        (
            "https://example.test:443/a/b.html?{query}",
            parts("https", "example.test", Some(443), "/a/b.html", true),
        ),
        (
            "https://10.0.0.1/",
            parts("https", "10.0.0.1", None, "/", false),
        ),
    ];
    for (to, expected) in cases {
        assert_eq!(parse_redirect(to), Some(expected), "{to}");
    }
}

#[test]
fn redirect_targets_elbv2_cannot_express_are_refused() {
    for to in [
        "",
        "/relative{path}",
        "ftp://example.test/",
        "HTTPS://example.test/",
        "https://example.test",
        "https://{host}",
        "https://bad_host/",
        "https://www.{host}/",
        "https://{host}:/",
        "https://{host}:08443/",
        "https://{host}:0/",
        "https://{host}:70000/",
        "https://{host}:8443",
        "https://{host}path{path}",
        "https://{host}/a{path}/b",
        "https://{host}/{host}",
        "https://{host}/a b",
        "https://{host}/a#top",
        "https://{host}{path}?a=1",
        "https://{host}{path}?{query}&a=1",
        "https://[2001:db8::1]/",
    ] {
        assert_eq!(parse_redirect(to), None, "{to:?} should be refused");
    }
}

// What AWS refuses though moto takes it (issue 14).

#[test]
fn slow_start_cannot_go_with_least_requests_or_weighted_random() {
    for algorithm in ["least_requests", "weighted_random"] {
        let yaml = base_with(&[(
            "  slow_start: 30s\n",
            &format!("  slow_start: 30s\n  algorithm: {algorithm}\n"),
        )]);
        assert_one(
            &refused(&yaml),
            POOL,
            "web-canary",
            document_line(&yaml, POOL, "web-canary"),
            &format!("cannot combine slow start with `{algorithm}`"),
        );
    }
    // Round robin ramps up (BASE), and the other algorithms without it.
    let yaml = base_with(&[("  slow_start: 30s\n", "  algorithm: weighted_random\n")]);
    assert_eq!(refused(&yaml), []);
}

#[test]
fn an_https_listener_cannot_redirect_to_http() {
    assert_refused(
        &[(
            "https://www.example.test:8443/",
            "http://www.example.test:8443/",
        )],
        LB,
        "web",
        "http://www.example.test:8443/",
        "cannot redirect HTTPS to HTTP; listener `https` is https",
    );
    // An http listener may redirect to http.
    let yaml = base_with(&[(
        "https://{host}{path}?{query}",
        "http://www.example.test/new{path}",
    )]);
    assert_eq!(refused(&yaml), []);
}

#[test]
fn a_condition_takes_at_most_three_values() {
    // Without host and header the route has 1 + 4 = 5 values: only the
    // condition's own limit is passed.
    assert_refused(
        &[
            ("            host: api.example.test\n", ""),
            ("            headers: [{name: x-canary}]\n", ""),
            ("methods: [GET, POST]", "methods: [GET, POST, PUT, DELETE]"),
        ],
        LB,
        "web",
        "- name: api",
        "route `api` matches 4 methods, which are one condition",
    );
    let yaml = base_with(&[
        ("            host: api.example.test\n", ""),
        ("methods: [GET, POST]", "methods: [GET, POST, PUT]"),
    ]);
    assert_eq!(refused(&yaml), []);
}

#[test]
fn host_conditions_are_qualified_names_of_at_most_128_characters() {
    for host in ["localhost", "api.example.a1"] {
        assert_refused(
            &[("host: api.example.test", &format!("host: {host}"))],
            LB,
            "web",
            &format!("host: {host}"),
            "need a `.` and only letters after the last one",
        );
    }
    let long = format!("{}.{}.example.test", "a".repeat(60), "b".repeat(60));
    assert_refused(
        &[("host: api.example.test", &format!("host: {long}"))],
        LB,
        "web",
        &format!("host: {long}"),
        "at most 128 characters; route `api` matches a host of 134",
    );
    let yaml = base_with(&[("host: api.example.test", "host: \"*.example.test\"")]);
    assert_eq!(refused(&yaml), []);
}

#[test]
fn path_patterns_are_at_most_128_characters_of_a_fixed_set() {
    // A prefix is sent as `/p` and `/p/*`: 126 characters become 128.
    let fits = format!("/{}", "a".repeat(125));
    assert_eq!(
        refused(&base_with(&[("/checkout}", &format!("{fits}}}"))])),
        []
    );
    let long = format!("/{}", "a".repeat(126));
    assert_refused(
        &[("/checkout}", &format!("{long}}}"))],
        LB,
        "web",
        "match: {path:",
        "path patterns are at most 128 characters; route `maintenance`'s path becomes one of 129",
    );
    for (path, odd) in [
        ("/a%20b", "%"),
        ("/café", "é"),
        ("/a&b", "&"),
        ("/a b", " "),
    ] {
        assert_refused(
            &[("/checkout}", &format!("\"{path}\"}}"))],
            LB,
            "web",
            "match: {path:",
            &format!("has `{odd}`"),
        );
    }
    let yaml = base_with(&[("/checkout}", "\"/a_b-c.d$e/~f'g@h:i+j\"}")]);
    assert_eq!(refused(&yaml), []);
}

#[test]
fn header_names_are_at_most_40_characters_and_not_host() {
    let long = format!("x-{}", "a".repeat(39));
    assert_refused(
        &[("{name: x-canary}", &format!("{{name: {long}}}"))],
        LB,
        "web",
        &long,
        "header names are at most 40 characters",
    );
    assert_refused(
        &[("{name: x-canary}", "{name: Host}")],
        LB,
        "web",
        "{name: Host}",
        "host condition, not a header condition on `Host`",
    );
    let value = "v".repeat(129);
    assert_refused(
        &[(
            "{name: x-canary}",
            &format!("{{name: x-canary, value: {value}}}"),
        )],
        LB,
        "web",
        "{name: x-canary",
        "header values are at most 128 characters",
    );
    let fits = format!("x-{}", "a".repeat(38));
    let yaml = base_with(&[("{name: x-canary}", &format!("{{name: {fits}}}"))]);
    assert_eq!(refused(&yaml), []);
}

#[test]
fn ipv4_targets_are_private_addresses() {
    for public in ["203.0.113.7", "8.8.8.8", "100.128.0.1", "172.32.0.1"] {
        assert_refused(
            &[("10.0.1.3:8080", &format!("{public}:8080"))],
            POOL,
            "web-canary",
            &format!("{public}:8080"),
            "is publicly routable",
        );
    }
    for private in [
        "10.9.9.9",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "100.127.255.254",
    ] {
        let yaml = base_with(&[("10.0.1.3:8080", &format!("{private}:8080"))]);
        assert_eq!(refused(&yaml), [], "{private}");
    }
}

#[test]
fn a_pool_holds_ipv4_or_ipv6_targets_not_both() {
    assert_refused(
        &[(
            "- address: 10.0.1.2:8080",
            "- address: \"[2001:db8::2]:8080\"",
        )],
        POOL,
        "web-stable",
        "[2001:db8::2]:8080",
        "holds IPv4 or IPv6 targets, not both; this pool's first target is IPv4",
    );
    let yaml = base_with(&[("10.0.1.3:8080", "\"[2001:db8::3]:8080\"")]);
    assert_eq!(refused(&yaml), []);
}

// Where the daemon config places a balancer.

fn placed(yaml: &str, edit: impl FnOnce(&mut AwsConfig)) -> Vec<Diagnostic> {
    let catalog = load_repo(yaml);
    let mut config = crate::provider::aws::testing::config(&["web", "db"], None);
    edit(&mut config);
    let mut out = check(&catalog, &everything(&catalog));
    out.extend(check_placed(&catalog, &config, &everything(&catalog)));
    out
}

/// `db` with two addresses, as its two subnets need.
fn two_addresses() -> String {
    base_with(&[(
        "addresses: [203.0.113.20]",
        "addresses: [203.0.113.20, 203.0.113.21]",
    )])
}

#[test]
fn the_base_repository_fits_two_subnets_internet_facing() {
    assert_eq!(placed(&two_addresses(), |_| {}), []);
}

#[test]
fn an_nlb_takes_one_address_per_subnet() {
    let found = placed(BASE, |_| {});
    assert_one(
        &found,
        LB,
        "db",
        line_of(BASE, "[203.0.113.20]"),
        "this balancer has 1 address(es) and the daemon config gives it 2 subnet(s)",
    );
}

#[test]
fn an_internal_nlb_cannot_hold_elastic_ips() {
    let yaml = two_addresses();
    let found = placed(&yaml, |c| {
        c.balancers.get_mut("db").unwrap().scheme = Scheme::Internal;
    });
    assert_one(
        &found,
        LB,
        "db",
        line_of(&yaml, "[203.0.113.20,"),
        "internal ELBv2 NLB has private addresses",
    );
    // An internal ALB is fine: it holds no addresses.
    let found = placed(&yaml, |c| {
        c.balancers.get_mut("web").unwrap().scheme = Scheme::Internal;
    });
    assert_eq!(found, []);
}

#[test]
fn an_alb_needs_two_subnets() {
    let yaml = two_addresses();
    let found = placed(&yaml, |c| {
        c.balancers.get_mut("web").unwrap().subnets.truncate(1);
    });
    assert_one(
        &found,
        LB,
        "web",
        document_line(&yaml, LB, "web"),
        "needs subnets in at least 2 availability zones; the daemon config gives this balancer 1",
    );
}

#[test]
fn elastic_ips_are_ipv4() {
    let yaml = base_with(&[(
        "addresses: [203.0.113.20]",
        "addresses: [203.0.113.20, \"2001:db8::20\"]",
    )]);
    assert_one(
        &placed(&yaml, |_| {}),
        LB,
        "db",
        line_of(&yaml, "2001:db8::20"),
        "Elastic IPs are IPv4 addresses; this NLB asks for 2001:db8::20",
    );
    let pool = "---\nkind: AddressPool\nname: v6\nspec:\n  cidrs: [\"2001:db8:1::/64\"]\n";
    let yaml = format!(
        "{}{pool}",
        base_with(&[(
            "addresses: [203.0.113.20]",
            "addresses: [203.0.113.20, {pool: v6}]"
        )])
    );
    assert_one(
        &placed(&yaml, |_| {}),
        LB,
        "db",
        line_of(&yaml, "{pool: v6}"),
        "Elastic IPs are IPv4 addresses; this NLB asks for 2001:db8:1::",
    );
    // An IPv4 AddressPool, as the example's, is fine.
    let pool = "---\nkind: AddressPool\nname: v4\nspec:\n  cidrs: [198.51.100.0/28]\n";
    let yaml = format!(
        "{}{pool}",
        base_with(&[(
            "addresses: [203.0.113.20]",
            "addresses: [203.0.113.20, {pool: v4}]"
        )])
    );
    assert_eq!(placed(&yaml, |_| {}), []);
}
