//! `LoadBalancer`: addresses, listeners, routes and TLS termination.

use crate::spec::units::{Dur, Name};
use crate::spec::yaml::Spanned;
use schemars::JsonSchema;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerSpec {
    /// The addresses the listeners bind to: literal IPs, or allocations
    /// from an AddressPool (`{pool: public}`), optionally pinned
    /// (`{pool: public, address: 203.0.113.7}`).
    #[serde(default)]
    pub addresses: Vec<Spanned<AddressSpec>>,
    pub listeners: Vec<Listener>,
}

/// One address of a balancer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AddressSpec {
    Static(IpAddr),
    FromPool {
        pool: Spanned<Name>,
        #[serde(skip_serializing_if = "Option::is_none")]
        address: Option<IpAddr>,
    },
}

impl<'de> Deserialize<'de> for AddressSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AddressVisitor;
        const FIELDS: &[&str] = &["pool", "address"];

        impl<'de> Visitor<'de> for AddressVisitor {
            type Value = AddressSpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IP address, or `{pool: NAME}` to take one from an AddressPool")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<AddressSpec, E> {
                v.parse().map(AddressSpec::Static).map_err(|_| {
                    E::custom(format!(
                        "`{v}` is not an IP address; write e.g. `203.0.113.10`, `2001:db8::10`, or `{{pool: NAME}}`"
                    ))
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AddressSpec, A::Error> {
                let mut pool = None;
                let mut address = None;
                while let Some(key) = map.next_key::<Cow<'_, str>>()? {
                    match key.as_ref() {
                        "pool" => pool = Some(map.next_value()?),
                        "address" => address = Some(map.next_value::<Cow<'_, str>>()?),
                        other => return Err(de::Error::unknown_field(other, FIELDS)),
                    }
                }
                let pool = pool.ok_or_else(|| de::Error::missing_field("pool"))?;
                let address = address
                    .map(|a| self.visit_str::<A::Error>(&a))
                    .transpose()?
                    .and_then(|a| match a {
                        AddressSpec::Static(ip) => Some(ip),
                        AddressSpec::FromPool { .. } => None,
                    });
                Ok(AddressSpec::FromPool { pool, address })
            }
        }

        deserializer.deserialize_any(AddressVisitor)
    }
}

impl JsonSchema for AddressSpec {
    fn schema_name() -> Cow<'static, str> {
        "AddressSpec".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [
                { "type": "string", "description": "a literal IPv4 or IPv6 address" },
                {
                    "type": "object",
                    "description": "an address allocated from an AddressPool, optionally pinned",
                    "properties": {
                        "pool": { "type": "string" },
                        "address": { "type": "string" }
                    },
                    "required": ["pool"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Https,
    Tcp,
    Tls,
}

impl Protocol {
    /// The name written in `protocol:`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }

    /// Whether this listener terminates TLS and so needs a `tls` policy.
    #[must_use]
    pub fn terminates_tls(self) -> bool {
        matches!(self, Self::Https | Self::Tls)
    }

    /// Whether requests are routed (HTTP) rather than forwarded as streams.
    #[must_use]
    pub fn is_http(self) -> bool {
        matches!(self, Self::Http | Self::Https)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub name: Spanned<Name>,
    pub protocol: Spanned<Protocol>,
    /// 1 to 65535.
    pub port: Spanned<u32>,
    /// Required for `https` and `tls`; not allowed for `http` and `tcp`.
    pub tls: Option<Spanned<TlsPolicy>>,
    /// HTTP routes, tried in ascending `priority`; `http`/`https` only.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// What happens when no route matches (HTTP: 404 when absent); the
    /// only action, and required, for `tcp` and `tls` listeners, where it
    /// must be `forward`.
    pub default_action: Option<Spanned<Action>>,
    /// How long an idle client connection is kept open (HTTP and HTTPS
    /// listeners; default 30s).
    pub idle_timeout: Option<Dur>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsPolicy {
    /// Certificates by name; SNI picks among them.
    pub certificates: Vec<Spanned<Name>>,
    #[serde(default)]
    pub min_version: TlsVersion,
    /// Allowed cipher suites; all of the list below when empty.
    #[serde(default)]
    pub ciphers: Vec<Cipher>,
    /// Session resumption, on by default. `false` turns off TLS session
    /// resumption — no session cache, no TLS 1.3 tickets — so every
    /// connection does a full handshake; for forward secrecy hardening and
    /// for benchmarks.
    #[serde(default = "default_resumption")]
    pub resumption: bool,
}

/// Whether a TLS policy that does not say resumes sessions.
pub const DEFAULT_RESUMPTION: bool = true;

fn default_resumption() -> bool {
    DEFAULT_RESUMPTION
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum TlsVersion {
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

/// The cipher suites lbops can terminate with: TLS 1.3's and TLS 1.2's
/// ECDHE AEAD suites, nothing weaker.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Cipher {
    TLS13_AES_128_GCM_SHA256,
    TLS13_AES_256_GCM_SHA384,
    TLS13_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

impl Cipher {
    /// Whether the suite is a TLS 1.3 one (usable whatever `min_version`).
    #[must_use]
    pub fn is_tls13(self) -> bool {
        matches!(
            self,
            Self::TLS13_AES_128_GCM_SHA256
                | Self::TLS13_AES_256_GCM_SHA384
                | Self::TLS13_CHACHA20_POLY1305_SHA256
        )
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: Spanned<Name>,
    /// Lower values are tried first; unique within a listener.
    pub priority: Spanned<u32>,
    #[serde(rename = "match", default)]
    pub matches: RouteMatch,
    pub action: Spanned<Action>,
    /// Whether an idempotent request that reached a target may be sent to
    /// another one when that target breaks off before answering; `forward`
    /// routes only. A request that never reached its target (connection
    /// refused, reset or timed out while connecting) is always sent to
    /// another target, with or without this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Spanned<Retries>>,
}

/// A route's retries of requests that were sent: `retries: {attempts: 2}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    /// How many more targets an idempotent request (GET, HEAD, OPTIONS,
    /// PUT, DELETE, TRACE) with a body of at most 64 KiB may be sent to
    /// after the one before broke off without answering: 1 to 3.
    #[schemars(range(min = 1, max = 3))]
    pub attempts: Spanned<u32>,
}

/// The most retries a route may ask for (and the most any request gets,
/// whatever failed): a fourth target is rarely better than a 502.
pub const MAX_RETRY_ATTEMPTS: u32 = 3;
// The editor schema's `range` on `attempts` spells the bound out.
const _: () = assert!(MAX_RETRY_ATTEMPTS == 3);

/// Every condition given must hold; an empty match matches everything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// An exact host (`api.example.test`) or a wildcard (`*.example.test`).
    pub host: Option<Spanned<String>>,
    pub path: Option<Spanned<PathMatch>>,
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
    #[serde(default)]
    pub methods: Vec<Method>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
}

impl PathMatch {
    #[must_use]
    pub fn path(&self) -> &str {
        match self {
            Self::Exact(p) | Self::Prefix(p) => p,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    pub name: Spanned<String>,
    /// The exact value; when absent the header only has to be present.
    pub value: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
        Method::Options,
    ];

    /// The method as HTTP writes it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Send to one or more pools, split by weight.
    Forward(Forward),
    Redirect(Redirect),
    FixedResponse(FixedResponse),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    pub pools: Vec<WeightedPool>,
}

/// The default weight of a pool in a forward action.
pub const DEFAULT_FORWARD_WEIGHT: u32 = 1;

fn default_forward_weight() -> Spanned<u32> {
    Spanned::unplaced(DEFAULT_FORWARD_WEIGHT)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedPool {
    pub pool: Spanned<Name>,
    /// Relative share of requests; 0 sends none (a canary parked at zero).
    #[serde(default = "default_forward_weight")]
    pub weight: Spanned<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    /// 301, 302, 303, 307 or 308.
    pub status: Spanned<u16>,
    /// The target; `{host}`, `{path}` and `{query}` are replaced from the request.
    pub to: Spanned<String>,
}

/// The status codes a redirect may use.
pub const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FixedResponse {
    /// 100 to 599.
    pub status: Spanned<u16>,
    #[serde(default)]
    pub body: String,
    #[serde(default = "default_content_type")]
    pub content_type: String,
}

fn default_content_type() -> String {
    "text/plain; charset=utf-8".to_owned()
}
