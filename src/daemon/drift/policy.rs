//! What drift does, per kind and field: the `drift:` section of the daemon
//! config as written ([`DriftFile`]) and checked ([`DriftConfig`]).
//!
//! ```yaml
//! drift:
//!   schedule: '0 */5 * * * *'
//!   mode: report                # for what nothing below names
//!   kinds: {Certificate: revert}
//!   fields:                     # the first rule that matches wins
//!     - {kind: Pool, field: targets, mode: report, names: ['autoscaled-*']}
//!     - {kind: Pool, field: weights, mode: revert}
//! ```

use super::field::DriftField;
use crate::spec::kinds::{Kind, ResourceId};
use serde::Deserialize;
use std::collections::BTreeMap;

/// What to do when a balancer no longer runs what git says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftMode {
    /// Status, alert and audit record; leave it.
    Report,
    /// The same, then put back what git says.
    Revert,
    /// An audit record only: someone else owns this (an autoscaler, say),
    /// so it is no failure and nobody is alerted.
    Accept,
}

impl DriftMode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DriftMode::Report => "report",
            DriftMode::Revert => "revert",
            DriftMode::Accept => "accept",
        }
    }
}

/// The kinds that a provider runs, so that they can drift.
const DRIFTING_KINDS: [Kind; 3] = [Kind::LoadBalancer, Kind::Pool, Kind::Certificate];

/// The `drift:` section, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftConfig {
    /// A cron expression with seconds (`sec min hour day month weekday`).
    pub schedule: String,
    pub policy: DriftPolicy,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            schedule: default_schedule(),
            policy: DriftPolicy::default(),
        }
    }
}

/// The mode of each field of each resource: the first field rule that
/// matches, else the mode of its kind, else the default.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftPolicy {
    /// For what neither a field rule nor `kinds` names.
    pub default: DriftMode,
    pub kinds: BTreeMap<Kind, DriftMode>,
    /// In the order written: the first that matches wins, so a narrow rule
    /// (`names: [db]`) goes before the broad one it makes an exception to.
    pub fields: Vec<FieldRule>,
}

impl Default for DriftPolicy {
    fn default() -> Self {
        DriftPolicy {
            default: DriftMode::Report,
            kinds: BTreeMap::new(),
            fields: Vec::new(),
        }
    }
}

/// One entry of `drift.fields`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldRule {
    pub kind: Kind,
    /// `None`: every field of the kind (`field: '*'`).
    pub field: Option<DriftField>,
    pub mode: DriftMode,
    /// Globs (`*`) on resource names; empty: every resource of the kind.
    pub names: Vec<String>,
}

impl FieldRule {
    fn matches(&self, resource: &ResourceId, field: DriftField) -> bool {
        self.kind == resource.kind
            && self.field.is_none_or(|f| f == field)
            && (self.names.is_empty()
                || self.names.iter().any(|pattern| {
                    crate::support::glob::matches(
                        pattern,
                        resource.name.as_str(),
                        crate::support::glob::Syntax::Star,
                    )
                }))
    }
}

impl DriftPolicy {
    /// What drift of `field` of `resource` does.
    #[must_use]
    pub fn mode(&self, resource: &ResourceId, field: DriftField) -> DriftMode {
        self.fields
            .iter()
            .find(|rule| rule.matches(resource, field))
            .map(|rule| rule.mode)
            .or_else(|| self.kinds.get(&resource.kind).copied())
            .unwrap_or(self.default)
    }
}

/// The `drift:` section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DriftFile {
    #[serde(default = "default_schedule")]
    schedule: String,
    #[serde(default = "report")]
    mode: DriftMode,
    /// Per kind: `Pool: revert`, `LoadBalancer: report`, …
    #[serde(default)]
    kinds: BTreeMap<String, DriftMode>,
    #[serde(default)]
    fields: Vec<FieldRuleFile>,
}

impl Default for DriftFile {
    fn default() -> Self {
        DriftFile {
            schedule: default_schedule(),
            mode: DriftMode::Report,
            kinds: BTreeMap::new(),
            fields: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldRuleFile {
    kind: String,
    field: String,
    mode: DriftMode,
    #[serde(default)]
    names: Vec<String>,
}

fn default_schedule() -> String {
    "0 * * * * *".to_owned()
}

fn report() -> DriftMode {
    DriftMode::Report
}

/// A rule the section breaks: the field path it is about, and what to do.
type Problem = (Vec<&'static str>, String);

impl DriftFile {
    /// Checks every kind and field named, collecting each problem; the
    /// schedule is checked by the caller, which owns the cron parser's
    /// message.
    pub(crate) fn check(self, problems: &mut Vec<Problem>) -> Option<DriftConfig> {
        let before = problems.len();
        let kinds_list = kind_names();
        let mut kinds = BTreeMap::new();
        for (name, mode) in self.kinds {
            match drifting_kind(&name) {
                Some(kind) => {
                    kinds.insert(kind, mode);
                }
                None => problems.push((
                    vec!["drift", "kinds"],
                    format!("drift.kinds: `{name}` is not a kind that can drift; use {kinds_list}"),
                )),
            }
        }
        let mut fields = Vec::with_capacity(self.fields.len());
        for (i, rule) in self.fields.into_iter().enumerate() {
            let Some(kind) = drifting_kind(&rule.kind) else {
                problems.push((
                    vec!["drift", "fields"],
                    format!(
                        "drift.fields[{i}].kind: `{}` is not a kind that can drift; use {kinds_list}",
                        rule.kind
                    ),
                ));
                continue;
            };
            let field = if rule.field == "*" {
                None
            } else if let Some(field) = DriftField::parse(kind, &rule.field) {
                Some(field)
            } else {
                let valid: Vec<&str> = DriftField::of_kind(kind)
                    .iter()
                    .map(|f| f.as_str())
                    .collect();
                problems.push((
                    vec!["drift", "fields"],
                    format!(
                        "drift.fields[{i}].field: `{}` is not a field of {kind}; use one of {}, or '*' for all of them",
                        rule.field,
                        valid.join(", ")
                    ),
                ));
                continue;
            };
            if let Some(bad) = rule.names.iter().find(|n| n.is_empty()) {
                problems.push((
                    vec!["drift", "fields"],
                    format!("drift.fields[{i}].names: `{bad}` is empty; write a name or a glob such as `autoscaled-*`, or drop `names` for every {kind}"),
                ));
                continue;
            }
            fields.push(FieldRule {
                kind,
                field,
                mode: rule.mode,
                names: rule.names,
            });
        }
        (problems.len() == before).then_some(DriftConfig {
            schedule: self.schedule,
            policy: DriftPolicy {
                default: self.mode,
                kinds,
                fields,
            },
        })
    }

    pub(crate) fn schedule(&self) -> &str {
        &self.schedule
    }
}

fn drifting_kind(name: &str) -> Option<Kind> {
    Kind::parse(name).filter(|kind| DRIFTING_KINDS.contains(kind))
}

fn kind_names() -> String {
    DRIFTING_KINDS
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(yaml: &str) -> DriftFile {
        let parsed = crate::spec::yaml::parse(yaml);
        crate::spec::yaml::de::from_node(&parsed.documents[0].root).unwrap()
    }

    fn id(kind: Kind, name: &str) -> ResourceId {
        ResourceId::new(kind, name.parse().unwrap())
    }

    #[test]
    fn the_first_matching_field_rule_wins_then_the_kind_then_the_default() {
        let mut problems = Vec::new();
        let config = file(
            "mode: report
kinds: {Pool: revert}
fields:
  - {kind: Pool, field: targets, mode: report, names: ['autoscaled-*']}
  - {kind: Pool, field: weights, mode: accept, names: [db]}
  - {kind: Pool, field: weights, mode: revert}
  - {kind: Certificate, field: '*', mode: revert}
",
        )
        .check(&mut problems)
        .unwrap();
        assert!(problems.is_empty());
        let policy = config.policy;
        let mode = |kind, name, field| policy.mode(&id(kind, name), field);
        use DriftField::*;
        assert_eq!(
            mode(Kind::Pool, "autoscaled-web", Targets),
            DriftMode::Report
        );
        assert_eq!(
            mode(Kind::Pool, "autoscaled-web", Weights),
            DriftMode::Revert
        );
        assert_eq!(mode(Kind::Pool, "web", Targets), DriftMode::Revert, "kind");
        assert_eq!(mode(Kind::Pool, "db", Weights), DriftMode::Accept);
        assert_eq!(mode(Kind::Certificate, "tls", Chain), DriftMode::Revert);
        assert_eq!(
            mode(Kind::LoadBalancer, "edge", Listeners),
            DriftMode::Report
        );
    }

    #[test]
    fn unknown_kinds_and_fields_are_named_with_what_is_valid() {
        let mut problems = Vec::new();
        let checked = file(
            "kinds: {Role: revert}
fields:
  - {kind: Pool, field: weights, mode: revert}
  - {kind: Pool, field: routes, mode: revert}
  - {kind: Pol, field: targets, mode: report}
",
        )
        .check(&mut problems);
        assert!(checked.is_none());
        let messages: Vec<&str> = problems.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            messages,
            [
                "drift.kinds: `Role` is not a kind that can drift; use LoadBalancer, Pool, Certificate",
                "drift.fields[1].field: `routes` is not a field of Pool; use one of existence, settings, targets, weights, or '*' for all of them",
                "drift.fields[2].kind: `Pol` is not a kind that can drift; use LoadBalancer, Pool, Certificate",
            ]
        );
    }
}
