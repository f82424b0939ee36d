//! Balancers: synced, not replaced. Only the listeners and rules that
//! differ are touched (a canary shift is one `ModifyRule`); an NLB's
//! Elastic IPs are allocated, tagged and found again by tag.

use super::apply::{aws_name, once_imported, patiently, tag};
use super::map::{
    self, TAG_ADDRESS_POOL, TAG_CERTIFICATES, TAG_COMMIT, TAG_CONTENT_TYPE, TAG_ID, TAG_INDEX,
    TAG_INSTANCE, TAG_NAME, TAG_PATH,
};
use super::observe::{self, Eip, Inventory};
use super::{Applying, AwsError, AwsProvider, Family, Scheme};
use crate::spec::kinds::loadbalancer::{AddressSpec, Listener, LoadBalancerSpec, Route};
use crate::spec::kinds::{Kind, ResourceId};
use crate::spec::units::Name;
use aws_sdk_elasticloadbalancingv2::types::{
    self as elb, Certificate, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, RulePriorityPair,
    SubnetMapping,
};
use std::collections::BTreeMap;

/// The Elastic IPs lbops allocated, by balancer, in their order in git.
pub(super) async fn addresses(
    provider: &AwsProvider,
) -> Result<BTreeMap<Name, Vec<Eip>>, AwsError> {
    use aws_sdk_ec2::types::Filter;
    let answer = provider
        .ec2
        .describe_addresses()
        .filters(Filter::builder().name("tag-key").values(TAG_ID).build())
        .send()
        .await
        .map_err(|e| AwsError::call("DescribeAddresses", &e))?;
    let mut out: BTreeMap<Name, Vec<(usize, Eip)>> = BTreeMap::new();
    for address in answer.addresses() {
        let tags: BTreeMap<&str, &str> = address
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())))
            .collect();
        if !provider.owns_instance(tags.get(TAG_INSTANCE).copied()) {
            continue;
        }
        let Some(name) = tags
            .get(TAG_ID)
            .and_then(|id| id.strip_prefix("loadbalancer/"))
            .and_then(|n| n.parse::<Name>().ok())
        else {
            continue;
        };
        let (Some(ip), Some(allocation)) = (address.public_ip(), address.allocation_id()) else {
            continue;
        };
        let Ok(parsed) = ip.parse() else {
            continue;
        };
        let spec = match tags.get(TAG_ADDRESS_POOL).and_then(|p| p.parse().ok()) {
            Some(pool) => AddressSpec::FromPool {
                pool: crate::spec::yaml::Spanned::unplaced(pool),
                address: Some(parsed),
            },
            None => AddressSpec::Static(parsed),
        };
        let index = tags
            .get(TAG_INDEX)
            .and_then(|i| i.parse().ok())
            .unwrap_or(usize::MAX);
        out.entry(name).or_default().push((
            index,
            Eip {
                public_ip: ip.to_owned(),
                allocation_id: allocation.to_owned(),
                spec,
            },
        ));
    }
    Ok(out
        .into_iter()
        .map(|(name, mut eips)| {
            eips.sort_by_key(|(i, _)| *i);
            (name, eips.into_iter().map(|(_, e)| e).collect())
        })
        .collect())
}

/// The Elastic IPs a new NLB is created with: the ones lbops holds for it
/// already, and new ones for the rest (the allocation id kept in tags, so
/// a restart finds them instead of allocating again).
async fn ensure_addresses(
    provider: &AwsProvider,
    applying: &Applying,
    name: &Name,
    spec: &LoadBalancerSpec,
) -> Result<Vec<String>, AwsError> {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
    let held = addresses(provider).await?.remove(name).unwrap_or_default();
    let mut out = Vec::new();
    for (index, entry) in spec.addresses.iter().enumerate() {
        let (ip, pool) = match &entry.value {
            AddressSpec::Static(ip) => (Some(*ip), None),
            AddressSpec::FromPool { pool, address } => (*address, Some(pool.value.clone())),
        };
        let ip = ip.ok_or_else(|| {
            AwsError::Step(format!(
                "balancer `{name}`: address {index} was never allocated"
            ))
        })?;
        if let Some(eip) = held.iter().find(|e| e.public_ip == ip.to_string()) {
            out.push(eip.allocation_id.clone());
            continue;
        }
        let mut tags = vec![
            Tag::builder()
                .key(TAG_ID)
                .value(ResourceId::new(Kind::LoadBalancer, name.clone()).to_string())
                .build(),
            Tag::builder()
                .key(TAG_COMMIT)
                .value(applying.commit_tag())
                .build(),
            Tag::builder()
                .key(TAG_INDEX)
                .value(index.to_string())
                .build(),
        ];
        if let Some(instance) = applying.instance_tag() {
            tags.push(Tag::builder().key(TAG_INSTANCE).value(instance).build());
        }
        if let Some(pool) = pool {
            tags.push(
                Tag::builder()
                    .key(TAG_ADDRESS_POOL)
                    .value(pool.to_string())
                    .build(),
            );
        }
        let allocated = provider
            .ec2
            .allocate_address()
            .domain(aws_sdk_ec2::types::DomainType::Vpc)
            .address(ip.to_string())
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::ElasticIp)
                    .set_tags(Some(tags))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| AwsError::call("AllocateAddress", &e))?;
        out.push(
            allocated
                .allocation_id()
                .ok_or_else(|| AwsError::Step("AllocateAddress returned no id".to_owned()))?
                .to_owned(),
        );
    }
    // Held for it, but no longer in git (its create failed, then git
    // changed): nothing uses them, as the balancer does not run yet.
    for eip in held.iter().filter(|e| !out.contains(&e.allocation_id)) {
        release(provider, &eip.allocation_id).await?;
    }
    Ok(out)
}

/// Releases an Elastic IP lbops allocated, once AWS has let go of it. One
/// that stays held past the provider's patience stays tagged: the next
/// observe finds it again (`observe`'s remnants).
async fn release(provider: &AwsProvider, allocation_id: &str) -> Result<(), AwsError> {
    patiently(provider, "ReleaseAddress", || async {
        provider
            .ec2
            .release_address()
            .allocation_id(allocation_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::call("ReleaseAddress", &e))
    })
    .await
}

pub(super) async fn sync_balancer(
    provider: &AwsProvider,
    applying: &Applying,
    inventory: &mut Inventory,
    name: &Name,
    spec: &LoadBalancerSpec,
) -> Result<(), AwsError> {
    let placed = provider.config.balancers.get(name).ok_or_else(|| {
        AwsError::Step(format!(
            "balancer `{name}` is not placed on aws in the daemon config"
        ))
    })?;
    let family = spec
        .listeners
        .first()
        .map_or(Family::Application, |l| Family::of(l.protocol.value));
    // A remnant (Elastic IPs observed without their balancer) is created
    // anew, with them.
    let running = inventory
        .balancers
        .contains_key(name)
        .then(|| inventory.state.load_balancers.get(name).cloned())
        .flatten();
    match &running {
        Some(running) if running.addresses != spec.addresses => {
            return Err(AwsError::Step(format!(
                "balancer `{name}`: an NLB's Elastic IPs are fixed when it is created; \
                 rename the balancer to replace it, or keep its addresses"
            )));
        }
        Some(_) => {
            if applying.placement.dualstack(spec) {
                if let Some(arns) = inventory.balancers.get(name) {
                    ensure_dualstack(provider, &arns.arn).await?;
                }
            }
        }
        None => {
            let allocations = if family == Family::Network {
                ensure_addresses(provider, applying, name, spec).await?
            } else {
                Vec::new()
            };
            let mut create = provider
                .elb
                .create_load_balancer()
                .name(aws_name(applying.instance.as_ref(), name))
                .r#type(match family {
                    Family::Application => LoadBalancerTypeEnum::Application,
                    Family::Network => LoadBalancerTypeEnum::Network,
                })
                .scheme(match placed.scheme {
                    Scheme::InternetFacing => LoadBalancerSchemeEnum::InternetFacing,
                    Scheme::Internal => LoadBalancerSchemeEnum::Internal,
                })
                .set_tags(Some(applying.owner_tags(Kind::LoadBalancer, name)));
            if allocations.is_empty() {
                create = create.set_subnets(Some(placed.subnets.clone()));
            } else {
                let mappings =
                    placed
                        .subnets
                        .iter()
                        .zip(&allocations)
                        .map(|(subnet, allocation)| {
                            SubnetMapping::builder()
                                .subnet_id(subnet)
                                .allocation_id(allocation)
                                .build()
                        });
                create = create.set_subnet_mappings(Some(mappings.collect()));
            }
            if applying.placement.dualstack(spec) {
                create = create.ip_address_type(elb::IpAddressType::Dualstack);
            }
            if family == Family::Application && !placed.security_groups.is_empty() {
                create = create.set_security_groups(Some(placed.security_groups.clone()));
            }
            let created = create
                .send()
                .await
                .map_err(|e| AwsError::call("CreateLoadBalancer", &e))?;
            let arn = created
                .load_balancers()
                .first()
                .and_then(|b| b.load_balancer_arn())
                .ok_or_else(|| AwsError::Step("CreateLoadBalancer returned no ARN".to_owned()))?;
            inventory.balancers.insert(
                name.clone(),
                observe::BalancerArns {
                    arn: arn.to_owned(),
                    ..observe::BalancerArns::default()
                },
            );
        }
    }
    let running = running.unwrap_or(LoadBalancerSpec {
        addresses: Vec::new(),
        listeners: Vec::new(),
    });
    let arns = inventory.balancers.get(name).cloned().unwrap_or_default();
    // Listeners git no longer has go first, so their ports are free.
    for (listener_name, listener) in &arns.listeners {
        if !spec
            .listeners
            .iter()
            .any(|l| l.name.value == *listener_name)
        {
            provider
                .elb
                .delete_listener()
                .listener_arn(&listener.arn)
                .send()
                .await
                .map_err(|e| AwsError::call("DeleteListener", &e))?;
        }
    }
    for (index, listener) in spec.listeners.iter().enumerate() {
        let current = running
            .listeners
            .iter()
            .find(|l| l.name.value == listener.name.value);
        let arn = arns.listeners.get(&listener.name.value);
        match (current, arn) {
            (Some(current), Some(arn)) => {
                sync_listener(provider, inventory, index, current, listener, arn).await?;
            }
            _ => create_listener(provider, inventory, &arns.arn, index, listener).await?,
        }
    }
    Ok(())
}

/// Makes a running balancer dualstack, before a listener or rule of it
/// forwards to an IPv6 pool (ELBv2 refuses an `ipv6` target group to an
/// `ipv4` balancer). Its subnets need IPv6 ranges; AWS says so if not.
async fn ensure_dualstack(provider: &AwsProvider, arn: &str) -> Result<(), AwsError> {
    let described = provider
        .elb
        .describe_load_balancers()
        .load_balancer_arns(arn)
        .send()
        .await
        .map_err(|e| AwsError::call("DescribeLoadBalancers", &e))?;
    let ipv4 = described
        .load_balancers()
        .iter()
        .any(|b| b.ip_address_type() == Some(&elb::IpAddressType::Ipv4));
    if ipv4 {
        provider
            .elb
            .set_ip_address_type()
            .load_balancer_arn(arn)
            .ip_address_type(elb::IpAddressType::Dualstack)
            .send()
            .await
            .map_err(|e| AwsError::call("SetIpAddressType", &e))?;
    }
    Ok(())
}

fn listener_tags(index: usize, listener: &Listener) -> Vec<elb::Tag> {
    let mut tags = vec![
        tag(TAG_NAME, listener.name.value.to_string()),
        tag(TAG_INDEX, index.to_string()),
    ];
    if let Some(tls) = &listener.tls {
        let names: Vec<String> = tls
            .value
            .certificates
            .iter()
            .skip(1)
            .map(|c| c.value.to_string())
            .collect();
        tags.extend(encoded(TAG_CERTIFICATES, &names.join(" ")));
    }
    if let Some(content_type) = listener
        .default_action
        .as_ref()
        .and_then(|a| map::content_type_of(&a.value))
    {
        tags.extend(encoded(TAG_CONTENT_TYPE, content_type));
    }
    tags
}

/// `value` under `key` as the tags ELBv2 takes ([`tags`](super::tags)).
fn encoded(key: &str, value: &str) -> Vec<elb::Tag> {
    super::tags::encode(key, value)
        .into_iter()
        .map(|(key, value)| tag(&key, value))
        .collect()
}

fn route_tags(index: usize, route: &Route) -> Vec<elb::Tag> {
    let mut tags = vec![
        tag(TAG_NAME, route.name.value.to_string()),
        tag(TAG_INDEX, index.to_string()),
    ];
    if let Some(path) = map::path_spelling(&route.matches) {
        tags.extend(encoded(TAG_PATH, path));
    }
    if let Some(content_type) = map::content_type_of(&route.action.value) {
        tags.extend(encoded(TAG_CONTENT_TYPE, content_type));
    }
    tags
}

fn certificate_arns(inventory: &Inventory, listener: &Listener) -> Result<Vec<String>, AwsError> {
    let Some(tls) = &listener.tls else {
        return Ok(Vec::new());
    };
    tls.value
        .certificates
        .iter()
        .map(|c| {
            inventory
                .certificates
                .get(&c.value)
                .cloned()
                .ok_or_else(|| {
                    AwsError::Step(format!(
                    "certificate `{}` is not in ACM yet; its PutCertificate step must come first",
                    c.value
                ))
                })
        })
        .collect()
}

fn default_action(inventory: &Inventory, listener: &Listener) -> Result<elb::Action, AwsError> {
    let action = listener.default_action.as_ref().ok_or_else(|| {
        AwsError::Step(format!(
            "listener `{}` has no default_action; ELBv2 needs one (lbops validate says so)",
            listener.name.value
        ))
    })?;
    Ok(map::to_action(&action.value, |pool| {
        inventory.target_groups.get(pool).cloned()
    })?)
}

async fn create_listener(
    provider: &AwsProvider,
    inventory: &mut Inventory,
    balancer: &str,
    index: usize,
    listener: &Listener,
) -> Result<(), AwsError> {
    let certificates = certificate_arns(inventory, listener)?;
    let mut create = provider
        .elb
        .create_listener()
        .load_balancer_arn(balancer)
        .protocol(map::to_protocol(listener.protocol.value))
        .port(i32::try_from(listener.port.value).unwrap_or(0))
        .default_actions(default_action(inventory, listener)?)
        .set_tags(Some(listener_tags(index, listener)));
    if let Some(tls) = &listener.tls {
        create = create.ssl_policy(map::ssl_policy(tls.value.min_version));
    }
    if let Some(first) = certificates.first() {
        create = create.certificates(Certificate::builder().certificate_arn(first).build());
    }
    let created = once_imported("CreateListener", || async {
        create
            .clone()
            .send()
            .await
            .map_err(|e| AwsError::call("CreateListener", &e))
    })
    .await?;
    let arn = created
        .listeners()
        .first()
        .and_then(|l| l.listener_arn())
        .ok_or_else(|| AwsError::Step("CreateListener returned no ARN".to_owned()))?
        .to_owned();
    if certificates.len() > 1 {
        add_certificates(provider, &arn, &certificates[1..]).await?;
    }
    for (index, route) in listener.routes.iter().enumerate() {
        create_rule(provider, inventory, &arn, index, route).await?;
    }
    Ok(())
}

async fn add_certificates(
    provider: &AwsProvider,
    listener: &str,
    arns: &[String],
) -> Result<(), AwsError> {
    let add = provider
        .elb
        .add_listener_certificates()
        .listener_arn(listener)
        .set_certificates(Some(
            arns.iter()
                .map(|a| Certificate::builder().certificate_arn(a).build())
                .collect(),
        ));
    once_imported("AddListenerCertificates", || async {
        add.clone()
            .send()
            .await
            .map_err(|e| AwsError::call("AddListenerCertificates", &e))
    })
    .await?;
    Ok(())
}

async fn sync_listener(
    provider: &AwsProvider,
    inventory: &mut Inventory,
    index: usize,
    current: &Listener,
    listener: &Listener,
    arns: &observe::ListenerArns,
) -> Result<(), AwsError> {
    let certificates = certificate_arns(inventory, listener)?;
    let settings_differ = current.protocol != listener.protocol
        || current.port != listener.port
        || current.default_action != listener.default_action
        || current
            .tls
            .as_ref()
            .map(|t| (&t.value.min_version, t.value.certificates.first()))
            != listener
                .tls
                .as_ref()
                .map(|t| (&t.value.min_version, t.value.certificates.first()));
    if settings_differ {
        let mut modify = provider
            .elb
            .modify_listener()
            .listener_arn(&arns.arn)
            .protocol(map::to_protocol(listener.protocol.value))
            .port(i32::try_from(listener.port.value).unwrap_or(0))
            .default_actions(default_action(inventory, listener)?);
        if let Some(tls) = &listener.tls {
            modify = modify.ssl_policy(map::ssl_policy(tls.value.min_version));
        }
        if let Some(first) = certificates.first() {
            modify = modify.certificates(Certificate::builder().certificate_arn(first).build());
        }
        once_imported("ModifyListener", || async {
            modify
                .clone()
                .send()
                .await
                .map_err(|e| AwsError::call("ModifyListener", &e))
        })
        .await?;
    }
    // SNI certificates: add the new before removing the old.
    let wanted: Vec<String> = certificates.iter().skip(1).cloned().collect();
    let add: Vec<String> = wanted
        .iter()
        .filter(|a| !arns.extra_certificates.contains(a))
        .cloned()
        .collect();
    if !add.is_empty() {
        add_certificates(provider, &arns.arn, &add).await?;
    }
    let remove: Vec<Certificate> = arns
        .extra_certificates
        .iter()
        .filter(|a| !wanted.contains(a))
        .map(|a| Certificate::builder().certificate_arn(a).build())
        .collect();
    if !remove.is_empty() {
        provider
            .elb
            .remove_listener_certificates()
            .listener_arn(&arns.arn)
            .set_certificates(Some(remove))
            .send()
            .await
            .map_err(|e| AwsError::call("RemoveListenerCertificates", &e))?;
    }
    let tags_differ = settings_differ
        || current.tls.as_ref().map(|t| &t.value.certificates)
            != listener.tls.as_ref().map(|t| &t.value.certificates);
    if tags_differ {
        add_tags(provider, &arns.arn, listener_tags(index, listener)).await?;
    }
    sync_rules(provider, inventory, &arns.arn, current, listener, arns).await
}

async fn add_tags(provider: &AwsProvider, arn: &str, tags: Vec<elb::Tag>) -> Result<(), AwsError> {
    provider
        .elb
        .add_tags()
        .resource_arns(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| AwsError::call("AddTags", &e))?;
    Ok(())
}

/// Rules: deleted ones go first (freeing their priorities), moved ones get
/// their priorities in one call (so two rules can swap), then changed
/// ones are modified in place and new ones created.
async fn sync_rules(
    provider: &AwsProvider,
    inventory: &Inventory,
    listener_arn: &str,
    current: &Listener,
    listener: &Listener,
    arns: &observe::ListenerArns,
) -> Result<(), AwsError> {
    for (name, arn) in &arns.rules {
        if !listener.routes.iter().any(|r| r.name.value == *name) {
            provider
                .elb
                .delete_rule()
                .rule_arn(arn)
                .send()
                .await
                .map_err(|e| AwsError::call("DeleteRule", &e))?;
        }
    }
    let existing = |route: &Route| {
        let running = current
            .routes
            .iter()
            .find(|r| r.name.value == route.name.value)?;
        Some((running, arns.rules.get(&route.name.value)?))
    };
    let moved: Vec<RulePriorityPair> = listener
        .routes
        .iter()
        .filter_map(|route| {
            let (running, arn) = existing(route)?;
            (running.priority != route.priority).then(|| {
                RulePriorityPair::builder()
                    .rule_arn(arn)
                    .priority(i32::try_from(route.priority.value).unwrap_or(i32::MAX))
                    .build()
            })
        })
        .collect();
    if !moved.is_empty() {
        provider
            .elb
            .set_rule_priorities()
            .set_rule_priorities(Some(moved))
            .send()
            .await
            .map_err(|e| AwsError::call("SetRulePriorities", &e))?;
    }
    for (index, route) in listener.routes.iter().enumerate() {
        let Some((running, arn)) = existing(route) else {
            create_rule(provider, inventory, listener_arn, index, route).await?;
            continue;
        };
        let matches_differ = running.matches != route.matches;
        let action_differs = running.action != route.action;
        if matches_differ || action_differs {
            let mut modify = provider.elb.modify_rule().rule_arn(arn);
            if matches_differ {
                modify = modify.set_conditions(Some(map::to_conditions(&route.matches)));
            }
            if action_differs {
                modify = modify.actions(map::to_action(&route.action.value, |pool| {
                    inventory.target_groups.get(pool).cloned()
                })?);
            }
            modify
                .send()
                .await
                .map_err(|e| AwsError::call("ModifyRule", &e))?;
        }
        // The tags hold the route's name, place and spellings; a weight
        // shift leaves them as they are, so it stays one ModifyRule.
        let place = current
            .routes
            .iter()
            .position(|r| r.name.value == route.name.value)
            .unwrap_or(usize::MAX);
        let wanted = route_tags(index, route);
        if route_tags(place, running) != wanted {
            add_tags(provider, arn, wanted).await?;
        }
    }
    Ok(())
}

async fn create_rule(
    provider: &AwsProvider,
    inventory: &Inventory,
    listener: &str,
    index: usize,
    route: &Route,
) -> Result<(), AwsError> {
    provider
        .elb
        .create_rule()
        .listener_arn(listener)
        .priority(i32::try_from(route.priority.value).unwrap_or(i32::MAX))
        .set_conditions(Some(map::to_conditions(&route.matches)))
        .actions(map::to_action(&route.action.value, |pool| {
            inventory.target_groups.get(pool).cloned()
        })?)
        .set_tags(Some(route_tags(index, route)))
        .send()
        .await
        .map_err(|e| AwsError::call("CreateRule", &e))?;
    Ok(())
}

pub(super) async fn delete_balancer(
    provider: &AwsProvider,
    inventory: &mut Inventory,
    name: &Name,
) -> Result<(), AwsError> {
    if let Some(arns) = inventory.balancers.remove(name) {
        provider
            .elb
            .delete_load_balancer()
            .load_balancer_arn(&arns.arn)
            .send()
            .await
            .map_err(|e| AwsError::call("DeleteLoadBalancer", &e))?;
    }
    // Its Elastic IPs go with it, once AWS has let go of them.
    // A remnant (its balancer deleted by an earlier plan, or never
    // created) has only these.
    for eip in addresses(provider).await?.remove(name).unwrap_or_default() {
        release(provider, &eip.allocation_id).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The tags of listeners and rules: every one a value ELBv2 takes,
    //! and read back as what was written.

    use super::*;
    use crate::provider::aws::testing::catalog;
    use crate::spec::kinds::loadbalancer::{TlsPolicy, TlsVersion};
    use crate::spec::yaml::Spanned;

    const REPO: &str = r#"
kind: LoadBalancer
name: shop
spec:
  listeners:
    - name: web
      protocol: http
      port: 80
      routes:
        - name: odd
          priority: 1
          match: {path: {prefix: "/~user/$x'\"&%;/"}}
          action: {fixed_response: {status: 200, content_type: "text/plain; charset=utf-8"}}
      default_action: {fixed_response: {status: 404}}
"#;

    /// The listener, with as many SNI certificates of long names as an
    /// ALB takes (25 besides the default).
    fn listener() -> Listener {
        let mut listener = catalog(REPO).load_balancers["shop"].spec.listeners[0].clone();
        let names = (0..26).map(|i| {
            let name = format!("certificate-{i:02}-{}", "x".repeat(45));
            Spanned::unplaced(name.parse().unwrap())
        });
        listener.tls = Some(Spanned::unplaced(TlsPolicy {
            certificates: names.collect(),
            min_version: TlsVersion::Tls12,
            ciphers: Vec::new(),
            resumption: true,
        }));
        listener
    }

    /// The elbv2 model's `TagKey` and `TagValue` (ASCII part, which is
    /// all lbops writes): `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`, keys 1–128
    /// and values 0–256 characters.
    #[track_caller]
    fn assert_valid(tags: &[elb::Tag]) {
        let alphabet = |s: &str| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c))
        };
        for tag in tags {
            let (key, value) = (
                tag.key().unwrap_or_default(),
                tag.value().unwrap_or_default(),
            );
            assert!(
                (1..=128).contains(&key.len()) && alphabet(key),
                "key {key:?}"
            );
            assert!(value.len() <= 256 && alphabet(value), "{key}: {value:?}");
        }
    }

    fn read_back(tags: &[elb::Tag]) -> observe::Tags {
        tags.iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn listener_tags_are_valid_and_read_back() {
        let listener = listener();
        let tags = listener_tags(0, &listener);
        assert_valid(&tags);
        let read = read_back(&tags);
        let sni: Vec<String> = listener.tls.as_ref().unwrap().value.certificates[1..]
            .iter()
            .map(|c| c.value.to_string())
            .collect();
        assert_eq!(
            observe::sni_order(&read),
            sni,
            "the SNI certificates in git's order"
        );
        assert_eq!(
            observe::content_type(&read).as_deref(),
            Some("text/plain; charset=utf-8")
        );
    }

    #[test]
    fn route_tags_are_valid_and_read_back() {
        let route = &listener().routes[0];
        let tags = route_tags(0, route);
        assert_valid(&tags);
        let read = read_back(&tags);
        assert_eq!(
            observe::path_spelling(&read).as_deref(),
            Some("/~user/$x'\"&%;/")
        );
        assert_eq!(
            observe::content_type(&read).as_deref(),
            Some("text/plain; charset=utf-8")
        );
    }
}
