//! Checks on the balancer kinds: LoadBalancer, Pool, Certificate, AddressPool.

use super::{repeat_of, Reporter, Sink};
use crate::spec::alloc::{self, AddressEntry, AddressPoolDef, AllocError, BalancerAddresses};
use crate::spec::diagnostic::Code;
use crate::spec::kinds::certificate::{CertificateSpec, KeyRef};
use crate::spec::kinds::loadbalancer::{
    Action, AddressSpec, Listener, LoadBalancerSpec, Route, TlsVersion, MAX_RETRY_ATTEMPTS,
    REDIRECT_STATUSES,
};
use crate::spec::kinds::pool::{HealthCheck, PoolSpec, Probe};
use crate::spec::kinds::{Kind, Resource, ResourceId};
use crate::spec::material::{self, Expiry};
use crate::spec::units::{is_dns_name, TargetAddr};
use crate::spec::yaml::{Pos, Spanned};
use crate::spec::{paths, Catalog, Options, SourceFile};
use std::collections::{BTreeMap, HashMap};

pub(super) fn check(
    catalog: &mut Catalog,
    files: &[SourceFile],
    options: &Options,
    out: &mut Sink,
) {
    for lb in catalog.load_balancers.values() {
        load_balancer(lb, catalog, out);
    }
    for pool in catalog.pools.values() {
        pool_spec(pool, out);
    }
    // Keyed by the one spelling of each path, as `chain_file`s are
    // resolved: `./repo/c.pem` from the directory reader and `repo/c.pem`
    // from a reference are the same file. A file a reader refused has no
    // text to offer (and is an error of its own).
    let texts: HashMap<String, &str> = files
        .iter()
        .filter(|f| f.refused.is_none())
        .map(|f| (paths::normal(&f.path), f.text.as_str()))
        .collect();
    for cert in catalog.certificates.values_mut() {
        certificate(cert, &texts, options, out);
    }
    address_pools(catalog, out);
    allocation(catalog, out);
}

fn load_balancer(lb: &Resource<LoadBalancerSpec>, catalog: &Catalog, out: &mut Sink) {
    let mut r = Reporter::new(Kind::LoadBalancer, lb, out);
    // Whether a balancer needs addresses is the provider's to say (an ALB
    // gets its own from AWS): see `model::unsupported`.
    for address in &lb.spec.addresses {
        if let AddressSpec::FromPool { pool, .. } = &address.value {
            r.reference(Kind::AddressPool, pool, &catalog.address_pools);
        }
    }
    if lb.spec.listeners.is_empty() {
        r.error(
            lb.origin.pos,
            Code::MissingField,
            "a LoadBalancer needs at least one listener",
            "add `listeners:` with a protocol and a port",
        );
    }
    r.unique_names("listener", lb.spec.listeners.iter().map(|l| &l.name));
    let mut ports: BTreeMap<u32, &Listener> = BTreeMap::new();
    for listener in &lb.spec.listeners {
        check_listener(&mut r, listener, catalog);
        if let Some(first) = repeat_of(&mut ports, listener.port.value, listener) {
            r.error(
                listener.port.pos,
                Code::ListenerConflict,
                format!(
                    "listeners `{}` and `{}` both use port {} on the same addresses",
                    first.name, listener.name, listener.port.value
                ),
                "give each listener of a balancer its own port",
            );
        }
    }
}

fn check_listener(r: &mut Reporter<'_>, listener: &Listener, catalog: &Catalog) {
    let protocol = listener.protocol.value;
    let port = &listener.port;
    if !(1..=65535).contains(&port.value) {
        r.error(
            port.pos,
            Code::PortOutOfRange,
            format!("port {} is out of range", port.value),
            "use a port from 1 to 65535",
        );
    }
    match (&listener.tls, protocol.terminates_tls()) {
        (None, true) => r.error(
            listener.protocol.pos,
            Code::InvalidListener,
            format!(
                "a `{}` listener terminates TLS and needs a `tls` policy",
                protocol.as_str()
            ),
            "add `tls: {certificates: [NAME]}`, or use protocol `http`/`tcp`",
        ),
        (Some(tls), false) => r.error(
            tls.pos,
            Code::InvalidListener,
            format!(
                "a `{}` listener does not terminate TLS, so `tls` has no effect",
                protocol.as_str()
            ),
            "remove `tls`, or use protocol `https`/`tls`",
        ),
        (Some(tls), true) => {
            if tls.value.certificates.is_empty() {
                r.error(
                    tls.pos,
                    Code::MissingField,
                    "`tls.certificates` is empty",
                    "list at least one Certificate by name",
                );
            }
            for cert in &tls.value.certificates {
                r.reference(Kind::Certificate, cert, &catalog.certificates);
            }
            if tls.value.min_version == TlsVersion::Tls13 {
                if let Some(c) = tls.value.ciphers.iter().find(|c| !c.is_tls13()) {
                    r.error(
                        tls.pos,
                        Code::InvalidValue,
                        format!("cipher `{c:?}` is a TLS 1.2 suite, but `min_version` is 1.3"),
                        "remove the TLS 1.2 suites, or lower `min_version` to 1.2",
                    );
                }
            }
        }
        (None, false) => {}
    }
    if protocol.is_http() {
        r.unique_names("route", listener.routes.iter().map(|route| &route.name));
        let mut priorities: BTreeMap<u32, &Route> = BTreeMap::new();
        for route in &listener.routes {
            if let Some(first) = repeat_of(&mut priorities, route.priority.value, route) {
                r.error(
                    route.priority.pos,
                    Code::InvalidRoute,
                    format!(
                        "routes `{}` and `{}` have the same priority {}",
                        first.name, route.name, route.priority.value
                    ),
                    "give each route of a listener its own priority; lower is tried first",
                );
            }
            check_route(r, route);
            check_action(r, &route.action, catalog);
        }
        if let Some(action) = &listener.default_action {
            check_action(r, action, catalog);
        }
    } else {
        if let Some(route) = listener.routes.first() {
            r.error(
                route.name.pos,
                Code::InvalidListener,
                format!(
                    "a `{}` listener forwards connections and has no routes",
                    protocol.as_str()
                ),
                "remove `routes` and use `default_action: {forward: {pools: [...]}}`",
            );
        }
        match &listener.default_action {
            None => r.error(
                listener.protocol.pos,
                Code::InvalidListener,
                format!(
                    "a `{}` listener needs `default_action: forward`",
                    protocol.as_str()
                ),
                "add `default_action: {forward: {pools: [{pool: NAME}]}}`",
            ),
            Some(action) if !matches!(action.value, Action::Forward(_)) => r.error(
                action.pos,
                Code::InvalidListener,
                format!("a `{}` listener can only forward", protocol.as_str()),
                "use `forward`; redirects and fixed responses need an HTTP listener",
            ),
            Some(action) => check_action(r, action, catalog),
        }
        if listener.idle_timeout.is_some() {
            r.error(
                listener.protocol.pos,
                Code::InvalidListener,
                format!(
                    "`idle_timeout` applies to HTTP listeners, not to `{}` ones",
                    protocol.as_str()
                ),
                "remove `idle_timeout`; TCP connections stay open until either side closes them",
            );
        }
    }
}

fn check_route(r: &mut Reporter<'_>, route: &Route) {
    if let Some(host) = &route.matches.host {
        let plain = host.value.strip_prefix("*.").unwrap_or(&host.value);
        if !is_dns_name(plain) {
            r.error(
                host.pos,
                Code::InvalidRoute,
                format!("`{}` is not a host name", host.value),
                "write an exact host (`api.example.test`) or a wildcard (`*.example.test`)",
            );
        }
    }
    if let Some(path) = &route.matches.path {
        if !path.value.path().starts_with('/') {
            r.error(
                path.pos,
                Code::InvalidRoute,
                format!("path `{}` must start with `/`", path.value.path()),
                "write the path as it appears in the URL, e.g. `/api`",
            );
        }
    }
    for header in &route.matches.headers {
        let valid = !header.name.value.is_empty()
            && header
                .name
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if !valid {
            r.error(
                header.name.pos,
                Code::InvalidRoute,
                format!("`{}` is not a header name", header.name.value),
                "use letters, digits and `-`, e.g. `x-canary`",
            );
        }
    }
    if let Some(retries) = &route.retries {
        let attempts = &retries.value.attempts;
        if !(1..=MAX_RETRY_ATTEMPTS).contains(&attempts.value) {
            r.error(
                attempts.pos,
                Code::InvalidValue,
                format!(
                    "`retries.attempts` is {}; a route may retry a request on 1 to {MAX_RETRY_ATTEMPTS} more targets",
                    attempts.value
                ),
                format!(
                    "use 1 to {MAX_RETRY_ATTEMPTS}, or remove `retries` (requests that never reached a target are retried anyway)"
                ),
            );
        }
        if !matches!(route.action.value, Action::Forward(_)) {
            r.error(
                retries.pos,
                Code::InvalidRoute,
                format!(
                    "route `{}` answers itself, so `retries` has nothing to retry",
                    route.name
                ),
                "remove `retries`, or make the action `forward`",
            );
        }
    }
}

fn check_action(r: &mut Reporter<'_>, action: &Spanned<Action>, catalog: &Catalog) {
    match &action.value {
        Action::Forward(forward) => {
            if forward.pools.is_empty() {
                r.error(
                    action.pos,
                    Code::MissingField,
                    "`forward.pools` is empty",
                    "list at least one pool: `pools: [{pool: NAME}]`",
                );
            } else if forward.pools.iter().all(|p| p.weight.value == 0) {
                r.error(
                    action.pos,
                    Code::ZeroWeights,
                    "every pool of this forward action has weight 0, so it would send traffic nowhere",
                    "give at least one pool a weight above 0",
                );
            }
            for weighted in &forward.pools {
                r.reference(Kind::Pool, &weighted.pool, &catalog.pools);
            }
        }
        Action::Redirect(redirect) => {
            if !REDIRECT_STATUSES.contains(&redirect.status.value) {
                r.error(
                    redirect.status.pos,
                    Code::InvalidValue,
                    format!("{} is not a redirect status", redirect.status.value),
                    "use 301, 302, 303, 307 or 308",
                );
            }
            if redirect.to.value.is_empty() {
                r.error(
                    redirect.to.pos,
                    Code::InvalidValue,
                    "the redirect target is empty",
                    "write a URL, e.g. `https://{host}{path}`",
                );
            }
        }
        Action::FixedResponse(fixed) => {
            if !(100..=599).contains(&fixed.status.value) {
                r.error(
                    fixed.status.pos,
                    Code::InvalidValue,
                    format!("{} is not an HTTP status", fixed.status.value),
                    "use a status from 100 to 599, e.g. 503",
                );
            }
        }
    }
}

fn pool_spec(pool: &Resource<PoolSpec>, out: &mut Sink) {
    let mut r = Reporter::new(Kind::Pool, pool, out);
    let spec = &pool.spec;
    if !spec.targets.is_empty() && spec.targets.iter().all(|t| t.weight.value == 0) {
        r.error(
            spec.targets[0].weight.pos.max(spec.targets[0].address.pos),
            Code::ZeroWeights,
            "every target of this pool has weight 0, so it would receive no traffic",
            "give at least one target a weight above 0, or remove the pool from routes",
        );
    }
    let mut seen: BTreeMap<&TargetAddr, Pos> = BTreeMap::new();
    for target in spec.targets.iter().chain(&spec.backup_targets) {
        let address = &target.address;
        if let Some(first) = repeat_of(&mut seen, &address.value, address.pos) {
            r.error(
                address.pos,
                Code::InvalidValue,
                format!(
                    "target {} is listed twice (first at line {})",
                    address.value, first.line
                ),
                "list each target once; use `weight` to give it more traffic",
            );
        }
    }
    if let Some(hc) = &pool.spec.health_check {
        health_check(&mut r, hc);
    }
}

fn health_check(r: &mut Reporter<'_>, hc: &Spanned<HealthCheck>) {
    let hc_value = &hc.value;
    if hc_value.timeout.value >= hc_value.interval.value {
        r.error(
            hc_value.timeout.pos.max(hc.pos),
            Code::InvalidHealthCheck,
            "the health-check timeout must be shorter than its interval",
            "lower `timeout` or raise `interval`",
        );
    }
    for threshold in [&hc_value.healthy_threshold, &hc_value.unhealthy_threshold] {
        if threshold.value == 0 {
            r.error(
                threshold.pos.max(hc.pos),
                Code::InvalidHealthCheck,
                "a health-check threshold must be at least 1",
                "use 1 or more consecutive checks",
            );
        }
    }
    if let Probe::Http(http) = &hc_value.probe {
        if !http.path.value.starts_with('/') {
            r.error(
                http.path.pos,
                Code::InvalidHealthCheck,
                format!(
                    "health-check path `{}` must start with `/`",
                    http.path.value
                ),
                "e.g. `/healthz`",
            );
        }
        for code in &http.expected_codes {
            if !(100..=599).contains(&code.value) {
                r.error(
                    code.pos.max(hc.pos),
                    Code::InvalidHealthCheck,
                    format!("{} is not an HTTP status", code.value),
                    "use codes from 100 to 599, e.g. 200",
                );
            }
        }
    }
}

fn certificate(
    cert: &mut Resource<CertificateSpec>,
    files: &HashMap<String, &str>,
    options: &Options,
    out: &mut Sink,
) {
    let mut r = Reporter::new(Kind::Certificate, cert, out);
    let spec = &cert.spec;
    let pem = match (&spec.chain, &spec.chain_file) {
        (Some(chain), None) => Some(chain.clone()),
        (None, Some(path)) => {
            let resolved = paths::beside(&cert.origin.file, &path.value);
            match files.get(resolved.as_str()) {
                Some(text) => Some(Spanned::new(path.pos, (*text).to_owned())),
                None => {
                    r.error(
                        path.pos,
                        Code::DanglingReference,
                        format!("chain file `{}` does not exist (looked for {resolved})", path.value),
                        "write the path relative to this YAML file, and commit the PEM chain (public certificates only)",
                    );
                    None
                }
            }
        }
        (Some(chain), Some(_)) => {
            r.error(
                chain.pos,
                Code::InvalidValue,
                "give either `chain` or `chain_file`, not both",
                "keep one of them",
            );
            None
        }
        (None, None) => {
            r.error(
                cert.origin.pos,
                Code::MissingField,
                "a Certificate needs `chain` (inline PEM) or `chain_file`",
                "add `chain_file: NAME.pem` next to this file",
            );
            None
        }
    };
    key_reference(&mut r, &spec.private_key);
    let Some(pem) = pem else { return };
    match material::parse_chain(&pem.value) {
        Err(e) => r.error(
            pem.pos,
            Code::CertificateInvalid,
            format!("the certificate chain does not parse: {e}"),
            "commit the PEM chain, leaf first, as `openssl x509` prints it",
        ),
        Ok(chain) => match material::expiry(&chain, options.now, options.expiry_warning_days) {
            Expiry::Valid => {}
            Expiry::ExpiresSoon { days_left } => r.warning(
                pem.pos,
                Code::CertificateExpiresSoon,
                format!("the certificate chain expires in {days_left} day(s)"),
                "renew the certificate and commit the new chain",
            ),
            Expiry::Expired { days_ago } => r.error(
                pem.pos,
                Code::CertificateExpired,
                format!("the certificate chain expired {days_ago} day(s) ago"),
                "renew the certificate and commit the new chain",
            ),
            Expiry::NotYetValid => r.error(
                pem.pos,
                Code::CertificateInvalid,
                "the certificate chain is not valid yet",
                "check the certificate's notBefore date and this machine's clock",
            ),
        },
    }
    cert.spec.chain = Some(pem);
}

fn key_reference(r: &mut Reporter<'_>, key: &Spanned<KeyRef>) {
    let problem = match &key.value {
        KeyRef::File(path) if !path.starts_with('/') => {
            Some(format!("private key path `{path}` is relative; it must be an absolute path outside the repository"))
        }
        KeyRef::Env(var) if var.is_empty() || var.starts_with(|c: char| c.is_ascii_digit()) || !var.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') => {
            Some(format!("`{var}` is not an environment variable name"))
        }
        KeyRef::Provider(id) if id.is_empty() => Some("the provider key id is empty".to_owned()),
        _ => None,
    };
    if let Some(message) = problem {
        r.error(key.pos, Code::KeyReference, message, "reference the key with `{file: /etc/lbops/keys/NAME.key}`, `{env: NAME_KEY}` or `{provider: ID}`");
    }
}

fn address_pools(catalog: &Catalog, out: &mut Sink) {
    let all: Vec<(&Resource<_>, &Spanned<_>)> = catalog
        .address_pools
        .values()
        .flat_map(|p| p.spec.cidrs.iter().map(move |c| (p, c)))
        .collect();
    for (i, (pool, cidr)) in all.iter().enumerate() {
        for (other_pool, other) in &all[..i] {
            if cidr.value.0.overlaps(&other.value.0) {
                let mut r = Reporter::new(Kind::AddressPool, pool, out);
                r.error(
                    cidr.pos,
                    Code::AddressPoolOverlap,
                    format!(
                        "{} overlaps {} of addresspool/{} ({}:{})",
                        cidr.value.0,
                        other.value.0,
                        other_pool.name,
                        other_pool.origin.file,
                        other.pos
                    ),
                    "make the CIDRs disjoint, so no address can be handed out twice",
                );
            }
        }
    }
}

/// What address allocation works from: the AddressPools and each
/// balancer's address entries (claims of pools that do not exist are left
/// to the reference check).
pub(crate) fn address_claims(catalog: &Catalog) -> (Vec<AddressPoolDef>, Vec<BalancerAddresses>) {
    let pools: Vec<AddressPoolDef> = catalog
        .address_pools
        .values()
        .map(|p| AddressPoolDef {
            name: ResourceId::new(Kind::AddressPool, p.name.clone()).to_string(),
            cidrs: p.spec.cidrs.iter().map(|c| c.value.0).collect(),
        })
        .collect();
    let balancers: Vec<BalancerAddresses> = catalog
        .load_balancers
        .values()
        .map(|lb| BalancerAddresses {
            balancer: ResourceId::new(Kind::LoadBalancer, lb.name.clone()).to_string(),
            entries: lb
                .spec
                .addresses
                .iter()
                .filter(|a| match &a.value {
                    AddressSpec::FromPool { pool, .. } => {
                        catalog.address_pools.contains_key(pool.value.as_str())
                    }
                    AddressSpec::Static(_) => true,
                })
                .map(|a| match &a.value {
                    AddressSpec::Static(ip) => AddressEntry::Static(*ip),
                    AddressSpec::FromPool { pool, address } => AddressEntry::FromPool {
                        pool: ResourceId::new(Kind::AddressPool, pool.value.clone()).to_string(),
                        pinned: *address,
                    },
                })
                .collect(),
        })
        .collect();
    (pools, balancers)
}

fn allocation(catalog: &mut Catalog, out: &mut Sink) {
    let (pools, balancers) = address_claims(catalog);
    match alloc::allocate(&pools, &balancers, &alloc::Allocation::default()) {
        Ok(allocation) => catalog.allocation = allocation,
        Err(errors) => {
            for error in errors {
                let (balancer, code) = match &error {
                    AllocError::Conflict { second, .. } => (second, Code::AddressConflict),
                    AllocError::Exhausted { balancer, .. } => {
                        (balancer, Code::AddressPoolExhausted)
                    }
                    AllocError::PinnedOutsidePool { balancer, .. } => {
                        (balancer, Code::AddressConflict)
                    }
                    // Dangling pools and duplicates are reported by the
                    // reference and duplicate checks, at their own positions.
                    AllocError::UnknownPool { .. }
                    | AllocError::DuplicateBalancer { .. }
                    | AllocError::DuplicatePool { .. } => continue,
                };
                let name = balancer.strip_prefix("loadbalancer/").unwrap_or(balancer);
                let Some(lb) = catalog.load_balancers.get(name) else {
                    continue;
                };
                let pos = lb.spec.addresses.first().map_or(lb.origin.pos, |a| a.pos);
                Reporter::new(Kind::LoadBalancer, lb, out).error(
                    pos,
                    code,
                    error.to_string(),
                    "addresses are allocated once and kept; pick free addresses or add CIDRs to the AddressPool",
                );
            }
        }
    }
}
