//! Text shaped to what every forge accepts.

use crate::report::MAX_DESCRIPTION;

/// The description on one line and at most [`MAX_DESCRIPTION`]
/// characters (`Status::new` does this already; a `Status` built by hand
/// may not have).
#[must_use]
pub fn fit_description(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_DESCRIPTION {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(MAX_DESCRIPTION - 1).collect();
    cut.push('…');
    cut
}

/// At most `max` characters of a forge's answer, on one line, for an
/// error message.
#[must_use]
pub fn snippet(body: &str, max: usize) -> String {
    let one_line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.chars().count() > max {
        true => one_line.chars().take(max).chain(['…']).collect(),
        false => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_and_snippets_are_one_short_line() {
        let fitted = fit_description(&"word ".repeat(100));
        assert_eq!(fitted.chars().count(), MAX_DESCRIPTION);
        assert_eq!(fit_description(" a\n b "), "a b");
        assert_eq!(snippet("{\"message\":\n \"Not Found\"}", 8), "{\"messag…");
    }
}
