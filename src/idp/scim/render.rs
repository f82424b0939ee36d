//! Resources as a client reads them: the kept attributes, the computed
//! ones (a member's `$ref` and `type`, a User's `groups`), `meta`, and
//! only the attributes asked for (`attributes` / `excludedAttributes`,
//! RFC 7644 §3.4.2.5).

use super::error::ScimError;
use super::filter::strip_urn;
use super::store::{Kind, Resource, Store};
use serde_json::{json, Map, Value};

/// RFC 3339 of Unix seconds.
#[must_use]
pub fn timestamp(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// Where a resource lives, under `base` (`…/scim/v2`).
#[must_use]
pub fn location(base: &str, kind: Kind, id: &str) -> String {
    format!("{base}{}/{id}", kind.schema().endpoint)
}

/// The full JSON of a resource.
#[must_use]
pub fn resource(store: &Store, kind: Kind, resource: &Resource, base: &str) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([kind.schema().schema]));
    out.insert("id".into(), json!(resource.id));
    for (name, value) in &resource.attrs {
        let value = match (kind, name.as_str()) {
            (Kind::Group, "members") => members(store, value, base),
            _ => value.clone(),
        };
        out.insert(name.clone(), value);
    }
    if kind == Kind::User {
        let groups: Vec<Value> = store
            .groups_of(&resource.id)
            .map(|group| {
                json!({
                    "value": group.id,
                    "$ref": location(base, Kind::Group, &group.id),
                    "display": group.name(Kind::Group),
                    "type": "direct",
                })
            })
            .collect();
        if !groups.is_empty() {
            out.insert("groups".into(), Value::Array(groups));
        }
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": kind.schema().name,
            "created": timestamp(resource.created.at),
            "lastModified": timestamp(resource.modified.at),
            "location": location(base, kind, &resource.id),
            "version": resource.version(),
        }),
    );
    Value::Object(out)
}

fn members(store: &Store, value: &Value, base: &str) -> Value {
    let Value::Array(items) = value else {
        return value.clone();
    };
    Value::Array(
        items
            .iter()
            .map(|item| {
                let mut item = item.clone();
                let id = item.get("value").and_then(Value::as_str).map(str::to_owned);
                if let (Some(object), Some(id)) = (item.as_object_mut(), id) {
                    if store.get(Kind::User, &id).is_some() {
                        object.insert("$ref".into(), json!(location(base, Kind::User, &id)));
                        object.insert("type".into(), json!("User"));
                    }
                }
                item
            })
            .collect(),
    )
}

/// Which attributes an answer holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Projection {
    #[default]
    All,
    /// Only these (`attr` or `attr.sub`, lower case), besides `schemas` and `id`.
    Only(Vec<(String, Option<String>)>),
    /// All but these.
    Except(Vec<(String, Option<String>)>),
}

/// The most attribute names a projection lists.
pub const MAX_PROJECTED: usize = 50;

impl Projection {
    /// From the `attributes` and `excludedAttributes` parameters.
    pub fn parse(
        attributes: Option<&str>,
        excluded: Option<&str>,
        kind: Kind,
    ) -> Result<Projection, ScimError> {
        let names = |text: &str| -> Result<Vec<(String, Option<String>)>, ScimError> {
            let names: Vec<_> = text
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|name| {
                    let local = strip_urn(name, kind.schema())
                        .unwrap_or(name)
                        .to_lowercase();
                    match local.split_once('.') {
                        Some((a, s)) => (a.to_owned(), Some(s.to_owned())),
                        None => (local, None),
                    }
                })
                .collect();
            if names.len() > MAX_PROJECTED {
                return Err(ScimError::TooLarge(format!(
                    "name at most {MAX_PROJECTED} attributes"
                )));
            }
            Ok(names)
        };
        match (attributes, excluded) {
            (Some(_), Some(_)) => Err(ScimError::InvalidSyntax(
                "give `attributes` or `excludedAttributes`, not both".to_owned(),
            )),
            (Some(a), None) => Ok(Projection::Only(names(a)?)),
            (None, Some(e)) => Ok(Projection::Except(names(e)?)),
            (None, None) => Ok(Projection::All),
        }
    }

    /// Cuts a rendered resource down.
    pub fn apply(&self, value: &mut Value) {
        let Some(object) = value.as_object_mut() else {
            return;
        };
        let always = |name: &str| name == "schemas" || name == "id";
        match self {
            Projection::All => {}
            Projection::Only(names) => {
                object.retain(|key, _| {
                    always(key) || names.iter().any(|(a, _)| *a == key.to_lowercase())
                });
                for (key, value) in object.iter_mut() {
                    let subs: Vec<&String> = names
                        .iter()
                        .filter(|(a, _)| *a == key.to_lowercase())
                        .filter_map(|(_, s)| s.as_ref())
                        .collect();
                    let whole = names
                        .iter()
                        .any(|(a, s)| *a == key.to_lowercase() && s.is_none());
                    if !subs.is_empty() && !whole {
                        keep_subs(value, |sub| subs.iter().any(|s| **s == sub.to_lowercase()));
                    }
                }
            }
            Projection::Except(names) => {
                object.retain(|key, _| {
                    always(key)
                        || !names
                            .iter()
                            .any(|(a, s)| *a == key.to_lowercase() && s.is_none())
                });
                for (key, value) in object.iter_mut() {
                    let subs: Vec<&String> = names
                        .iter()
                        .filter(|(a, _)| *a == key.to_lowercase())
                        .filter_map(|(_, s)| s.as_ref())
                        .collect();
                    if !subs.is_empty() {
                        keep_subs(value, |sub| !subs.iter().any(|s| **s == sub.to_lowercase()));
                    }
                }
            }
        }
    }
}

fn keep_subs(value: &mut Value, keep: impl Fn(&str) -> bool) {
    match value {
        Value::Object(object) => object.retain(|k, _| keep(k)),
        Value::Array(items) => {
            for item in items {
                if let Value::Object(object) = item {
                    object.retain(|k, _| keep(k));
                }
            }
        }
        _ => {}
    }
}
