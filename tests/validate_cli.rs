//! `lbops validate` as a user runs it: the real binary on a copy of the
//! example repository, one mutation per class of mistake, asserting the
//! exit code and the exact `file:line:column` and message shown.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of `examples/repo` in a temporary directory, at `<tmp>/repo`.
struct Repo {
    tmp: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Repo {
    fn example() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/repo"),
            &tmp.path().join("repo"),
        );
        Self { tmp }
    }

    /// `examples/aws/repo` at `<tmp>/repo`, and its daemon config at
    /// `<tmp>/lbops.yaml` (which places its balancers on AWS).
    fn aws_example() -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/aws");
        copy_dir(&examples.join("repo"), &tmp.path().join("repo"));
        fs::copy(examples.join("lbops.yaml"), tmp.path().join("lbops.yaml")).expect("copy");
        Self { tmp }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.tmp.path().join("repo").join(file)
    }

    /// Replaces the one occurrence of `from` in `file` with `to`.
    fn edit(&self, file: &str, from: &str, to: &str) -> &Self {
        let path = self.path(file);
        let text = fs::read_to_string(&path).expect("file exists");
        assert_eq!(
            text.matches(from).count(),
            1,
            "{from:?} must occur once in {file}"
        );
        fs::write(&path, text.replacen(from, to, 1)).expect("write");
        self
    }

    fn write(&self, file: &str, text: &str) -> &Self {
        let path = self.path(file);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        fs::write(path, text).expect("write");
        self
    }

    fn validate(&self, extra: &[&str]) -> Run {
        self.validate_from("", &[&["repo"], extra].concat())
    }

    /// `lbops validate ARGS` run in `<tmp>/<dir>`.
    fn validate_from(&self, dir: &str, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_lbops"))
            .current_dir(self.tmp.path().join(dir))
            .arg("validate")
            .args(args)
            .output()
            .expect("run lbops");
        Run {
            code: output.status.code().expect("exited"),
            stdout: String::from_utf8(output.stdout).expect("utf-8"),
            stderr: String::from_utf8(output.stderr).expect("utf-8"),
        }
    }

    /// Validates in text and JSON, asserts exit status 1 and that the only
    /// problem is `expected` (`file:line:column: severity[code] id: message`),
    /// the same in both outputs.
    fn expect_only(&self, expected: &str) {
        self.expect_with(&[], 1, expected);
    }

    /// [`Self::expect_only`] with extra arguments and a chosen exit status.
    fn expect_with(&self, extra: &[&str], code: i32, expected: &str) {
        let text = self.validate(extra);
        assert_eq!(
            text.code, code,
            "stdout:\n{}\nstderr:\n{}",
            text.stdout, text.stderr
        );
        let first_lines: Vec<&str> = text
            .stdout
            .lines()
            .filter(|l| !l.starts_with("  hint: "))
            .collect();
        assert_eq!(
            first_lines.len(),
            2,
            "exactly one problem and a summary:\n{}",
            text.stdout
        );
        assert_eq!(first_lines[0], expected);
        assert!(
            text.stdout.contains("\n  hint: "),
            "every problem has a hint:\n{}",
            text.stdout
        );

        let json = self.validate(&[extra, &["--output", "json"]].concat());
        assert_eq!(json.code, code);
        let problems: Vec<Value> = serde_json::from_str(&json.stdout).expect("JSON output");
        assert_eq!(problems.len(), 1, "{}", json.stdout);
        assert_eq!(render_json(&problems[0]), expected);
        assert!(!problems[0]["hint"].as_str().unwrap_or_default().is_empty());
    }
}

/// Renders a JSON problem the way the text output does, to compare both.
fn render_json(p: &Value) -> String {
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
    let id = match (p["kind"].as_str(), p["name"].as_str()) {
        (Some(kind), Some(name)) => format!(" {}/{name}", kind.to_lowercase()),
        _ => String::new(),
    };
    for key in [
        "file", "line", "column", "kind", "name", "code", "message", "hint", "severity",
    ] {
        assert!(p.get(key).is_some(), "JSON problem lacks `{key}`: {p}");
    }
    format!(
        "{}:{}:{}: {}[{}]{id}: {}",
        s("file"),
        p["line"],
        p["column"],
        s("severity"),
        s("code"),
        s("message")
    )
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn the_example_repository_is_valid() {
    let run = Repo::example().validate(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "repo: valid, 16 resources, 0 warning(s)\n");
    let json = Repo::example().validate(&["--output", "json"]);
    assert_eq!((json.code, json.stdout.trim()), (0, "[]"));
}

/// However the repository's path is written — `.` by default, `./repo`,
/// `..` — the `chain_file` beside a certificate is found: paths are
/// written one way by the directory reader and by the reference alike.
#[test]
fn the_example_repository_is_valid_however_its_path_is_written() {
    let repo = Repo::example();
    let cases: [(&str, &[&str]); 6] = [
        ("repo", &[]),
        ("repo", &["."]),
        ("", &["./repo"]),
        ("", &["repo/"]),
        ("repo/balancers", &[".."]),
        ("repo/pools", &["../../repo"]),
    ];
    for (dir, args) in cases {
        let run = repo.validate_from(dir, args);
        assert_eq!(
            (
                run.code,
                run.stdout
                    .ends_with(": valid, 16 resources, 0 warning(s)\n")
            ),
            (0, true),
            "lbops validate {args:?} in <tmp>/{dir}:\n{}{}",
            run.stdout,
            run.stderr
        );
    }
}

/// A private key padded past the limit per file used to be skipped, secret
/// scan and all, so that `validate` passed.
#[test]
fn a_file_too_big_to_read_is_an_error_never_skipped() {
    let repo = Repo::example();
    let key = format!(
        "-----BEGIN {}-----\nMC4CAQAwBQYDK2VwBCIEIBbQ1eUd3lC3Kyj7RJvEqv0Ihm0ol3DIvJ3Ew1nEBh6Y\n-----END {}-----\n",
        "PRIVATE KEY", "PRIVATE KEY"
    );
    let padded = format!("{key}{}", "\n".repeat(17 * 1024 * 1024));
    repo.write("certificates/padded.pem", &padded);
    repo.expect_only(&format!(
        "repo/certificates/padded.pem:1:1: error[too-large]: this file is 17.0 MiB ({} bytes), over the limit of 16 MiB per file",
        padded.len()
    ));
}

// One test per class of mistake an operator makes. Each expected line was
// checked by hand against the mutated file.

/// One mistake, one test: `name: file, from => to, expected` edits the
/// example repository once and expects exactly that problem.
macro_rules! mistake {
    ($($name:ident: $file:literal, $from:literal => $to:literal, $expected:literal;)*) => {$(
        #[test]
        fn $name() {
            let repo = Repo::example();
            repo.edit($file, $from, $to);
            repo.expect_only($expected);
        }
    )*};
}

mistake! {
    duplicate_yaml_key: "pools/db.yaml", "  draining_timeout: 5m\n" => "  draining_timeout: 5m\n  draining_timeout: 1m\n",
        "repo/pools/db.yaml:18:3: error[yaml-syntax]: duplicate key `draining_timeout` (first at line 17); keep one of them";
    misspelled_field_gets_a_suggestion: "pools/db.yaml", "  draining_timeout: 5m" => "  draining_timeuot: 5m",
        "repo/pools/db.yaml:17:3: error[unknown-field] pool/db: unknown field `draining_timeuot`; did you mean `draining_timeout`?";
    wrong_type: "access/users.yaml", "  emails: [carol@example.test]" => "  emails: carol@example.test",
        "repo/access/users.yaml:31:11: error[wrong-type] user/carol: expected a list, found `carol@example.test`";
    dangling_route_to_pool: "balancers/web.yaml", "                - pool: web-api" => "                - pool: web-apis",
        "repo/balancers/web.yaml:47:25: error[dangling-reference] loadbalancer/web: pool `web-apis` does not exist; did you mean `web-api`?";
    dangling_listener_to_certificate: "balancers/web.yaml", "certificates: [wildcard-example-test]" => "certificates: [wildcard-example]",
        "repo/balancers/web.yaml:22:24: error[dangling-reference] loadbalancer/web: certificate `wildcard-example` does not exist; did you mean `wildcard-example-test`?";
    dangling_balancer_to_address_pool: "balancers/db.yaml", "    - pool: loopback " => "    - pool: lo ",
        "repo/balancers/db.yaml:8:13: error[dangling-reference] loadbalancer/db-edge: addresspool `lo` does not exist";
    dangling_service_account_owner: "access/service-accounts.yaml", "  owner: alice" => "  owner: alicia",
        "repo/access/service-accounts.yaml:7:10: error[dangling-reference] serviceaccount/deploy-bot: user `alicia` does not exist; did you mean `alice`?";
    port_out_of_range: "balancers/web.yaml", "      port: 8443" => "      port: 70000",
        "repo/balancers/web.yaml:20:13: error[port-out-of-range] loadbalancer/web: port 70000 is out of range";
    two_listeners_on_one_address_and_port: "balancers/db.yaml", "      port: 6432" => "      port: 5432",
        "repo/balancers/db.yaml:18:13: error[listener-conflict] loadbalancer/db-edge: listeners `postgres` and `postgres-tls` both use port 5432 on the same addresses";
    two_balancers_pinning_one_address: "balancers/db.yaml", "    - pool: loopback " => "    - address: 127.0.10.1\n      pool: loopback ",
        "repo/balancers/web.yaml:8:7: error[address-conflict] loadbalancer/web: address 127.0.10.1 is claimed by both loadbalancer/db-edge and loadbalancer/web; pick another address for one of them or remove one of the claims";
    overlapping_address_pools: "addresspools/loopback.yaml", "    - fd00:10::/120" => "    - 127.0.10.8/29",
        "repo/addresspools/loopback.yaml:10:7: error[address-pool-overlap] addresspool/loopback: 127.0.10.8/29 overlaps 127.0.10.0/28 of addresspool/loopback (repo/addresspools/loopback.yaml:9:7)";
    role_rule_with_unknown_action: "access/roles.yaml", "[state.read, audit.read]" => "[state.read, audit.raed]",
        "repo/access/roles.yaml:26:29: error[unknown-action] role/auditor: unknown action `audit.raed`; did you mean `audit.read`?";
    signing_key_that_does_not_parse: "access/users.yaml", "w9RshBaHL alice" => "w9RshBa alice",
        "repo/access/users.yaml:7:12: error[bad-signing-key] user/alice: signing key does not parse: the key data of the SSH public key is not valid base64: part of it is missing or damaged; copy the whole line from the `.pub` file again";
}

#[test]
fn yaml_syntax_error() {
    let repo = Repo::example();
    repo.write(
        "pools/edge.yaml",
        "kind: Pool\nname: edge\nspec:\n  targets: []\n---\nkind: Pool\nname: edge-2\nspec:\n  targets: [{address: 10.0.0.1:80}\n",
    );
    repo.expect_only("repo/pools/edge.yaml:10:1: error[yaml-syntax]: YAML syntax error: while parsing a flow sequence, expected ',' or ']'");
}

#[test]
fn unknown_kind() {
    let repo = Repo::example();
    repo.write(
        "balancers/gateway.yaml",
        "kind: LoadBalancr\nname: edge\nspec: {}\n",
    );
    repo.expect_only(
        "repo/balancers/gateway.yaml:1:7: error[unknown-kind]: unknown kind `LoadBalancr`; did you mean `LoadBalancer`?",
    );
}

#[test]
fn duplicate_resource_names_both_places() {
    let repo = Repo::example();
    repo.write(
        "pools/copy.yaml",
        "kind: Pool\nname: db\nspec:\n  targets: []\n",
    );
    repo.expect_only(
        "repo/pools/db.yaml:3:7: error[duplicate-resource] pool/db: pool/db is defined twice: here and at repo/pools/copy.yaml:1:1",
    );
}

#[test]
fn dangling_user_to_role_and_group() {
    let repo = Repo::example();
    repo.edit(
        "access/users.yaml",
        "  roles: [auditor]",
        "  roles: [auditors]",
    );
    repo.expect_only(
        "repo/access/users.yaml:34:11: error[dangling-reference] user/carol: role `auditors` does not exist; did you mean `auditor`?",
    );
    let repo = Repo::example();
    repo.edit(
        "access/users.yaml",
        "  groups: [web-team]",
        "  groups: [web]",
    );
    repo.expect_only("repo/access/users.yaml:26:12: error[dangling-reference] user/bob: group `web` does not exist");
}

#[test]
fn forward_weights_all_zero() {
    let repo = Repo::example();
    repo.edit(
        "balancers/web.yaml",
        "                  weight: 90",
        "                  weight: 0",
    );
    repo.edit(
        "balancers/web.yaml",
        "                  weight: 10",
        "                  weight: 0",
    );
    repo.expect_only(
        "repo/balancers/web.yaml:53:13: error[zero-weights] loadbalancer/web: every pool of this forward action has weight 0, so it would send traffic nowhere",
    );
}

#[test]
fn certificate_chain_that_does_not_parse() {
    let repo = Repo::example();
    let pem = "certificates/wildcard-example-test.pem";
    let text = fs::read_to_string(repo.path(pem)).unwrap();
    let damaged: Vec<&str> = text.lines().take(5).chain(text.lines().skip(8)).collect();
    repo.write(pem, &damaged.join("\n"));
    repo.expect_only(
        "repo/certificates/wildcard-example-test.yaml:8:15: error[certificate-invalid] certificate/wildcard-example-test: the certificate chain does not parse: block 1 (line 1) is not a valid X.509 certificate (the data ends too early, the certificate is cut off): part of it is missing or damaged; copy the whole certificate again",
    );
}

#[test]
fn certificate_expiring_soon_is_a_warning() {
    // The example chain's earliest notAfter is 2046-11-20.
    Repo::example().expect_with(
        &["--at", "2046-11-10"],
        0,
        "repo/certificates/wildcard-example-test.yaml:8:15: warning[certificate-expires-soon] certificate/wildcard-example-test: the certificate chain expires in 10 day(s)",
    );
}

#[test]
fn certificate_expired() {
    Repo::example().expect_with(
        &["--at", "2047-01-01"],
        1,
        "repo/certificates/wildcard-example-test.yaml:8:15: error[certificate-expired] certificate/wildcard-example-test: the certificate chain expired 41 day(s) ago",
    );
}

#[test]
fn private_key_anywhere_is_rejected_and_never_echoed() {
    let repo = Repo::example();
    let body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";
    let key = format!(
        "-----BEGIN {}-----\n{body}\n-----END {}-----\n",
        "OPENSSH PRIVATE KEY", "OPENSSH PRIVATE KEY"
    );
    repo.write("notes/deploy.txt", &format!("the deploy key:\n{key}"));
    repo.expect_only(
        "repo/notes/deploy.txt:2:1: error[private-key-in-repo]: this file contains an OpenSSH private key; secrets must never be committed",
    );
    // Inside a YAML value, where it is also not a valid certificate chain.
    let repo = Repo::example();
    repo.edit(
        "certificates/wildcard-example-test.yaml",
        "  chain_file: wildcard-example-test.pem   # leaf first, then the intermediate\n",
        &format!(
            "  chain: |\n{}",
            key.lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        ),
    );
    for output in ["text", "json"] {
        let run = repo.validate(&["--output", output]);
        assert_eq!(run.code, 1);
        assert!(run.stdout.contains("private-key-in-repo"), "{}", run.stdout);
        assert!(
            !run.stdout.contains(body) && !run.stderr.contains(body),
            "key material leaked:\n{}",
            run.stdout
        );
    }
}

#[test]
fn plaintext_tokens_are_rejected_and_never_echoed() {
    let repo = Repo::example();
    let token = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    repo.edit(
        "pools/db.yaml",
        "  team: data\n",
        &format!("  team: data\n  ci-token: {token}\n"),
    );
    repo.expect_only(
        "repo/pools/db.yaml:6:13: error[secret-in-repo]: this file contains a GitHub access token; secrets must never be committed",
    );
    let run = repo.validate(&["--output", "json"]);
    assert!(!run.stdout.contains(token));

    let repo = Repo::example();
    let plain = "deploy-token-7Hq2Lx9Vb4Nc";
    repo.edit(
        "access/service-accounts.yaml",
        "hash: sha256:0057f0d09cace7c71e89bd66d1166cbe24de9006a935a734cde61fcdb5956ea2",
        &format!("hash: {plain}"),
    );
    repo.expect_only(
        "repo/access/service-accounts.yaml:14:13: error[bad-token-hash] serviceaccount/deploy-bot: token `ci`: this looks like a plaintext token, not a hash: never commit tokens. Store `sha256:<64 hex digits>` (e.g. from `printf %s \"$TOKEN\" | sha256sum`) or an Argon2 PHC string (`$argon2id$v=19$…`) instead, and rotate the token: it is in git history now. If the value already is a SHA-256 digest in hex, prefix it with `sha256:`",
    );
    let run = repo.validate(&["--output", "json"]);
    assert!(!run.stdout.contains(plain), "{}", run.stdout);
}

#[test]
fn every_problem_is_reported_in_one_run_sorted() {
    let repo = Repo::example();
    repo.edit("balancers/web.yaml", "      port: 8443", "      port: 0");
    repo.edit(
        "access/roles.yaml",
        "[state.read, audit.read]",
        "[state.read, audit.raed]",
    );
    repo.edit(
        "pools/db.yaml",
        "  draining_timeout: 5m",
        "  draining_timeuot: 5m",
    );
    repo.edit(
        "access/users.yaml",
        "  roles: [auditor]",
        "  roles: [auditors]",
    );
    let run = repo.validate(&[]);
    assert_eq!(run.code, 1);
    let locations: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("repo/"))
        .filter_map(|l| l.split(": ").next())
        .collect();
    assert_eq!(
        locations,
        [
            "repo/access/roles.yaml:26:29",
            "repo/access/users.yaml:34:11",
            "repo/balancers/web.yaml:20:13",
            "repo/pools/db.yaml:17:3"
        ]
    );
    assert!(run
        .stdout
        .ends_with("repo: invalid, 4 error(s), 0 warning(s)\n"));
}

#[test]
fn lbopsignore_is_honoured() {
    let repo = Repo::example();
    fs::remove_file(repo.path(".lbopsignore")).unwrap();
    let run = repo.validate(&[]);
    assert_eq!(
        run.code, 1,
        "the ignored draft is invalid once read: {}",
        run.stdout
    );
    assert!(
        run.stdout.contains("repo/drafts/next-balancer.yaml:"),
        "{}",
        run.stdout
    );
}

#[test]
fn usage_and_io_errors_exit_2() {
    let repo = Repo::example();
    let run = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args(["validate", "no/such/dir"])
        .current_dir(repo.tmp.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("cannot read no/such/dir"));
    let run = repo.validate(&["--output", "xml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid value 'xml'"), "{}", run.stderr);
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["validate", "schema", "actions", "dataplane", "plan"] {
        let out = Command::new(env!("CARGO_BIN_EXE_lbops"))
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: lbops"),
            "{sub}"
        );
    }
}

#[test]
fn schema_describes_each_kind_and_rejects_unknown_fields() {
    for kind in [
        "LoadBalancer",
        "Pool",
        "Certificate",
        "AddressPool",
        "Role",
        "User",
        "Group",
        "ServiceAccount",
        "Freeze",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_lbops"))
            .args(["schema", kind])
            .output()
            .unwrap();
        assert!(out.status.success(), "{kind}");
        let schema: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(schema["properties"]["kind"]["const"], kind);
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["spec"]["additionalProperties"], false,
            "{kind}: unknown spec fields are errors"
        );
    }
    let all = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .arg("schema")
        .output()
        .unwrap();
    let all: Value = serde_json::from_slice(&all.stdout).unwrap();
    assert_eq!(all["oneOf"].as_array().map(Vec::len), Some(9));
    let pool = all["$defs"]["PoolSpec"].to_string();
    assert!(
        pool.contains("least_requests")
            || all["$defs"]["Algorithm"]
                .to_string()
                .contains("least_requests")
    );
    let out = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args(["schema", "Gateway"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `--config` with `examples/aws/lbops.yaml`: the balancers it places on
/// AWS are checked against ELBv2's limits.
const ON_AWS: &[&str] = &["--config", "lbops.yaml"];

#[test]
fn the_aws_example_is_valid_on_aws_and_not_on_the_embedded_data_plane() {
    let repo = Repo::aws_example();
    let on_aws = repo.validate(ON_AWS);
    assert_eq!(on_aws.code, 0, "{}{}", on_aws.stdout, on_aws.stderr);
    // Without the daemon config every balancer is the embedded data
    // plane's, which must bind addresses an ALB does not list.
    repo.expect_only(
        "repo/balancers/shop.yaml:3:1: error[missing-field] loadbalancer/shop: a LoadBalancer on the embedded provider needs at least one address",
    );
}

#[test]
fn aws_slow_start_outside_elbv2s_range() {
    Repo::aws_example()
        .edit("pools/shop.yaml", "slow_start: 30s", "slow_start: 10s")
        .expect_with(ON_AWS, 1, "repo/pools/shop.yaml:4:1: error[unsupported-by-provider] pool/shop-stable: ELBv2 slow start must be 30–900 s (or off); this pool asks for 10s");
}

#[test]
fn aws_slow_start_with_least_requests_is_refused() {
    // What the example's `shop-stable` asked for until issue 14: AWS
    // answers "You cannot enable both slow start and …".
    Repo::aws_example()
        .edit(
            "pools/shop.yaml",
            "  # round_robin: ELBv2 ramps new targets up (slow_start) only with it.\n",
            "  algorithm: least_requests\n",
        )
        .expect_with(ON_AWS, 1, "repo/pools/shop.yaml:4:1: error[unsupported-by-provider] pool/shop-stable: an ELBv2 target group cannot combine slow start with `least_requests`; this pool, used by the ALB `shop`, asks for both");
}

#[test]
fn aws_consistent_hash_is_refused() {
    Repo::aws_example()
        .edit(
            "pools/shop.yaml",
            "algorithm: weighted_random",
            "algorithm: {consistent_hash: source_ip}",
        )
        .expect_with(ON_AWS, 1, "repo/pools/shop.yaml:38:1: error[unsupported-by-provider] pool/shop-api: an ELBv2 ALB cannot balance with `consistent_hash`; this pool is used by the ALB `shop`");
}

#[test]
fn aws_more_than_five_condition_values_in_a_rule() {
    Repo::aws_example()
        .edit(
            "balancers/shop.yaml",
            "methods: [GET, POST]",
            "methods: [GET, POST]\n            headers: [{name: x-a}, {name: x-b}]",
        )
        .expect_with(ON_AWS, 1, "repo/balancers/shop.yaml:32:17: error[unsupported-by-provider] loadbalancer/shop: ELBv2 rules take at most 5 condition values; route `api` has 7 (host 1, exact path 1, prefix path 2, each header 1, each method 1)");
}

#[test]
fn aws_backup_targets_are_refused() {
    Repo::aws_example()
        .edit(
            "pools/shop.yaml",
            "    - address: 10.0.1.20:8080\n",
            "    - address: 10.0.1.20:8080\n  backup_targets:\n    - address: 10.0.2.20:8080\n",
        )
        .expect_with(ON_AWS, 1, "repo/pools/shop.yaml:32:16: error[unsupported-by-provider] pool/shop-canary: ELBv2 has no backup targets; this pool lists 1");
}

#[test]
fn aws_nlb_addresses_must_match_its_subnets() {
    Repo::aws_example()
        .edit("balancers/shop-tcp.yaml", "    - pool: public\n    - pool: public\n", "    - pool: public\n")
        .expect_with(ON_AWS, 1, "repo/balancers/shop-tcp.yaml:9:7: error[unsupported-by-provider] loadbalancer/shop-tcp: an NLB takes one Elastic IP per subnet: this balancer has 1 address(es) and the daemon config gives it 2 subnet(s)");
}

/// `lbops token create` as an admin runs it: the printed entry goes into
/// the ServiceAccount and validates; the token matches its hash; a token
/// committed by mistake is caught by validation's secret scan.
#[test]
fn a_created_token_entry_validates_and_a_committed_token_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args([
            "token",
            "create",
            "--service-account",
            "deploy-bot",
            "--name",
            "pipeline",
            "--scopes",
            "state.read,pool.targets.*",
            "--resources",
            "pool/web-*,*",
            "--expires",
            "30d",
            "--output",
            "json",
        ])
        .output()
        .expect("run lbops");
    assert!(output.status.success(), "{output:?}");
    let created: Value = serde_json::from_slice(&output.stdout).expect("json");
    let token = created["token"].as_str().expect("a token");
    let entry = &created["entry"];
    let parsed = lbops::spec::material::api_token::ApiToken::parse(token).expect("it parses");
    assert_eq!(parsed.id().as_str(), entry["id"].as_str().unwrap());
    let hash = lbops::spec::material::parse_token_hash(entry["hash"].as_str().unwrap()).unwrap();
    assert!(parsed.matches(&hash));

    // The text output's entry, pasted under `tokens:`.
    let text = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args(["token", "create", "--service-account", "deploy-bot"])
        .args(["--scopes", "*", "--resources", "pool/web-*"])
        .output()
        .expect("run lbops");
    let text = String::from_utf8(text.stdout).unwrap();
    let (_, entry) = text
        .split_once("access.tokens.issue`:\n\n")
        .expect("an entry");
    assert!(!entry.contains("lbops_"), "the entry never holds the token");
    let repo = Repo::example();
    repo.edit(
        "access/service-accounts.yaml",
        "  tokens:\n",
        &format!("  tokens:\n{entry}"),
    );
    let run = repo.validate(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    repo.write("pools/notes.yaml", &format!("# deploy with {token}\n"));
    repo.expect_only(
        "repo/pools/notes.yaml:1:15: error[secret-in-repo]: this file contains an lbops API token; secrets must never be committed",
    );
}
