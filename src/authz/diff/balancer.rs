//! Load balancers: addresses, listeners, routes, TLS.
//!
//! Each aspect of a listener is judged by its own action whether the
//! listener is new, edited or gone: adding an HTTPS listener with routes
//! needs `listeners`, `tls` and `routes`, so that no action smuggles in
//! what another guards.
//!
//! | field | action |
//! |---|---|
//! | `addresses` (static or from an AddressPool, pinned or not) | `loadbalancer.addresses.update` |
//! | `listeners`: added, removed, reordered; `name`, `protocol`, `port`, `idle_timeout` | `loadbalancer.listeners.update` |
//! | listener `tls`: `certificates`, `min_version`, `ciphers`, `resumption` | `loadbalancer.tls.update` |
//! | listener `routes` (`name`, `priority`, `match`, `action`, `retries`), `default_action` | `loadbalancer.routes.update` |

use super::text::{opt_dur, plus_minus};
use super::{Classify, Found};
use crate::spec::actions;
use crate::spec::kinds::loadbalancer::{
    Action, AddressSpec, FixedResponse, Forward, Listener, LoadBalancerSpec, Redirect, Retries,
    Route, RouteMatch, TlsPolicy, TlsVersion, WeightedPool,
};
use crate::spec::kinds::Kind;
use crate::spec::yaml::Spanned;
use std::collections::BTreeMap;

const ADDRESSES: &actions::Action = &actions::LOADBALANCER_ADDRESSES_UPDATE;
const LISTENERS: &actions::Action = &actions::LOADBALANCER_LISTENERS_UPDATE;
const TLS: &actions::Action = &actions::LOADBALANCER_TLS_UPDATE;
const ROUTES: &actions::Action = &actions::LOADBALANCER_ROUTES_UPDATE;

impl Classify for LoadBalancerSpec {
    const KIND: Kind = Kind::LoadBalancer;
    const CREATE: &'static actions::Action = &actions::LOADBALANCER_CREATE;
    const DELETE: &'static actions::Action = &actions::LOADBALANCER_DELETE;
    const LABELS: &'static actions::Action = &actions::LOADBALANCER_LABELS_UPDATE;

    fn diff(before: &Self, after: &Self, found: &mut Found) {
        let LoadBalancerSpec {
            addresses,
            listeners,
        } = before;
        if *addresses != after.addresses {
            let old: Vec<String> = addresses.iter().map(|a| address_text(a)).collect();
            let new: Vec<String> = after.addresses.iter().map(|a| address_text(a)).collect();
            let detail = plus_minus(
                "addresses",
                old.iter().map(String::as_str),
                new.iter().map(String::as_str),
            );
            found.note(
                ADDRESSES,
                detail.unwrap_or_else(|| "addresses changed".into()),
            );
        }
        if *listeners != after.listeners {
            diff_listeners(listeners, &after.listeners, found);
        }
    }

    fn summary(spec: &Self) -> Option<String> {
        let listeners: Vec<String> = spec.listeners.iter().map(listener_text).collect();
        Some(format!("with listeners {}", listeners.join(", ")))
    }
}

fn address_text(address: &AddressSpec) -> String {
    match address {
        AddressSpec::Static(ip) => ip.to_string(),
        AddressSpec::FromPool {
            pool,
            address: None,
        } => format!("from {}", pool.value),
        AddressSpec::FromPool {
            pool,
            address: Some(ip),
        } => format!("{ip} from {}", pool.value),
    }
}

fn listener_text(l: &Listener) -> String {
    format!(
        "`{}` ({}:{})",
        l.name.value,
        l.protocol.value.as_str(),
        l.port.value
    )
}

fn diff_listeners(before: &[Listener], after: &[Listener], found: &mut Found) {
    let noted = found.len();
    let old: BTreeMap<&str, &Listener> =
        before.iter().map(|l| (l.name.value.as_str(), l)).collect();
    let new: BTreeMap<&str, &Listener> = after.iter().map(|l| (l.name.value.as_str(), l)).collect();
    for (name, l) in &old {
        diff_listener(name, Some(l), new.get(name).copied(), found);
    }
    for (name, l) in &new {
        if !old.contains_key(name) {
            diff_listener(name, None, Some(l), found);
        }
    }
    if found.len() == noted {
        found.note(LISTENERS, "listeners reordered");
    }
}

/// One listener, absent on one side when added or removed.
fn diff_listener(
    name: &str,
    before: Option<&Listener>,
    after: Option<&Listener>,
    found: &mut Found,
) {
    match (before, after) {
        (None, None) => {}
        (None, Some(l)) => found.note(LISTENERS, format!("listener {} added", listener_text(l))),
        (Some(l), None) => found.note(LISTENERS, format!("listener {} removed", listener_text(l))),
        (Some(old), Some(new)) => {
            let Listener {
                name: _, // the key these two were paired by
                protocol,
                port,
                tls: _,
                routes: _,
                default_action: _,
                idle_timeout,
            } = old;
            if *protocol != new.protocol {
                let (a, b) = (protocol.value.as_str(), new.protocol.value.as_str());
                found.note(LISTENERS, format!("listener `{name}` protocol {a} → {b}"));
            }
            if *port != new.port {
                let (a, b) = (port.value, new.port.value);
                found.note(LISTENERS, format!("listener `{name}` port {a} → {b}"));
            }
            if *idle_timeout != new.idle_timeout {
                let (a, b) = (opt_dur(*idle_timeout), opt_dur(new.idle_timeout));
                found.note(
                    LISTENERS,
                    format!("listener `{name}` idle timeout {a} → {b}"),
                );
            }
        }
    }
    let tls = (
        before.and_then(|l| l.tls.as_ref()),
        after.and_then(|l| l.tls.as_ref()),
    );
    diff_tls(name, tls.0, tls.1, found);
    let routes = (
        before.map_or(&[][..], |l| &l.routes),
        after.map_or(&[][..], |l| &l.routes),
    );
    diff_routes(name, routes.0, routes.1, found);
    let default = (
        before.and_then(|l| l.default_action.as_ref()),
        after.and_then(|l| l.default_action.as_ref()),
    );
    match default {
        (Some(a), Some(b)) if a != b => {
            let change = action_change(a, b);
            found.note(ROUTES, format!("listener `{name}` default action {change}"));
        }
        (None, Some(b)) => {
            let b = action_text(b);
            found.note(ROUTES, format!("listener `{name}` default action set: {b}"));
        }
        (Some(a), None) => {
            let a = action_text(a);
            found.note(
                ROUTES,
                format!("listener `{name}` default action {a} removed"),
            );
        }
        _ => {}
    }
}

fn diff_tls(
    listener: &str,
    before: Option<&Spanned<TlsPolicy>>,
    after: Option<&Spanned<TlsPolicy>>,
    found: &mut Found,
) {
    let (old, new) = match (before, after) {
        (None, None) => return,
        (None, Some(new)) => {
            let certificates: Vec<&str> =
                new.certificates.iter().map(|c| c.value.as_str()).collect();
            let detail = format!(
                "listener `{listener}` TLS set: certificates {}, minimum {}{}",
                certificates.join(", "),
                version_text(new.min_version),
                if new.resumption {
                    ""
                } else {
                    ", session resumption off"
                }
            );
            return found.note(TLS, detail);
        }
        (Some(_), None) => return found.note(TLS, format!("listener `{listener}` TLS removed")),
        (Some(old), Some(new)) => (&old.value, &new.value),
    };
    let TlsPolicy {
        certificates,
        min_version,
        ciphers,
        resumption,
    } = old;
    if *certificates != new.certificates {
        let detail = plus_minus(
            &format!("listener `{listener}` certificates"),
            certificates.iter().map(|c| c.value.as_str()),
            new.certificates.iter().map(|c| c.value.as_str()),
        );
        found.note(TLS, detail.unwrap_or_default());
    }
    if *min_version != new.min_version {
        let (a, b) = (version_text(*min_version), version_text(new.min_version));
        found.note(
            TLS,
            format!("listener `{listener}` minimum TLS version {a} → {b}"),
        );
    }
    if *ciphers != new.ciphers {
        let old: Vec<String> = ciphers.iter().map(|c| format!("{c:?}")).collect();
        let new: Vec<String> = new.ciphers.iter().map(|c| format!("{c:?}")).collect();
        let detail = plus_minus(
            &format!("listener `{listener}` ciphers"),
            old.iter().map(String::as_str),
            new.iter().map(String::as_str),
        );
        found.note(TLS, detail.unwrap_or_default());
    }
    if *resumption != new.resumption {
        let now = if new.resumption { "on" } else { "off" };
        found.note(
            TLS,
            format!("listener `{listener}` TLS session resumption {now}"),
        );
    }
}

fn version_text(v: TlsVersion) -> &'static str {
    match v {
        TlsVersion::Tls12 => "1.2",
        TlsVersion::Tls13 => "1.3",
    }
}

fn diff_routes(listener: &str, before: &[Route], after: &[Route], found: &mut Found) {
    if before == after {
        return;
    }
    let noted = found.len();
    let old: BTreeMap<&str, &Route> = before.iter().map(|r| (r.name.value.as_str(), r)).collect();
    let new: BTreeMap<&str, &Route> = after.iter().map(|r| (r.name.value.as_str(), r)).collect();
    for (name, route) in &old {
        let Some(now) = new.get(name) else {
            found.note(
                ROUTES,
                format!("listener `{listener}` route `{name}` removed"),
            );
            continue;
        };
        let Route {
            name: _, // the key these two were paired by
            priority,
            matches,
            action,
            retries,
        } = route;
        if *priority != now.priority {
            let (a, b) = (priority.value, now.priority.value);
            found.note(ROUTES, format!("route `{name}` priority {a} → {b}"));
        }
        if *matches != now.matches {
            let (a, b) = (match_text(matches), match_text(&now.matches));
            found.note(ROUTES, format!("route `{name}` match {a} → {b}"));
        }
        if *action != now.action {
            let change = action_change(action, &now.action);
            found.note(ROUTES, format!("route `{name}` {change}"));
        }
        if *retries != now.retries {
            let (a, b) = (retries_text(retries), retries_text(&now.retries));
            found.note(ROUTES, format!("route `{name}` retries {a} → {b}"));
        }
    }
    for (name, route) in &new {
        if !old.contains_key(name) {
            let action = action_text(&route.action);
            found.note(
                ROUTES,
                format!("listener `{listener}` route `{name}` added: {action}"),
            );
        }
    }
    if found.len() == noted {
        found.note(ROUTES, format!("listener `{listener}` routes reordered"));
    }
}

fn retries_text(retries: &Option<Spanned<Retries>>) -> String {
    match retries {
        Some(r) => format!("{} attempts", r.value.attempts.value),
        None => "none".to_owned(),
    }
}

fn match_text(m: &RouteMatch) -> String {
    let RouteMatch {
        host,
        path,
        headers,
        methods,
    } = m;
    let mut parts = Vec::new();
    if let Some(host) = host {
        parts.push(format!("host {}", host.value));
    }
    if let Some(path) = path {
        parts.push(format!("path {}", path.value.path()));
    }
    for h in headers {
        match &h.value {
            Some(v) => parts.push(format!("header {}={v}", h.name.value)),
            None => parts.push(format!("header {}", h.name.value)),
        }
    }
    if !methods.is_empty() {
        let methods: Vec<String> = methods
            .iter()
            .map(|m| format!("{m:?}").to_uppercase())
            .collect();
        parts.push(methods.join("|"));
    }
    if parts.is_empty() {
        "everything".to_owned()
    } else {
        parts.join(" ")
    }
}

fn action_text(action: &Action) -> String {
    match action {
        Action::Forward(Forward { pools }) => {
            let pools: Vec<String> = pools
                .iter()
                .map(|WeightedPool { pool, weight }| format!("{}×{}", pool.value, weight.value))
                .collect();
            format!("forward to {}", pools.join(", "))
        }
        Action::Redirect(Redirect { status, to }) => {
            format!("redirect {} to {}", status.value, to.value)
        }
        Action::FixedResponse(FixedResponse {
            status,
            body,
            content_type,
        }) => format!(
            "fixed response {} ({content_type}, {} bytes, sha256 {})",
            status.value,
            body.len(),
            &crate::model::sha256_hex(body)[..12],
        ),
    }
}

/// `before → after` for an edited action; for two fixed responses, also
/// where their bodies first differ, so that an edit that keeps the length
/// never reads as no edit.
fn action_change(before: &Action, after: &Action) -> String {
    let text = format!("{} → {}", action_text(before), action_text(after));
    match (before, after) {
        (Action::FixedResponse(a), Action::FixedResponse(b)) if a.body != b.body => {
            let at = a
                .body
                .chars()
                .zip(b.body.chars())
                .take_while(|(x, y)| x == y)
                .count();
            let tail = |body: &str| excerpt(&body.chars().skip(at).collect::<String>());
            format!(
                "{text}; body from character {}: {} → {}",
                at + 1,
                tail(&a.body),
                tail(&b.body)
            )
        }
        _ => text,
    }
}

/// Part of a response body as a reviewer reads it: escaped (no control
/// characters reach a terminal or a status), at most 24 characters, and
/// nothing of a body that looks like a secret.
fn excerpt(body: &str) -> String {
    const MAX: usize = 24;
    if crate::spec::material::looks_like_secret(body) {
        return "(not shown: it looks like a secret)".to_owned();
    }
    let mut text: String = body
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if body.chars().nth(MAX).is_some() {
        text.push('…');
    }
    format!("\"{text}\"")
}
