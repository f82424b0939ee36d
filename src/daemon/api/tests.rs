//! The API's router in-process: the OpenAPI document against the
//! endpoint table.

use super::routes::Endpoint;
use std::collections::BTreeSet;

#[test]
fn the_openapi_document_lists_exactly_the_routers_endpoints_methods_and_statuses() {
    let doc: serde_json::Value = serde_json::from_str(super::openapi::DOCUMENT).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| !matches!(k.as_str(), "parameters" | "summary" | "description"))
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = Endpoint::ALL
        .iter()
        .map(|e| (e.method().to_string(), format!("/v1{}", e.path())))
        .collect();
    assert_eq!(documented, routed);
    for e in Endpoint::ALL {
        let operation = &paths[&format!("/v1{}", e.path())][e.method().as_str().to_lowercase()];
        let statuses: BTreeSet<u16> = operation["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(
            statuses,
            e.statuses().iter().copied().collect(),
            "{} {}",
            e.method(),
            e.path()
        );
        // A public endpoint says so; the rest need the bearer token.
        assert_eq!(
            operation.get("security") == Some(&serde_json::json!([])),
            e.public(),
            "{}",
            e.path()
        );
        // Every `{param}` of the path is declared.
        for param in e.path().split('/').filter_map(|s| s.strip_prefix('{')) {
            let name = param.trim_end_matches('}');
            assert!(
                operation["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path")),
                "{} declares no `{name}`",
                e.path()
            );
        }
    }
}

/// A catalog from one YAML text.
fn catalog(yaml: &str) -> crate::spec::Catalog {
    crate::spec::load(
        &[crate::spec::SourceFile::new("repo.yaml", yaml)],
        &crate::spec::Options::at(1_800_000_000),
    )
    .unwrap_or_else(|e| panic!("{:#?}", e.diagnostics))
    .catalog
}

#[test]
fn a_pool_shows_git_weights_with_live_health_and_targets_still_draining() {
    use crate::model::{Health, ObservedPool, ObservedState, ObservedTarget};
    let git = catalog(
        "kind: Pool
name: web
labels: {team: web}
spec:
  targets:
    - {address: '10.0.0.1:80', weight: 90}
    - {address: '10.0.0.2:80', weight: 10}
  backup_targets: [{address: '10.0.0.9:80'}]
",
    );
    let web = &git.pools["web"];
    let target = |address: &str, weight, backup, health| ObservedTarget {
        address: address.parse().unwrap(),
        weight,
        backup,
        health,
    };
    let mut observed = ObservedState::default();
    observed.pools.insert(
        web.name.clone(),
        ObservedPool {
            spec: web.spec.clone(),
            targets: vec![
                target("10.0.0.1:80", 90, false, Health::Healthy),
                target("10.0.0.2:80", 10, false, Health::Unhealthy),
                target("10.0.0.3:80", 5, false, Health::Draining),
            ],
        },
    );
    let shown = serde_json::to_value(super::view::pool(web, Some(&observed))).unwrap();
    assert_eq!(
        shown,
        serde_json::json!({
            "name": "web",
            "labels": {"team": "web"},
            "algorithm": "round_robin",
            "targets": [
                {"address": "10.0.0.1:80", "weight": 90, "backup": false, "health": "healthy", "in_git": true},
                {"address": "10.0.0.2:80", "weight": 10, "backup": false, "health": "unhealthy", "in_git": true},
                {"address": "10.0.0.9:80", "weight": 1, "backup": true, "health": "unknown", "in_git": true},
                {"address": "10.0.0.3:80", "weight": 5, "backup": false, "health": "draining", "in_git": false},
            ]
        })
    );
    // Not observed: git's weights, health unknown.
    let unobserved = super::view::pool(web, None);
    assert!(unobserved
        .targets
        .iter()
        .all(|t| t.health == Health::Unknown && t.in_git));
}

#[test]
fn every_error_has_a_code_a_message_and_a_hint_and_none_names_a_secret() {
    use super::error::ApiError;
    use crate::identity::TokenRefused;
    use crate::spec::material::api_token::{TokenFormatError, TokenId};
    let id = TokenId::parse("abcdefghijkl").unwrap();
    let all = [
        ApiError::MissingToken,
        ApiError::NotBearer,
        ApiError::Token(TokenRefused::Malformed(TokenFormatError::Checksum)),
        ApiError::Token(TokenRefused::UnknownId(id.clone())),
        ApiError::Token(TokenRefused::WrongSecret(id.clone())),
        ApiError::Token(TokenRefused::Expired {
            id: id.clone(),
            expired_at: 1,
        }),
        ApiError::NotFound {
            kind: "pool",
            name: "web".into(),
            hidden: None,
        },
        ApiError::NoRoute,
        ApiError::MethodNotAllowed,
        ApiError::RateLimited {
            retry_after: std::time::Duration::from_millis(1500),
        },
        ApiError::BodyTooLarge(1),
        ApiError::HeadersTooLarge(1),
        ApiError::NotReady,
        ApiError::AuditUnavailable,
    ];
    // Printed so that a person reviews the wording (`--nocapture`).
    for e in &all {
        println!(
            "{} {}: {} ({})",
            e.status(),
            e.code(),
            e.message(),
            e.hint()
        );
        assert!(!e.message().is_empty() && !e.hint().is_empty());
        assert!(e.status().is_client_error() || e.status().is_server_error());
    }
    // An unknown id and a wrong secret read the same to the client.
    assert_eq!(all[3].message(), all[4].message());
    assert_eq!(all[3].code(), all[4].code());
    assert_ne!(all[3].refusal().reason, all[4].refusal().reason);
}
