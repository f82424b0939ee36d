//! The one wildcard matcher: `*` (and, where a syntax allows it, `?`)
//! within a string, and `**` across the segments of a path.
//!
//! Both run in time bounded by the product of the pattern's and the
//! text's lengths, never by backtracking: patterns come from pushed files
//! (`.lbopsignore`, role rules), so a pattern such as `**/**/…/**/x`
//! against a deep path must not be able to stall whoever matches it.

/// Which wildcards a pattern may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// `*` matches any run of characters (none included); all else is
    /// literal (resource patterns of roles).
    Star,
    /// `*` as above, and `?` matches exactly one character (gitignore).
    StarAndQuestion,
}

/// Whether `text` matches `pattern` as a whole.
#[must_use]
pub fn matches(pattern: &str, text: &str, syntax: Syntax) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Greedy matching with one remembered star: linear in practice and
    // O(|p|·|t|) at worst, since each star restart advances the text.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let one = syntax == Syntax::StarAndQuestion && p.get(pi) == Some(&'?');
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (one || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether the path `segments` match the pattern `segments`, where a `**`
/// segment matches any number of path segments (none included) and every
/// other segment matches one path segment with `segment_matches`.
///
/// Dynamic programming over (pattern, path) positions: at most
/// `pattern.len() × path.len()` segment comparisons, whatever the number
/// of `**`.
pub fn matches_path<P: AsRef<str>>(
    pattern: &[P],
    path: &[&str],
    segment_matches: impl Fn(&str, &str) -> bool,
) -> bool {
    // done[j]: the pattern so far matches the first j path segments.
    let mut done = vec![false; path.len() + 1];
    done[0] = true;
    for segment in pattern {
        let segment = segment.as_ref();
        let mut next = vec![false; path.len() + 1];
        if segment == "**" {
            let mut reachable = false;
            for j in 0..=path.len() {
                reachable |= done[j];
                next[j] = reachable;
            }
        } else {
            for j in 1..=path.len() {
                next[j] = done[j - 1] && segment_matches(segment, path[j - 1]);
            }
        }
        done = next;
    }
    done[path.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("pool/*", "pool/web", Syntax::Star));
        assert!(matches("*", "", Syntax::Star));
        assert!(matches("a*b*c", "aXXbYYc", Syntax::Star));
        assert!(!matches("a*b*c", "aXXbYY", Syntax::Star));
        assert!(!matches("pool/?", "pool/a", Syntax::Star));
        assert!(matches("pool/?", "pool/?", Syntax::Star));
        assert!(matches("web-?.yaml", "web-1.yaml", Syntax::StarAndQuestion));
        assert!(!matches(
            "web-?.yaml",
            "web-12.yaml",
            Syntax::StarAndQuestion
        ));
        assert!(matches("é*", "été", Syntax::StarAndQuestion));
    }

    #[test]
    fn double_stars_span_segments() {
        let glob = |p: &str, s: &str| matches(p, s, Syntax::StarAndQuestion);
        let path = ["a", "b", "c", "x.yaml"];
        assert!(matches_path(&["**", "x.yaml"], &path, glob));
        assert!(matches_path(&["a", "**", "*.yaml"], &path, glob));
        assert!(matches_path(&["a", "b", "c", "x.yaml", "**"], &path, glob));
        assert!(!matches_path(&["b", "**"], &path, glob));
        assert!(!matches_path(&["a", "*.yaml"], &path, glob));
        assert!(matches_path::<&str>(&[], &[], glob));
    }

    #[test]
    fn many_double_stars_against_a_deep_path_stay_cheap() {
        // Backtracking would try C(120, 60) splits here; the table does
        // 60 × 60 steps. A count of comparisons shows it.
        let pattern: Vec<&str> = std::iter::repeat_n("**", 60).chain(["z"]).collect();
        let path: Vec<&str> = std::iter::repeat_n("d", 60).collect();
        let compared = std::cell::Cell::new(0usize);
        let found = matches_path(&pattern, &path, |p, s| {
            compared.set(compared.get() + 1);
            p == s
        });
        assert!(!found);
        assert!(compared.get() <= 60, "{} comparisons", compared.get());
    }
}
