//! Plan steps as ELBv2, ACM and EC2 calls.
//!
//! Every step looks for what it is about to create by its `lbops:id` tag
//! first, so a plan cut off halfway (a crash, a throttled call that ran
//! out of retries) is finished by the next reconcile without duplicates.
//! A balancer is synced, not replaced: only the listeners and rules that
//! differ are touched, so a canary weight shift is one `ModifyRule`.

use super::health::{self, Wait};
use super::map::{
    self, TAG_ADDRESS_POOL, TAG_CERTIFICATES, TAG_CHAIN, TAG_COMMIT, TAG_CONTENT_TYPE, TAG_ID,
    TAG_INDEX, TAG_KEY, TAG_NAME, TAG_PATH, TAG_SERIAL,
};
use super::observe::{self, Eip, Inventory};
use super::{AwsError, AwsProvider, Family, Scheme};
use crate::provider::Step;
use crate::spec::kinds::certificate::KeyRef;
use crate::spec::kinds::loadbalancer::{AddressSpec, Listener, LoadBalancerSpec, Route};
use crate::spec::kinds::pool::PoolSpec;
use crate::spec::kinds::{Kind, ResourceId};
use crate::spec::units::{Name, TargetAddr, TargetHost};
use aws_sdk_elasticloadbalancingv2::types::{
    self as elb, Certificate, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher,
    RulePriorityPair, SubnetMapping, TargetDescription, TargetTypeEnum,
};
use aws_smithy_types::Blob;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long deletes wait for AWS to let go of what still uses a resource
/// (a listener just deleted, a balancer still shutting down).
const IN_USE_PATIENCE: Duration = Duration::from_secs(120);

/// An ELBv2 name (load balancer or target group): at most 32 characters,
/// letters, digits and `-`; long names keep a hash so they stay unique.
#[must_use]
pub fn aws_name(name: &Name) -> String {
    let full = format!("lbops-{name}");
    if full.len() <= 32 {
        return full;
    }
    let hash = crate::plan::sha256_hex(name.as_str());
    format!("{}-{}", full[..23].trim_end_matches('-'), &hash[..8])
}

fn tag(key: &str, value: impl Into<String>) -> elb::Tag {
    elb::Tag::builder().key(key).value(value).build()
}

impl AwsProvider {
    fn owner_tags(&self, kind: Kind, name: &Name) -> Vec<elb::Tag> {
        vec![
            tag(TAG_ID, ResourceId::new(kind, name.clone()).to_string()),
            tag(TAG_COMMIT, self.commit()),
        ]
    }
}

/// Applies one step. `inventory` is what runs, kept current as steps
/// create and delete things.
pub(super) async fn step(
    provider: &AwsProvider,
    inventory: &mut Inventory,
    step: &Step,
) -> Result<(), AwsError> {
    match step {
        Step::PutCertificate {
            name,
            chain_pem,
            key,
        } => put_certificate(provider, inventory, name, chain_pem, key).await,
        Step::DeleteCertificate { name } => {
            let Some(arn) = inventory.certificates.remove(name) else {
                return Ok(());
            };
            patiently("DeleteCertificate", || async {
                provider
                    .acm
                    .delete_certificate()
                    .certificate_arn(&arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| AwsError::call("DeleteCertificate", &e))
            })
            .await
        }
        Step::CreatePool { name, spec } => create_pool(provider, inventory, name, spec).await,
        Step::UpdatePoolSettings { name, spec } => {
            let arn = target_group(inventory, name)?;
            update_pool(provider, &arn, name, spec).await
        }
        Step::AddTargets {
            pool,
            targets,
            backup,
        } => {
            if *backup {
                return Err(AwsError::Step(format!(
                    "pool `{pool}`: ELBv2 has no backup targets (lbops validate refuses them)"
                )));
            }
            let arn = target_group(inventory, pool)?;
            provider
                .elb
                .register_targets()
                .target_group_arn(arn)
                .set_targets(Some(descriptions(targets.iter().map(|t| &t.address.value))?))
                .send()
                .await
                .map_err(|e| AwsError::call("RegisterTargets", &e))?;
            Ok(())
        }
        Step::WaitHealthy {
            pool,
            targets,
            timeout,
        } => {
            let arn = target_group(inventory, pool)?;
            wait_healthy(provider, &arn, pool, targets, *timeout).await
        }
        Step::SetWeights { pool, .. } => Err(AwsError::Step(format!(
            "pool `{pool}`: ELBv2 has no per-target weights; shift traffic with forward weights between pools"
        ))),
        Step::PutLoadBalancer { name, spec } => {
            sync_balancer(provider, inventory, name, spec).await
        }
        Step::DrainTargets { pool, targets, .. } => {
            let arn = target_group(inventory, pool)?;
            // ELBv2 drains on deregistration, for the target group's
            // deregistration delay (the pool's draining_timeout).
            provider
                .elb
                .deregister_targets()
                .target_group_arn(arn)
                .set_targets(Some(descriptions(targets.iter())?))
                .send()
                .await
                .map_err(|e| AwsError::call("DeregisterTargets", &e))?;
            Ok(())
        }
        Step::RemoveTargets { pool, targets } => {
            let arn = target_group(inventory, pool)?;
            wait_gone(provider, &arn, pool, targets).await
        }
        Step::DeleteLoadBalancer { name } => delete_balancer(provider, inventory, name).await,
        Step::DeletePool { name } => {
            let Some(arn) = inventory.target_groups.remove(name) else {
                return Ok(());
            };
            patiently("DeleteTargetGroup", || async {
                provider
                    .elb
                    .delete_target_group()
                    .target_group_arn(&arn)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| AwsError::call("DeleteTargetGroup", &e))
            })
            .await
        }
    }
}

fn target_group(inventory: &Inventory, pool: &Name) -> Result<String, AwsError> {
    inventory
        .target_groups
        .get(pool)
        .cloned()
        .ok_or_else(|| AwsError::Map(map::MapError::NoTargetGroup(pool.clone())))
}

fn descriptions<'a>(
    targets: impl Iterator<Item = &'a TargetAddr>,
) -> Result<Vec<TargetDescription>, AwsError> {
    targets
        .map(|address| match &address.host {
            TargetHost::Ip(ip) => Ok(TargetDescription::builder()
                .id(ip.to_string())
                .port(i32::from(address.port))
                .build()),
            TargetHost::Dns(host) => Err(AwsError::Step(format!(
                "target `{host}`: ELBv2 ip target groups take IP addresses (lbops validate refuses names)"
            ))),
        })
        .collect()
}

/// Retries `call` while AWS says what it deletes is still in use.
async fn patiently<F, Fut>(operation: &'static str, call: F) -> Result<(), AwsError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), AwsError>>,
{
    let deadline = Instant::now() + IN_USE_PATIENCE;
    let mut delay = Duration::from_millis(200);
    loop {
        match call().await {
            Err(e)
                if Instant::now() < deadline
                    && e.code().is_some_and(|c| {
                        c.contains("InUse") || c.contains("DependencyViolation")
                    }) =>
            {
                tracing::debug!(operation, error = %e, "still in use; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

async fn put_certificate(
    provider: &AwsProvider,
    inventory: &mut Inventory,
    name: &Name,
    chain_pem: &str,
    key: &KeyRef,
) -> Result<(), AwsError> {
    let existing = inventory.certificates.get(name).cloned();
    let arn = match key {
        // Already in ACM: lbops only tags it, to find it again.
        KeyRef::Provider(arn) => arn.clone(),
        KeyRef::File(_) | KeyRef::Env(_) => {
            let (leaf, chain) = split_chain(chain_pem);
            let private_key = read_key(key)?;
            let mut import = provider
                .acm
                .import_certificate()
                .certificate(Blob::new(leaf))
                .private_key(Blob::new(private_key))
                .set_certificate_arn(existing.clone());
            if !chain.is_empty() {
                import = import.certificate_chain(Blob::new(chain));
            }
            import
                .send()
                .await
                .map_err(|e| AwsError::call("ImportCertificate", &e))?
                .certificate_arn()
                .map(str::to_owned)
                .ok_or_else(|| AwsError::Step("ImportCertificate returned no ARN".to_owned()))?
        }
    };
    let serial = provider
        .acm
        .describe_certificate()
        .certificate_arn(&arn)
        .send()
        .await
        .map_err(|e| AwsError::call("DescribeCertificate", &e))?
        .certificate()
        .and_then(|c| c.serial().map(str::to_owned))
        .unwrap_or_default();
    let id = ResourceId::new(Kind::Certificate, name.clone()).to_string();
    let tags = [
        (TAG_ID, id),
        (TAG_COMMIT, provider.commit()),
        (TAG_CHAIN, crate::plan::sha256_hex(chain_pem)),
        (TAG_SERIAL, serial),
        (TAG_KEY, observe::key_tag(key)),
    ]
    .into_iter()
    .map(|(k, v)| aws_sdk_acm::types::Tag::builder().key(k).value(v).build())
    .collect::<Result<Vec<_>, _>>()
    .map_err(|e| AwsError::Step(e.to_string()))?;
    provider
        .acm
        .add_tags_to_certificate()
        .certificate_arn(&arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| AwsError::call("AddTagsToCertificate", &e))?;
    inventory.certificates.insert(name.clone(), arn);
    Ok(())
}

/// The leaf certificate, and the rest of the chain, as PEM bytes.
fn split_chain(chain_pem: &str) -> (Vec<u8>, Vec<u8>) {
    const END: &str = "-----END CERTIFICATE-----";
    match chain_pem.find(END) {
        Some(at) => {
            let (leaf, rest) = chain_pem.split_at(at + END.len());
            (
                format!("{}\n", leaf.trim()).into_bytes(),
                rest.trim().as_bytes().to_vec(),
            )
        }
        None => (chain_pem.as_bytes().to_vec(), Vec::new()),
    }
}

/// The private key a reference points at. The error names the reference,
/// never what it holds.
fn read_key(key: &KeyRef) -> Result<Vec<u8>, AwsError> {
    match key {
        KeyRef::File(path) => std::fs::read(path)
            .map_err(|e| AwsError::Step(format!("cannot read private key file `{path}`: {e}"))),
        KeyRef::Env(name) => std::env::var(name)
            .map(String::into_bytes)
            .map_err(|_| AwsError::Step(format!("private key variable `{name}` is not set"))),
        KeyRef::Provider(id) => Err(AwsError::Step(format!(
            "certificate `{id}` is already in ACM; lbops has no key to import"
        ))),
    }
}

async fn create_pool(
    provider: &AwsProvider,
    inventory: &mut Inventory,
    name: &Name,
    spec: &PoolSpec,
) -> Result<(), AwsError> {
    if let Some(arn) = inventory.target_groups.get(name).cloned() {
        // Created before a restart cut the plan off: bring it in line.
        return update_pool(provider, &arn, name, spec).await;
    }
    let family = provider
        .placement()
        .pools
        .get(name)
        .copied()
        .unwrap_or(Family::Application);
    let check = spec.health_check.as_ref().ok_or_else(|| {
        AwsError::Step(format!(
            "pool `{name}` has no health check; ELBv2 needs one (lbops validate says so)"
        ))
    })?;
    let health = map::to_health(&check.value);
    let protocol = match family {
        Family::Application => elb::ProtocolEnum::Http,
        Family::Network => elb::ProtocolEnum::Tcp,
    };
    let port = spec.targets.first().map_or(80, |t| t.address.value.port);
    let created = provider
        .elb
        .create_target_group()
        .name(aws_name(name))
        .protocol(protocol)
        .port(i32::from(port))
        .vpc_id(&provider.config.vpc)
        .target_type(TargetTypeEnum::Ip)
        .health_check_enabled(true)
        .health_check_protocol(health.protocol)
        .set_health_check_path(health.path)
        .set_matcher(
            health
                .matcher
                .map(|m| Matcher::builder().http_code(m).build()),
        )
        .health_check_interval_seconds(health.interval_seconds)
        .health_check_timeout_seconds(health.timeout_seconds)
        .healthy_threshold_count(health.healthy_threshold)
        .unhealthy_threshold_count(health.unhealthy_threshold)
        .set_tags(Some(provider.owner_tags(Kind::Pool, name)))
        .send()
        .await
        .map_err(|e| AwsError::call("CreateTargetGroup", &e))?;
    let arn = created
        .target_groups()
        .first()
        .and_then(|g| g.target_group_arn())
        .ok_or_else(|| AwsError::Step("CreateTargetGroup returned no ARN".to_owned()))?
        .to_owned();
    inventory.target_groups.insert(name.clone(), arn.clone());
    set_attributes(provider, &arn, spec, family).await
}

async fn update_pool(
    provider: &AwsProvider,
    arn: &str,
    name: &Name,
    spec: &PoolSpec,
) -> Result<(), AwsError> {
    let check = spec.health_check.as_ref().ok_or_else(|| {
        AwsError::Step(format!(
            "pool `{name}` has no health check; ELBv2 needs one"
        ))
    })?;
    let health = map::to_health(&check.value);
    provider
        .elb
        .modify_target_group()
        .target_group_arn(arn)
        .health_check_protocol(health.protocol)
        .set_health_check_path(health.path)
        .set_matcher(
            health
                .matcher
                .map(|m| Matcher::builder().http_code(m).build()),
        )
        .health_check_interval_seconds(health.interval_seconds)
        .health_check_timeout_seconds(health.timeout_seconds)
        .healthy_threshold_count(health.healthy_threshold)
        .unhealthy_threshold_count(health.unhealthy_threshold)
        .send()
        .await
        .map_err(|e| AwsError::call("ModifyTargetGroup", &e))?;
    let family = provider
        .placement()
        .pools
        .get(name)
        .copied()
        .unwrap_or(Family::Application);
    set_attributes(provider, arn, spec, family).await
}

async fn set_attributes(
    provider: &AwsProvider,
    arn: &str,
    spec: &PoolSpec,
    family: Family,
) -> Result<(), AwsError> {
    provider
        .elb
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .set_attributes(Some(map::to_attributes(
            spec,
            family == Family::Application,
        )))
        .send()
        .await
        .map_err(|e| AwsError::call("ModifyTargetGroupAttributes", &e))?;
    Ok(())
}

async fn wait_healthy(
    provider: &AwsProvider,
    arn: &str,
    pool: &Name,
    targets: &[TargetAddr],
    timeout: Duration,
) -> Result<(), AwsError> {
    let deadline = Instant::now() + timeout;
    loop {
        let running = observe::target_health(provider, arn).await?;
        match health::judge(targets, &running) {
            Wait::Ready => return Ok(()),
            Wait::Failed(reason) => return Err(AwsError::Step(format!("pool `{pool}`: {reason}"))),
            Wait::Pending(reason) if Instant::now() >= deadline => {
                return Err(AwsError::Step(format!(
                    "pool `{pool}`: not healthy after {}s: {reason}",
                    timeout.as_secs()
                )))
            }
            Wait::Pending(_) => tokio::time::sleep(provider.poll).await,
        }
    }
}

/// Waits until deregistered targets have finished draining.
async fn wait_gone(
    provider: &AwsProvider,
    arn: &str,
    pool: &Name,
    targets: &[TargetAddr],
) -> Result<(), AwsError> {
    // ELBv2's own limit on the deregistration delay, and some slack.
    let deadline = Instant::now() + Duration::from_secs(3600 + 60);
    loop {
        let running = observe::target_health(provider, arn).await?;
        let left = running
            .iter()
            .filter(|t| targets.contains(&t.address))
            .count();
        if left == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(AwsError::Step(format!(
                "pool `{pool}`: {left} target(s) still draining"
            )));
        }
        tokio::time::sleep(provider.poll).await;
    }
}

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
                .value(provider.commit())
                .build(),
            Tag::builder()
                .key(TAG_INDEX)
                .value(index.to_string())
                .build(),
        ];
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
    Ok(out)
}

async fn sync_balancer(
    provider: &AwsProvider,
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
    let running = inventory.state.load_balancers.get(name).cloned();
    match &running {
        Some(running) if running.addresses != spec.addresses => {
            return Err(AwsError::Step(format!(
                "balancer `{name}`: an NLB's Elastic IPs are fixed when it is created; \
                 rename the balancer to replace it, or keep its addresses"
            )));
        }
        Some(_) => {}
        None => {
            let allocations = if family == Family::Network {
                ensure_addresses(provider, name, spec).await?
            } else {
                Vec::new()
            };
            let mut create = provider
                .elb
                .create_load_balancer()
                .name(aws_name(name))
                .r#type(match family {
                    Family::Application => LoadBalancerTypeEnum::Application,
                    Family::Network => LoadBalancerTypeEnum::Network,
                })
                .scheme(match placed.scheme {
                    Scheme::InternetFacing => LoadBalancerSchemeEnum::InternetFacing,
                    Scheme::Internal => LoadBalancerSchemeEnum::Internal,
                })
                .set_tags(Some(provider.owner_tags(Kind::LoadBalancer, name)));
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
        tags.push(tag(TAG_CERTIFICATES, names.join(" ")));
    }
    if let Some(content_type) = listener
        .default_action
        .as_ref()
        .and_then(|a| map::content_type_of(&a.value))
    {
        tags.push(tag(TAG_CONTENT_TYPE, content_type));
    }
    tags
}

fn route_tags(index: usize, route: &Route) -> Vec<elb::Tag> {
    let mut tags = vec![
        tag(TAG_NAME, route.name.value.to_string()),
        tag(TAG_INDEX, index.to_string()),
    ];
    if let Some(path) = map::path_spelling(&route.matches) {
        tags.push(tag(TAG_PATH, path));
    }
    if let Some(content_type) = map::content_type_of(&route.action.value) {
        tags.push(tag(TAG_CONTENT_TYPE, content_type));
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
    let created = create
        .send()
        .await
        .map_err(|e| AwsError::call("CreateListener", &e))?;
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
    provider
        .elb
        .add_listener_certificates()
        .listener_arn(listener)
        .set_certificates(Some(
            arns.iter()
                .map(|a| Certificate::builder().certificate_arn(a).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| AwsError::call("AddListenerCertificates", &e))?;
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
        modify
            .send()
            .await
            .map_err(|e| AwsError::call("ModifyListener", &e))?;
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
        let place = current
            .routes
            .iter()
            .position(|r| r.name.value == route.name.value);
        let spelled_differ = map::path_spelling(&running.matches)
            != map::path_spelling(&route.matches)
            || map::content_type_of(&running.action.value)
                != map::content_type_of(&route.action.value);
        if place != Some(index) || spelled_differ || matches_differ || action_differs {
            add_tags(provider, arn, route_tags(index, route)).await?;
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

async fn delete_balancer(
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
    for eip in addresses(provider).await?.remove(name).unwrap_or_default() {
        patiently("ReleaseAddress", || async {
            provider
                .ec2
                .release_address()
                .allocation_id(&eip.allocation_id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::call("ReleaseAddress", &e))
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_names_fit_32_characters_and_stay_distinct() {
        assert_eq!(aws_name(&"web".parse().unwrap()), "lbops-web");
        let long: Name = "a-very-long-pool-name-for-the-checkout-service"
            .parse()
            .unwrap();
        let other: Name = "a-very-long-pool-name-for-the-checkout-servicf"
            .parse()
            .unwrap();
        assert!(aws_name(&long).len() <= 32);
        assert_ne!(aws_name(&long), aws_name(&other));
        assert!(!aws_name(&long).contains("--"));
    }

    #[test]
    fn a_chain_splits_into_its_leaf_and_the_rest() {
        let chain = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        let (leaf, rest) = split_chain(chain);
        assert_eq!(
            String::from_utf8(leaf).unwrap(),
            "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(
            String::from_utf8(rest).unwrap(),
            "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----"
        );
        let (leaf, rest) =
            split_chain("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n");
        assert!(!leaf.is_empty() && rest.is_empty());
    }

    #[test]
    fn a_key_error_names_the_reference_never_the_key() {
        let e = read_key(&KeyRef::Env("LBOPS_TEST_KEY_THAT_IS_NOT_SET".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "private key variable `LBOPS_TEST_KEY_THAT_IS_NOT_SET` is not set"
        );
    }
}
