//! What each client command asks the daemon: a method, a path under
//! `/v1`, a JSON body, and a sentence naming the action for the output.
//! Arguments are checked here, before anything is sent, with the same
//! parsers the repository's YAML goes through (names, `host:port`).

use lbops::spec::units::{Name, TargetAddr};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// One call to the API.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    /// Below `/v1`, segments already percent-encoded.
    pub path: String,
    pub body: Option<Value>,
    /// What it does, for the output: "register 10.0.0.7:8080 in pool/web".
    pub what: String,
}

/// `pool/web` or `web`.
pub fn pool_ref(text: &str) -> Result<Name, String> {
    resource_ref(text, "pool")
}

/// `loadbalancer/edge` or `edge`.
pub fn balancer_ref(text: &str) -> Result<Name, String> {
    resource_ref(text, "loadbalancer")
}

fn resource_ref(text: &str, kind: &str) -> Result<Name, String> {
    let name = match text.split_once('/') {
        None => text,
        Some((k, name)) if k == kind => name,
        Some((k, _)) => {
            return Err(format!(
                "`{k}/…` is not a {kind}: write `{kind}/NAME` or just NAME"
            ))
        }
    };
    name.parse()
}

/// A target address as the repository takes it (`10.0.0.7:8080`,
/// `[2001:db8::7]:8080`, `app-1.internal:8080`), kept as written: it is
/// what the pool's YAML says and what a later `remove` must name.
pub fn address(text: &str) -> Result<String, String> {
    text.parse::<TargetAddr>()?;
    Ok(text.to_owned())
}

/// `ADDRESS=WEIGHT`, split at the last `=`.
pub fn address_weight(text: &str) -> Result<(String, u32), String> {
    let (address, weight) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("`{text}` is not ADDRESS=WEIGHT, e.g. `10.0.0.7:8080=3`"))?;
    Ok((self::address(address)?, weight_of(weight, text)?))
}

/// `POOL=WEIGHT` (`web-canary=10` or `pool/web-canary=10`).
pub fn pool_weight(text: &str) -> Result<(Name, u32), String> {
    let (pool, weight) = text
        .rsplit_once('=')
        .ok_or_else(|| format!("`{text}` is not POOL=WEIGHT, e.g. `web-canary=10`"))?;
    Ok((pool_ref(pool)?, weight_of(weight, text)?))
}

fn weight_of(weight: &str, whole: &str) -> Result<u32, String> {
    weight
        .parse()
        .map_err(|_| format!("`{whole}`: the weight `{weight}` is not a whole number from 0"))
}

/// The first key named twice, which a JSON object would silently merge.
fn first_repeated<'a>(keys: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = BTreeSet::new();
    keys.into_iter().find(|k| !seen.insert(*k))
}

/// `POST /v1/pools/{pool}/targets`.
#[must_use]
pub fn add_target(pool: &Name, address: &str, weight: u32) -> Request {
    Request {
        method: Method::POST,
        path: format!("/pools/{}/targets", segment(pool.as_str())),
        body: Some(json!({ "address": address, "weight": weight })),
        what: format!("register {address} in pool/{pool}"),
    }
}

/// `DELETE /v1/pools/{pool}/targets/{address}`.
#[must_use]
pub fn remove_target(pool: &Name, address: &str) -> Request {
    Request {
        method: Method::DELETE,
        path: format!(
            "/pools/{}/targets/{}",
            segment(pool.as_str()),
            segment(address)
        ),
        body: None,
        what: format!("deregister {address} from pool/{pool}"),
    }
}

/// `POST /v1/pools/{pool}/targets/{address}/drain`.
#[must_use]
pub fn drain_target(pool: &Name, address: &str) -> Request {
    Request {
        method: Method::POST,
        path: format!(
            "/pools/{}/targets/{}/drain",
            segment(pool.as_str()),
            segment(address)
        ),
        body: None,
        what: format!("drain {address} in pool/{pool}"),
    }
}

/// `GET /v1/pools/{pool}/targets`.
#[must_use]
pub fn list_targets(pool: &Name) -> Request {
    Request {
        method: Method::GET,
        path: format!("/pools/{}/targets", segment(pool.as_str())),
        body: None,
        what: format!("list the targets of pool/{pool}"),
    }
}

/// `GET /v1/estate`: what `lbops status` draws.
#[must_use]
pub fn estate() -> Request {
    Request {
        method: Method::GET,
        path: "/estate".to_owned(),
        body: None,
        what: "read the estate".to_owned(),
    }
}

/// `GET /v1/pools/{pool}`: what `list` asks a daemon that predates
/// `GET …/targets` (the pool's view holds the same targets).
#[must_use]
pub fn pool(pool: &Name) -> Request {
    Request {
        method: Method::GET,
        path: format!("/pools/{}", segment(pool.as_str())),
        body: None,
        what: format!("list the targets of pool/{pool}"),
    }
}

/// `PUT /v1/pools/{pool}/weights`.
pub fn set_weights(pool: &Name, weights: &[(String, u32)]) -> Result<Request, String> {
    if let Some(repeated) = first_repeated(weights.iter().map(|(a, _)| a.as_str())) {
        return Err(format!("{repeated} is given twice: give each target once"));
    }
    let map: serde_json::Map<String, Value> = weights
        .iter()
        .map(|(address, weight)| (address.clone(), json!(weight)))
        .collect();
    let mut what = format!("set the weights of pool/{pool} to ");
    for (i, (address, weight)) in weights.iter().enumerate() {
        let _ = write!(what, "{}{address}={weight}", if i > 0 { ", " } else { "" });
    }
    Ok(Request {
        method: Method::PUT,
        path: format!("/pools/{}/weights", segment(pool.as_str())),
        body: Some(json!({ "weights": map })),
        what,
    })
}

/// `PUT /v1/balancers/{balancer}/routes/{route}/forward`.
pub fn split_route(
    balancer: &Name,
    route: &Name,
    pools: &[(Name, u32)],
) -> Result<Request, String> {
    if let Some(repeated) = first_repeated(pools.iter().map(|(p, _)| p.as_str())) {
        return Err(format!(
            "pool/{repeated} is given twice: give each pool once"
        ));
    }
    let split: Vec<Value> = pools
        .iter()
        .map(|(pool, weight)| json!({ "pool": pool.as_str(), "weight": weight }))
        .collect();
    let mut what = format!("split route {route} of loadbalancer/{balancer} as ");
    for (i, (pool, weight)) in pools.iter().enumerate() {
        let _ = write!(what, "{}{pool}={weight}", if i > 0 { ", " } else { "" });
    }
    Ok(Request {
        method: Method::PUT,
        path: format!(
            "/balancers/{}/routes/{}/forward",
            segment(balancer.as_str()),
            segment(route.as_str())
        ),
        body: Some(json!({ "pools": split })),
        what,
    })
}

/// One URL path segment: unreserved characters as they are, every other
/// byte percent-encoded (`:` of a port, IPv6 brackets), so a value can
/// never reach another segment of the path.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
