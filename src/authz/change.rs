//! [`Change`]: one action on one resource, as `changes` finds it and
//! `authorize` judges it.

use crate::spec::actions::Action;
use crate::spec::kinds::{Labels, ResourceId};
use serde::{Serialize, Serializer};
use std::fmt;

/// One thing a candidate does that needs permission: an action of the
/// catalogue on a resource (or on the repository).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    #[serde(serialize_with = "action_name")]
    pub action: &'static Action,
    /// None for repo-wide actions (repo.force_push).
    pub resource: Option<ResourceId>,
    /// The resource's labels before the change; None when it is created (or repo-wide).
    pub labels_before: Option<Labels>,
    /// After; None when it is deleted.
    pub labels_after: Option<Labels>,
    /// One line a human reads: "weight of 10.0.0.1:8080 100 → 50", "route `api` added".
    pub detail: String,
}

impl Change {
    /// A repository-wide change, such as [`REPO_FORCE_PUSH`](crate::spec::actions::REPO_FORCE_PUSH) for a
    /// rewritten history.
    ///
    /// # Panics
    ///
    /// When `action` is about a kind of resource: a bug in the caller, not
    /// user input.
    #[must_use]
    pub fn repo(action: &'static Action) -> Change {
        assert!(
            action.kind.is_none(),
            "`{}` is about a {}, not the repository",
            action.name,
            action.kind.map_or("", |k| k.as_str())
        );
        Change {
            action,
            resource: None,
            labels_before: None,
            labels_after: None,
            detail: action.description.to_owned(),
        }
    }

    /// Doing `action` on an existing resource that stays as it is — a
    /// read through the API (`state.read` of `pool/web`): the resource's
    /// labels are the same before and after, so a rule's `when.labels`
    /// applies to it as to a change.
    #[must_use]
    pub fn on(action: &'static Action, resource: ResourceId, labels: Labels) -> Change {
        Change {
            action,
            detail: format!("{} {resource}", action.name),
            resource: Some(resource),
            labels_before: Some(labels.clone()),
            labels_after: Some(labels),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resource {
            Some(id) => write!(f, "{} on {id}: {}", self.action.name, self.detail),
            None => write!(f, "{}: {}", self.action.name, self.detail),
        }
    }
}

/// Serializes an action as its name, the way roles and logs spell it.
pub(super) fn action_name<S: Serializer>(
    action: &&'static Action,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(action.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::actions;

    #[test]
    fn a_repo_change_names_its_action_and_no_resource() {
        let change = Change::repo(&actions::REPO_FORCE_PUSH);
        assert_eq!(change.action.name, "repo.force_push");
        assert_eq!(change.resource, None);
        assert_eq!(
            serde_json::to_value(&change).unwrap()["action"],
            "repo.force_push"
        );
    }

    #[test]
    #[should_panic(expected = "not the repository")]
    fn a_repo_change_for_a_kind_is_a_bug() {
        let _ = Change::repo(&actions::POOL_CREATE);
    }
}
