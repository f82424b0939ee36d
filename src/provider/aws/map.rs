//! What lbops' kinds are in ELBv2's vocabulary, both ways (pure).
//!
//! Every `to_*` has its `from_*`, and `from(to(x)) == x` for everything
//! [`super::limits`] lets through: that is what makes a plan against AWS
//! empty once it has been applied. Where ELBv2 keeps a coarser value than
//! lbops (a fixed response's content type), lbops keeps its own value in a
//! tag and reads it back only while the coarse value still agrees with it,
//! so a change made in the console still shows as drift.

use super::limits::parse_redirect;
use crate::spec::kinds::loadbalancer::{
    Action, FixedResponse, Forward, HeaderMatch, Method, PathMatch, Protocol, Redirect, RouteMatch,
    TlsVersion, WeightedPool,
};
use crate::spec::kinds::pool::{
    Algorithm, HealthCheck, HttpProbe, PoolSpec, Probe, DEFAULT_DRAINING_TIMEOUT,
};
use crate::spec::units::{Dur, Name};
use crate::spec::yaml::Spanned;
use aws_sdk_elasticloadbalancingv2::types::{
    self as elb, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig,
    HostHeaderConditionConfig, HttpHeaderConditionConfig, HttpRequestMethodConditionConfig,
    Matcher, PathPatternConditionConfig, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum, RuleCondition, TargetGroupAttribute,
    TargetGroupIpAddressTypeEnum, TargetGroupTuple,
};
use std::time::Duration;

/// The tag that marks what lbops owns: `kind/name`, e.g. `pool/web`.
pub const TAG_ID: &str = "lbops:id";
/// Which lbops daemon owns the resource: the `provider.aws.instance` of
/// its config. Absent on what a daemon without one (or an older lbops)
/// created.
pub const TAG_INSTANCE: &str = "lbops:instance";
/// The commit whose apply last wrote the resource.
pub const TAG_COMMIT: &str = "lbops:commit";
/// A listener's or a route's lbops name.
pub const TAG_NAME: &str = "lbops:name";
/// A route's path prefix as the user spelled it.
pub const TAG_PATH: &str = "lbops:path";
/// A fixed response's content type as lbops wrote it (see the module doc).
pub const TAG_CONTENT_TYPE: &str = "lbops:content-type";
/// The SHA-256 of the chain lbops imported into ACM, and the serial it had.
pub const TAG_CHAIN: &str = "lbops:chain-sha256";
pub const TAG_SERIAL: &str = "lbops:serial";
/// A certificate's private key reference (never the key).
pub const TAG_KEY: &str = "lbops:key";
/// An Elastic IP's AddressPool (absent for a static address).
pub const TAG_ADDRESS_POOL: &str = "lbops:address-pool";
/// A listener's, route's or address's place in its list in git.
pub const TAG_INDEX: &str = "lbops:index";
/// A listener's SNI certificates, space-separated, in the order git lists them.
///
/// `lbops:path`, `lbops:content-type`, `lbops:certificates` and ACM's
/// `lbops:key` can hold what a tag cannot: they are written and read
/// through the provider's `tags` module.
pub const TAG_CERTIFICATES: &str = "lbops:certificates";

/// The security policy lbops gives HTTPS and TLS listeners.
#[must_use]
pub fn ssl_policy(min_version: TlsVersion) -> &'static str {
    match min_version {
        TlsVersion::Tls12 => "ELBSecurityPolicy-TLS13-1-2-2021-06",
        TlsVersion::Tls13 => "ELBSecurityPolicy-TLS13-1-3-2021-06",
    }
}

/// The minimum version a security policy stands for; `None` for a policy
/// lbops does not write (someone chose it by hand).
#[must_use]
pub fn min_version(policy: &str) -> Option<TlsVersion> {
    [TlsVersion::Tls12, TlsVersion::Tls13]
        .into_iter()
        .find(|v| ssl_policy(*v) == policy)
}

#[must_use]
pub fn to_protocol(protocol: Protocol) -> ProtocolEnum {
    match protocol {
        Protocol::Http => ProtocolEnum::Http,
        Protocol::Https => ProtocolEnum::Https,
        Protocol::Tcp => ProtocolEnum::Tcp,
        Protocol::Tls => ProtocolEnum::Tls,
    }
}

#[must_use]
pub fn from_protocol(protocol: &ProtocolEnum) -> Option<Protocol> {
    match protocol {
        ProtocolEnum::Http => Some(Protocol::Http),
        ProtocolEnum::Https => Some(Protocol::Https),
        ProtocolEnum::Tcp => Some(Protocol::Tcp),
        ProtocolEnum::Tls => Some(Protocol::Tls),
        _ => None,
    }
}

/// A route's match as rule conditions (at least one: `limits` refuses an
/// empty match).
#[must_use]
pub fn to_conditions(matches: &RouteMatch) -> Vec<RuleCondition> {
    let mut out = Vec::new();
    if let Some(host) = &matches.host {
        out.push(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder()
                        .values(host.value.clone())
                        .build(),
                )
                .build(),
        );
    }
    if let Some(path) = &matches.path {
        let values = match &path.value {
            PathMatch::Exact(p) => vec![p.clone()],
            PathMatch::Prefix(p) if p == "/" => vec!["/*".to_owned()],
            // lbops prefixes match whole segments: `/v1` is `/v1` and `/v1/…`.
            PathMatch::Prefix(p) => {
                let bare = p.trim_end_matches('/');
                vec![bare.to_owned(), format!("{bare}/*")]
            }
        };
        out.push(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .set_values(Some(values))
                        .build(),
                )
                .build(),
        );
    }
    for header in &matches.headers {
        out.push(
            RuleCondition::builder()
                .field("http-header")
                .http_header_config(
                    HttpHeaderConditionConfig::builder()
                        .http_header_name(header.name.value.clone())
                        .values(header.value.clone().unwrap_or_else(|| "*".to_owned()))
                        .build(),
                )
                .build(),
        );
    }
    if !matches.methods.is_empty() {
        let methods = matches.methods.iter().map(|m| m.as_str().to_owned());
        out.push(
            RuleCondition::builder()
                .field("http-request-method")
                .http_request_method_config(
                    HttpRequestMethodConditionConfig::builder()
                        .set_values(Some(methods.collect()))
                        .build(),
                )
                .build(),
        );
    }
    out
}

/// Rule conditions as a route's match; `None` when a condition is one lbops
/// never writes (it was added by hand), which the caller reports as drift.
/// `path_tag` is the prefix as the user spelled it (`/v1` or `/v1/`: both
/// are the same two patterns to ELBv2).
#[must_use]
pub fn from_conditions(conditions: &[RuleCondition], path_tag: Option<&str>) -> Option<RouteMatch> {
    let mut matches = RouteMatch::default();
    for condition in conditions {
        match condition.field()? {
            "host-header" => {
                let [host] = condition.host_header_config()?.values() else {
                    return None;
                };
                matches.host = Some(Spanned::unplaced(host.clone()));
            }
            "path-pattern" => {
                let values = condition.path_pattern_config()?.values();
                let path = match values {
                    [one] if one == "/*" => PathMatch::Prefix("/".to_owned()),
                    [one] => PathMatch::Exact(one.clone()),
                    [bare, wild] if *wild == format!("{bare}/*") => PathMatch::Prefix(
                        path_tag
                            .filter(|spelled| spelled.trim_end_matches('/') == bare)
                            .map_or_else(|| format!("{bare}/"), str::to_owned),
                    ),
                    _ => return None,
                };
                matches.path = Some(Spanned::unplaced(path));
            }
            "http-header" => {
                let config = condition.http_header_config()?;
                let [value] = config.values() else {
                    return None;
                };
                matches.headers.push(HeaderMatch {
                    name: Spanned::unplaced(config.http_header_name()?.to_owned()),
                    value: (value != "*").then(|| value.clone()),
                });
            }
            "http-request-method" => {
                for name in condition.http_request_method_config()?.values() {
                    matches.methods.push(method_from(name)?);
                }
            }
            _ => return None,
        }
    }
    Some(matches)
}

fn method_from(name: &str) -> Option<Method> {
    Method::ALL.into_iter().find(|m| m.as_str() == name)
}

/// The content type ELBv2 is sent for lbops' one; `limits` refuses others.
#[must_use]
pub fn aws_content_type(content_type: &str) -> &str {
    content_type
        .split(';')
        .next()
        .unwrap_or(content_type)
        .trim()
}

/// Why an action cannot be written yet.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("pool `{0}` has no target group yet; its CreatePool step must come first")]
    NoTargetGroup(Name),
    #[error("redirect `{0}` is not a form ELBv2 can express (lbops validate says which)")]
    Redirect(String),
}

/// An lbops action as an ELBv2 action; `target_group` gives a pool's ARN.
pub fn to_action(
    action: &Action,
    target_group: impl Fn(&Name) -> Option<String>,
) -> Result<elb::Action, MapError> {
    Ok(match action {
        Action::Forward(forward) => {
            let mut groups = Vec::new();
            for weighted in &forward.pools {
                let arn = target_group(&weighted.pool.value)
                    .ok_or_else(|| MapError::NoTargetGroup(weighted.pool.value.clone()))?;
                groups.push(
                    TargetGroupTuple::builder()
                        .target_group_arn(arn)
                        .weight(i32::try_from(weighted.weight.value).unwrap_or(i32::MAX))
                        .build(),
                );
            }
            elb::Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(
                    ForwardActionConfig::builder()
                        .set_target_groups(Some(groups))
                        .build(),
                )
                .build()
        }
        Action::Redirect(redirect) => {
            let to = &redirect.to.value;
            let parts = parse_redirect(to).ok_or_else(|| MapError::Redirect(to.clone()))?;
            let scheme = parts.scheme.to_ascii_uppercase();
            let default_port = if scheme == "HTTPS" { 443 } else { 80 };
            let status = if redirect.status.value == 301 {
                RedirectActionStatusCodeEnum::Http301
            } else {
                RedirectActionStatusCodeEnum::Http302
            };
            elb::Action::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(
                    RedirectActionConfig::builder()
                        .protocol(scheme)
                        .host(parts.host.replace("{host}", "#{host}"))
                        .port(parts.port.unwrap_or(default_port).to_string())
                        .path(parts.path.replace("{path}", "/#{path}"))
                        .query(if parts.keep_query { "#{query}" } else { "" })
                        .status_code(status)
                        .build(),
                )
                .build()
        }
        Action::FixedResponse(fixed) => elb::Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code(fixed.status.value.to_string())
                    .content_type(aws_content_type(&fixed.content_type))
                    .message_body(fixed.body.clone())
                    .build(),
            )
            .build(),
    })
}

/// An ELBv2 action as lbops' one. `pool` names a target group's pool;
/// `content_type` is the tag lbops left beside it. `None` for an action
/// lbops never writes (authentication, a target group lbops does not own).
#[must_use]
pub fn from_action(
    action: &elb::Action,
    pool: impl Fn(&str) -> Option<Name>,
    content_type: Option<&str>,
) -> Option<Action> {
    match action.r#type()? {
        ActionTypeEnum::Forward => {
            let groups = match action.forward_config() {
                Some(config) => config
                    .target_groups()
                    .iter()
                    .map(|g| (g.target_group_arn().map(str::to_owned), g.weight()))
                    .collect(),
                None => vec![(action.target_group_arn().map(str::to_owned), Some(1))],
            };
            let mut pools = Vec::new();
            for (arn, weight) in groups {
                pools.push(WeightedPool {
                    pool: Spanned::unplaced(pool(arn.as_deref()?)?),
                    weight: Spanned::unplaced(u32::try_from(weight.unwrap_or(1)).ok()?),
                });
            }
            Some(Action::Forward(Forward { pools }))
        }
        ActionTypeEnum::Redirect => {
            let config = action.redirect_config()?;
            let scheme = config
                .protocol()
                .unwrap_or("#{protocol}")
                .to_ascii_lowercase();
            let default_port = if scheme == "https" { "443" } else { "80" };
            let port = match config.port() {
                Some(port) if port != default_port => format!(":{port}"),
                _ => String::new(),
            };
            let host = config
                .host()
                .unwrap_or("#{host}")
                .replace("#{host}", "{host}");
            let path = config
                .path()
                .unwrap_or("/#{path}")
                .replace("/#{path}", "{path}");
            let query = match config.query() {
                Some("#{query}") | None => "?{query}",
                Some(_) => "",
            };
            let status = match config.status_code()? {
                RedirectActionStatusCodeEnum::Http301 => 301,
                _ => 302,
            };
            Some(Action::Redirect(Redirect {
                status: Spanned::unplaced(status),
                to: Spanned::unplaced(format!("{scheme}://{host}{port}{path}{query}")),
            }))
        }
        ActionTypeEnum::FixedResponse => {
            let config = action.fixed_response_config()?;
            let aws = config.content_type().unwrap_or("text/plain");
            let content_type = content_type
                .filter(|tag| aws_content_type(tag) == aws)
                .unwrap_or(aws);
            Some(Action::FixedResponse(FixedResponse {
                status: Spanned::unplaced(config.status_code()?.parse().ok()?),
                body: config.message_body().unwrap_or_default().to_owned(),
                content_type: content_type.to_owned(),
            }))
        }
        _ => None,
    }
}

/// The prefix to keep in a tag beside a rule, as the user spelled it.
#[must_use]
pub fn path_spelling(matches: &RouteMatch) -> Option<&str> {
    match &matches.path.as_ref()?.value {
        PathMatch::Prefix(p) => Some(p),
        PathMatch::Exact(_) => None,
    }
}

/// The content type to keep in a tag beside an action, if it has one.
#[must_use]
pub fn content_type_of(action: &Action) -> Option<&str> {
    match action {
        Action::FixedResponse(fixed) => Some(&fixed.content_type),
        _ => None,
    }
}

/// A target group's health check, as ELBv2's create/modify calls take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetGroupHealth {
    pub protocol: ProtocolEnum,
    pub path: Option<String>,
    pub matcher: Option<String>,
    pub interval_seconds: i32,
    pub timeout_seconds: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A pool's health check as ELBv2's; `limits` makes one required.
#[must_use]
pub fn to_health(check: &HealthCheck) -> TargetGroupHealth {
    let (protocol, path, matcher) = match &check.probe {
        Probe::Http(http) => (
            ProtocolEnum::Http,
            Some(http.path.value.clone()),
            Some(
                http.expected_codes
                    .iter()
                    .map(|c| c.value.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ),
        Probe::Tcp => (ProtocolEnum::Tcp, None, None),
    };
    TargetGroupHealth {
        protocol,
        path,
        matcher,
        interval_seconds: seconds(check.interval.value.0),
        timeout_seconds: seconds(check.timeout.value.0),
        healthy_threshold: count(check.healthy_threshold.value),
        unhealthy_threshold: count(check.unhealthy_threshold.value),
    }
}

/// A target group's health check as lbops'; `None` for one lbops never
/// writes.
#[must_use]
pub fn from_health(group: &elb::TargetGroup) -> Option<HealthCheck> {
    let probe = match group.health_check_protocol()? {
        ProtocolEnum::Http => Probe::Http(HttpProbe {
            path: Spanned::unplaced(group.health_check_path()?.to_owned()),
            expected_codes: codes(group.matcher().and_then(Matcher::http_code)?)?,
        }),
        ProtocolEnum::Tcp => Probe::Tcp,
        _ => return None,
    };
    let secs = |n: Option<i32>| Some(Dur(Duration::from_secs(u64::try_from(n?).ok()?)));
    let num = |n: Option<i32>| u32::try_from(n?).ok();
    Some(HealthCheck {
        probe,
        interval: Spanned::unplaced(secs(group.health_check_interval_seconds())?),
        timeout: Spanned::unplaced(secs(group.health_check_timeout_seconds())?),
        healthy_threshold: Spanned::unplaced(num(group.healthy_threshold_count())?),
        unhealthy_threshold: Spanned::unplaced(num(group.unhealthy_threshold_count())?),
    })
}

fn codes(matcher: &str) -> Option<Vec<Spanned<u16>>> {
    let mut out = Vec::new();
    for part in matcher.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to): (u16, u16) = (from.trim().parse().ok()?, to.trim().parse().ok()?);
                out.extend((from..=to).map(Spanned::unplaced));
            }
            None => out.push(Spanned::unplaced(part.trim().parse().ok()?)),
        }
    }
    Some(out)
}

/// Which addresses a pool's target group holds: IPv6 when its targets
/// are (`limits` refuses a pool of both), IPv4 otherwise. ELBv2 fixes it
/// when the group is created and registers no target of the other kind.
#[must_use]
pub fn ip_address_type(spec: &PoolSpec) -> TargetGroupIpAddressTypeEnum {
    use crate::spec::units::TargetHost;
    let ipv6 = spec
        .targets
        .iter()
        .any(|t| matches!(t.address.value.host, TargetHost::Ip(ip) if ip.is_ipv6()));
    if ipv6 {
        TargetGroupIpAddressTypeEnum::Ipv6
    } else {
        TargetGroupIpAddressTypeEnum::Ipv4
    }
}

pub const ATTR_DEREGISTRATION: &str = "deregistration_delay.timeout_seconds";
pub const ATTR_SLOW_START: &str = "slow_start.duration_seconds";
pub const ATTR_ALGORITHM: &str = "load_balancing.algorithm.type";

/// The target group attributes lbops sets for a pool. ALB target groups
/// also get slow start and the algorithm; NLB ones have neither.
#[must_use]
pub fn to_attributes(spec: &PoolSpec, alb: bool) -> Vec<TargetGroupAttribute> {
    let attribute = |key: &str, value: String| {
        TargetGroupAttribute::builder()
            .key(key)
            .value(value)
            .build()
    };
    let mut out = vec![attribute(
        ATTR_DEREGISTRATION,
        spec.draining_timeout.0.as_secs().to_string(),
    )];
    if alb {
        let slow = spec.slow_start.map_or(0, |d| d.0.as_secs());
        out.push(attribute(ATTR_SLOW_START, slow.to_string()));
        let algorithm = match spec.algorithm {
            Algorithm::LeastRequests => "least_outstanding_requests",
            Algorithm::WeightedRandom => "weighted_random",
            _ => "round_robin",
        };
        out.push(attribute(ATTR_ALGORITHM, algorithm.to_owned()));
    }
    out
}

/// A pool's settings (everything but its targets) as a target group and
/// its attributes hold them; `None` when they hold something lbops never
/// writes.
#[must_use]
pub fn from_target_group(
    group: &elb::TargetGroup,
    attributes: &[TargetGroupAttribute],
) -> Option<PoolSpec> {
    let value = |key: &str| {
        attributes
            .iter()
            .find(|a| a.key() == Some(key))
            .and_then(TargetGroupAttribute::value)
    };
    let secs = |key: &str| value(key).and_then(|v| v.parse::<u64>().ok());
    let algorithm = match value(ATTR_ALGORITHM) {
        None | Some("round_robin") => Algorithm::RoundRobin,
        Some("least_outstanding_requests") => Algorithm::LeastRequests,
        Some("weighted_random") => Algorithm::WeightedRandom,
        Some(_) => return None,
    };
    Some(PoolSpec {
        targets: Vec::new(),
        backup_targets: Vec::new(),
        algorithm,
        health_check: Some(Spanned::unplaced(from_health(group)?)),
        draining_timeout: Dur(
            secs(ATTR_DEREGISTRATION).map_or(DEFAULT_DRAINING_TIMEOUT, Duration::from_secs)
        ),
        slow_start: secs(ATTR_SLOW_START)
            .filter(|s| *s > 0)
            .map(|s| Dur(Duration::from_secs(s))),
    })
}

#[cfg(test)]
mod tests;
