//! Loading whole repositories from `(path, text)` pairs: no disk involved,
//! which is how the daemon feeds trees read from git objects.

use super::*;

/// 2026-11-25, a fixed "now" so expiry checks do not depend on the clock.
const NOW: i64 = 1_795_564_800;

fn load_texts(files: &[(&str, &str)]) -> Result<Validated, Invalid> {
    let files: Vec<SourceFile> = files.iter().map(|(p, t)| SourceFile::new(*p, *t)).collect();
    load(&files, &Options::at(NOW))
}

fn errors(result: Result<Validated, Invalid>) -> Vec<String> {
    result
        .expect_err("should be invalid")
        .diagnostics
        .iter()
        .map(|d| {
            format!(
                "{}:{}:{} {} {}",
                d.file, d.line, d.column, d.code, d.message
            )
        })
        .collect()
}

const POOL: &str =
    "kind: Pool\nname: web\nlabels: {team: web}\nspec:\n  targets:\n    - address: 10.0.0.1:80\n";
const LB: &str = "\
kind: LoadBalancer
name: front
spec:
  addresses: [192.0.2.10]
  listeners:
    - name: http
      protocol: http
      port: 80
      routes:
        - name: all
          priority: 1
          action: {forward: {pools: [{pool: web}]}}
";

#[test]
fn a_small_repository_loads_into_a_catalog() {
    let validated = load_texts(&[
        ("lb.yaml", LB),
        ("pool.yml", POOL),
        ("README.md", "# notes"),
    ])
    .unwrap();
    let catalog = &validated.catalog;
    assert_eq!(catalog.len(), 2);
    assert_eq!(catalog.pools["web"].labels["team"], "web");
    assert_eq!(catalog.pools["web"].origin.to_string(), "pool.yml:1:1");
    let assigned = catalog.allocation.get("loadbalancer/front").unwrap();
    assert_eq!(assigned[0].address.to_string(), "192.0.2.10");
}

#[test]
fn position_is_not_part_of_a_resource_value() {
    let a = load_texts(&[("a.yaml", POOL)]).unwrap().catalog;
    let moved = format!("# a comment moves everything down\n\n{POOL}");
    let b = load_texts(&[("b.yaml", &moved)]).unwrap().catalog;
    assert_eq!(
        a.pools["web"], b.pools["web"],
        "same resource, other file and line"
    );
    assert_eq!(a, b);
    let changed = POOL.replace("10.0.0.1:80", "10.0.0.2:80");
    let c = load_texts(&[("a.yaml", &changed)]).unwrap().catalog;
    assert_ne!(a.pools["web"].spec, c.pools["web"].spec);
}

#[test]
fn all_errors_of_all_files_are_reported_sorted() {
    let bad_lb = LB
        .replace("pool: web", "pool: wbe")
        .replace("port: 80", "port: 0");
    let bad_pool = POOL.replace("targets:", "tragets:");
    let errs = errors(load_texts(&[("z.yaml", &bad_pool), ("a.yaml", &bad_lb)]));
    assert_eq!(
        errs,
        [
            "a.yaml:8:13 port-out-of-range port 0 is out of range",
            "a.yaml:12:45 dangling-reference pool `wbe` does not exist",
            "z.yaml:5:3 unknown-field unknown field `tragets`; did you mean `targets`?",
            "z.yaml:5:3 missing-field missing field `targets`",
        ]
    );
}

#[test]
fn duplicate_resources_name_both_places() {
    let errs = errors(load_texts(&[("a.yaml", POOL), ("b.yaml", POOL)]));
    assert_eq!(
        errs,
        ["b.yaml:2:7 duplicate-resource pool/web is defined twice: here and at a.yaml:1:1"]
    );
}

#[test]
fn chain_files_resolve_relative_to_the_yaml_file() {
    let cert = "kind: Certificate\nname: c\nspec:\n  chain_file: ../pem/missing.pem\n  private_key: {env: TLS_KEY}\n";
    let errs = errors(load_texts(&[("certs/c.yaml", cert)]));
    assert_eq!(
        errs,
        ["certs/c.yaml:4:15 dangling-reference chain file `../pem/missing.pem` does not exist (looked for pem/missing.pem)"]
    );
}

#[test]
fn a_key_listed_for_two_users_is_an_error() {
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJojBZXi4yAwSnstgVB1YI0cUd0TSexakS+w9RshBaHL a@example.test";
    let users = format!(
        "kind: User\nname: a\nspec:\n  emails: [a@example.test]\n  signing_keys: [{{ssh: {key}}}]\n---\n\
         kind: User\nname: b\nspec:\n  emails: [b@example.test]\n  signing_keys: [{{ssh: {key}}}]\n"
    );
    let errs = errors(load_texts(&[("users.yaml", &users)]));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("users.yaml:11:18 duplicate-signing-key signing key SHA256:"),
        "{}",
        errs[0]
    );
    assert!(
        errs[0].ends_with("is also listed for user/a (line 5)"),
        "{}",
        errs[0]
    );
}

#[test]
fn unknown_kinds_get_a_suggestion() {
    let errs = errors(load_texts(&[("x.yaml", "kind: Pol\nname: a\nspec: {}\n")]));
    assert_eq!(
        errs,
        ["x.yaml:1:7 unknown-kind unknown kind `Pol`; did you mean `Pool`?"]
    );
}

#[test]
fn no_message_echoes_a_secret() {
    let token = format!("ghp_{}", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8");
    let text = format!(
        "kind: Pool\nname: {token}\nspec:\n  targets:\n    - address: {token}:80\n  slow_start: {token}\n---\nkind: {token}\nname: x\nspec: {{}}\n"
    );
    let invalid = load_texts(&[("p.yaml", &text)]).unwrap_err();
    assert!(invalid
        .diagnostics
        .iter()
        .any(|d| d.code == Code::SecretInRepo));
    assert!(invalid.diagnostics.len() >= 4, "{:#?}", invalid.diagnostics);
    for d in &invalid.diagnostics {
        assert!(
            !d.message.contains(&token) && !d.hint.contains(&token),
            "{d}"
        );
    }
}

#[test]
fn the_committed_editor_schema_is_current() {
    let committed: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/lbops.json"))
            .expect("schema/lbops.json is JSON");
    assert_eq!(
        committed,
        kinds::combined_json_schema(),
        "schema/lbops.json is out of date: run `cargo run -- schema > schema/lbops.json`"
    );
}

/// Loads `files` and returns the `line:column code` of each problem.
fn codes(files: &[(&str, &str)]) -> Vec<String> {
    match load_texts(files) {
        Ok(v) => v
            .warnings
            .iter()
            .map(|d| format!("{}:{} {}", d.line, d.column, d.code))
            .collect(),
        Err(e) => e
            .diagnostics
            .iter()
            .map(|d| format!("{}:{} {}", d.line, d.column, d.code))
            .collect(),
    }
}

#[test]
fn listener_and_route_rules() {
    let base = codes(&[("lb.yaml", LB), ("pool.yaml", POOL)]);
    assert_eq!(base, Vec::<String>::new(), "the base repository is valid");
    let https_without_tls = LB.replace("protocol: http", "protocol: https");
    assert_eq!(
        codes(&[("lb.yaml", &https_without_tls), ("pool.yaml", POOL)]),
        ["7:17 invalid-listener"]
    );
    let tcp_with_routes = LB.replace("protocol: http", "protocol: tcp");
    assert_eq!(
        codes(&[("lb.yaml", &tcp_with_routes), ("pool.yaml", POOL)]),
        ["7:17 invalid-listener", "10:17 invalid-listener"],
        "a tcp listener has no routes and needs a forward default action"
    );
    let tcp_idle =
        tcp_with_routes.replace("      routes:", "      idle_timeout: 5s\n      routes:");
    assert_eq!(
        codes(&[("lb.yaml", &tcp_idle), ("pool.yaml", POOL)]),
        [
            "7:17 invalid-listener",
            "7:17 invalid-listener",
            "11:17 invalid-listener"
        ],
        "idle_timeout is refused on tcp listeners"
    );
    let twin = LB.to_owned()
        + "        - name: all-2\n          priority: 1\n          action: {fixed_response: {status: 200}}\n";
    assert_eq!(
        codes(&[("lb.yaml", &twin), ("pool.yaml", POOL)]),
        ["14:21 invalid-route"]
    );
    let twin_name = twin.replace("all-2", "all").replace(
        "priority: 1\n          action: {fixed",
        "priority: 2\n          action: {fixed",
    );
    assert_eq!(
        codes(&[("lb.yaml", &twin_name), ("pool.yaml", POOL)]),
        ["13:17 invalid-value"]
    );
    let bad_path = LB.replace(
        "          priority: 1\n",
        "          priority: 1\n          match: {path: {prefix: api}, host: 'bad host'}\n",
    );
    assert_eq!(
        codes(&[("lb.yaml", &bad_path), ("pool.yaml", POOL)]),
        ["12:25 invalid-route", "12:46 invalid-route"]
    );
    let redirect = LB.replace(
        "action: {forward: {pools: [{pool: web}]}}",
        "action: {redirect: {status: 200, to: /x}}",
    );
    assert_eq!(codes(&[("lb.yaml", &redirect)]), ["12:39 invalid-value"]);
}

#[test]
fn route_retries_rules() {
    let retries = |attempts: &str, action: &str| {
        LB.replace(
            "          action: {forward: {pools: [{pool: web}]}}\n",
            &format!("          action: {action}\n          retries: {{attempts: {attempts}}}\n"),
        )
    };
    let forward = "{forward: {pools: [{pool: web}]}}";
    let valid = retries("2", forward);
    assert_eq!(
        codes(&[("lb.yaml", &valid), ("pool.yaml", POOL)]),
        Vec::<String>::new()
    );
    let spec = load_texts(&[("lb.yaml", &valid), ("pool.yaml", POOL)])
        .expect("valid")
        .catalog;
    let route = &spec.load_balancers["front"].spec.listeners[0].routes[0];
    assert_eq!(
        route.retries.as_ref().map(|r| r.value.attempts.value),
        Some(2)
    );
    assert_eq!(
        rendered(load_texts(&[("lb.yaml", &retries("0", forward)), ("pool.yaml", POOL)])),
        ["lb.yaml:13:31: error[invalid-value] loadbalancer/front: `retries.attempts` is 0; a route may retry a request on 1 to 3 more targets\n  \
          hint: use 1 to 3, or remove `retries` (requests that never reached a target are retried anyway)"]
    );
    assert_eq!(
        codes(&[("lb.yaml", &retries("4", forward)), ("pool.yaml", POOL)]),
        ["13:31 invalid-value"]
    );
    assert_eq!(
        rendered(load_texts(&[(
            "lb.yaml",
            &retries("1", "{fixed_response: {status: 503}}")
        )])),
        ["lb.yaml:13:20: error[invalid-route] loadbalancer/front: route `all` answers itself, so `retries` has nothing to retry\n  \
          hint: remove `retries`, or make the action `forward`"]
    );
    let unknown = retries("1, on: [5xx]", forward);
    assert_eq!(
        codes(&[("lb.yaml", &unknown), ("pool.yaml", POOL)]),
        ["13:34 unknown-field"]
    );
}

#[test]
fn pool_rules() {
    let twice = POOL.to_owned()
        + "    - address: 10.0.0.1:80\n  backup_targets:\n    - address: 10.0.0.1:80\n";
    assert_eq!(
        codes(&[("p.yaml", &twice)]),
        ["7:16 invalid-value", "9:16 invalid-value"]
    );
    let zero = POOL.replace("10.0.0.1:80", "10.0.0.1:80\n      weight: 0");
    assert_eq!(codes(&[("p.yaml", &zero)]), ["7:15 zero-weights"]);
    let slow_probe = POOL.to_owned() + "  health_check:\n    probe: {http: {path: health, expected_codes: [700]}}\n    interval: 1s\n    timeout: 2s\n    healthy_threshold: 0\n";
    assert_eq!(
        codes(&[("p.yaml", &slow_probe)]),
        [
            "8:26 invalid-health-check",
            "8:51 invalid-health-check",
            "10:14 invalid-health-check",
            "11:24 invalid-health-check"
        ]
    );
}

#[test]
fn certificate_and_key_reference_rules() {
    let both = "kind: Certificate\nname: c\nspec:\n  chain: x\n  chain_file: c.pem\n  private_key: {file: keys/c.key}\n";
    assert_eq!(
        codes(&[("c.yaml", both)]),
        ["4:10 invalid-value", "6:16 key-reference"]
    );
    let env =
        "kind: Certificate\nname: c\nspec:\n  chain_file: c.pem\n  private_key: {env: tls-key}\n";
    assert_eq!(
        codes(&[("c.yaml", env), ("c.pem", "not pem")]),
        ["4:15 certificate-invalid", "5:16 key-reference"]
    );
}

#[test]
fn tls_version_and_cipher_rules() {
    let lb = LB.replace("protocol: http", "protocol: https")
        .replace("      port: 80\n", "      port: 443\n      tls: {certificates: [c], min_version: '1.3', ciphers: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]}\n");
    assert_eq!(
        codes(&[("lb.yaml", &lb), ("pool.yaml", POOL)]),
        ["9:12 invalid-value", "9:28 dangling-reference"]
    );
}

#[test]
fn access_rules() {
    let role = "kind: Role\nname: r\nspec:\n  rules:\n    - actions: [pool.*]\n      resources: [pool/*, 'widget/x', 'pool']\n";
    assert_eq!(
        codes(&[("r.yaml", role)]),
        ["6:27 bad-resource-pattern", "6:39 bad-resource-pattern"]
    );
    let users = "kind: User\nname: a\nspec:\n  emails: [a@example.test]\n  disabled: true\n---\n\
                 kind: User\nname: b\nspec:\n  emails: [A@example.test, nobody]\n";
    assert_eq!(
        codes(&[("u.yaml", users)]),
        ["10:12 duplicate-email", "10:28 invalid-value"]
    );
    let account = "kind: ServiceAccount\nname: s\nspec:\n  owner: a\n  tokens:\n    - name: t\n      hash: sha256:00\n      expires: 2030-01-01\n      scopes: [pool.weights.updat]\n";
    let users = "kind: User\nname: a\nspec:\n  emails: [a@example.test]\n  disabled: true\n";
    assert_eq!(
        codes(&[("s.yaml", account), ("u.yaml", users)]),
        [
            "4:10 invalid-owner",
            "7:13 bad-token-hash",
            "9:16 unknown-action"
        ]
    );
    let hash = format!("sha256:{}", "0".repeat(64));
    let tokens = format!(
        "kind: ServiceAccount\nname: s\nspec:\n  owner: a\n  tokens:\n\
         \x20   - {{name: t1, id: abc123def456, hash: \"{hash}\", expires: 2030-01-01, resources: [pool/web-*]}}\n\
         \x20   - {{name: t2, id: abc123def456, hash: \"{hash}\", expires: 2030-01-01}}\n\
         \x20   - {{name: t3, id: ABC, hash: \"{hash}\", expires: 2030-01-01, resources: [pools]}}\n"
    );
    let active = "kind: User\nname: a\nspec:\n  emails: [a@example.test]\n";
    assert_eq!(
        codes(&[("s.yaml", &tokens), ("u.yaml", active)]),
        [
            "7:22 bad-token-id",
            "8:22 bad-token-id",
            "8:141 bad-resource-pattern"
        ]
    );
    let no_key = "kind: User\nname: a\nspec:\n  emails: [a@example.test]\n  signing_keys: [{revoked: true}]\n";
    assert_eq!(codes(&[("u.yaml", no_key)]), ["5:18 bad-signing-key"]);
}

#[test]
fn reallocating_keeps_the_addresses_a_balancer_already_holds() {
    let lb = |name: &str| {
        format!(
            "---\nkind: LoadBalancer\nname: {name}\nspec:\n  addresses: [{{pool: edge}}]\n  listeners:\n\
             \x20   - {{name: http, protocol: http, port: 8080, default_action: {{fixed_response: {{status: 200}}}}}}\n"
        )
    };
    let pool = "kind: AddressPool\nname: edge\nspec:\n  cidrs: [10.9.0.0/29]\n";
    let first = crate::spec::load(
        &[SourceFile::new("a.yaml", format!("{pool}{}", lb("web")))],
        &Options::at(NOW),
    )
    .unwrap()
    .catalog;
    let held = first.allocation.get("loadbalancer/web").unwrap().to_vec();
    // `api` sorts first, so on its own it would take web's address.
    let mut second = crate::spec::load(
        &[SourceFile::new(
            "a.yaml",
            format!("{pool}{}{}", lb("web"), lb("api")),
        )],
        &Options::at(NOW),
    )
    .unwrap()
    .catalog;
    assert_eq!(
        second.allocation.get("loadbalancer/api").unwrap(),
        held.as_slice()
    );
    crate::spec::reallocate(&mut second, &first.allocation).unwrap();
    assert_eq!(
        second.allocation.get("loadbalancer/web").unwrap(),
        held.as_slice()
    );
    assert_ne!(
        second.allocation.get("loadbalancer/api").unwrap(),
        held.as_slice()
    );
}

#[test]
fn a_padded_copy_of_an_email_is_refused_not_trimmed() {
    // mallory's policy entry spells alice's address with a trailing space:
    // refused as malformed, so it can never be read as alice's.
    let users = "kind: User\nname: alice\nspec:\n  emails: [alice@example.test]\n---\n\
                 kind: User\nname: mallory\nspec:\n  emails: ['alice@example.test ', ' Alice@example.test', 'm@x']\n";
    assert_eq!(
        codes(&[("u.yaml", users)]),
        [
            "9:12 invalid-value",
            "9:35 invalid-value",
            "9:58 invalid-value"
        ]
    );
    let twice = "kind: User\nname: a\nspec:\n  emails: [a@example.test]\n---\n\
                 kind: User\nname: b\nspec:\n  emails: [A@EXAMPLE.test]\n";
    assert_eq!(codes(&[("u.yaml", twice)]), ["9:12 duplicate-email"]);
}

fn rendered(result: Result<Validated, Invalid>) -> Vec<String> {
    result
        .expect_err("should be invalid")
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_file_a_reader_refused_is_an_error_naming_its_size_and_the_limit() {
    let files = [
        SourceFile::new("pools.yaml", POOL),
        SourceFile::refused(
            "big/key.pem",
            Exceeded::FileBytes {
                size: 17 * 1024 * 1024,
                limit: limits::MAX_FILE_BYTES,
            },
        ),
    ];
    assert_eq!(
        rendered(load(&files, &Options::at(NOW))),
        ["big/key.pem:1:1: error[too-large]: this file is 17 MiB (17825792 bytes), over the limit of 16 MiB per file\n  \
          hint: split the resources across several files; a file lbops should not read at all (an archive, a binary) belongs outside the repository or in `.lbopsignore`"]
    );
}

#[test]
fn load_holds_any_tree_to_the_same_limits_as_the_readers() {
    let mut options = Options::at(NOW);
    options.limits = Limits {
        file_bytes: 100,
        tree_bytes: 150,
        files: 5,
        ..Limits::REPOSITORY
    };
    let files = [
        SourceFile::new("a.yaml", POOL),
        SourceFile::new("b.txt", "x".repeat(101)),
        SourceFile::new("c.txt", "x".repeat(80)),
        SourceFile::new("d.txt", "x"),
        SourceFile::new("e.txt", "x"),
        SourceFile::new("f.txt", "x"),
        SourceFile::new("g.txt", "x"),
    ];
    assert_eq!(POOL.len(), 85);
    assert_eq!(
        errors(load(&files, &options)),
        [
            "b.txt:1:1 too-large this file is 101 bytes, over the limit of 100 bytes per file",
            "c.txt:1:1 too-large this file would bring the files read so far to 165 bytes, over the limit of 150 bytes per tree",
            "f.txt:1:1 too-large this file is one more than the limit of 5 files per tree; it and the files after it were not read",
        ]
    );
}

#[test]
fn nesting_past_the_limit_is_an_error_at_its_line_and_column() {
    let deep = format!(
        "kind: Pool\nname: web\nspec:\n  targets:\n  {}x\n",
        "- ".repeat(60_000)
    );
    let diagnostics = rendered(load(
        &[SourceFile::new("deep.yaml", &deep)],
        &Options::at(NOW),
    ));
    assert_eq!(
        diagnostics,
        ["deep.yaml:5:127: error[too-large]: lists and mappings are nested more than 64 levels deep here, the limit\n  \
          hint: nest less deeply; no kind needs more than about a dozen levels; the rest of this file was not read"]
    );
}

/// "Did you mean" compares a name with every resource of its kind, so it
/// is offered for the first hundred dangling references only: a tree of N
/// broken references to N resources would otherwise cost N².
#[test]
fn only_the_first_dangling_references_get_a_suggestion() {
    let roles: String = (0..150)
        .map(|i| format!("---\nkind: Role\nname: role-{i}\nspec:\n  rules: []\n"))
        .collect();
    let refs: Vec<String> = (0..150).map(|i| format!("rol-{i}")).collect();
    let group = format!(
        "kind: Group\nname: g\nspec:\n  roles: [{}]\n",
        refs.join(", ")
    );
    let errs = errors(load_texts(&[
        ("roles.yaml", &roles),
        ("group.yaml", &group),
    ]));
    assert_eq!(errs.len(), 150);
    let suggested = errs.iter().filter(|e| e.contains("did you mean")).count();
    assert_eq!(suggested, 100, "{errs:#?}");
    assert!(
        errs[0].ends_with("role `rol-0` does not exist; did you mean `role-0`?"),
        "{}",
        errs[0]
    );
}

#[test]
fn a_rule_s_approvals_count_the_author_and_ask_for_2_to_9_principals() {
    let role = |principals: &str| {
        format!(
            "kind: Role\nname: lb-guard\nspec:\n  rules:\n    - actions: [loadbalancer.delete]\n      resources: [loadbalancer/*]\n      approvals: {{principals: {principals}}}\n"
        )
    };
    assert!(load_texts(&[("roles.yaml", &role("2"))]).is_ok());
    assert!(load_texts(&[("roles.yaml", &role("9"))]).is_ok());
    for (n, hint) in [
        (
            "1",
            "write `approvals: {principals: 2}` for the two-person rule",
        ),
        ("0", "remove `approvals:` if the author alone may"),
        ("10", "at most 9 can be required"),
    ] {
        let invalid = load_texts(&[("roles.yaml", &role(n))]).expect_err(n);
        let d = &invalid.diagnostics[0];
        assert_eq!(
            format!("{}:{}:{} {}", d.file, d.line, d.column, d.code),
            "roles.yaml:7:31 invalid-value",
            "{n}"
        );
        let text = d.to_string();
        assert!(
            text.contains(&format!("`approvals.principals` is {n}; it counts the author and the approvers, from 2 to 9")),
            "{text}"
        );
        assert!(text.contains(hint), "{text}");
    }
    let typo = role("2").replace("principals:", "principal:");
    assert_eq!(
        errors(load_texts(&[("roles.yaml", &typo)])),
        [
            "roles.yaml:7:18 missing-field missing field `principals`",
            "roles.yaml:7:19 unknown-field unknown field `principal`; did you mean `principals`?"
        ]
    );
}
