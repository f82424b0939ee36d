//! Every mapping goes there and back unchanged: what makes a plan against
//! AWS empty once applied. Each case is a YAML an SRE would write.

use super::*;
use crate::provider::aws::testing::catalog;
use crate::spec::kinds::loadbalancer::Route;
use crate::spec::Catalog;
use aws_sdk_elasticloadbalancingv2::types::TargetGroup;

const REPO: &str = r#"
kind: Pool
name: stable
spec:
  algorithm: least_requests
  targets: [{address: "10.0.1.10:8080"}, {address: "10.0.1.11:8080"}]
  health_check: {probe: {http: {path: /healthz, expected_codes: [200, 204]}}, interval: 10s, timeout: 5s, healthy_threshold: 3, unhealthy_threshold: 2}
  draining_timeout: 45s
  slow_start: 60s
---
kind: Pool
name: canary
spec:
  targets: [{address: "10.0.2.10:8080"}]
  health_check: {probe: {http: {path: /ready}}}
---
kind: LoadBalancer
name: shop
spec:
  listeners:
    - name: http
      protocol: http
      port: 80
      routes:
        - {name: exact, priority: 1, match: {path: {exact: /robots.txt}}, action: {fixed_response: {status: 200, body: "User-agent: *\n"}}}
        - {name: prefix, priority: 2, match: {path: {prefix: /v1/}}, action: {forward: {pools: [{pool: stable}]}}}
        - {name: bare-prefix, priority: 3, match: {path: {prefix: /v2}}, action: {forward: {pools: [{pool: stable}]}}}
        - {name: root, priority: 4, match: {path: {prefix: /}, host: "*.shop.test"}, action: {forward: {pools: [{pool: stable, weight: 90}, {pool: canary, weight: 10}]}}}
        - {name: header, priority: 5, match: {headers: [{name: x-canary, value: "yes"}, {name: x-debug}], methods: [GET, POST]}, action: {forward: {pools: [{pool: canary}]}}}
        - {name: moved, priority: 6, match: {host: old.shop.test}, action: {redirect: {status: 301, to: "https://shop.test{path}?{query}"}}}
        - {name: moved-port, priority: 7, match: {host: alt.shop.test}, action: {redirect: {status: 302, to: "http://{host}:8080/new{path}"}}}
        - {name: json, priority: 8, match: {path: {exact: /status}}, action: {fixed_response: {status: 503, content_type: application/json, body: "{}"}}}
      default_action: {fixed_response: {status: 404, body: "no route\n"}}
"#;

fn routes(catalog: &Catalog) -> Vec<Route> {
    catalog.load_balancers["shop"].spec.listeners[0]
        .routes
        .clone()
}

fn arn(pool: &Name) -> Option<String> {
    Some(format!("arn:aws:elasticloadbalancing:tg/{pool}"))
}

fn pool(arn: &str) -> Option<Name> {
    arn.strip_prefix("arn:aws:elasticloadbalancing:tg/")?
        .parse()
        .ok()
}

#[test]
fn every_route_match_goes_there_and_back() {
    for route in routes(&catalog(REPO)) {
        let conditions = to_conditions(&route.matches);
        let back = from_conditions(&conditions, path_spelling(&route.matches));
        assert_eq!(
            back.as_ref(),
            Some(&route.matches),
            "route {}",
            route.name.value
        );
    }
}

#[test]
fn a_prefix_is_the_path_and_everything_under_it() {
    let route = &routes(&catalog(REPO))[1];
    let conditions = to_conditions(&route.matches);
    assert_eq!(conditions[0].field(), Some("path-pattern"));
    assert_eq!(
        conditions[0].path_pattern_config().unwrap().values(),
        ["/v1", "/v1/*"]
    );
    // The root prefix is one pattern.
    let root = &routes(&catalog(REPO))[3];
    let values: Vec<_> = to_conditions(&root.matches)
        .iter()
        .filter_map(|c| c.path_pattern_config().map(|p| p.values().to_vec()))
        .collect();
    assert_eq!(values, [vec!["/*".to_owned()]]);
}

#[test]
fn without_its_tag_a_prefix_reads_back_with_a_trailing_slash() {
    // A rule written by hand has no lbops:path tag: the prefix is read in
    // one spelling, and a spelling tag that no longer fits is ignored.
    let route = &routes(&catalog(REPO))[2];
    let conditions = to_conditions(&route.matches);
    let path = |m: Option<RouteMatch>| m.unwrap().path.unwrap().value;
    assert_eq!(
        path(from_conditions(&conditions, None)),
        PathMatch::Prefix("/v2/".into())
    );
    assert_eq!(
        path(from_conditions(&conditions, Some("/v3"))),
        PathMatch::Prefix("/v2/".into())
    );
    assert_eq!(
        path(from_conditions(&conditions, Some("/v2"))),
        PathMatch::Prefix("/v2".into())
    );
}

#[test]
fn conditions_lbops_never_writes_read_as_none() {
    let source_ip = RuleCondition::builder().field("source-ip").build();
    assert_eq!(from_conditions(&[source_ip], None), None);
    let two_hosts = RuleCondition::builder()
        .field("host-header")
        .host_header_config(
            HostHeaderConditionConfig::builder()
                .values("a.test")
                .values("b.test")
                .build(),
        )
        .build();
    assert_eq!(from_conditions(&[two_hosts], None), None);
}

#[test]
fn every_action_goes_there_and_back() {
    let catalog = catalog(REPO);
    let listener = &catalog.load_balancers["shop"].spec.listeners[0];
    let actions = routes(&catalog)
        .into_iter()
        .map(|r| r.action.value)
        .chain(listener.default_action.iter().map(|a| a.value.clone()));
    for action in actions {
        let aws = to_action(&action, arn).unwrap();
        let back = from_action(&aws, pool, content_type_of(&action));
        assert_eq!(back.as_ref(), Some(&action), "{aws:?}");
    }
}

#[test]
fn a_canary_split_is_one_forward_with_weighted_target_groups() {
    let action = &routes(&catalog(REPO))[3].action.value;
    let aws = to_action(action, arn).unwrap();
    let groups: Vec<_> = aws
        .forward_config()
        .unwrap()
        .target_groups()
        .iter()
        .map(|g| {
            (
                g.target_group_arn().unwrap().to_owned(),
                g.weight().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("arn:aws:elasticloadbalancing:tg/stable".to_owned(), 90),
            ("arn:aws:elasticloadbalancing:tg/canary".to_owned(), 10)
        ]
    );
}

#[test]
fn a_forward_to_a_pool_without_a_target_group_is_an_error() {
    let action = &routes(&catalog(REPO))[1].action.value;
    assert_eq!(
        to_action(action, |_| None).unwrap_err(),
        MapError::NoTargetGroup("stable".parse().unwrap())
    );
}

#[test]
fn redirects_use_elbv2_placeholders() {
    let action = &routes(&catalog(REPO))[6].action.value;
    let aws = to_action(action, arn).unwrap();
    let config = aws.redirect_config().unwrap();
    assert_eq!(config.protocol(), Some("HTTP"));
    assert_eq!(config.host(), Some("#{host}"));
    assert_eq!(config.port(), Some("8080"));
    assert_eq!(config.path(), Some("/new/#{path}"));
    assert_eq!(config.query(), Some(""));
    assert_eq!(
        config.status_code(),
        Some(&RedirectActionStatusCodeEnum::Http302)
    );
}

#[test]
fn a_content_type_changed_in_the_console_is_read_as_changed() {
    let default_type = Action::FixedResponse(FixedResponse {
        status: Spanned::unplaced(404),
        body: String::new(),
        content_type: "text/plain; charset=utf-8".into(),
    });
    let aws = to_action(&default_type, arn).unwrap();
    assert_eq!(
        aws.fixed_response_config().unwrap().content_type(),
        Some("text/plain")
    );
    // Someone sets text/html by hand; lbops' tag still says text/plain.
    let by_hand = elb::Action::builder()
        .r#type(ActionTypeEnum::FixedResponse)
        .fixed_response_config(
            FixedResponseActionConfig::builder()
                .status_code("404")
                .content_type("text/html")
                .message_body("")
                .build(),
        )
        .build();
    let Some(Action::FixedResponse(read)) =
        from_action(&by_hand, pool, Some("text/plain; charset=utf-8"))
    else {
        panic!("a fixed response");
    };
    assert_eq!(read.content_type, "text/html");
}

fn target_group(health: &TargetGroupHealth) -> TargetGroup {
    TargetGroup::builder()
        .health_check_protocol(health.protocol.clone())
        .set_health_check_path(health.path.clone())
        .set_matcher(
            health
                .matcher
                .clone()
                .map(|m| Matcher::builder().http_code(m).build()),
        )
        .health_check_interval_seconds(health.interval_seconds)
        .health_check_timeout_seconds(health.timeout_seconds)
        .healthy_threshold_count(health.healthy_threshold)
        .unhealthy_threshold_count(health.unhealthy_threshold)
        .build()
}

#[test]
fn pool_settings_go_there_and_back() {
    let catalog = catalog(REPO);
    for name in ["stable", "canary"] {
        let spec = &catalog.pools[name].spec;
        let health = to_health(&spec.health_check.as_ref().unwrap().value);
        let back = from_target_group(&target_group(&health), &to_attributes(spec, true)).unwrap();
        let settings = PoolSpec {
            targets: Vec::new(),
            backup_targets: Vec::new(),
            ..spec.clone()
        };
        assert_eq!(back, settings, "pool {name}");
    }
}

#[test]
fn nlb_target_groups_get_no_alb_only_attributes() {
    let catalog = catalog(REPO);
    let keys: Vec<_> = to_attributes(&catalog.pools["stable"].spec, false)
        .iter()
        .map(|a| a.key().unwrap().to_owned())
        .collect();
    assert_eq!(keys, [ATTR_DEREGISTRATION]);
}

#[test]
fn matcher_ranges_read_as_every_code_in_them() {
    let group = TargetGroup::builder()
        .health_check_protocol(ProtocolEnum::Http)
        .health_check_path("/")
        .matcher(Matcher::builder().http_code("200-202,204").build())
        .health_check_interval_seconds(30)
        .health_check_timeout_seconds(5)
        .healthy_threshold_count(5)
        .unhealthy_threshold_count(2)
        .build();
    let Probe::Http(http) = from_health(&group).unwrap().probe else {
        panic!("an http probe");
    };
    let codes: Vec<u16> = http.expected_codes.iter().map(|c| c.value).collect();
    assert_eq!(codes, [200, 201, 202, 204]);
}

#[test]
fn security_policies_stand_for_minimum_versions() {
    for version in [TlsVersion::Tls12, TlsVersion::Tls13] {
        assert_eq!(min_version(ssl_policy(version)), Some(version));
    }
    assert_eq!(min_version("ELBSecurityPolicy-2016-08"), None);
}
