//! Change freezes: which of the trusted policy's Freezes are in force at
//! the judging time, which changes they cover, and the break-glass
//! permission that lets a change through one (pure; "now" is an argument).
//!
//! A change is judged by the trusted policy's freezes only, so a commit
//! cannot lift a freeze by deleting it in the same push: removing or
//! editing a Freeze is itself a change (`freeze.delete`,
//! `freeze.update`) the trusted policy must allow, and one that a freeze
//! whose scope covers `freeze/…` refuses like any other while in force.

#[cfg(test)]
mod tests;
mod window;

use super::rules::{labels_match, resource_matches};
use super::Change;
use crate::spec::actions;
use crate::spec::kinds::freeze::FreezeSpec;
use crate::spec::kinds::{Kind, Resource, ResourceId};
use crate::spec::Catalog;
use serde::Serialize;
use std::fmt;

/// The trailer that breaks the glass: `Lbops-Break-Glass: <reason>` on a
/// line of the commit message.
pub const BREAK_GLASS_TRAILER: &str = "Lbops-Break-Glass";

/// The longest break-glass reason, in characters.
pub const MAX_REASON: usize = 200;

/// A Freeze of the policy in force at the judging time.
#[derive(Clone, Debug)]
pub struct InForce<'p> {
    pub freeze: &'p Resource<FreezeSpec>,
    pub frozen: Frozen,
}

/// Which freeze holds a change, by which window, and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Frozen {
    pub freeze: ResourceId,
    /// The window's name, or `window N` (counted from 1) when it has none.
    pub window: String,
    /// The first instant (Unix seconds) at which the freeze is over.
    pub until: i64,
}

impl Frozen {
    /// `2026-12-27T00:00:00Z`.
    #[must_use]
    pub fn until_text(&self) -> String {
        jiff::Timestamp::from_second(self.until)
            .map_or_else(|_| self.until.to_string(), |t| t.to_string())
    }
}

impl fmt::Display for Frozen {
    /// `frozen by freeze/holiday (window christmas) until 2026-12-27T00:00:00Z`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frozen by {} ({}) until {}",
            self.freeze,
            self.window,
            self.until_text()
        )
    }
}

/// The freezes of `policy` in force at `now` (Unix seconds), in name order.
#[must_use]
pub fn in_force(policy: &Catalog, now: i64) -> Vec<InForce<'_>> {
    policy
        .freezes
        .values()
        .filter_map(|freeze| {
            let (index, until) = window::freeze_until(&freeze.spec, now)?;
            let window = match freeze.spec.windows[index].value.name() {
                Some(name) => format!("window {name}"),
                None => format!("window {}", index + 1),
            };
            Some(InForce {
                freeze,
                frozen: Frozen {
                    freeze: ResourceId::new(Kind::Freeze, freeze.name.clone()),
                    window,
                    until,
                },
            })
        })
        .collect()
}

/// The freezes of `in_force` whose scope covers `change`, the one over
/// last first: a resource pattern matches the changed resource, and the
/// scope's labels are all on it before or after the change.
#[must_use]
pub fn covering<'a, 'p>(in_force: &'a [InForce<'p>], change: &Change) -> Vec<&'a InForce<'p>> {
    let mut covering: Vec<&InForce<'p>> = in_force
        .iter()
        .filter(|f| {
            let scope = &f.freeze.spec.scope;
            let resource = scope
                .resources
                .iter()
                .any(|p| resource_matches(&p.value, change.resource.as_ref()));
            let labelled = scope.labels.is_empty()
                || [&change.labels_before, &change.labels_after]
                    .into_iter()
                    .flatten()
                    .any(|have| labels_match(&scope.labels, have));
            resource && labelled
        })
        .collect();
    covering.sort_by_key(|f| std::cmp::Reverse(f.frozen.until));
    covering
}

impl InForce<'_> {
    /// What breaking this freeze's glass needs: `freeze.break_glass` on
    /// the freeze itself (so a role's rule can name which freezes its
    /// holders may break, by name or by the freeze's labels).
    #[must_use]
    pub fn break_glass(&self) -> Change {
        Change::on(
            &actions::FREEZE_BREAK_GLASS,
            self.frozen.freeze.clone(),
            self.freeze.labels.clone(),
        )
    }
}

/// The reason a commit message gives for breaking the glass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Glass {
    /// No `Lbops-Break-Glass:` line.
    Intact,
    /// The first such line's reason, trimmed.
    Broken { reason: String },
    /// The line is there, but its reason is empty, too long or holds
    /// control characters.
    Unreadable { problem: String },
}

/// Reads the break-glass trailer from a commit message (the first line
/// that starts with it counts).
#[must_use]
pub fn glass(message: &str) -> Glass {
    let prefix = format!("{BREAK_GLASS_TRAILER}:");
    let Some(reason) = message
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(prefix.as_str()))
    else {
        return Glass::Intact;
    };
    let reason = reason.trim();
    let problem = if reason.is_empty() {
        "its reason is empty".to_owned()
    } else if reason.chars().count() > MAX_REASON {
        format!("its reason is longer than {MAX_REASON} characters")
    } else if reason.chars().any(char::is_control) {
        "its reason holds control characters".to_owned()
    } else {
        return Glass::Broken {
            reason: reason.to_owned(),
        };
    };
    Glass::Unreadable { problem }
}
