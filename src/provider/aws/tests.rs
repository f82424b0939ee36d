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

#[test]
fn a_duplicate_certificate_is_observed_under_a_stable_name_of_its_own() {
    let arn = |i: u32| format!("arn:aws:acm:eu-west-1:123456789012:certificate/{i}");
    let short: Name = "shop-example-test".parse().unwrap();
    let first = observe::duplicate(&short, &arn(1));
    assert!(first.as_str().starts_with("shop-example-test-duplicate-"));
    assert_eq!(
        first.as_str().len(),
        "shop-example-test-duplicate-".len() + 8
    );
    assert_ne!(first, observe::duplicate(&short, &arn(2)));
    assert_eq!(first, observe::duplicate(&short, &arn(1)), "stable");
    // A name of the longest kind still gives a valid one, not ending in `-`.
    let long: Name = format!("{}-b", "a".repeat(61)).parse().unwrap();
    let named = observe::duplicate(&long, &arn(1));
    assert!(named.as_str().len() <= crate::spec::units::MAX_NAME_LEN);
    assert!(named.as_str().contains("-duplicate-") && !named.as_str().contains("--"));
}
