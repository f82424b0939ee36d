//! The kinds users write, and the envelope every document shares:
//! `kind`, `name`, optional `labels`, and `spec`.

pub mod access;
pub mod addresspool;
pub mod certificate;
pub mod freeze;
pub mod loadbalancer;
pub mod pool;

use super::units::Name;
use super::yaml::Pos;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Every kind lbops knows, in the order `lbops schema` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    LoadBalancer,
    Pool,
    Certificate,
    AddressPool,
    Role,
    User,
    Group,
    ServiceAccount,
    Freeze,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::LoadBalancer,
        Kind::Pool,
        Kind::Certificate,
        Kind::AddressPool,
        Kind::Role,
        Kind::User,
        Kind::Group,
        Kind::ServiceAccount,
        Kind::Freeze,
    ];

    /// The name written in `kind:`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LoadBalancer => "LoadBalancer",
            Kind::Pool => "Pool",
            Kind::Certificate => "Certificate",
            Kind::AddressPool => "AddressPool",
            Kind::Role => "Role",
            Kind::User => "User",
            Kind::Group => "Group",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::Freeze => "Freeze",
        }
    }

    /// The prefix of resource ids and patterns: `pool` in `pool/web`.
    #[must_use]
    pub fn id_prefix(self) -> &'static str {
        match self {
            Kind::LoadBalancer => "loadbalancer",
            Kind::Pool => "pool",
            Kind::Certificate => "certificate",
            Kind::AddressPool => "addresspool",
            Kind::Role => "role",
            Kind::User => "user",
            Kind::Group => "group",
            Kind::ServiceAccount => "serviceaccount",
            Kind::Freeze => "freeze",
        }
    }

    #[must_use]
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|k| k.as_str()).collect()
    }

    /// Finds a kind by its `kind:` name, or (case-insensitively) its id prefix.
    #[must_use]
    pub fn parse(s: &str) -> Option<Kind> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s || k.id_prefix().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `kind/name`, the identity of a resource across files and commits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId {
    pub kind: Kind,
    pub name: Name,
}

impl ResourceId {
    #[must_use]
    pub fn new(kind: Kind, name: Name) -> Self {
        Self { kind, name }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.id_prefix(), self.name)
    }
}

impl Serialize for ResourceId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Where a document was written: its file and the line of `kind:`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub file: Arc<str>,
    pub pos: Pos,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

pub type Labels = BTreeMap<String, String>;

/// One document of some kind, with its envelope.
#[derive(Clone, Debug, Serialize)]
pub struct Resource<S> {
    pub name: Name,
    pub labels: Labels,
    pub spec: S,
    /// Not part of the resource's value: two catalogs that differ only in
    /// where things are written hold the same resources.
    #[serde(skip)]
    pub origin: Origin,
}

impl<S: PartialEq> PartialEq for Resource<S> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.labels == other.labels && self.spec == other.spec
    }
}

/// A parsed document of any kind.
#[derive(Clone, Debug, PartialEq)]
pub enum AnySpec {
    LoadBalancer(loadbalancer::LoadBalancerSpec),
    Pool(pool::PoolSpec),
    Certificate(certificate::CertificateSpec),
    AddressPool(addresspool::AddressPoolSpec),
    Role(access::RoleSpec),
    User(access::UserSpec),
    Group(access::GroupSpec),
    ServiceAccount(access::ServiceAccountSpec),
    Freeze(freeze::FreezeSpec),
}

/// Whether `text` is a resource pattern a Role rule or a token may name:
/// `*`, or `KIND/NAME` where KIND is a kind's id prefix or `*` and NAME is
/// lowercase letters, digits, `-` and `*` (any run).
#[must_use]
pub fn is_resource_pattern(text: &str) -> bool {
    text == "*"
        || text.split_once('/').is_some_and(|(kind, name)| {
            (kind == "*" || Kind::ALL.iter().any(|k| k.id_prefix() == kind))
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'*')
        })
}

/// The JSON Schema of one kind's whole document (envelope and spec).
#[must_use]
pub fn json_schema(kind: Kind) -> serde_json::Value {
    fn of<S: schemars::JsonSchema>(kind: Kind) -> serde_json::Value {
        let mut spec = schemars::schema_for!(S);
        let definitions = spec.remove("$defs");
        spec.remove("$schema");
        let mut document = serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": format!("https://lbops.dev/schema/{}.json", kind.id_prefix()),
            "title": kind.as_str(),
            "type": "object",
            "required": ["kind", "name", "spec"],
            "additionalProperties": false,
            "properties": {
                "kind": { "const": kind.as_str() },
                "name": { "type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$" },
                "labels": { "type": "object", "additionalProperties": { "type": "string" } },
                "spec": spec,
            }
        });
        if let Some(defs) = definitions {
            document["$defs"] = defs;
        }
        document
    }
    match kind {
        Kind::LoadBalancer => of::<loadbalancer::LoadBalancerSpec>(kind),
        Kind::Pool => of::<pool::PoolSpec>(kind),
        Kind::Certificate => of::<certificate::CertificateSpec>(kind),
        Kind::AddressPool => of::<addresspool::AddressPoolSpec>(kind),
        Kind::Role => of::<access::RoleSpec>(kind),
        Kind::User => of::<access::UserSpec>(kind),
        Kind::Group => of::<access::GroupSpec>(kind),
        Kind::ServiceAccount => of::<access::ServiceAccountSpec>(kind),
        Kind::Freeze => of::<freeze::FreezeSpec>(kind),
    }
}

/// One schema for any document: `oneOf` the kinds, for editors that map a
/// single schema to every file of the repository.
#[must_use]
pub fn combined_json_schema() -> serde_json::Value {
    let mut definitions = serde_json::Map::new();
    let mut one_of = Vec::new();
    for kind in Kind::ALL {
        let mut schema = json_schema(kind);
        if let Some(serde_json::Value::Object(defs)) =
            schema.as_object_mut().and_then(|o| o.remove("$defs"))
        {
            definitions.extend(defs);
        }
        if let Some(o) = schema.as_object_mut() {
            o.remove("$schema");
            o.remove("$id");
        }
        definitions.insert(kind.as_str().to_owned(), schema);
        one_of.push(serde_json::json!({ "$ref": format!("#/$defs/{}", kind.as_str()) }));
    }
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://lbops.dev/schema/lbops.json",
        "title": "lbops resource",
        "oneOf": one_of,
        "$defs": definitions,
    })
}
