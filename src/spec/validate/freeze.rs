//! Checks on Freezes: bounded counts, windows that are not empty, days
//! listed once, scope patterns that parse.

use super::{Reporter, Sink};
use crate::spec::diagnostic::Code;
use crate::spec::kinds::freeze::{
    ClockTime, Window, MAX_FREEZES, MAX_SCOPE_RESOURCES, MAX_WINDOWS,
};
use crate::spec::kinds::Kind;
use crate::spec::Catalog;
use std::collections::BTreeMap;

pub(super) fn check(catalog: &Catalog, out: &mut Sink) {
    for (index, freeze) in catalog.freezes.values().enumerate() {
        let mut r = Reporter::new(Kind::Freeze, freeze, out);
        if index == MAX_FREEZES {
            r.error(
                freeze.origin.pos,
                Code::TooLarge,
                format!("more than {MAX_FREEZES} Freezes"),
                "merge freezes: one Freeze may list several windows",
            );
        }
        let spec = &freeze.spec;
        if spec.windows.is_empty() {
            r.error(
                freeze.origin.pos,
                Code::MissingField,
                "a Freeze needs at least one window",
                "add `windows:` with an `absolute:` or a `weekly:` window",
            );
        }
        if spec.windows.len() > MAX_WINDOWS {
            r.error(
                spec.windows[MAX_WINDOWS].pos,
                Code::TooLarge,
                format!("more than {MAX_WINDOWS} windows"),
                "split the freeze in two, or join windows that touch",
            );
        }
        if spec.scope.resources.is_empty() {
            r.error(
                freeze.origin.pos,
                Code::MissingField,
                "a Freeze's scope needs at least one resource pattern",
                "add `scope: {resources: [pool/*]}`, or `['*']` for everything",
            );
        }
        if spec.scope.resources.len() > MAX_SCOPE_RESOURCES {
            r.error(
                spec.scope.resources[MAX_SCOPE_RESOURCES].pos,
                Code::TooLarge,
                format!("more than {MAX_SCOPE_RESOURCES} resource patterns"),
                "use patterns with `*`, or labels, to name what is frozen",
            );
        }
        for pattern in spec.scope.resources.iter().take(MAX_SCOPE_RESOURCES + 1) {
            super::access::resource_pattern(&mut r, pattern);
        }
        let mut names = BTreeMap::new();
        for window in spec.windows.iter().take(MAX_WINDOWS + 1) {
            if let Some(name) = window.value.name() {
                if let Some(first) = super::repeat_of(&mut names, name.as_str(), window.pos) {
                    r.error(
                        window.pos,
                        Code::InvalidValue,
                        format!(
                            "window `{name}` is listed twice (first at line {})",
                            first.line
                        ),
                        "give each window its own name",
                    );
                }
            }
            match &window.value {
                Window::Absolute(a) if a.from.value >= a.until.value => r.error(
                    a.until.pos,
                    Code::InvalidValue,
                    format!(
                        "the window ends ({}) before or when it starts ({})",
                        a.until.value, a.from.value
                    ),
                    "write an `until` later than `from`",
                ),
                Window::Absolute(_) => {}
                Window::Weekly(w) => {
                    if w.days.is_empty() {
                        r.error(
                            window.pos,
                            Code::MissingField,
                            "a weekly window needs at least one day",
                            "add e.g. `days: [fri, sat]`",
                        );
                    }
                    let mut seen = BTreeMap::new();
                    for day in &w.days {
                        if let Some(first) = super::repeat_of(&mut seen, day.value, day.pos) {
                            r.error(
                                day.pos,
                                Code::InvalidValue,
                                format!("a day is listed twice (first at line {})", first.line),
                                "list each day once",
                            );
                        }
                    }
                    if w.from.value == ClockTime::END_OF_DAY {
                        r.error(
                            w.from.pos,
                            Code::InvalidValue,
                            "a window cannot start at 24:00",
                            "start it at 00:00 on the next day",
                        );
                    }
                    if w.from.value == w.until.value {
                        r.error(
                            w.until.pos,
                            Code::InvalidValue,
                            format!("the window starts and ends at {}", w.from.value),
                            "for a whole day write `from: \"00:00\", until: \"24:00\"`",
                        );
                    }
                }
            }
        }
    }
}
