use super::build::{build, Inputs};
use super::model::{Estate, RouteAction};
use super::render;
use crate::model::Health;
use crate::plan::observed_from;
use crate::spec::kinds::{Kind, Labels, ResourceId};
use crate::spec::units::Name;
use crate::spec::{load, Catalog, Options, SourceFile};
use std::collections::HashMap;

fn catalog(weight: u32) -> Catalog {
    let yaml = format!(
        "kind: Pool\nname: web\nspec:\n  targets: [{{address: '127.0.0.1:9001', weight: {weight}}}, {{address: '127.0.0.1:9002', weight: 3}}]\n---\n\
         kind: Pool\nname: api\nspec:\n  targets: [{{address: '127.0.0.1:9101'}}]\n---\n\
         kind: LoadBalancer\nname: edge\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - name: http\n      protocol: http\n      port: 8080\n      routes:\n\
         \x20       - {{name: api, priority: 10, match: {{path: {{prefix: /api}}}}, action: {{forward: {{pools: [{{pool: api, weight: 1}}, {{pool: web, weight: 3}}]}}}}}}\n\
         \x20     default_action: {{forward: {{pools: [{{pool: web}}]}}}}\n"
    );
    load(
        &[SourceFile::new("r.yaml", yaml)],
        &Options::at(1_800_000_000),
    )
    .unwrap()
    .catalog
}

fn estate(git: &Catalog, observed: Option<&crate::model::ObservedState>) -> Estate {
    let changes = HashMap::new();
    let everything = |_: Kind, _: &Name, _: &Labels| true;
    let provider = |_: &ResourceId| "embedded on in-process".to_owned();
    build(&Inputs {
        trusted: Some(("a".repeat(40).as_str(), git)),
        observed,
        loads: &[],
        figures: None,
        changes: &changes,
        provider_of: &provider,
        may_read: &everything,
        sample_seconds: 10,
    })
}

#[test]
fn every_balancer_route_pool_and_target_is_in_the_model_with_its_split() {
    let git = catalog(1);
    let mut observed = observed_from(&git);
    observed.pools.get_mut("web").unwrap().targets[0].health = Health::Unhealthy;
    let estate = estate(&git, Some(&observed));
    assert_eq!(estate.balancers.len(), 1);
    let routes = &estate.balancers[0].listeners[0].routes;
    assert_eq!(
        routes.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["api", "default"]
    );
    assert_eq!(routes[0].matches, "path=/api*");
    let RouteAction::Forward { split } = &routes[0].action else {
        panic!("{:?}", routes[0].action)
    };
    assert_eq!(
        split
            .iter()
            .map(|s| (s.pool.as_str(), s.percent))
            .collect::<Vec<_>>(),
        [("api", 25.0), ("web", 75.0)]
    );
    let web = estate.pool("web").unwrap();
    assert_eq!(web.targets[0].health, Health::Unhealthy);
    assert_eq!(web.targets[0].percent, 25.0);
    assert!(estate.balancers[0].drift.is_none() && web.drift.is_none());
}

#[test]
fn a_hand_changed_weight_is_drift_on_that_target_and_its_pool_only() {
    let git = catalog(1);
    let observed = observed_from(&catalog(7));
    let estate = estate(&git, Some(&observed));
    let web = estate.pool("web").unwrap();
    assert!(web.drift.is_some());
    assert!(web.targets[0].drift.is_some(), "{:?}", web.targets[0]);
    assert_eq!(web.targets[0].running_weight, Some(7));
    assert!(web.targets[1].drift.is_none(), "{:?}", web.targets[1]);
    assert!(estate.pool("api").unwrap().drift.is_none());

    let page = render::estate(&estate);
    assert!(
        page.contains("<tr id=\"t-web-127_0_0_1_9001\" class=\"drift\">"),
        "{page}"
    );
    assert!(page.contains("<tr id=\"t-web-127_0_0_1_9002\">"));
    assert!(page.contains("1 element(s) drifted"));
    // The picture outlines the same target.
    assert!(page.contains(" drift\"><title>127.0.0.1:9001"), "{page}");
}

#[test]
fn the_page_has_tables_and_a_picture_and_no_script_and_escapes() {
    let git = catalog(1);
    let estate = estate(&git, Some(&observed_from(&git)));
    let page = render::estate(&estate);
    for expected in [
        "<table class=\"routes\">",
        "<svg class=\"topology\"",
        "id=\"pool-web\"",
        "id=\"lb-edge\"",
        "forward → <a href=\"#pool-api\">api</a> 25%",
        "<meta http-equiv=\"refresh\" content=\"10\">",
    ] {
        assert!(page.contains(expected), "no {expected:?} in {page}");
    }
    assert!(!page.contains("<script"));
}

#[test]
fn without_an_observation_health_is_unknown_and_the_page_says_so() {
    let git = catalog(1);
    let estate = estate(&git, None);
    assert!(!estate.observed);
    assert_eq!(
        estate.pool("web").unwrap().targets[0].health,
        Health::Unknown
    );
    assert!(render::estate(&estate).contains("The provider did not answer"));
}

#[test]
fn the_model_round_trips_as_json() {
    let git = catalog(1);
    let estate = estate(&git, Some(&observed_from(&catalog(7))));
    let json = serde_json::to_string(&estate).unwrap();
    assert_eq!(serde_json::from_str::<Estate>(&json).unwrap(), estate);
    assert!(json.contains("\"kind\":\"forward\""), "{json}");
}

#[test]
fn what_a_caller_may_not_read_is_left_out() {
    let git = catalog(1);
    let changes = HashMap::new();
    let only_web =
        |kind: Kind, name: &Name, _: &Labels| kind == Kind::Pool && name.as_str() == "web";
    let provider = |_: &ResourceId| "embedded on in-process".to_owned();
    let estate = build(&Inputs {
        trusted: Some(("b".repeat(40).as_str(), &git)),
        observed: None,
        loads: &[],
        figures: None,
        changes: &changes,
        provider_of: &provider,
        may_read: &only_web,
        sample_seconds: 10,
    });
    assert!(estate.balancers.is_empty());
    assert_eq!(
        estate
            .pools
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["web"]
    );
}

#[test]
fn sparklines_are_bounded_in_points() {
    let values: Vec<f32> = (0..90).map(|i| i as f32).collect();
    let svg = render::sparkline(&values);
    assert_eq!(svg.matches(',').count(), 45, "{svg}");
    assert!(render::sparkline(&[]).is_empty());
}

#[test]
fn the_terminal_tree_names_every_element_and_colours_only_when_asked() {
    use super::tree::{tree, Colour};
    let git = catalog(1);
    let mut observed = observed_from(&catalog(7));
    observed.pools.get_mut("web").unwrap().targets[1].health = Health::Unhealthy;
    let estate = estate(&git, Some(&observed));
    let plain = tree(&estate, Colour::Plain);
    for expected in [
        "loadbalancer/edge embedded on in-process 127.0.0.1 running",
        "├─ route api path=/api* → api 25%, web 75%",
        "└─ route default * → web 100%",
        "pool/api",
        "pool/web",
        "(shown above)",
        "127.0.0.1:9001 healthy w1 25% (runs w7) DRIFT: pool/web",
        "127.0.0.1:9002 unhealthy w3 75%",
        "127.0.0.1:9101 healthy",
    ] {
        assert!(plain.contains(expected), "no {expected:?} in\n{plain}");
    }
    assert!(!plain.contains('\x1b'));
    let coloured = tree(&estate, Colour::Ansi);
    assert!(
        coloured.contains("\x1b[31;1munhealthy\x1b[0m"),
        "{coloured}"
    );
}

#[test]
fn terminal_sparklines_scale_to_their_maximum() {
    assert_eq!(super::tree::sparkline(&[0.0, 5.0, 10.0]), "▁▅█");
    assert_eq!(super::tree::sparkline(&[0.0; 40]).chars().count(), 30);
}
