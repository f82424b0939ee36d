//! When a `WaitHealthy` is over, from what `DescribeTargetHealth` says
//! (pure, so it is tested over recorded answers: moto calls every target
//! healthy at once and runs no probes).
//!
//! ELBv2 states: `initial` (registered, first checks running), `healthy`,
//! `unhealthy`, `unused` (no listener forwards to the target group yet),
//! `draining` (deregistered, finishing requests), `unavailable` (health
//! checks disabled). They are judged as ELBv2 says them, not as lbops'
//! [`crate::model::Health`], which has one `Unknown` for `initial` and
//! `unused`: an `initial` target has passed no check, and must never count
//! as ready, while an `unused` one cannot be checked until traffic is
//! pointed at its group.

use crate::spec::units::{TargetAddr, TargetHost};
use aws_sdk_elasticloadbalancingv2::types::{TargetHealthDescription, TargetHealthStateEnum};

/// What to do next while waiting for new targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Every awaited target is healthy (or, in a target group no listener
    /// uses yet, registered: ELBv2 only probes targets that get traffic,
    /// and the plan points a route at them only after this step).
    Ready,
    /// Look again later; says which targets are not there yet.
    Pending(String),
    /// Waiting cannot end well: a target is gone or draining.
    Failed(String),
}

/// Where waiting for `awaited` stands, given the target group's
/// `DescribeTargetHealth` answer.
///
/// `healthy` is ready; `initial` and `unhealthy` keep the wait pending
/// (a check is running, or may still pass within the timeout); a missing
/// or `draining` target fails at once. `unused` is ready only while no
/// target of the group is checked at all (no listener uses it yet);
/// `unavailable` (checks disabled) is ready, nothing will ever check it.
#[must_use]
pub fn wait_state(awaited: &[TargetAddr], running: &[TargetHealthDescription]) -> Wait {
    let states: Vec<(TargetAddr, Option<&TargetHealthStateEnum>)> = running
        .iter()
        .filter_map(|d| Some((address(d)?, d.target_health().and_then(|h| h.state()))))
        .collect();
    // Checked targets: the group gets traffic, so an `unused` one is only
    // not registered in ELBv2's view yet.
    let group_in_use = states.iter().any(|(_, s)| {
        matches!(
            s,
            Some(
                TargetHealthStateEnum::Healthy
                    | TargetHealthStateEnum::Unhealthy
                    | TargetHealthStateEnum::Initial
            )
        )
    });
    let mut pending = Vec::new();
    for wanted in awaited {
        let Some((_, state)) = states.iter().find(|(a, _)| a == wanted) else {
            return Wait::Failed(format!("target {wanted} is not registered"));
        };
        match state {
            Some(TargetHealthStateEnum::Healthy | TargetHealthStateEnum::Unavailable) => {}
            Some(TargetHealthStateEnum::Unused) if !group_in_use => {}
            Some(TargetHealthStateEnum::Draining) => {
                return Wait::Failed(format!("target {wanted} is draining"));
            }
            Some(TargetHealthStateEnum::Unhealthy) => pending.push(format!("{wanted} unhealthy")),
            Some(TargetHealthStateEnum::Initial) => {
                pending.push(format!("{wanted} not checked yet"));
            }
            Some(TargetHealthStateEnum::Unused) => pending.push(format!("{wanted} not in use yet")),
            other => pending.push(format!(
                "{wanted} {}",
                other.map_or("in no state", |s| s.as_str())
            )),
        }
    }
    if pending.is_empty() {
        Wait::Ready
    } else {
        Wait::Pending(pending.join(", "))
    }
}

/// A description's target as an address (ip target groups only).
pub(super) fn address(description: &TargetHealthDescription) -> Option<TargetAddr> {
    let target = description.target()?;
    let ip = target.id()?.parse().ok()?;
    let port = u16::try_from(target.port()?).ok()?;
    Some(TargetAddr {
        host: TargetHost::Ip(ip),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> TargetAddr {
        s.parse().unwrap()
    }

    /// A target as `DescribeTargetHealth` describes it, in `state`.
    fn target(s: &str, state: &str) -> TargetHealthDescription {
        use aws_sdk_elasticloadbalancingv2::types::{TargetDescription, TargetHealth};
        let (ip, port) = s.rsplit_once(':').unwrap();
        TargetHealthDescription::builder()
            .target(
                TargetDescription::builder()
                    .id(ip)
                    .port(port.parse().unwrap())
                    .build(),
            )
            .target_health(TargetHealth::builder().state(state.into()).build())
            .build()
    }

    /// One recorded `DescribeTargetHealth` sequence per case: each answer
    /// is judged in turn, as the wait loop does.
    fn replay(awaited: &[&str], answers: &[Vec<TargetHealthDescription>]) -> Vec<Wait> {
        let awaited: Vec<TargetAddr> = awaited.iter().map(|a| addr(a)).collect();
        answers.iter().map(|a| wait_state(&awaited, a)).collect()
    }

    #[test]
    fn initial_then_healthy_is_pending_then_ready() {
        let waits = replay(
            &["10.0.1.5:8080"],
            &[
                vec![
                    target("10.0.1.4:8080", "healthy"),
                    target("10.0.1.5:8080", "initial"),
                ],
                vec![
                    target("10.0.1.4:8080", "healthy"),
                    target("10.0.1.5:8080", "healthy"),
                ],
            ],
        );
        assert_eq!(
            waits,
            vec![
                Wait::Pending("10.0.1.5:8080 not checked yet".into()),
                Wait::Ready
            ]
        );
    }

    #[test]
    fn an_unhealthy_target_keeps_the_wait_pending_until_it_passes() {
        let waits = replay(
            &["10.0.1.5:8080"],
            &[
                vec![target("10.0.1.5:8080", "unhealthy")],
                vec![target("10.0.1.5:8080", "unhealthy")],
                vec![target("10.0.1.5:8080", "healthy")],
            ],
        );
        assert_eq!(waits[0], Wait::Pending("10.0.1.5:8080 unhealthy".into()));
        assert_eq!(waits[1], waits[0]);
        assert_eq!(waits[2], Wait::Ready);
    }

    #[test]
    fn a_draining_or_missing_target_fails_the_wait_at_once() {
        let waits = replay(
            &["10.0.1.5:8080"],
            &[
                vec![target("10.0.1.5:8080", "draining")],
                vec![target("10.0.1.6:8080", "healthy")],
            ],
        );
        assert_eq!(
            waits,
            vec![
                Wait::Failed("target 10.0.1.5:8080 is draining".into()),
                Wait::Failed("target 10.0.1.5:8080 is not registered".into()),
            ]
        );
    }

    #[test]
    fn a_target_group_no_listener_uses_yet_is_ready_once_registered() {
        // `unused`: ELBv2 probes nothing until a rule forwards there.
        let waits = replay(
            &["10.0.1.5:8080", "10.0.1.6:8080"],
            &[vec![
                target("10.0.1.5:8080", "unused"),
                target("10.0.1.6:8080", "unused"),
            ]],
        );
        assert_eq!(waits, vec![Wait::Ready]);
    }

    #[test]
    fn a_group_in_use_waits_for_every_new_target() {
        let waits = replay(
            &["10.0.1.5:8080", "10.0.1.6:8080"],
            &[vec![
                target("10.0.1.4:8080", "healthy"),
                target("10.0.1.5:8080", "healthy"),
                target("10.0.1.6:8080", "initial"),
            ]],
        );
        assert_eq!(
            waits,
            vec![Wait::Pending("10.0.1.6:8080 not checked yet".into())]
        );
    }

    #[test]
    fn targets_no_check_has_passed_are_never_ready_even_all_of_them() {
        // An NLB's new group, its listener already forwarding: every
        // target `initial` for minutes. Not a group nobody uses.
        let waits = replay(
            &["10.0.1.5:8080", "10.0.1.6:8080"],
            &[vec![
                target("10.0.1.5:8080", "initial"),
                target("10.0.1.6:8080", "initial"),
            ]],
        );
        assert_eq!(
            waits,
            vec![Wait::Pending(
                "10.0.1.5:8080 not checked yet, 10.0.1.6:8080 not checked yet".into()
            )]
        );
        // `unused` beside checked targets is pending too.
        let waits = replay(
            &["10.0.1.6:8080"],
            &[vec![
                target("10.0.1.5:8080", "initial"),
                target("10.0.1.6:8080", "unused"),
            ]],
        );
        assert_eq!(
            waits,
            vec![Wait::Pending("10.0.1.6:8080 not in use yet".into())]
        );
    }
}
