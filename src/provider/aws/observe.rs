//! Reads back everything tagged `lbops:id` into the [`ObservedState`] the
//! planner compares against, with the ARNs `apply` needs beside it.
//!
//! Something on an lbops balancer that lbops did not write (a listener or
//! rule added in the console, a condition lbops never uses) is read as a
//! listener or route named `by-hand-…`, so the plan shows it as drift and
//! a revert removes it.

use super::map::{self, TAG_CHAIN, TAG_ID, TAG_INDEX, TAG_KEY, TAG_NAME, TAG_SERIAL};
use super::{AwsError, AwsProvider};
use crate::model::{Health, ObservedCertificate, ObservedPool, ObservedState, ObservedTarget};
use crate::spec::kinds::certificate::KeyRef;
use crate::spec::kinds::loadbalancer::{AddressSpec, Listener, LoadBalancerSpec, Route, TlsPolicy};
use crate::spec::kinds::pool::Target;
use crate::spec::kinds::Kind;
use crate::spec::units::Name;
use crate::spec::yaml::Spanned;
use aws_sdk_elasticloadbalancingv2::types::{self as elb, TargetHealthStateEnum};
use std::collections::BTreeMap;

/// Tags by key.
pub(super) type Tags = BTreeMap<String, String>;

/// One balancer's ARNs.
#[derive(Clone, Debug, Default)]
pub(super) struct BalancerArns {
    pub arn: String,
    pub listeners: BTreeMap<Name, ListenerArns>,
    /// Elastic IPs lbops allocated for it: (public IP, allocation id).
    pub addresses: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct ListenerArns {
    pub arn: String,
    pub rules: BTreeMap<Name, String>,
    /// Certificate ARNs beside the default one (SNI).
    pub extra_certificates: Vec<String>,
}

/// What lbops owns in the account, read in one go.
#[derive(Debug, Default)]
pub(super) struct Inventory {
    pub state: ObservedState,
    pub balancers: BTreeMap<Name, BalancerArns>,
    pub target_groups: BTreeMap<Name, String>,
    pub certificates: BTreeMap<Name, String>,
}

/// `kind/name` from an `lbops:id` tag, when it is of `kind`.
fn owned(tags: &Tags, kind: Kind) -> Option<Name> {
    let id = tags.get(TAG_ID)?;
    let (k, name) = id.split_once('/')?;
    (k == kind.id_prefix()).then(|| name.parse().ok())?
}

/// [`owned`], and by this daemon: tagged `lbops:instance` with its
/// `provider.aws.instance`, or not at all when it has none (what an
/// older lbops created). Another daemon's resources are not read, so they
/// are neither adopted nor deleted.
fn owned_here(provider: &AwsProvider, tags: &Tags, kind: Kind) -> Option<Name> {
    let instance = tags.get(map::TAG_INSTANCE).map(String::as_str);
    owned(tags, kind).filter(|_| provider.owns_instance(instance))
}

fn index(tags: &Tags) -> usize {
    tags.get(TAG_INDEX)
        .and_then(|i| i.parse().ok())
        .unwrap_or(usize::MAX)
}

fn elb_tags(tags: &[elb::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

impl Inventory {
    pub(super) async fn read(provider: &AwsProvider) -> Result<Self, AwsError> {
        let mut inventory = Self::default();
        inventory.read_certificates(provider).await?;
        inventory.read_target_groups(provider).await?;
        inventory.read_balancers(provider).await?;
        Ok(inventory)
    }

    /// Tags of up to 20 ELBv2 resources per call.
    async fn tags(
        provider: &AwsProvider,
        arns: &[String],
    ) -> Result<BTreeMap<String, Tags>, AwsError> {
        let mut out = BTreeMap::new();
        for chunk in arns.chunks(20) {
            let answer = provider
                .elb
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| AwsError::call("DescribeTags", &e))?;
            for description in answer.tag_descriptions() {
                if let Some(arn) = description.resource_arn() {
                    out.insert(arn.to_owned(), elb_tags(description.tags()));
                }
            }
        }
        Ok(out)
    }

    async fn read_certificates(&mut self, provider: &AwsProvider) -> Result<(), AwsError> {
        let mut token = None;
        loop {
            let page = provider
                .acm
                .list_certificates()
                .includes(super::acm::every_key_type())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::call("ListCertificates", &e))?;
            for summary in page.certificate_summary_list() {
                let Some(arn) = summary.certificate_arn() else {
                    continue;
                };
                let tags: Tags = provider
                    .acm
                    .list_tags_for_certificate()
                    .certificate_arn(arn)
                    .send()
                    .await
                    .map_err(|e| AwsError::call("ListTagsForCertificate", &e))?
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()))
                    .collect();
                let Some(name) = owned_here(provider, &tags, Kind::Certificate) else {
                    continue;
                };
                if tags.contains_key(super::acm::TAG_REPLACED) {
                    // Replaced by a new import: left for the plan to delete.
                    let name = super::acm::replaced_name(arn);
                    self.state.certificates.insert(
                        name.clone(),
                        ObservedCertificate {
                            chain_sha256: "replaced by a certificate of another key type"
                                .to_owned(),
                            key: KeyRef::Provider(arn.to_owned()),
                        },
                    );
                    self.certificates.insert(name, arn.to_owned());
                    continue;
                }
                let serial = super::acm::serial(provider, arn).await?;
                // The chain lbops imported, while ACM still holds it: a
                // certificate re-imported by hand has another serial.
                let decoded = |key| super::tags::decode(&tags, key);
                let chain_sha256 = match (decoded(TAG_CHAIN), decoded(TAG_SERIAL)) {
                    (Some(chain), Some(tagged)) if tagged == serial => chain,
                    _ => format!("{CHANGED_OUTSIDE} (serial {serial})"),
                };
                let key = decoded(TAG_KEY)
                    .and_then(|k| key_ref(&k))
                    .unwrap_or_else(|| KeyRef::Provider(arn.to_owned()));
                let observed = ObservedCertificate { chain_sha256, key };
                self.add_certificate(name, arn.to_owned(), observed);
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(());
            }
        }
    }

    /// A certificate lbops owns. A second one tagged with the same
    /// `lbops:id` (an import whose answer was lost, so it was sent again)
    /// would otherwise leak for good, as only one can hold the name: the
    /// one whose tags still match what ACM holds (then the first by ARN)
    /// keeps it, and the other is observed as [`duplicate`], which git
    /// never has, so the plan shows it deleted (a listener on it is moved
    /// to the one kept first, as the plan puts balancers before deletes).
    fn add_certificate(&mut self, name: Name, arn: String, observed: ObservedCertificate) {
        let verified = |c: &ObservedCertificate| !c.chain_sha256.starts_with(CHANGED_OUTSIDE);
        let (name, arn, observed) = match (
            self.certificates.get(&name),
            self.state.certificates.get(&name),
        ) {
            (Some(kept_arn), Some(kept)) => {
                let keeps = (verified(kept), std::cmp::Reverse(kept_arn))
                    >= (verified(&observed), std::cmp::Reverse(&arn));
                if keeps {
                    (duplicate(&name, &arn), arn, observed)
                } else {
                    let kept_arn = kept_arn.clone();
                    let kept = kept.clone();
                    self.state.certificates.insert(name.clone(), observed);
                    self.certificates.insert(name.clone(), arn);
                    (duplicate(&name, &kept_arn), kept_arn, kept)
                }
            }
            _ => (name, arn, observed),
        };
        self.state.certificates.insert(name.clone(), observed);
        self.certificates.insert(name, arn);
    }

    async fn read_target_groups(&mut self, provider: &AwsProvider) -> Result<(), AwsError> {
        let mut groups = Vec::new();
        let mut marker = None;
        loop {
            let page = provider
                .elb
                .describe_target_groups()
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| AwsError::call("DescribeTargetGroups", &e))?;
            groups.extend(page.target_groups().iter().cloned());
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        let arns: Vec<String> = groups
            .iter()
            .filter_map(|g| g.target_group_arn().map(str::to_owned))
            .collect();
        let tags = Self::tags(provider, &arns).await?;
        for group in groups {
            let Some(arn) = group.target_group_arn() else {
                continue;
            };
            let Some(name) = tags
                .get(arn)
                .and_then(|t| owned_here(provider, t, Kind::Pool))
            else {
                continue;
            };
            let attributes = provider
                .elb
                .describe_target_group_attributes()
                .target_group_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::call("DescribeTargetGroupAttributes", &e))?;
            let mut spec = map::from_target_group(&group, attributes.attributes())
                .unwrap_or_else(by_hand_pool_settings);
            let targets = target_health(provider, arn).await?;
            spec.targets = targets
                .iter()
                .filter(|t| t.health != Health::Draining)
                .map(|t| Target {
                    address: Spanned::unplaced(t.address.clone()),
                    weight: Spanned::unplaced(t.weight),
                })
                .collect();
            self.state
                .pools
                .insert(name.clone(), ObservedPool { spec, targets });
            self.target_groups.insert(name, arn.to_owned());
        }
        Ok(())
    }

    async fn read_balancers(&mut self, provider: &AwsProvider) -> Result<(), AwsError> {
        let mut balancers = Vec::new();
        let mut marker = None;
        loop {
            let page = provider
                .elb
                .describe_load_balancers()
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| AwsError::call("DescribeLoadBalancers", &e))?;
            balancers.extend(page.load_balancers().iter().cloned());
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        let arns: Vec<String> = balancers
            .iter()
            .filter_map(|b| b.load_balancer_arn().map(str::to_owned))
            .collect();
        let tags = Self::tags(provider, &arns).await?;
        let mut addresses = super::balancer::addresses(provider).await?;
        for balancer in balancers {
            let Some(arn) = balancer.load_balancer_arn() else {
                continue;
            };
            let Some(name) = tags
                .get(arn)
                .and_then(|t| owned_here(provider, t, Kind::LoadBalancer))
            else {
                continue;
            };
            let mut arns = BalancerArns {
                arn: arn.to_owned(),
                ..BalancerArns::default()
            };
            let mut spec = LoadBalancerSpec {
                addresses: Vec::new(),
                listeners: Vec::new(),
            };
            if let Some(eips) = addresses.remove(&name) {
                for eip in &eips {
                    spec.addresses.push(Spanned::unplaced(eip.spec.clone()));
                    arns.addresses
                        .push((eip.public_ip.clone(), eip.allocation_id.clone()));
                }
            }
            let mut listeners = self.read_listeners(provider, arn, &mut arns).await?;
            listeners.sort_by_key(|(i, l)| (*i, l.port.value));
            spec.listeners = listeners.into_iter().map(|(_, l)| l).collect();
            self.state.load_balancers.insert(name.clone(), spec);
            self.balancers.insert(name, arns);
        }
        self.add_remnants(addresses);
        Ok(())
    }

    /// Elastic IPs lbops tagged for a balancer that does not run: one
    /// whose delete ran out of patience before AWS let go of them (an
    /// NLB's network interfaces outlive it by minutes), or whose create
    /// failed after they were allocated. Each such balancer is observed
    /// as a remnant: its addresses and no listeners, and no ARN in
    /// [`Self::balancers`]. The planner needs nothing new for it: when git
    /// no longer has the balancer, the plan (shown on the commit's status)
    /// says `DeleteLoadBalancer`, which releases them; when git still
    /// has it, `PutLoadBalancer` creates it with them.
    fn add_remnants(&mut self, addresses: BTreeMap<Name, Vec<Eip>>) {
        for (name, eips) in addresses {
            let spec = LoadBalancerSpec {
                addresses: eips
                    .iter()
                    .map(|eip| Spanned::unplaced(eip.spec.clone()))
                    .collect(),
                listeners: Vec::new(),
            };
            self.state.load_balancers.insert(name, spec);
        }
    }

    async fn read_listeners(
        &self,
        provider: &AwsProvider,
        balancer: &str,
        arns: &mut BalancerArns,
    ) -> Result<Vec<(usize, Listener)>, AwsError> {
        let mut listeners = Vec::new();
        let mut marker = None;
        loop {
            let page = provider
                .elb
                .describe_listeners()
                .load_balancer_arn(balancer)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| AwsError::call("DescribeListeners", &e))?;
            listeners.extend(page.listeners().iter().cloned());
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        let listener_arns: Vec<String> = listeners
            .iter()
            .filter_map(|l| l.listener_arn().map(str::to_owned))
            .collect();
        let tags = Self::tags(provider, &listener_arns).await?;
        let mut out = Vec::new();
        for listener in &listeners {
            let (Some(arn), Some(port)) = (listener.listener_arn(), listener.port()) else {
                continue;
            };
            let none = Tags::new();
            let tag = tags.get(arn).unwrap_or(&none);
            let name = tag
                .get(TAG_NAME)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| by_hand(&format!("listener-{port}")));
            let protocol = listener.protocol().and_then(map::from_protocol);
            let mut entry = ListenerArns {
                arn: arn.to_owned(),
                ..ListenerArns::default()
            };
            let tls = match protocol {
                Some(p) if p.terminates_tls() => {
                    Some(self.read_tls(provider, listener, tag, &mut entry).await?)
                }
                _ => None,
            };
            let default_action = listener
                .default_actions()
                .first()
                .and_then(|a| self.action(a, tag));
            let routes = self.read_rules(provider, arn, &mut entry).await?;
            out.push((
                index(tag),
                Listener {
                    name: Spanned::unplaced(name.clone()),
                    // An unknown protocol (UDP, say) is drift in any case.
                    protocol: Spanned::unplaced(
                        protocol.unwrap_or(crate::spec::kinds::loadbalancer::Protocol::Tcp),
                    ),
                    port: Spanned::unplaced(u32::try_from(port).unwrap_or(0)),
                    tls,
                    routes,
                    default_action: default_action.map(Spanned::unplaced),
                    idle_timeout: None,
                },
            ));
            arns.listeners.insert(name, entry);
        }
        Ok(out)
    }

    async fn read_tls(
        &self,
        provider: &AwsProvider,
        listener: &elb::Listener,
        tag: &Tags,
        entry: &mut ListenerArns,
    ) -> Result<Spanned<TlsPolicy>, AwsError> {
        let arn = listener.listener_arn().unwrap_or_default();
        let mut certificates = Vec::new();
        let mut marker = None;
        loop {
            let page = provider
                .elb
                .describe_listener_certificates()
                .listener_arn(arn)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| AwsError::call("DescribeListenerCertificates", &e))?;
            certificates.extend(page.certificates().iter().cloned());
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        let mut default = Vec::new();
        let mut extra = Vec::new();
        for certificate in &certificates {
            let Some(cert_arn) = certificate.certificate_arn() else {
                continue;
            };
            if certificate.is_default() == Some(true) {
                default.push(cert_arn.to_owned());
            } else {
                extra.push(cert_arn.to_owned());
            }
        }
        // Some endpoints list only the default certificate here.
        if default.is_empty() {
            default.extend(
                listener
                    .certificates()
                    .iter()
                    .filter_map(|c| c.certificate_arn().map(str::to_owned)),
            );
        }
        extra.retain(|a| !default.contains(a));
        let name_of = |cert_arn: &String| {
            self.certificates
                .iter()
                .find(|(_, a)| *a == cert_arn)
                .map_or_else(|| by_hand("certificate"), |(n, _)| n.clone())
        };
        let mut names: Vec<Name> = default.iter().map(name_of).collect();
        let mut extra_names: Vec<Name> = extra.iter().map(name_of).collect();
        // SNI certificates in the order lbops wrote them, while they are
        // the same set.
        let order = sni_order(tag);
        extra_names.sort_by_key(|n| order.iter().position(|o| o == n.as_str()));
        names.extend(extra_names);
        entry.extra_certificates = extra;
        let policy = listener.ssl_policy().unwrap_or_default();
        Ok(Spanned::unplaced(TlsPolicy {
            certificates: names.into_iter().map(Spanned::unplaced).collect(),
            min_version: map::min_version(policy).unwrap_or_default(),
            ciphers: Vec::new(),
            // ELBv2 always offers resumption; `resumption: false` is refused
            // by the limits check before anything is written.
            resumption: true,
        }))
    }

    async fn read_rules(
        &self,
        provider: &AwsProvider,
        listener: &str,
        entry: &mut ListenerArns,
    ) -> Result<Vec<Route>, AwsError> {
        let mut rules: Vec<elb::Rule> = Vec::new();
        let mut marker = None;
        loop {
            let page = provider
                .elb
                .describe_rules()
                .listener_arn(listener)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| AwsError::call("DescribeRules", &e))?;
            rules.extend(
                page.rules()
                    .iter()
                    .filter(|r| r.is_default() != Some(true))
                    .cloned(),
            );
            marker = page.next_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        let arns: Vec<String> = rules
            .iter()
            .filter_map(|r| r.rule_arn().map(str::to_owned))
            .collect();
        let tags = Self::tags(provider, &arns).await?;
        let mut routes = Vec::new();
        for rule in &rules {
            let Some(arn) = rule.rule_arn() else {
                continue;
            };
            let none = Tags::new();
            let tag = tags.get(arn).unwrap_or(&none);
            let priority: u32 = rule.priority().and_then(|p| p.parse().ok()).unwrap_or(0);
            let name = tag
                .get(TAG_NAME)
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| by_hand(&format!("rule-{priority}")));
            let matches = map::from_conditions(rule.conditions(), path_spelling(tag).as_deref());
            let action = rule.actions().first().and_then(|a| self.action(a, tag));
            let (Some(matches), Some(action)) = (matches, action) else {
                // Something lbops never writes: a route that cannot match
                // what git says, so the plan replaces it.
                routes.push((usize::MAX, by_hand_route(priority)));
                entry
                    .rules
                    .insert(by_hand(&format!("rule-{priority}")), arn.to_owned());
                continue;
            };
            routes.push((
                index(tag),
                Route {
                    name: Spanned::unplaced(name.clone()),
                    priority: Spanned::unplaced(priority),
                    matches,
                    action: Spanned::unplaced(action),
                    // ALB rules have no retries; `model::unsupported`
                    // refuses routes that ask for them on AWS.
                    retries: None,
                },
            ));
            entry.rules.insert(name, arn.to_owned());
        }
        routes.sort_by_key(|(i, r)| (*i, r.priority.value));
        Ok(routes.into_iter().map(|(_, r)| r).collect())
    }

    fn action(
        &self,
        action: &elb::Action,
        tag: &Tags,
    ) -> Option<crate::spec::kinds::loadbalancer::Action> {
        map::from_action(
            action,
            |arn| {
                self.target_groups
                    .iter()
                    .find(|(_, a)| *a == arn)
                    .map(|(n, _)| n.clone())
            },
            content_type(tag).as_deref(),
        )
    }
}

/// The start of the chain digest observed for a certificate whose tags
/// do not match what ACM holds, so that the plan imports it again.
const CHANGED_OUTSIDE: &str = "changed outside lbops";

/// The name a second certificate tagged as `name` is observed under:
/// `NAME-duplicate-` and 8 hex digits of its ARN's digest.
pub(super) fn duplicate(name: &Name, arn: &str) -> Name {
    let hash = crate::model::sha256_hex(arn);
    let suffix = format!("-duplicate-{}", &hash[..8]);
    let room = crate::spec::units::MAX_NAME_LEN - suffix.len();
    let stem = name.as_str()[..name.as_str().len().min(room)].trim_end_matches('-');
    format!("{stem}{suffix}")
        .parse()
        .unwrap_or_else(|_| by_hand("certificate"))
}

/// A name for something lbops did not write.
fn by_hand(what: &str) -> Name {
    format!("by-hand-{what}")
        .parse()
        .unwrap_or_else(|_| "by-hand".parse().expect("a valid name"))
}

fn by_hand_route(priority: u32) -> Route {
    use crate::spec::kinds::loadbalancer::{Action, FixedResponse, RouteMatch};
    Route {
        name: Spanned::unplaced(by_hand(&format!("rule-{priority}"))),
        priority: Spanned::unplaced(priority),
        matches: RouteMatch::default(),
        action: Spanned::unplaced(Action::FixedResponse(FixedResponse {
            status: Spanned::unplaced(0),
            body: "changed outside lbops".to_owned(),
            content_type: String::new(),
        })),
        retries: None,
    }
}

/// Settings lbops cannot read back (a health check changed by hand to
/// something it never writes): no health check, which differs from every
/// pool `limits` accepts, so the plan puts the settings back.
fn by_hand_pool_settings() -> crate::spec::kinds::pool::PoolSpec {
    crate::spec::kinds::pool::PoolSpec {
        targets: Vec::new(),
        backup_targets: Vec::new(),
        algorithm: crate::spec::kinds::pool::Algorithm::RoundRobin,
        health_check: None,
        draining_timeout: crate::spec::units::Dur(
            crate::spec::kinds::pool::DEFAULT_DRAINING_TIMEOUT,
        ),
        slow_start: None,
    }
}

/// What `DescribeTargetHealth` says of a target group (one answer: the
/// call does not page).
pub(super) async fn describe_target_health(
    provider: &AwsProvider,
    target_group: &str,
) -> Result<Vec<elb::TargetHealthDescription>, AwsError> {
    Ok(provider
        .elb
        .describe_target_health()
        .target_group_arn(target_group)
        .send()
        .await
        .map_err(|e| AwsError::call("DescribeTargetHealth", &e))?
        .target_health_descriptions()
        .to_vec())
}

/// The targets of a target group and their health, by address.
pub(super) async fn target_health(
    provider: &AwsProvider,
    target_group: &str,
) -> Result<Vec<ObservedTarget>, AwsError> {
    let mut out: Vec<ObservedTarget> = describe_target_health(provider, target_group)
        .await?
        .iter()
        .filter_map(|d| {
            Some(ObservedTarget {
                address: super::health::address(d)?,
                weight: crate::spec::kinds::pool::DEFAULT_TARGET_WEIGHT,
                backup: false,
                health: health(d.target_health().and_then(|h| h.state())),
            })
        })
        .collect();
    out.sort_by(|a, b| a.address.cmp(&b.address));
    Ok(out)
}

fn health(state: Option<&TargetHealthStateEnum>) -> Health {
    match state {
        Some(TargetHealthStateEnum::Healthy) => Health::Healthy,
        Some(TargetHealthStateEnum::Unhealthy | TargetHealthStateEnum::UnhealthyDraining) => {
            Health::Unhealthy
        }
        Some(TargetHealthStateEnum::Draining) => Health::Draining,
        _ => Health::Unknown,
    }
}

/// A key reference from its tag (`file:/path`, `env:NAME`, `provider:ID`).
#[must_use]
pub(super) fn key_ref(tag: &str) -> Option<KeyRef> {
    let (kind, value) = tag.split_once(':')?;
    let value = value.to_owned();
    match kind {
        "file" => Some(KeyRef::File(value)),
        "env" => Some(KeyRef::Env(value)),
        "provider" => Some(KeyRef::Provider(value)),
        _ => None,
    }
}

/// The tag for a key reference (the reference, never the key).
#[must_use]
pub(super) fn key_tag(key: &KeyRef) -> String {
    match key {
        KeyRef::File(path) => format!("file:{path}"),
        KeyRef::Env(name) => format!("env:{name}"),
        KeyRef::Provider(id) => format!("provider:{id}"),
    }
}

/// An Elastic IP lbops allocated for a balancer.
#[derive(Clone, Debug)]
pub(super) struct Eip {
    pub public_ip: String,
    pub allocation_id: String,
    pub spec: AddressSpec,
}

// What lbops keeps in tags, as [`super::tags`] wrote it.

/// A listener's SNI certificates in the order lbops wrote them.
pub(super) fn sni_order(tags: &Tags) -> Vec<String> {
    super::tags::decode(tags, map::TAG_CERTIFICATES)
        .map(|order| order.split(' ').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// A fixed response's content type as lbops wrote it.
pub(super) fn content_type(tags: &Tags) -> Option<String> {
    super::tags::decode(tags, map::TAG_CONTENT_TYPE)
}

/// A route's path prefix as the user spelled it.
pub(super) fn path_spelling(tags: &Tags) -> Option<String> {
    super::tags::decode(tags, map::TAG_PATH)
}

#[cfg(test)]
mod tests;
