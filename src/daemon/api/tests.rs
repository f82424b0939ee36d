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
