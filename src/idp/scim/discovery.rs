//! The discovery endpoints (RFC 7644 §4): what lbops offers
//! (`/ServiceProviderConfig`), which resource types (`/ResourceTypes`)
//! and their schemas (`/Schemas`), all written from the schema tables so
//! that what is published is what is checked.

use super::list::MAX_COUNT;
use super::schema::{
    Attr, PublishedSchema, ResourceSchema, Type, LIST_RESPONSE, RESOURCES, RESOURCE_TYPE_SCHEMA,
    SCHEMAS, SCHEMA_SCHEMA, SERVICE_PROVIDER_CONFIG_SCHEMA,
};
use serde_json::{json, Value};

#[must_use]
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_COUNT},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "The token in lbops' config (scim.token_file or scim.token_env), as `Authorization: Bearer …`",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

#[must_use]
pub fn resource_type(resource: &ResourceSchema, base: &str) -> Value {
    json!({
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": resource.name,
        "name": resource.name,
        "description": resource.description,
        "endpoint": resource.endpoint,
        "schema": resource.schema,
        "meta": {
            "resourceType": "ResourceType",
            "location": format!("{base}/ResourceTypes/{}", resource.name),
        },
    })
}

/// The resource type whose id is `id`.
#[must_use]
pub fn find_resource_type(id: &str) -> Option<&'static ResourceSchema> {
    RESOURCES.iter().find(|r| r.name == id)
}

#[must_use]
pub fn resource_types(base: &str) -> Value {
    listed(RESOURCES.iter().map(|r| resource_type(r, base)).collect())
}

#[must_use]
pub fn schema(schema: &PublishedSchema, base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": schema.attributes.iter().map(attribute).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{}", schema.id),
        },
    })
}

#[must_use]
pub fn find_schema(id: &str) -> Option<&'static PublishedSchema> {
    SCHEMAS.iter().find(|s| s.id == id)
}

#[must_use]
pub fn schemas(base: &str) -> Value {
    listed(SCHEMAS.iter().map(|s| schema(s, base)).collect())
}

fn listed(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// One attribute definition (RFC 7643 §7); complex ones carry their
/// sub-attributes, which are simple: two levels at most.
fn attribute(attr: &Attr) -> Value {
    let mut out = json!({
        "name": attr.name,
        "type": attr.ty.as_str(),
        "multiValued": attr.multi,
        "description": attr.description,
        "required": attr.required,
        "caseExact": attr.case_exact,
        "mutability": attr.mutability.as_str(),
        "returned": if attr.always_returned { "always" } else { "default" },
        "uniqueness": if attr.unique { "server" } else { "none" },
    });
    if !attr.canonical.is_empty() {
        out["canonicalValues"] = json!(attr.canonical);
    }
    if !attr.reference_types.is_empty() {
        out["referenceTypes"] = json!(attr.reference_types);
    }
    if let Type::Complex(subs) = attr.ty {
        out["subAttributes"] = Value::Array(subs.iter().map(attribute).collect());
    }
    out
}
