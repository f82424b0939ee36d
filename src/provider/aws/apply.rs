//! Plan steps as ELBv2, ACM and EC2 calls.
//!
//! Every step looks for what it is about to create by its `lbops:id` tag
//! first, so a plan cut off halfway (a crash, a throttled call that ran
//! out of retries) is finished by the next reconcile without duplicates.
//! A balancer is synced, not replaced: only the listeners and rules that
//! differ are touched, so a canary weight shift is one `ModifyRule`.

use super::health::{self, Wait};
use super::map::{self, TAG_COMMIT, TAG_ID, TAG_INSTANCE};
use super::observe::{self, Inventory};
use super::{Applying, AwsError, AwsProvider, Family};
use crate::model::Step;
use crate::spec::cidr::Cidr;
use crate::spec::kinds::pool::PoolSpec;
use crate::spec::kinds::{Kind, ResourceId};
use crate::spec::units::{Name, TargetAddr, TargetHost};
use aws_sdk_elasticloadbalancingv2::types::{
    self as elb, Matcher, TargetDescription, TargetTypeEnum,
};
use std::time::{Duration, Instant};

/// An ELBv2 name (load balancer or target group): at most 32 characters,
/// letters, digits and `-`; long names keep a hash so they stay unique.
/// A daemon with an instance puts it in its names, so two daemons in one
/// account can each have a balancer `shop` (names are unique there).
#[must_use]
pub fn aws_name(instance: Option<&Name>, name: &Name) -> String {
    let full = match instance {
        Some(instance) => format!("lbops-{instance}-{name}"),
        None => format!("lbops-{name}"),
    };
    if full.len() <= 32 {
        return full;
    }
    let hash = crate::model::sha256_hex(&full);
    format!("{}-{}", full[..23].trim_end_matches('-'), &hash[..8])
}

pub(super) fn tag(key: &str, value: impl Into<String>) -> elb::Tag {
    elb::Tag::builder().key(key).value(value).build()
}

impl Applying {
    /// The tags that mark a resource as lbops' own, and from which commit.
    pub(super) fn owner_tags(&self, kind: Kind, name: &Name) -> Vec<elb::Tag> {
        let mut tags = vec![
            tag(TAG_ID, ResourceId::new(kind, name.clone()).to_string()),
            tag(TAG_COMMIT, self.commit_tag()),
        ];
        tags.extend(self.instance_tag().map(|i| tag(TAG_INSTANCE, i)));
        tags
    }
}

/// Applies one step of the apply `applying` describes. `inventory` is
/// what runs, kept current as steps create and delete things.
pub(super) async fn step(
    provider: &AwsProvider,
    applying: &Applying,
    inventory: &mut Inventory,
    step: &Step,
) -> Result<(), AwsError> {
    match step {
        Step::PutCertificate {
            name,
            chain_pem,
            key,
        } => {
            super::acm::put_certificate(provider, applying, inventory, name, chain_pem, key).await
        },
        Step::DeleteCertificate { name } => {
            let Some(arn) = inventory.certificates.remove(name) else {
                return Ok(());
            };
            patiently(provider, "DeleteCertificate", || async {
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
        Step::CreatePool { name, spec } => {
            create_pool(provider, applying, inventory, name, spec).await
        }
        Step::UpdatePoolSettings { name, spec } => {
            let arn = target_group(inventory, name)?;
            update_pool(provider, applying, &arn, name, spec).await
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
            let vpc = vpc_ranges(provider).await?;
            let addresses = targets.iter().map(|t| &t.address.value);
            provider
                .elb
                .register_targets()
                .target_group_arn(arn)
                .set_targets(Some(descriptions(addresses, &vpc)?))
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
            super::balancer::sync_balancer(provider, applying, inventory, name, spec).await
        }
        Step::DrainTargets { pool, targets, .. } => {
            let arn = target_group(inventory, pool)?;
            let vpc = vpc_ranges(provider).await?;
            // ELBv2 drains on deregistration, for the target group's
            // deregistration delay (the pool's draining_timeout).
            provider
                .elb
                .deregister_targets()
                .target_group_arn(arn)
                .set_targets(Some(descriptions(targets.iter(), &vpc)?))
                .send()
                .await
                .map_err(|e| AwsError::call("DeregisterTargets", &e))?;
            Ok(())
        }
        Step::RemoveTargets { pool, targets } => {
            let arn = target_group(inventory, pool)?;
            wait_gone(provider, &arn, pool, targets).await
        }
        Step::DeleteLoadBalancer { name } => {
            super::balancer::delete_balancer(provider, inventory, name).await
        }
        Step::DeletePool { name } => {
            let Some(arn) = inventory.target_groups.remove(name) else {
                return Ok(());
            };
            // No rule forwards here any more; targets still registered
            // drain for the deregistration delay before the group goes.
            let left: Vec<TargetAddr> = observe::target_health(provider, &arn)
                .await?
                .into_iter()
                .filter(|t| t.health != crate::model::Health::Draining)
                .map(|t| t.address)
                .collect();
            if !left.is_empty() {
                let vpc = vpc_ranges(provider).await?;
                provider
                    .elb
                    .deregister_targets()
                    .target_group_arn(&arn)
                    .set_targets(Some(descriptions(left.iter(), &vpc)?))
                    .send()
                    .await
                    .map_err(|e| AwsError::call("DeregisterTargets", &e))?;
                wait_gone(provider, &arn, name, &left).await?;
            }
            patiently(provider, "DeleteTargetGroup", || async {
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

/// The zone ELBv2 registers a target outside the VPC in: every zone of
/// the balancer (it cannot tell which one the address is in).
const ALL_ZONES: &str = "all";

/// The address ranges of the VPC target groups are created in, IPv4 and
/// IPv6.
async fn vpc_ranges(provider: &AwsProvider) -> Result<Vec<Cidr>, AwsError> {
    let answer = provider
        .ec2
        .describe_vpcs()
        .vpc_ids(&provider.config.vpc)
        .send()
        .await
        .map_err(|e| AwsError::call("DescribeVpcs", &e))?;
    let mut ranges = Vec::new();
    for vpc in answer.vpcs() {
        let v4 = vpc
            .cidr_block_association_set()
            .iter()
            .filter_map(|a| a.cidr_block());
        let v6 = vpc
            .ipv6_cidr_block_association_set()
            .iter()
            .filter_map(|a| a.ipv6_cidr_block());
        let all = vpc.cidr_block().into_iter().chain(v4).chain(v6);
        ranges.extend(all.filter_map(|c| c.parse::<Cidr>().ok()));
    }
    Ok(ranges)
}

/// Targets as ELBv2 registers and deregisters them: an address outside
/// the `vpc` ranges (a peered network, on-premises; `limits` lets only
/// private ones through) needs `AvailabilityZone: all`, and is given it
/// on deregistration too, as it was registered.
fn descriptions<'a>(
    targets: impl Iterator<Item = &'a TargetAddr>,
    vpc: &[Cidr],
) -> Result<Vec<TargetDescription>, AwsError> {
    targets
        .map(|address| match &address.host {
            TargetHost::Ip(ip) => {
                let outside = !vpc.iter().any(|range| range.contains(*ip));
                Ok(TargetDescription::builder()
                    .id(ip.to_string())
                    .port(i32::from(address.port))
                    .set_availability_zone(outside.then(|| ALL_ZONES.to_owned()))
                    .build())
            }
            TargetHost::Dns(host) => Err(AwsError::Step(format!(
                "target `{host}`: ELBv2 ip target groups take IP addresses (lbops validate refuses names)"
            ))),
        })
        .collect()
}

/// Retries `call` while AWS says what it deletes is still in use, for the
/// provider's patience ([`super::IN_USE_PATIENCE`]).
pub(super) async fn patiently<F, Fut>(
    provider: &AwsProvider,
    operation: &'static str,
    call: F,
) -> Result<(), AwsError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), AwsError>>,
{
    let deadline = Instant::now() + provider.in_use_patience;
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

/// How long a certificate ACM has just imported may stay unknown: ACM and
/// ELBv2 are eventually consistent, and a listener naming it, or ACM's own
/// reads of it, can fail for a while after `ImportCertificate` returns.
pub(super) const IMPORT_PATIENCE: Duration = Duration::from_secs(60);

/// `call`, again while AWS does not know a certificate just imported yet:
/// ELBv2 answers `CertificateNotFound`, ACM `ResourceNotFoundException`.
/// Only for calls that name a certificate lbops imported (or put in the
/// plan) itself: a wrong ARN waits [`IMPORT_PATIENCE`] and then fails.
pub(super) async fn once_imported<T, F, Fut>(
    operation: &'static str,
    call: F,
) -> Result<T, AwsError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let deadline = Instant::now() + IMPORT_PATIENCE;
    let mut delay = Duration::from_millis(200);
    loop {
        match call().await {
            Err(e)
                if Instant::now() < deadline
                    && matches!(
                        e.code(),
                        Some("CertificateNotFound" | "ResourceNotFoundException")
                    ) =>
            {
                tracing::debug!(operation, error = %e, "certificate not visible yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
}

async fn create_pool(
    provider: &AwsProvider,
    applying: &Applying,
    inventory: &mut Inventory,
    name: &Name,
    spec: &PoolSpec,
) -> Result<(), AwsError> {
    if let Some(arn) = inventory.target_groups.get(name).cloned() {
        // Created before a restart cut the plan off: bring it in line.
        return update_pool(provider, applying, &arn, name, spec).await;
    }
    let family = applying.family_of(name);
    let health = health_of(name, spec)?;
    let protocol = match family {
        Family::Application => elb::ProtocolEnum::Http,
        Family::Network => elb::ProtocolEnum::Tcp,
    };
    let port = spec.targets.first().map_or(80, |t| t.address.value.port);
    let created = provider
        .elb
        .create_target_group()
        .name(aws_name(applying.instance.as_ref(), name))
        .protocol(protocol)
        .port(i32::from(port))
        .vpc_id(&provider.config.vpc)
        .target_type(TargetTypeEnum::Ip)
        .ip_address_type(applying.ip_address_type(name))
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
        .set_tags(Some(applying.owner_tags(Kind::Pool, name)))
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

/// A pool's health check as ELBv2 takes it; `limits` makes one required.
fn health_of(name: &Name, spec: &PoolSpec) -> Result<map::TargetGroupHealth, AwsError> {
    let check = spec.health_check.as_ref().ok_or_else(|| {
        AwsError::Step(format!(
            "pool `{name}` has no health check; ELBv2 needs one (lbops validate says so)"
        ))
    })?;
    Ok(map::to_health(&check.value))
}

async fn update_pool(
    provider: &AwsProvider,
    applying: &Applying,
    arn: &str,
    name: &Name,
    spec: &PoolSpec,
) -> Result<(), AwsError> {
    let health = health_of(name, spec)?;
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
    let family = applying.family_of(name);
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
        let running = observe::describe_target_health(provider, arn).await?;
        match health::wait_state(targets, &running) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::aws::testing::{config, replayed, Answer, Replay};

    const GROUP: &str =
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/lbops-shop-canary/73e2d6bc24d8a067";

    /// A `DescribeTargetHealth` answer as ELBv2 sends it: one target
    /// 10.0.1.5:8080 in `state`, for `reason`.
    fn target_health(state: &str, reason: &str) -> Answer {
        let reason = if reason.is_empty() {
            String::new()
        } else {
            format!("<Reason>{reason}</Reason><Description>{reason}</Description>")
        };
        Answer::ok(
            "DescribeTargetHealth",
            &format!(
                "<DescribeTargetHealthResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">\
                 <DescribeTargetHealthResult><TargetHealthDescriptions><member>\
                 <HealthCheckPort>8080</HealthCheckPort><TargetHealth><State>{state}</State>{reason}</TargetHealth>\
                 <Target><Port>8080</Port><Id>10.0.1.5</Id></Target>\
                 </member></TargetHealthDescriptions></DescribeTargetHealthResult>\
                 <ResponseMetadata><RequestId>c534f810-f389-11e5-9192-3fff33344cfa</RequestId></ResponseMetadata>\
                 </DescribeTargetHealthResponse>"
            ),
        )
    }

    async fn wait(answers: Vec<Answer>, timeout: Duration) -> (Result<(), AwsError>, Replay) {
        let replay = Replay::new(answers);
        let provider = replayed(config(&[], Some("http://127.0.0.1:9")), &replay).await;
        let targets = ["10.0.1.5:8080".parse().unwrap()];
        let pool = "canary".parse().unwrap();
        let waited = wait_healthy(&provider, GROUP, &pool, &targets, timeout).await;
        (waited, replay)
    }

    #[tokio::test]
    async fn a_new_target_is_waited_for_from_registration_to_its_first_passed_check() {
        let (waited, replay) = wait(
            vec![
                target_health("initial", "Elb.RegistrationInProgress"),
                target_health("initial", "Elb.InitialHealthChecking"),
                target_health("healthy", ""),
            ],
            Duration::from_secs(60),
        )
        .await;
        waited.unwrap();
        assert_eq!(replay.left(), Vec::<&str>::new());
    }

    #[tokio::test]
    async fn a_target_still_initial_at_the_timeout_is_not_ready() {
        // An NLB's: registration takes minutes, longer than the wait.
        let (waited, _) = wait(
            vec![target_health("initial", "Elb.InitialHealthChecking")],
            Duration::ZERO,
        )
        .await;
        assert_eq!(
            waited.unwrap_err().to_string(),
            "pool `canary`: not healthy after 0s: 10.0.1.5:8080 not checked yet"
        );
    }

    #[tokio::test]
    async fn a_group_no_listener_uses_yet_is_ready_once_registered() {
        let (waited, _) = wait(
            vec![target_health("unused", "Target.NotInUse")],
            Duration::from_secs(60),
        )
        .await;
        waited.unwrap();
    }

    fn failing(code: &str) -> AwsError {
        AwsError::Call {
            operation: "CreateListener",
            code: Some(code.to_owned()),
            message: format!("{code}: Certificate not found"),
        }
    }

    #[tokio::test]
    async fn a_certificate_just_imported_is_waited_for_and_nothing_else_is() {
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let answer = once_imported("CreateListener", || async {
            match calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
                0 => Err(failing("CertificateNotFound")),
                1 => Err(failing("ResourceNotFoundException")),
                _ => Ok("arn"),
            }
        })
        .await;
        assert_eq!(answer.unwrap(), "arn");
        assert_eq!(calls.into_inner(), 3);

        let calls = std::sync::atomic::AtomicUsize::new(0);
        let answer: Result<(), _> = once_imported("CreateListener", || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Err(failing("ValidationError"))
        })
        .await;
        assert_eq!(answer.unwrap_err().code(), Some("ValidationError"));
        assert_eq!(calls.into_inner(), 1, "other errors are not retried");
    }

    fn addresses(texts: &[&str]) -> Vec<TargetAddr> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    #[test]
    fn a_target_outside_the_vpc_is_registered_in_every_zone() {
        let vpc: Vec<Cidr> = ["10.0.0.0/16", "2001:db8:1::/56"]
            .iter()
            .map(|c| c.parse().unwrap())
            .collect();
        let targets = addresses(&[
            "10.0.1.10:8080",
            "192.168.7.20:8080",
            "100.64.0.9:8080",
            "[2001:db8:1::5]:8080",
        ]);
        let sent = descriptions(targets.iter(), &vpc).unwrap();
        let zones: Vec<(Option<&str>, Option<&str>)> = sent
            .iter()
            .map(|d| (d.id(), d.availability_zone()))
            .collect();
        assert_eq!(
            zones,
            [
                (Some("10.0.1.10"), None),
                (Some("192.168.7.20"), Some("all")),
                (Some("100.64.0.9"), Some("all")),
                (Some("2001:db8:1::5"), None),
            ]
        );
    }

    #[test]
    fn aws_names_fit_32_characters_and_stay_distinct() {
        assert_eq!(aws_name(None, &"web".parse().unwrap()), "lbops-web");
        let blue: Name = "blue".parse().unwrap();
        assert_eq!(
            aws_name(Some(&blue), &"web".parse().unwrap()),
            "lbops-blue-web"
        );
        let long: Name = "a-very-long-pool-name-for-the-checkout-service"
            .parse()
            .unwrap();
        let other: Name = "a-very-long-pool-name-for-the-checkout-servicf"
            .parse()
            .unwrap();
        for instance in [None, Some(&blue)] {
            assert!(aws_name(instance, &long).len() <= 32);
            assert_ne!(aws_name(instance, &long), aws_name(instance, &other));
            assert!(!aws_name(instance, &long).contains("--"));
        }
        assert_ne!(aws_name(None, &long), aws_name(Some(&blue), &long));
    }
}
