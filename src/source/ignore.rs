//! `.lbopsignore`: gitignore-style patterns for files `validate` skips.
//!
//! Supported: `#` comments, blank lines, `!` to re-include, a trailing `/`
//! for directories only, a leading or inner `/` to anchor at the root,
//! `*` and `?` within a path segment, and `**` across segments.

use crate::support::glob::{matches_path, Syntax};

/// The name of the ignore file, read from the root of the tree.
pub const IGNORE_FILE: &str = ".lbopsignore";

#[derive(Clone, Debug)]
struct Rule {
    segments: Vec<String>,
    negated: bool,
    dir_only: bool,
    anchored: bool,
}

/// The parsed rules of one `.lbopsignore`; later rules win.
#[derive(Clone, Debug, Default)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

impl IgnoreRules {
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let rules = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let (negated, line) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, line),
                };
                let (dir_only, line) = match line.strip_suffix('/') {
                    Some(rest) => (true, rest),
                    None => (false, line),
                };
                let anchored = line.starts_with('/') || line.trim_start_matches('/').contains('/');
                let segments = line
                    .trim_start_matches('/')
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                Rule {
                    segments,
                    negated,
                    dir_only,
                    anchored,
                }
            })
            .collect();
        Self { rules }
    }

    /// Whether `path` (relative, `/`-separated) is ignored.
    #[must_use]
    pub fn is_ignored(&self, path: &str, is_dir: bool) -> bool {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut ignored = false;
        for rule in &self.rules {
            if rule.dir_only && !is_dir {
                continue;
            }
            if rule.matches(&segments) {
                ignored = !rule.negated;
            }
        }
        ignored
    }
}

impl Rule {
    fn matches(&self, path: &[&str]) -> bool {
        if self.anchored {
            matches_path(&self.segments, path, glob)
        } else {
            // An unanchored pattern matches the last segment (a name anywhere).
            path.last()
                .is_some_and(|name| glob(&self.segments[0], name))
        }
    }
}

/// `*` and `?` within one path segment.
fn glob(pattern: &str, text: &str) -> bool {
    crate::support::glob::matches(pattern, text, Syntax::StarAndQuestion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_anywhere_and_anchored_paths_from_the_root() {
        let rules = IgnoreRules::parse("# drafts\n*.draft.yaml\n/vendor/\nlb/old-*.yaml\n");
        assert!(rules.is_ignored("pools/web.draft.yaml", false));
        assert!(rules.is_ignored("vendor", true));
        assert!(
            !rules.is_ignored("x/vendor", true),
            "/vendor/ is anchored at the root"
        );
        assert!(rules.is_ignored("lb/old-web.yaml", false));
        assert!(!rules.is_ignored("lb/web.yaml", false));
        assert!(!rules.is_ignored("other/lb/old-web.yaml", false));
    }

    #[test]
    fn later_negation_reincludes_and_dir_rules_skip_files() {
        let rules = IgnoreRules::parse("*.yaml\n!keep.yaml\ntmp/\n");
        assert!(rules.is_ignored("a.yaml", false));
        assert!(!rules.is_ignored("keep.yaml", false));
        assert!(rules.is_ignored("tmp", true));
        assert!(
            !rules.is_ignored("tmp", false),
            "a trailing / matches directories only"
        );
    }

    #[test]
    fn double_star_spans_directories() {
        let rules = IgnoreRules::parse("docs/**/*.yaml\n");
        assert!(rules.is_ignored("docs/a.yaml", false));
        assert!(rules.is_ignored("docs/x/y/a.yaml", false));
        assert!(!rules.is_ignored("src/a.yaml", false));
    }
}
