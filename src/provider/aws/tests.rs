use super::testing::catalog;
use super::*;

fn config(balancers: &[&str]) -> AwsConfig {
    super::testing::config(balancers, None)
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

#[test]
fn a_balancer_forwarding_to_an_ipv6_pool_is_dualstack() {
    let repo = REPO.replace("10.0.3.10:5432", "[2001:db8::10]:5432");
    let catalog = catalog(&repo);
    let placement = Placement::of(&catalog, &config(&["shop", "data"]));
    assert_eq!(
        placement.ipv6_pools,
        BTreeSet::from(["db".parse::<Name>().unwrap()])
    );
    assert!(placement.dualstack(&catalog.load_balancers["data"].spec));
    assert!(!placement.dualstack(&catalog.load_balancers["shop"].spec));
}
