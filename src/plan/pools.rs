//! How one desired pool differs from the one that runs, and the steps that
//! close the gap in each phase of the plan.

use super::wait_healthy_timeout;
use crate::model::{Health, ObservedPool, ObservedTarget, Step};
use crate::spec::kinds::pool::{PoolSpec, Target};
use crate::spec::units::{Name, TargetAddr};
use crate::spec::yaml::Spanned;
use std::collections::BTreeMap;

/// One desired pool against the running one. Every list is sorted by
/// address, so steps come out in a stable order whatever order the YAML
/// lists targets in.
pub(super) struct PoolChange<'a> {
    name: &'a Name,
    spec: &'a PoolSpec,
    /// `None` while the pool does not run yet.
    running: Option<&'a ObservedPool>,
    /// Primary targets to register: new ones, or ones that were draining.
    add: Vec<Target>,
    /// Backup targets to register, likewise.
    add_backup: Vec<Target>,
    /// Running targets that keep their role and change weight.
    weights: Vec<(TargetAddr, u32)>,
    /// Running backups that become primary.
    promote: Vec<Target>,
    /// Running primaries that become backups.
    demote: Vec<Target>,
    /// Running targets the pool no longer lists.
    remove: Vec<TargetAddr>,
    /// Primaries that stay as they are but that no health check has
    /// passed yet (a wait that timed out, a restart while ELBv2 still says
    /// `initial`): they are waited for again before any traffic shift,
    /// across retries and restarts, because what decides is what the
    /// provider observes now, not what an earlier plan did.
    unconfirmed: Vec<Target>,
}

impl<'a> PoolChange<'a> {
    pub(super) fn new(
        name: &'a Name,
        spec: &'a PoolSpec,
        running: Option<&'a ObservedPool>,
    ) -> Self {
        let mut change = Self {
            name,
            spec,
            running,
            add: Vec::new(),
            add_backup: Vec::new(),
            weights: Vec::new(),
            promote: Vec::new(),
            demote: Vec::new(),
            remove: Vec::new(),
            unconfirmed: Vec::new(),
        };
        let current = by_address(running);
        let wanted = wanted(spec);
        for (address, &(target, backup)) in &wanted {
            change.classify(target, backup, current.get(address).copied());
        }
        change.remove = current
            .keys()
            .filter(|address| !wanted.contains_key(*address))
            .map(|address| (*address).clone())
            .collect();
        change
    }

    /// Sorts one wanted target by how it differs from the running one.
    fn classify(&mut self, target: &Target, backup: bool, current: Option<&ObservedTarget>) {
        // A draining target is on its way out: wanting it back means
        // registering it again, and waiting for it like a new one.
        let serving = current.filter(|running| running.health != Health::Draining);
        match serving {
            None if backup => self.add_backup.push(target.clone()),
            None => self.add.push(target.clone()),
            Some(running) if running.backup != backup => {
                let moves = if backup {
                    &mut self.demote
                } else {
                    &mut self.promote
                };
                moves.push(target.clone());
            }
            Some(running) => {
                if running.weight != target.weight.value {
                    self.weights
                        .push((target.address.value.clone(), target.weight.value));
                }
                // Without a health check nothing ever passes, and nothing
                // is there to wait for.
                let checked = self.spec.health_check.is_some();
                if checked && !backup && running.health == Health::Unknown {
                    self.unconfirmed.push(target.clone());
                }
            }
        }
    }

    pub(super) fn is_new(&self) -> bool {
        self.running.is_none()
    }

    /// Phase 2: the pool, created with no targets so that nothing can send
    /// traffic into it before the plan has waited for them, then filled.
    pub(super) fn create(&self) -> Vec<Step> {
        let create = Step::CreatePool {
            name: self.name.clone(),
            spec: settings(self.spec),
        };
        std::iter::once(create).chain(self.add_targets()).collect()
    }

    /// Phase 3: new settings for a running pool, then its new targets.
    pub(super) fn grow(&self) -> Vec<Step> {
        let update = self.running.and_then(|running| {
            (settings(&running.spec) != settings(self.spec)).then(|| Step::UpdatePoolSettings {
                name: self.name.clone(),
                // The pool as it stands right after this step: the new
                // settings, the targets it runs now.
                spec: with_targets(settings(self.spec), running_targets(&running.targets)),
            })
        });
        update.into_iter().chain(self.add_targets()).collect()
    }

    fn add_targets(&self) -> impl Iterator<Item = Step> + '_ {
        [(&self.add, false), (&self.add_backup, true)]
            .into_iter()
            .filter(|(targets, _)| !targets.is_empty())
            .map(|(targets, backup)| Step::AddTargets {
                pool: self.name.clone(),
                targets: targets.clone(),
                backup,
            })
    }

    /// Phase 4: the newly added primary targets, which must pass their
    /// health check before weights or routes send traffic their way, and,
    /// when the pool's traffic shifts at all, the running primaries no
    /// check has passed yet. Backups only serve when every primary is
    /// down, so nothing waits on them.
    pub(super) fn wait_for_added(&self) -> Option<Step> {
        let shifts = !self.add.is_empty()
            || !self.weights.is_empty()
            || !self.promote.is_empty()
            || !self.demote.is_empty()
            || !self.remove.is_empty();
        if !shifts {
            return None;
        }
        let mut awaited: Vec<Target> = self.add.iter().chain(&self.unconfirmed).cloned().collect();
        awaited.sort_by(|a, b| a.address.value.cmp(&b.address.value));
        (!awaited.is_empty()).then(|| self.wait_healthy(&awaited))
    }

    /// Phase 5: weights of targets that keep running in the same role.
    pub(super) fn set_weights(&self) -> Option<Step> {
        (!self.weights.is_empty()).then(|| Step::SetWeights {
            pool: self.name.clone(),
            weights: self.weights.clone(),
        })
    }

    /// Phase 7: targets that leave the pool or change role, after traffic
    /// has moved away from them. Promotions go first and are waited for,
    /// so that a pool trading its primary for its backup is never left
    /// without a healthy primary.
    pub(super) fn retire(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        if !self.promote.is_empty() {
            steps.extend(self.drain_and_remove(addresses(&self.promote)));
            steps.push(Step::AddTargets {
                pool: self.name.clone(),
                targets: self.promote.clone(),
                backup: false,
            });
            steps.push(self.wait_healthy(&self.promote));
        }
        let mut leaving = addresses(&self.demote);
        leaving.extend(self.remove.iter().cloned());
        leaving.sort();
        if !leaving.is_empty() {
            steps.extend(self.drain_and_remove(leaving));
        }
        if !self.demote.is_empty() {
            steps.push(Step::AddTargets {
                pool: self.name.clone(),
                targets: self.demote.clone(),
                backup: true,
            });
        }
        steps
    }

    fn drain_and_remove(&self, targets: Vec<TargetAddr>) -> [Step; 2] {
        [
            Step::DrainTargets {
                pool: self.name.clone(),
                targets: targets.clone(),
                timeout: self.spec.draining_timeout.0,
            },
            Step::RemoveTargets {
                pool: self.name.clone(),
                targets,
            },
        ]
    }

    fn wait_healthy(&self, targets: &[Target]) -> Step {
        Step::WaitHealthy {
            pool: self.name.clone(),
            targets: addresses(targets),
            timeout: wait_healthy_timeout(self.spec),
        }
    }
}

/// The pool's configuration without its targets: what `CreatePool` and
/// `UpdatePoolSettings` set, and what decides whether settings changed.
pub(super) fn settings(spec: &PoolSpec) -> PoolSpec {
    // Every field is named (no `..`), so a field added to `PoolSpec` fails
    // to compile here instead of becoming a setting the planner never compares.
    let PoolSpec {
        targets: _,
        backup_targets: _,
        algorithm,
        health_check,
        draining_timeout,
        slow_start,
    } = spec;
    PoolSpec {
        targets: Vec::new(),
        backup_targets: Vec::new(),
        algorithm: algorithm.clone(),
        health_check: health_check.clone(),
        draining_timeout: *draining_timeout,
        slow_start: *slow_start,
    }
}

/// `settings` with these `(primary, backup)` targets.
pub(super) fn with_targets(
    settings: PoolSpec,
    (targets, backup_targets): (Vec<Target>, Vec<Target>),
) -> PoolSpec {
    PoolSpec {
        targets,
        backup_targets,
        ..settings
    }
}

/// The `(primary, backup)` targets a pool serves with, in running order:
/// draining ones are already out of its configuration.
pub(super) fn running_targets(targets: &[ObservedTarget]) -> (Vec<Target>, Vec<Target>) {
    let (backup, primary): (Vec<_>, Vec<_>) = targets
        .iter()
        .filter(|target| target.health != Health::Draining)
        .map(|target| {
            let spec = Target {
                address: Spanned::unplaced(target.address.clone()),
                weight: Spanned::unplaced(target.weight),
            };
            (target.backup, spec)
        })
        .partition(|(backup, _)| *backup);
    let strip = |targets: Vec<(bool, Target)>| targets.into_iter().map(|(_, t)| t).collect();
    (strip(primary), strip(backup))
}

/// Running targets by address. A provider should not report an address
/// twice; if one does, an entry that serves counts over a draining one,
/// and otherwise the first: an address that still serves must not be
/// registered again.
fn by_address(running: Option<&ObservedPool>) -> BTreeMap<&TargetAddr, &ObservedTarget> {
    let mut current: BTreeMap<&TargetAddr, &ObservedTarget> = BTreeMap::new();
    for target in running.map_or(&[][..], |pool| &pool.targets) {
        let kept = current.entry(&target.address).or_insert(target);
        if kept.health == Health::Draining && target.health != Health::Draining {
            *kept = target;
        }
    }
    current
}

/// Wanted targets by address with whether each is a backup. Validation
/// refuses an address listed twice; should a catalog built by hand hold
/// one, its first listing (primaries before backups) counts.
fn wanted(spec: &PoolSpec) -> BTreeMap<&TargetAddr, (&Target, bool)> {
    let mut wanted = BTreeMap::new();
    let listed = (spec.targets.iter().map(|t| (t, false)))
        .chain(spec.backup_targets.iter().map(|t| (t, true)));
    for (target, backup) in listed {
        wanted
            .entry(&target.address.value)
            .or_insert((target, backup));
    }
    wanted
}

fn addresses(targets: &[Target]) -> Vec<TargetAddr> {
    targets.iter().map(|t| t.address.value.clone()).collect()
}
