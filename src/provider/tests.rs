use super::*;
use crate::spec::{load, Options, SourceFile};

/// A provider like a cloud network balancer: L4 only, two algorithms.
const L4_ONLY: Capabilities = Capabilities {
    name: "l4-only",
    protocols: &["tcp", "tls"],
    algorithms: &["round_robin", "consistent_hash"],
    backup_targets: false,
    slow_start: false,
    fixed_responses: false,
    retries: false,
    needs_addresses: true,
};

fn example() -> Catalog {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/repo");
    let files: Vec<SourceFile> =
        crate::source::read_tree(std::path::Path::new(root)).expect("example repo");
    load(&files, &Options::at(1_800_000_000))
        .expect("valid")
        .catalog
}

#[test]
fn the_embedded_provider_supports_the_whole_example() {
    assert_eq!(unsupported(&example(), &embedded::CAPABILITIES), []);
}

#[test]
fn a_provider_refuses_what_it_cannot_do_at_the_place_it_is_asked() {
    let found: Vec<String> = unsupported(&example(), &L4_ONLY)
        .iter()
        .map(|d| {
            format!(
                "{}:{}:{} {}",
                d.file.rsplit('/').next().unwrap_or_default(),
                d.line,
                d.column,
                d.message
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            "web.yaml:12:17 the l4-only provider cannot serve `http` listeners",
            "web.yaml:19:17 the l4-only provider cannot serve `https` listeners",
            "web.yaml:34:13 the l4-only provider cannot answer with fixed responses",
            "web.yaml:60:9 the l4-only provider cannot answer with fixed responses",
            "db.yaml:12:16 the l4-only provider cannot keep backup targets",
            "web.yaml:2:1 the l4-only provider cannot balance with `least_requests`",
            "web.yaml:14:16 the l4-only provider cannot keep backup targets",
            "web.yaml:2:1 the l4-only provider cannot ramp targets up with slow start",
        ]
    );
}

#[test]
fn route_retries_run_on_the_embedded_data_plane_only() {
    let yaml = "kind: Pool\nname: web\nspec:\n  targets: [{address: '10.0.0.1:80'}, {address: '10.0.0.2:80'}]\n---\n\
        kind: LoadBalancer\nname: front\nspec:\n  addresses: [192.0.2.10]\n  listeners:\n\
        \x20   - name: http\n      protocol: http\n      port: 80\n      routes:\n\
        \x20       - name: reads\n          priority: 1\n          match: {methods: [GET]}\n\
        \x20         action: {forward: {pools: [{pool: web}]}}\n\
        \x20         retries: {attempts: 2}\n";
    let catalog = load(
        &[SourceFile::new("lb.yaml", yaml)],
        &Options::at(1_800_000_000),
    )
    .expect("valid")
    .catalog;
    assert_eq!(unsupported(&catalog, &embedded::CAPABILITIES), []);
    let refused: Vec<String> = unsupported(&catalog, &aws::CAPABILITIES)
        .iter()
        .map(|d| format!("{}:{}:{} {}", d.file, d.line, d.column, d.message))
        .collect();
    assert_eq!(
        refused,
        ["lb.yaml:19:20 the aws provider cannot retry requests a target broke off (`retries`)"]
    );
}
