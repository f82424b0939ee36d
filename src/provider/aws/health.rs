//! When a `WaitHealthy` is over, from what `DescribeTargetHealth` says
//! (pure, so it is tested over recorded answers: moto calls every target
//! healthy at once and runs no probes).
//!
//! ELBv2 states: `initial` (registered, first checks running), `healthy`,
//! `unhealthy`, `unused` (no listener forwards to the target group yet),
//! `draining` (deregistered, finishing requests), `unavailable` (health
//! checks disabled).

use crate::model::{Health, ObservedTarget};
use crate::spec::units::TargetAddr;

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

/// Where waiting for `awaited` stands, given the target group's current health.
///
/// `Unknown` covers ELBv2's `initial` and `unused`. A group whose targets
/// are all `unused` has no listener yet, so nothing would ever probe them:
/// that counts as ready. Any `initial` target keeps the wait pending; an
/// `unhealthy` one too (it may still pass within the timeout), and a
/// missing or draining one fails at once.
#[must_use]
pub fn wait_state(awaited: &[TargetAddr], running: &[ObservedTarget]) -> Wait {
    let mut pending = Vec::new();
    let mut probed = false;
    for address in awaited {
        let Some(target) = running.iter().find(|t| t.address == *address) else {
            return Wait::Failed(format!("target {address} is not registered"));
        };
        match target.health {
            Health::Healthy => probed = true,
            Health::Unhealthy => {
                probed = true;
                pending.push(format!("{address} unhealthy"));
            }
            Health::Draining => {
                return Wait::Failed(format!("target {address} is draining"));
            }
            Health::Unknown => pending.push(format!("{address} not checked yet")),
        }
    }
    // Nothing probed at all, while other targets of the group are: the
    // group is in use and these are in `initial`.
    let group_in_use = running
        .iter()
        .any(|t| matches!(t.health, Health::Healthy | Health::Unhealthy));
    if pending.is_empty() || (!probed && !group_in_use) {
        Wait::Ready
    } else {
        Wait::Pending(pending.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> TargetAddr {
        s.parse().unwrap()
    }

    fn target(s: &str, health: Health) -> ObservedTarget {
        ObservedTarget {
            address: addr(s),
            weight: 1,
            backup: false,
            health,
        }
    }

    /// One recorded `DescribeTargetHealth` sequence per case: each answer
    /// is judged in turn, as the wait loop does.
    fn replay(awaited: &[&str], answers: &[Vec<ObservedTarget>]) -> Vec<Wait> {
        let awaited: Vec<TargetAddr> = awaited.iter().map(|a| addr(a)).collect();
        answers.iter().map(|a| wait_state(&awaited, a)).collect()
    }

    #[test]
    fn initial_then_healthy_is_pending_then_ready() {
        let waits = replay(
            &["10.0.1.5:8080"],
            &[
                vec![
                    target("10.0.1.4:8080", Health::Healthy),
                    target("10.0.1.5:8080", Health::Unknown),
                ],
                vec![
                    target("10.0.1.4:8080", Health::Healthy),
                    target("10.0.1.5:8080", Health::Healthy),
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
                vec![target("10.0.1.5:8080", Health::Unhealthy)],
                vec![target("10.0.1.5:8080", Health::Unhealthy)],
                vec![target("10.0.1.5:8080", Health::Healthy)],
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
                vec![target("10.0.1.5:8080", Health::Draining)],
                vec![target("10.0.1.6:8080", Health::Healthy)],
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
                target("10.0.1.5:8080", Health::Unknown),
                target("10.0.1.6:8080", Health::Unknown),
            ]],
        );
        assert_eq!(waits, vec![Wait::Ready]);
    }

    #[test]
    fn a_group_in_use_waits_for_every_new_target() {
        let waits = replay(
            &["10.0.1.5:8080", "10.0.1.6:8080"],
            &[vec![
                target("10.0.1.4:8080", Health::Healthy),
                target("10.0.1.5:8080", Health::Healthy),
                target("10.0.1.6:8080", Health::Unknown),
            ]],
        );
        assert_eq!(
            waits,
            vec![Wait::Pending("10.0.1.6:8080 not checked yet".into())]
        );
    }
}
