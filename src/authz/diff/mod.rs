//! [`changes`]: every difference between two catalogs, as the most
//! specific catalogue action it needs.
//!
//! Each kind's file destructures its spec without `..`, so a field added
//! to a spec fails to compile here until someone decides which action
//! guards it. Every field comparison that finds its values unequal notes
//! at least one change (a reordering included), so nothing a candidate
//! changes escapes authorization.

mod access;
mod balancer;
mod certificate;
mod freeze;
mod pool;
mod text;

#[cfg(test)]
mod tests;

use super::Change;
use crate::spec::actions::{Action, CATALOGUE};
use crate::spec::kinds::{Kind, Labels, Resource, ResourceId};
use crate::spec::units::Name;
use crate::spec::Catalog;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Every change from `trusted` to `candidate`: by kind (in [`Kind::ALL`]
/// order), then by name, then by the action's place in the catalogue; one
/// [`Change`] per action and resource. The derived `allocation` is not
/// compared: it follows from the resources.
#[must_use]
pub fn changes(trusted: &Catalog, candidate: &Catalog) -> Vec<Change> {
    let Catalog {
        load_balancers,
        pools,
        certificates,
        address_pools,
        roles,
        users,
        groups,
        service_accounts,
        freezes,
        allocation: _,
    } = trusted;
    let mut out = Vec::new();
    walk(load_balancers, &candidate.load_balancers, &mut out);
    walk(pools, &candidate.pools, &mut out);
    walk(certificates, &candidate.certificates, &mut out);
    walk(address_pools, &candidate.address_pools, &mut out);
    walk(roles, &candidate.roles, &mut out);
    walk(users, &candidate.users, &mut out);
    walk(groups, &candidate.groups, &mut out);
    walk(service_accounts, &candidate.service_accounts, &mut out);
    walk(freezes, &candidate.freezes, &mut out);
    out
}

/// How one kind's specs are classified.
trait Classify: PartialEq + Sized {
    const KIND: Kind;
    /// The actions that create, delete and relabel a resource of this kind.
    const CREATE: &'static Action;
    const DELETE: &'static Action;
    const LABELS: &'static Action;

    /// Notes every difference between two versions of a spec.
    fn diff(before: &Self, after: &Self, found: &mut Found);

    /// A few words on what is created or deleted ("with 3 targets").
    fn summary(_spec: &Self) -> Option<String> {
        None
    }

    /// Notes what creating a resource does beyond `CREATE` (a token issued).
    fn created(_spec: &Self, _found: &mut Found) {}

    /// Notes what deleting a resource does beyond `DELETE` (a token revoked).
    fn deleted(_spec: &Self, _found: &mut Found) {}
}

/// Merges two maps of one kind in name order, classifying each difference.
fn walk<S: Classify>(
    before: &BTreeMap<Name, Resource<S>>,
    after: &BTreeMap<Name, Resource<S>>,
    out: &mut Vec<Change>,
) {
    let mut old = before.iter().peekable();
    let mut new = after.iter().peekable();
    loop {
        let order = match (old.peek(), new.peek()) {
            (None, None) => return,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match order {
            Ordering::Less => {
                let (name, gone) = old.next().expect("peeked");
                let mut found = Found::new(S::KIND, name, Some(&gone.labels), None);
                let detail = S::summary(&gone.spec)
                    .map_or("deleted".to_owned(), |s| format!("deleted ({s})"));
                found.note(S::DELETE, detail);
                S::deleted(&gone.spec, &mut found);
                found.finish(out);
            }
            Ordering::Greater => {
                let (name, born) = new.next().expect("peeked");
                let mut found = Found::new(S::KIND, name, None, Some(&born.labels));
                let detail =
                    S::summary(&born.spec).map_or("created".to_owned(), |s| format!("created {s}"));
                found.note(S::CREATE, detail);
                S::created(&born.spec, &mut found);
                found.finish(out);
            }
            Ordering::Equal => {
                let (name, was) = old.next().expect("peeked");
                let (_, is) = new.next().expect("peeked");
                if was == is {
                    continue;
                }
                let mut found = Found::new(S::KIND, name, Some(&was.labels), Some(&is.labels));
                if let Some(detail) = text::labels(&was.labels, &is.labels) {
                    found.note(S::LABELS, detail);
                }
                if was.spec != is.spec {
                    let before = found.len();
                    S::diff(&was.spec, &is.spec, &mut found);
                    debug_assert!(
                        found.len() > before,
                        "{} changed but no action was noted",
                        found.id
                    );
                }
                found.finish(out);
            }
        }
    }
}

/// At most this many details per change; the rest are counted.
const MAX_DETAILS: usize = 6;

/// The differences found on one resource, gathered per action.
struct Found {
    id: ResourceId,
    before: Option<Labels>,
    after: Option<Labels>,
    notes: Vec<(&'static Action, Vec<String>)>,
}

impl Found {
    fn new(kind: Kind, name: &Name, before: Option<&Labels>, after: Option<&Labels>) -> Self {
        Self {
            id: ResourceId::new(kind, name.clone()),
            before: before.cloned(),
            after: after.cloned(),
            notes: Vec::new(),
        }
    }

    /// Records that `action` is needed, and why.
    fn note(&mut self, action: &'static Action, detail: impl Into<String>) {
        let detail = detail.into();
        match self.notes.iter_mut().find(|(a, _)| a.name == action.name) {
            Some((_, details)) => details.push(detail),
            None => self.notes.push((action, vec![detail])),
        }
    }

    fn len(&self) -> usize {
        self.notes.iter().map(|(_, d)| d.len()).sum()
    }

    /// One [`Change`] per action, in catalogue order.
    fn finish(self, out: &mut Vec<Change>) {
        let Found {
            id,
            before,
            after,
            mut notes,
        } = self;
        notes.sort_by_key(|(action, _)| CATALOGUE.iter().position(|a| a.name == action.name));
        for (action, mut details) in notes {
            if details.len() > MAX_DETAILS {
                let more = details.len() - (MAX_DETAILS - 1);
                details.truncate(MAX_DETAILS - 1);
                details.push(format!("and {more} more"));
            }
            out.push(Change {
                action,
                resource: Some(id.clone()),
                labels_before: before.clone(),
                labels_after: after.clone(),
                detail: details.join("; "),
            });
        }
    }
}
