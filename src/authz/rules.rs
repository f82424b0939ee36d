//! Whether one rule of a role covers one change: its action, its
//! resource, its label condition on both sides of the change, and the
//! identity provider groups it requires of the person.

use super::Change;
use crate::idp::IdpGroups;
use crate::spec::actions;
use crate::spec::kinds::access::Rule;
use crate::spec::kinds::{Labels, ResourceId};

/// How a rule fits a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RuleFit {
    Allows,
    /// No action pattern of the rule names the change's action.
    OtherAction,
    /// The action is named, but no resource pattern matches.
    OtherResource,
    /// Action and resource match; the labels fail on the side(s) marked.
    OtherLabels {
        before: bool,
        after: bool,
    },
    /// Everything matches, but the person is not in every IdP group the
    /// rule requires.
    OtherIdpGroups,
}

/// Whose IdP groups a rule's `when.idp_groups` is checked against.
#[derive(Clone, Copy, Debug)]
pub(super) enum Person<'a> {
    /// Nobody in particular: which rules cover the change at all (who
    /// holds them, for a denial's hint).
    Anyone,
    /// A principal in these groups.
    In(&'a IdpGroups),
}

pub(super) fn fit(rule: &Rule, change: &Change, person: Person<'_>) -> RuleFit {
    // `approvals` does not decide whether the rule fits: it says how
    // many must sign for what it allows (`authz::approvals`).
    let Rule {
        actions,
        resources,
        when,
        approvals: _,
    } = rule;
    if !actions
        .iter()
        .any(|p| actions::pattern_matches(&p.value, change.action.name))
    {
        return RuleFit::OtherAction;
    }
    if !resources
        .iter()
        .any(|p| resource_matches(&p.value, change.resource.as_ref()))
    {
        return RuleFit::OtherResource;
    }
    let Some(condition) = when else {
        return RuleFit::Allows;
    };
    let labels = labels_fit(&condition.labels, change);
    if labels != RuleFit::Allows {
        return labels;
    }
    let required = || condition.idp_groups.iter().map(|g| g.value.as_str());
    match person {
        Person::In(groups) if !groups.hold_all(required()) => RuleFit::OtherIdpGroups,
        Person::In(_) | Person::Anyone => RuleFit::Allows,
    }
}

/// How a rule's label condition fits the change's labels on both sides.
fn labels_fit(wanted: &Labels, change: &Change) -> RuleFit {
    if wanted.is_empty() {
        return RuleFit::Allows;
    }
    let fails = |side: Option<&Labels>| side.is_some_and(|have| !labels_match(wanted, have));
    let (before, after) = (
        fails(change.labels_before.as_ref()),
        fails(change.labels_after.as_ref()),
    );
    if change.labels_before.is_none() && change.labels_after.is_none() {
        // Repo-wide: there are no labels to satisfy the condition.
        return RuleFit::OtherLabels {
            before: true,
            after: true,
        };
    }
    if before || after {
        RuleFit::OtherLabels { before, after }
    } else {
        RuleFit::Allows
    }
}

/// `*` matches everything, repository included; `kind/name` matches
/// resources of that kind (`*` for any) whose name the glob matches.
pub(super) fn resource_matches(pattern: &str, resource: Option<&ResourceId>) -> bool {
    if pattern == "*" {
        return true;
    }
    let (Some(id), Some((kind, name))) = (resource, pattern.split_once('/')) else {
        return false;
    };
    (kind == "*" || kind == id.kind.id_prefix()) && glob(name, id.name.as_str())
}

/// Every wanted label is present with the wanted value.
pub(super) fn labels_match(wanted: &Labels, have: &Labels) -> bool {
    wanted.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// `*` matches any run of characters (none included); all else literally.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    crate::support::glob::matches(pattern, text, crate::support::glob::Syntax::Star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::kinds::Kind;

    fn pool(name: &str) -> ResourceId {
        ResourceId::new(Kind::Pool, name.parse().unwrap())
    }

    #[test]
    fn globs() {
        for (pattern, text, expected) in [
            ("*", "", true),
            ("web-*", "web-api", true),
            ("web-*", "web-", true),
            ("web-*", "db", false),
            ("*-api", "web-api", true),
            ("*-api", "web-apis", false),
            ("w*b*i", "web-api", true),
            ("web", "web", true),
            ("web", "web2", false),
            ("a*a*a", "aaaa", true),
            ("a*a*a", "aa", false),
        ] {
            assert_eq!(glob(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn resource_patterns() {
        let web = pool("web-api");
        assert!(resource_matches("*", Some(&web)));
        assert!(resource_matches("*", None), "`*` covers the repository");
        assert!(resource_matches("pool/*", Some(&web)));
        assert!(resource_matches("*/web-*", Some(&web)));
        assert!(!resource_matches("loadbalancer/*", Some(&web)));
        assert!(!resource_matches("pool/db", Some(&web)));
        assert!(
            !resource_matches("*/*", None),
            "only `*` covers the repository"
        );
        assert!(!resource_matches("pool/*", None));
    }
}
