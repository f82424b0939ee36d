//! What ELBv2 cannot do (pure): every such ask of a balancer placed on AWS,
//! and of the pools it forwards to, as an `unsupported-by-provider` error
//! at its `file:line:column`, so `lbops validate` refuses it before
//! anything is applied.
//!
//! A balancer is an ALB when its listeners are http/https and an NLB when
//! they are tcp/tls. Besides what ELBv2 itself refuses, this refuses the
//! few spellings the mapping (`super::map`) could not read back as written
//! (a redirect's default port, a literal `*` in a path or header), so that
//! a plan against AWS is empty once applied. Certificates have no limits
//! here: ACM imports any chain `validate` accepts.
//!
//! [`check`] needs only the catalog; [`check_placed`] adds what depends on
//! where the daemon config puts a balancer (subnets, scheme), refused
//! before an NLB's Elastic IPs are allocated, since a `CreateLoadBalancer`
//! that fails afterwards would leave them behind.
//!
//! IP targets: ELBv2 takes addresses from the VPC's subnets, RFC 1918 and
//! 100.64.0.0/10. Which ranges the VPC holds is known only by asking AWS,
//! so an IPv4 target must be RFC 1918 or 100.64.0.0/10 (a VPC whose own
//! CIDR is publicly routable is the exception this refuses wrongly), an
//! IPv6 one is left to AWS, and `apply` sends `AvailabilityZone: all` for
//! a target outside the VPC's ranges.

use super::{AwsBalancer, AwsConfig, Scheme};
use crate::spec::kinds::loadbalancer::{
    Action, AddressSpec, FixedResponse, Forward, HeaderMatch, Listener, LoadBalancerSpec,
    PathMatch, Protocol, Redirect, Route, RouteMatch,
};
use crate::spec::kinds::pool::{Algorithm, HealthCheck, PoolSpec, Probe};
use crate::spec::kinds::{Kind, Resource, ResourceId};
use crate::spec::units::{is_dns_name, Name, TargetHost};
use crate::spec::yaml::{Pos, Spanned};
use crate::spec::{Catalog, Code, Diagnostic};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::time::Duration;

/// Condition values one rule may hold (a prefix path counts twice).
const MAX_CONDITION_VALUES: usize = 5;
/// Values one condition may hold (its methods, say).
const MAX_VALUES_PER_CONDITION: usize = 3;
/// The longest path pattern, host or header value a condition may hold.
const MAX_CONDITION_VALUE: usize = 128;
/// The longest header name an http-header condition may match.
const MAX_HEADER_NAME: usize = 40;
/// What a path pattern may hold besides ASCII letters and digits. `*` and
/// `?` are wildcards, refused on their own; `&`, which ELBv2 takes only
/// written `&amp;`, is refused with the rest.
const PATH_PUNCTUATION: &str = "_-.$/~\"'@:+";
/// Subnets an ALB needs, in different availability zones.
const MIN_ALB_SUBNETS: usize = 2;
/// Target groups one forward action may split between.
const MAX_FORWARD_GROUPS: usize = 5;
/// The weights a forward action's target groups may have.
const FORWARD_WEIGHTS: RangeInclusive<u32> = 0..=999;
/// The priorities a listener rule may have.
const RULE_PRIORITIES: RangeInclusive<u32> = 1..=50_000;
/// The statuses a redirect action may answer with.
const REDIRECT_STATUSES: [u16; 2] = [301, 302];
/// The most bytes a fixed response's body may have.
const MAX_FIXED_BODY: usize = 1024;
/// The content types a fixed response may have.
const FIXED_CONTENT_TYPES: [&str; 5] = [
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];
/// lbops' default content type, which ELBv2 is sent as `text/plain`.
const DEFAULT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// Health-check interval and timeout, in whole seconds.
const HEALTH_INTERVAL: RangeInclusive<u64> = 5..=300;
const HEALTH_TIMEOUT: RangeInclusive<u64> = 2..=120;
/// Consecutive checks that make a target healthy or unhealthy.
const HEALTH_THRESHOLD: RangeInclusive<u32> = 2..=10;
/// The status codes an HTTP health check may expect.
const HEALTH_CODES: RangeInclusive<u16> = 200..=499;
/// Deregistration delay (lbops' draining timeout), in whole seconds.
const DEREGISTRATION_DELAY: RangeInclusive<u64> = 0..=3600;
/// Slow start, in whole seconds (ALB only).
const SLOW_START: RangeInclusive<u64> = 30..=900;

/// The placeholders a redirect target may hold.
const HOST: &str = "{host}";
const PATH: &str = "{path}";
const QUERY: &str = "{query}";
/// The form of redirect target ELBv2 can express, as messages show it.
const REDIRECT_FORM: &str = "SCHEME://HOST[:PORT]PATH[?{query}]";

/// What ELBv2 cannot do among the balancers named in `on_aws`, and the pools and certificates they use.
#[must_use]
pub fn check(catalog: &Catalog, on_aws: &BTreeSet<Name>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    // Each pool an AWS balancer forwards to, and the balancers that do.
    let mut users: BTreeMap<&Name, BTreeMap<&Name, Family>> = BTreeMap::new();
    for lb in catalog.load_balancers.values() {
        if !on_aws.contains(&lb.name) {
            continue;
        }
        let family = load_balancer(lb, &mut out);
        for pool in forwarded_pools(&lb.spec) {
            users.entry(pool).or_default().insert(&lb.name, family);
        }
    }
    for (name, balancers) in &users {
        if let Some(pool) = catalog.pools.get(*name) {
            pool_limits(pool, balancers, &mut out);
        }
    }
    out
}

/// What ELBv2 cannot do with the balancers named in `on_aws` where the
/// daemon `config` places them. An NLB's Elastic IPs are allocated before
/// `CreateLoadBalancer`, so everything that call would refuse about them
/// is refused here, before any address is allocated.
#[must_use]
pub fn check_placed(
    catalog: &Catalog,
    config: &AwsConfig,
    on_aws: &BTreeSet<Name>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for name in on_aws {
        let (Some(lb), Some(placed)) =
            (catalog.load_balancers.get(name), config.balancers.get(name))
        else {
            continue;
        };
        placed_limits(catalog, lb, placed, &mut out);
    }
    out
}

fn placed_limits(
    catalog: &Catalog,
    lb: &Resource<LoadBalancerSpec>,
    placed: &AwsBalancer,
    out: &mut Vec<Diagnostic>,
) {
    let mut r = Report::new(Kind::LoadBalancer, lb, out);
    let subnets = placed.subnets.len();
    let family = Family::of_balancer(&lb.spec);
    if family == Family::Alb && subnets < MIN_ALB_SUBNETS {
        r.refuse(
            lb.origin.pos,
            format!("an ELBv2 ALB needs subnets in at least {MIN_ALB_SUBNETS} availability zones; the daemon config gives this balancer {subnets}"),
            "list two or more subnets, in different availability zones, under provider.aws.balancers",
        );
    }
    let Some(first) = lb.spec.addresses.first() else {
        return;
    };
    let addresses = lb.spec.addresses.len();
    if addresses != subnets {
        r.refuse(
            first.pos,
            format!("an NLB takes one Elastic IP per subnet: this balancer has {addresses} address(es) and the daemon config gives it {subnets} subnet(s)"),
            "list as many addresses as the balancer has subnets in provider.aws.balancers",
        );
    }
    if placed.scheme == Scheme::Internal {
        r.refuse(
            first.pos,
            "an internal ELBv2 NLB has private addresses from its subnets, so it cannot hold Elastic IPs",
            "remove `addresses`, or make the balancer `scheme: internet-facing` in provider.aws.balancers",
        );
    }
    // The addresses taken from AddressPools, in the order of the entries.
    let id = ResourceId::new(Kind::LoadBalancer, lb.name.clone()).to_string();
    let mut assigned = catalog
        .allocation
        .get(&id)
        .unwrap_or_default()
        .iter()
        .filter(|a| a.pool.is_some());
    for address in &lb.spec.addresses {
        let ip = match &address.value {
            AddressSpec::Static(ip) => Some(*ip),
            AddressSpec::FromPool { address, .. } => {
                let next = assigned.next().map(|a| a.address);
                address.or(next)
            }
        };
        if let Some(ip) = ip.filter(std::net::IpAddr::is_ipv6) {
            r.refuse(
                address.pos,
                format!("Elastic IPs are IPv4 addresses; this NLB asks for {ip}"),
                "give the NLB IPv4 addresses (an AddressPool of IPv4 CIDRs); AWS gives a dualstack NLB its IPv6 addresses from the subnets",
            );
        }
    }
}

/// A redirect target in the one form ELBv2 can express; `host` and `path`
/// keep lbops' placeholders (`{host}`, `{path}`) verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RedirectParts {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
    pub keep_query: bool,
}

/// Reads `SCHEME://HOST[:PORT]PATH[?{query}]`: scheme `http` or `https`,
/// a host name or `{host}`, a port without leading zeros, and a path that
/// is `{path}` or starts with `/` (and may end in `{path}`); `None` for
/// anything else.
pub(crate) fn parse_redirect(to: &str) -> Option<RedirectParts> {
    let (scheme, rest) = to.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let (rest, keep_query) = match rest.split_once('?') {
        None => (rest, false),
        Some((rest, QUERY)) => (rest, true),
        Some(_) => return None,
    };
    let host_len = if rest.starts_with(HOST) {
        HOST.len()
    } else {
        rest.find([':', '/', '{']).unwrap_or(rest.len())
    };
    let (host, rest) = rest.split_at(host_len);
    if host != HOST && !(host.len() <= 128 && is_dns_name(host)) {
        return None;
    }
    let (port, path) = match rest.strip_prefix(':') {
        None => (None, rest),
        Some(rest) => {
            let (digits, path) = rest.split_at(rest.bytes().take_while(u8::is_ascii_digit).count());
            if digits.starts_with('0') {
                return None;
            }
            (Some(digits.parse::<u16>().ok()?), path)
        }
    };
    let literal = path.strip_suffix(PATH).unwrap_or(path);
    let plain = |c: char| c.is_ascii_graphic() && !"{}?#".contains(c);
    if path != PATH && !(path.starts_with('/') && literal.chars().all(plain)) {
        return None;
    }
    Some(RedirectParts {
        scheme: scheme.to_owned(),
        host: host.to_owned(),
        port,
        path: path.to_owned(),
        keep_query,
    })
}

/// The two kinds of ELBv2 balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// Application Load Balancer: http/https listeners.
    Alb,
    /// Network Load Balancer: tcp/tls listeners.
    Nlb,
}

impl Family {
    fn of(protocol: Protocol) -> Self {
        if protocol.is_http() {
            Self::Alb
        } else {
            Self::Nlb
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Alb => "ALB (http/https)",
            Self::Nlb => "NLB (tcp/tls)",
        }
    }

    /// What most of a balancer's listeners are; the first listener's on a tie.
    fn of_balancer(spec: &LoadBalancerSpec) -> Self {
        let listeners = &spec.listeners;
        let alb = listeners
            .iter()
            .filter(|l| l.protocol.value.is_http())
            .count();
        match alb.cmp(&(listeners.len() - alb)) {
            Ordering::Greater => Self::Alb,
            Ordering::Less => Self::Nlb,
            Ordering::Equal => listeners
                .first()
                .map_or(Self::Alb, |l| Self::of(l.protocol.value)),
        }
    }
}

/// Diagnostics about one resource.
struct Report<'a> {
    file: &'a str,
    kind: Kind,
    name: &'a str,
    out: &'a mut Vec<Diagnostic>,
}

impl<'a> Report<'a> {
    fn new<S>(kind: Kind, resource: &'a Resource<S>, out: &'a mut Vec<Diagnostic>) -> Self {
        Self {
            file: &resource.origin.file,
            kind,
            name: resource.name.as_str(),
            out,
        }
    }

    fn refuse(&mut self, pos: Pos, message: impl Into<String>, hint: impl Into<String>) {
        self.out.push(
            Diagnostic::error(self.file, pos, Code::UnsupportedByProvider, message)
                .about(self.kind, self.name)
                .hint(hint),
        );
    }
}

/// The pools a balancer forwards to, in its routes and default actions.
fn forwarded_pools(spec: &LoadBalancerSpec) -> impl Iterator<Item = &Name> {
    spec.listeners
        .iter()
        .flat_map(actions)
        .filter_map(|action| match &action.value {
            Action::Forward(forward) => Some(forward),
            _ => None,
        })
        .flat_map(|forward| forward.pools.iter().map(|p| &p.pool.value))
}

fn actions(listener: &Listener) -> impl Iterator<Item = &Spanned<Action>> {
    listener
        .routes
        .iter()
        .map(|route| &route.action)
        .chain(&listener.default_action)
}

/// Checks one balancer and says which kind of ELBv2 balancer it becomes.
fn load_balancer(lb: &Resource<LoadBalancerSpec>, out: &mut Vec<Diagnostic>) -> Family {
    let mut r = Report::new(Kind::LoadBalancer, lb, out);
    let family = Family::of_balancer(&lb.spec);
    let listeners = &lb.spec.listeners;
    if let Some(odd) = listeners
        .iter()
        .find(|l| Family::of(l.protocol.value) != family)
    {
        let (kind, name, protocol) = (family.label(), &odd.name.value, odd.protocol.value.as_str());
        r.refuse(
            odd.protocol.pos,
            format!("an ELBv2 balancer is an ALB (http/https listeners) or an NLB (tcp/tls listeners), not both; this one is mostly an {kind}, but listener `{name}` is `{protocol}`"),
            "split it into two LoadBalancers: one with the http/https listeners, one with the tcp/tls ones",
        );
    }
    if let (Family::Alb, Some(address)) = (family, lb.spec.addresses.first()) {
        let asked = match &address.value {
            AddressSpec::Static(ip) => format!("address {ip}"),
            AddressSpec::FromPool { pool, .. } => format!("an address from `{}`", pool.value),
        };
        r.refuse(
            address.pos,
            format!("an ELBv2 ALB's addresses are AWS's own, so this http/https balancer cannot hold {asked}"),
            "remove `addresses` (AWS gives the ALB its addresses and a DNS name), or serve these listeners as tcp/tls on an NLB, which takes Elastic IPs",
        );
    }
    for listener in listeners {
        listener_limits(&mut r, listener);
    }
    family
}

fn listener_limits(r: &mut Report<'_>, listener: &Listener) {
    let (pos, name) = (listener.name.pos, &listener.name.value);
    if let Some(idle) = listener.idle_timeout.map(|d| shown(d.0)) {
        r.refuse(
            pos,
            format!("ELBv2 sets the idle timeout per balancer, not per listener; listener `{name}` asks for {idle}"),
            "remove `idle_timeout` (ELBv2 closes idle connections after 60s)",
        );
    }
    if listener.default_action.is_none() {
        r.refuse(
            pos,
            format!("ELBv2 needs a default action on every listener; listener `{name}` has none"),
            "add `default_action:`, e.g. `{fixed_response: {status: 404}}`, which is what lbops answers when no route matches",
        );
    }
    if let Some(tls) = listener
        .tls
        .as_ref()
        .filter(|t| !t.value.ciphers.is_empty())
    {
        let count = tls.value.ciphers.len();
        r.refuse(
            tls.pos,
            format!("ELBv2 takes a named security policy, not a list of ciphers; listener `{name}` lists {count}"),
            "remove `ciphers`: lbops picks ELBSecurityPolicy-TLS13-1-2-2021-06 for min_version 1.2 and ELBSecurityPolicy-TLS13-1-3-2021-06 for 1.3",
        );
    }
    if let Some(tls) = listener.tls.as_ref().filter(|t| !t.value.resumption) {
        r.refuse(
            tls.pos,
            format!("ELBv2 always offers TLS session resumption; listener `{name}` turns it off"),
            "remove `resumption: false` for balancers on AWS (the embedded data plane honours it)",
        );
    }
    for route in &listener.routes {
        route_limits(r, route);
    }
    for action in actions(listener) {
        match &action.value {
            Action::Forward(forward) => forward_limits(r, action.pos, forward),
            Action::Redirect(redirect) => redirect_limits(r, listener, redirect),
            Action::FixedResponse(fixed) => fixed_limits(r, action.pos, fixed),
        }
    }
}

fn route_limits(r: &mut Report<'_>, route: &Route) {
    let (name, priority) = (&route.name.value, route.priority.value);
    if !RULE_PRIORITIES.contains(&priority) {
        r.refuse(
            route.priority.pos,
            format!("ELBv2 rule priorities are 1–50000; route `{name}` has {priority}"),
            "renumber the listener's routes within 1–50000, keeping their order",
        );
    }
    let values = condition_values(&route.matches);
    if values == 0 {
        r.refuse(
            route.name.pos,
            format!(
                "ELBv2 rules need at least one condition; route `{name}` matches every request"
            ),
            "move its action to the listener's `default_action`, or give it a `match`",
        );
    } else if values > MAX_CONDITION_VALUES {
        r.refuse(
            route.name.pos,
            format!("ELBv2 rules take at most {MAX_CONDITION_VALUES} condition values; route `{name}` has {values} (host 1, exact path 1, prefix path 2, each header 1, each method 1)"),
            "split the route into routes with fewer conditions, e.g. one per method",
        );
    }
    let methods = route.matches.methods.len();
    if methods > MAX_VALUES_PER_CONDITION {
        r.refuse(
            route.name.pos,
            format!("ELBv2 conditions take at most {MAX_VALUES_PER_CONDITION} values; route `{name}` matches {methods} methods, which are one condition"),
            format!("split the route into routes of {MAX_VALUES_PER_CONDITION} methods or fewer"),
        );
    }
    if let Some(host) = route.matches.host.as_ref() {
        host_limits(r, name, host);
    }
    if let Some(path) = route.matches.path.as_ref() {
        path_limits(r, name, path);
    }
    for header in &route.matches.headers {
        header_limits(r, header);
    }
}

/// A host-header value: at most 128 characters, with a `.` and only
/// letters after the last one (so neither `localhost` nor an address).
fn host_limits(r: &mut Report<'_>, route: &Name, host: &Spanned<String>) {
    let value = &host.value;
    if value.len() > MAX_CONDITION_VALUE {
        r.refuse(
            host.pos,
            format!("ELBv2 host conditions are at most {MAX_CONDITION_VALUE} characters; route `{route}` matches a host of {}", value.len()),
            "match a shorter host name, or a wildcard (`*.example.test`)",
        );
    }
    let top = value.rsplit_once('.').map(|(_, top)| top);
    if !top.is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphabetic())) {
        r.refuse(
            host.pos,
            format!("ELBv2 host conditions need a `.` and only letters after the last one; route `{route}` matches `{value}`"),
            "match a fully qualified host name such as `api.example.test`; route by address with a separate listener",
        );
    }
}

/// A path: its patterns (a prefix `/p` is `/p` and `/p/*`) at most 128
/// characters, of the characters ELBv2 takes, without wildcards.
fn path_limits(r: &mut Report<'_>, route: &Name, path: &Spanned<PathMatch>) {
    let text = path.value.path();
    if text.contains(['*', '?']) {
        r.refuse(
            path.pos,
            format!("ELBv2 reads `*` and `?` in a path as wildcards; route `{route}` asks for them literally"),
            "match a path without `*` or `?`",
        );
    }
    let longest = match &path.value {
        PathMatch::Exact(p) => p.len(),
        PathMatch::Prefix(p) if p == "/" => 2,
        PathMatch::Prefix(p) => p.trim_end_matches('/').len() + 2,
    };
    if longest > MAX_CONDITION_VALUE {
        r.refuse(
            path.pos,
            format!("ELBv2 path patterns are at most {MAX_CONDITION_VALUE} characters; route `{route}`'s path becomes one of {longest} (a prefix `/p` is sent as `/p` and `/p/*`)"),
            "match a shorter path",
        );
    }
    let odd: BTreeSet<char> = text
        .chars()
        .filter(|c| {
            !c.is_ascii_alphanumeric() && !PATH_PUNCTUATION.contains(*c) && !"*?".contains(*c)
        })
        .collect();
    if !odd.is_empty() {
        let odd: String = odd.into_iter().collect();
        r.refuse(
            path.pos,
            format!("ELBv2 path patterns take letters, digits and `{PATH_PUNCTUATION}`; route `{route}`'s path `{text}` has `{odd}`"),
            "match a path of those characters (a percent-encoded or non-ASCII path cannot be matched by an ELBv2 rule)",
        );
    }
}

/// An http-header condition: a name of at most 40 characters that is not
/// `Host` (ELBv2 matches it with a host condition), a value of at most 128
/// characters without wildcards.
fn header_limits(r: &mut Report<'_>, header: &HeaderMatch) {
    let header_name = &header.name.value;
    if header_name.len() > MAX_HEADER_NAME {
        r.refuse(
            header.name.pos,
            format!("ELBv2 header names are at most {MAX_HEADER_NAME} characters; `{header_name}` has {}", header_name.len()),
            "match a shorter header name",
        );
    }
    if header_name.eq_ignore_ascii_case("host") {
        r.refuse(
            header.name.pos,
            format!("ELBv2 matches the host with a host condition, not a header condition on `{header_name}`"),
            "write `host: …` in the route's `match` instead of a `host` header",
        );
    }
    let Some(value) = header.value.as_deref() else {
        return;
    };
    if value.contains(['*', '?']) {
        r.refuse(
            header.name.pos,
            format!("ELBv2 reads `*` and `?` in a header value as wildcards; the value of header `{header_name}` has them"),
            "match a value without `*` or `?`; leave `value` out to match any value",
        );
    }
    if value.len() > MAX_CONDITION_VALUE {
        r.refuse(
            header.name.pos,
            format!("ELBv2 header values are at most {MAX_CONDITION_VALUE} characters; the value of header `{header_name}` has {}", value.len()),
            "match a shorter value",
        );
    }
}

/// How many condition values ELBv2 is sent for a match.
fn condition_values(matches: &RouteMatch) -> usize {
    let path = match matches.path.as_ref().map(|p| &p.value) {
        None => 0,
        Some(PathMatch::Prefix(p)) if p == "/" => 1,
        Some(PathMatch::Exact(_)) => 1,
        // `/p` becomes `/p` and `/p/*`.
        Some(PathMatch::Prefix(_)) => 2,
    };
    usize::from(matches.host.is_some()) + path + matches.headers.len() + matches.methods.len()
}

fn forward_limits(r: &mut Report<'_>, pos: Pos, forward: &Forward) {
    let count = forward.pools.len();
    if count > MAX_FORWARD_GROUPS {
        r.refuse(
            pos,
            format!("ELBv2 forwards to at most {MAX_FORWARD_GROUPS} target groups; this forward lists {count} pools"),
            "forward to 5 pools or fewer, e.g. by merging pools that share a weight",
        );
    }
    for weighted in &forward.pools {
        let (pool, weight) = (&weighted.pool.value, weighted.weight.value);
        if !FORWARD_WEIGHTS.contains(&weight) {
            r.refuse(
                weighted.weight.pos,
                format!("ELBv2 forward weights are 0–999; pool `{pool}` has {weight}"),
                "scale this forward's weights down to 999 or less, keeping their ratio (90/10 rather than 900/100)",
            );
        }
    }
}

fn redirect_limits(r: &mut Report<'_>, listener: &Listener, redirect: &Redirect) {
    let (status, to) = (redirect.status.value, &redirect.to.value);
    if !REDIRECT_STATUSES.contains(&status) {
        r.refuse(
            redirect.status.pos,
            format!("ELBv2 redirects with 301 or 302 only; this redirect asks for {status}"),
            "use 301 (permanent) or 302 (temporary)",
        );
    }
    let Some(parts) = parse_redirect(to) else {
        r.refuse(
            redirect.to.pos,
            format!("ELBv2 cannot redirect to `{to}`: it takes `{REDIRECT_FORM}`"),
            "write e.g. `https://{host}{path}?{query}`: scheme http or https, a host name or `{host}`, an optional port, a path that is `{path}` or starts with `/` (and may end in `{path}`), and `?{query}` to keep the query",
        );
        return;
    };
    let scheme = parts.scheme;
    if listener.protocol.value == Protocol::Https && scheme == "http" {
        let listener = &listener.name.value;
        r.refuse(
            redirect.to.pos,
            format!("ELBv2 cannot redirect HTTPS to HTTP; listener `{listener}` is https and redirects to `{to}`"),
            "redirect to an `https://` URL, or put the redirect on an http listener",
        );
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    if parts.port == Some(default_port) {
        r.refuse(
            redirect.to.pos,
            format!("ELBv2 keeps `:{default_port}` on an {scheme} redirect as no port, so lbops would read `{to}` back as changed"),
            format!("remove `:{default_port}`; it is {scheme}'s default"),
        );
    }
}

fn fixed_limits(r: &mut Report<'_>, pos: Pos, fixed: &FixedResponse) {
    let (status, bytes, content_type) = (fixed.status.value, fixed.body.len(), &fixed.content_type);
    if !matches!(status, 200..=299 | 400..=599) {
        r.refuse(
            fixed.status.pos,
            format!("ELBv2 fixed responses are 2XX, 4XX or 5XX; this one asks for {status}"),
            "use a status from 200–299 or 400–599; for 3XX use `redirect`",
        );
    }
    if bytes > MAX_FIXED_BODY {
        r.refuse(
            pos,
            format!("ELBv2 fixed-response bodies are at most {MAX_FIXED_BODY} bytes; this one is {bytes}"),
            "shorten the body, or serve the page from a pool",
        );
    }
    if content_type != DEFAULT_CONTENT_TYPE && !FIXED_CONTENT_TYPES.contains(&content_type.as_str())
    {
        let types = FIXED_CONTENT_TYPES.join(", ");
        r.refuse(
            pos,
            format!("ELBv2 fixed responses are {types}; this one is `{content_type}`"),
            "use one of those content types, or leave `content_type` out for text/plain",
        );
    }
}

/// Checks a pool that AWS `balancers` forward to.
fn pool_limits(
    pool: &Resource<PoolSpec>,
    balancers: &BTreeMap<&Name, Family>,
    out: &mut Vec<Diagnostic>,
) {
    let mut r = Report::new(Kind::Pool, pool, out);
    let (spec, origin) = (&pool.spec, pool.origin.pos);
    let user = |family| {
        balancers
            .iter()
            .find(|(_, f)| **f == family)
            .map(|(n, _)| *n)
    };
    let (alb, nlb) = (user(Family::Alb), user(Family::Nlb));
    if balancers.len() > 1 {
        let message = match (alb, nlb) {
            (Some(alb), Some(nlb)) => format!("an ELBv2 target group has one protocol, but this pool is used by the ALB `{alb}` (http/https) and the NLB `{nlb}` (tcp/tls)"),
            _ => {
                let names: Vec<String> = balancers.keys().map(|n| format!("`{n}`")).collect();
                format!("an ELBv2 target group belongs to one balancer, but this pool is used by {}", names.join(" and "))
            }
        };
        r.refuse(
            origin,
            message,
            "give each balancer its own pool with the same targets",
        );
    }
    let first_ip = spec
        .targets
        .iter()
        .find_map(|t| match t.address.value.host {
            TargetHost::Ip(ip) => Some(ip),
            TargetHost::Dns(_) => None,
        });
    for target in &spec.targets {
        let (address, weight) = (&target.address.value, target.weight.value);
        match &address.host {
            TargetHost::Dns(host) => r.refuse(
                target.address.pos,
                format!("ELBv2 ip target groups take IP addresses; target `{address}` names the host `{host}`"),
                "list the target by its IP address",
            ),
            TargetHost::Ip(ip) => {
                if first_ip.is_some_and(|first| first.is_ipv4() != ip.is_ipv4()) {
                    r.refuse(
                        target.address.pos,
                        format!("an ELBv2 target group holds IPv4 or IPv6 targets, not both; this pool's first target is {}, and `{address}` is not", if ip.is_ipv4() { "IPv6" } else { "IPv4" }),
                        "put the IPv4 and the IPv6 targets in two pools, and split the forward between them",
                    );
                }
                if let std::net::IpAddr::V4(v4) = ip {
                    if !private_target(*v4) {
                        r.refuse(
                            target.address.pos,
                            format!("ELBv2 ip targets are private addresses (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10); target `{address}` is publicly routable"),
                            "list the target by its private address (a VPC whose own CIDR is publicly routable is the one exception, and lbops cannot see it when it validates)",
                        );
                    }
                }
            }
        }
        if weight != 1 {
            r.refuse(
                target.weight.pos,
                format!("ELBv2 has no per-target weights; target `{address}` has weight {weight}"),
                "remove `weight`, and shift traffic with forward weights between pools",
            );
        }
    }
    if let Some(backup) = spec.backup_targets.first() {
        let count = spec.backup_targets.len();
        r.refuse(
            backup.address.pos,
            format!("ELBv2 has no backup targets; this pool lists {count}"),
            "remove `backup_targets`, or put them in a pool of their own that a forward keeps at weight 0 until needed",
        );
    }
    if let (Algorithm::ConsistentHash(_), Some(alb)) = (&spec.algorithm, alb) {
        r.refuse(
            origin,
            format!("an ELBv2 ALB cannot balance with `consistent_hash`; this pool is used by the ALB `{alb}`"),
            "use round_robin, least_requests or weighted_random",
        );
    }
    if let (false, Some(nlb)) = (spec.algorithm == Algorithm::RoundRobin, nlb) {
        let algorithm = crate::model::algorithm_name(&spec.algorithm);
        r.refuse(
            origin,
            format!("an ELBv2 NLB hashes each flow to a target itself, so it cannot balance with `{algorithm}`; this pool is used by the NLB `{nlb}`"),
            "remove `algorithm` (round_robin)",
        );
    }
    match &spec.health_check {
        None => r.refuse(
            origin,
            "ELBv2 always health-checks ip targets, and this pool has no `health_check`",
            "add `health_check:` with `probe: {http: {path: /healthz}}` (or `probe: tcp` behind an NLB)",
        ),
        Some(hc) => health_limits(&mut r, hc, alb),
    }
    let draining = spec.draining_timeout.0;
    if !whole_seconds_in(draining, &DEREGISTRATION_DELAY) {
        let draining = shown(draining);
        r.refuse(
            origin,
            format!("ELBv2 deregistration delay must be 0–3600 s in whole seconds; this pool's `draining_timeout` is {draining}"),
            "set `draining_timeout` to whole seconds from 0s to 1h",
        );
    }
    let Some(slow) = spec.slow_start.map(|d| d.0) else {
        return;
    };
    if let Some(nlb) = nlb {
        r.refuse(
            origin,
            format!("an ELBv2 NLB has no slow start; this pool is used by the NLB `{nlb}` and asks for {}", shown(slow)),
            "remove `slow_start`",
        );
    }
    if alb.is_some() && !whole_seconds_in(slow, &SLOW_START) {
        r.refuse(
            origin,
            format!(
                "ELBv2 slow start must be 30–900 s (or off); this pool asks for {}",
                shown(slow)
            ),
            "set `slow_start` to whole seconds from 30s to 15m, or remove it",
        );
    }
    if let (Algorithm::LeastRequests | Algorithm::WeightedRandom, Some(alb)) =
        (&spec.algorithm, alb)
    {
        let algorithm = crate::model::algorithm_name(&spec.algorithm);
        r.refuse(
            origin,
            format!("an ELBv2 target group cannot combine slow start with `{algorithm}`; this pool, used by the ALB `{alb}`, asks for both"),
            "remove `slow_start`, or `algorithm` (round_robin ramps new targets up with slow start)",
        );
    }
}

fn health_limits(r: &mut Report<'_>, hc: &Spanned<HealthCheck>, alb: Option<&Name>) {
    // A value left to its default is unplaced: point at the health check.
    let at = |pos: Pos| pos.max(hc.pos);
    let check = &hc.value;
    for (field, value, range) in [
        ("interval", &check.interval, HEALTH_INTERVAL),
        ("timeout", &check.timeout, HEALTH_TIMEOUT),
    ] {
        if !whole_seconds_in(value.value.0, &range) {
            let (low, high, asked) = (range.start(), range.end(), shown(value.value.0));
            r.refuse(
                at(value.pos),
                format!("ELBv2 health-check {field} must be {low}–{high} s in whole seconds; this one is {asked}"),
                format!("set `{field}` to whole seconds from {low}s to {high}s"),
            );
        }
    }
    for (field, value) in [
        ("healthy_threshold", &check.healthy_threshold),
        ("unhealthy_threshold", &check.unhealthy_threshold),
    ] {
        if !HEALTH_THRESHOLD.contains(&value.value) {
            r.refuse(
                at(value.pos),
                format!(
                    "ELBv2 health-check thresholds are 2–10; `{field}` is {}",
                    value.value
                ),
                format!("set `{field}` from 2 to 10"),
            );
        }
    }
    match (&check.probe, alb) {
        (Probe::Tcp, Some(alb)) => r.refuse(
            hc.pos,
            format!("an ELBv2 ALB checks its targets over HTTP, but this pool, used by the ALB `{alb}`, probes with tcp"),
            "use `probe: {http: {path: /healthz}}`",
        ),
        (Probe::Tcp, None) => {}
        (Probe::Http(http), _) => {
            for code in http.expected_codes.iter().filter(|c| !HEALTH_CODES.contains(&c.value)) {
                r.refuse(
                    at(code.pos),
                    format!("ELBv2 health checks expect codes 200–499; this one expects {}", code.value),
                    "expect codes from 200 to 499",
                );
            }
        }
    }
}

/// Whether ELBv2 takes `ip` as an ip target wherever it is: RFC 1918 or
/// RFC 6598 (100.64.0.0/10). The VPC's own subnets may hold others (a
/// VPC with a publicly routable CIDR), but those cannot be told apart
/// without asking AWS, so `check` refuses every publicly routable one.
fn private_target(ip: std::net::Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private() || (a == 100 && (b & 0b1100_0000) == 64)
}

fn whole_seconds_in(d: Duration, range: &RangeInclusive<u64>) -> bool {
    d.subsec_nanos() == 0 && range.contains(&d.as_secs())
}

/// A duration as a user writes it: `10s`, or `1500ms` when not whole seconds.
fn shown(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests;
