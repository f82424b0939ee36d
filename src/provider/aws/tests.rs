use super::*;
use crate::spec::{load, Options, SourceFile};

fn catalog(yaml: &str) -> Catalog {
    load(
        &[SourceFile::new("repo.yaml", yaml)],
        &Options::at(1_800_000_000),
    )
    .unwrap_or_else(|e| panic!("invalid test repository: {:#?}", e.diagnostics))
    .catalog
}

fn config(balancers: &[&str]) -> AwsConfig {
    AwsConfig {
        region: "eu-west-1".into(),
        endpoint_url: None,
        vpc: "vpc-1".into(),
        balancers: balancers
            .iter()
            .map(|b| {
                (
                    b.parse().unwrap(),
                    AwsBalancer {
                        subnets: vec!["subnet-a".into(), "subnet-b".into()],
                        scheme: Scheme::InternetFacing,
                        security_groups: Vec::new(),
                    },
                )
            })
            .collect(),
    }
}

const REPO: &str = r#"
kind: Pool
name: web
spec: {targets: [{address: "10.0.1.10:8080"}]}
---
kind: Pool
name: db
spec: {targets: [{address: "10.0.3.10:5432"}]}
---
kind: Pool
name: local
spec: {targets: [{address: "127.0.0.1:9001"}]}
---
kind: LoadBalancer
name: shop
spec:
  listeners:
    - {name: http, protocol: http, port: 80, default_action: {forward: {pools: [{pool: web}]}}}
---
kind: LoadBalancer
name: data
spec:
  listeners:
    - {name: pg, protocol: tcp, port: 5432, default_action: {forward: {pools: [{pool: db}]}}}
---
kind: LoadBalancer
name: dev
spec:
  listeners:
    - {name: http, protocol: http, port: 8080, default_action: {forward: {pools: [{pool: local}]}}}
"#;

#[test]
fn placement_takes_the_placed_balancers_and_what_they_forward_to() {
    let placement = Placement::of(&catalog(REPO), &config(&["shop", "data"]));
    let names = |s: &[&str]| {
        s.iter()
            .map(|n| n.parse().unwrap())
            .collect::<BTreeSet<Name>>()
    };
    assert_eq!(placement.balancers, names(&["data", "shop"]));
    assert_eq!(
        placement.pools,
        [
            ("db".parse().unwrap(), Family::Network),
            ("web".parse().unwrap(), Family::Application)
        ]
        .into_iter()
        .collect()
    );
}

#[test]
fn nothing_is_placed_on_aws_unless_the_config_says_so() {
    let placement = Placement::of(&catalog(REPO), &config(&[]));
    assert_eq!(placement, Placement::default());
}
