//! The few HTML building blocks the pages need. Everything that comes
//! from a commit (summaries, emails, ref names, change details, status
//! descriptions) is attacker-controlled: it only ever reaches the page
//! through [`esc`] (text and quoted attribute values alike) or [`href_segment`].

use std::fmt;

/// Text escaped for HTML element content and double- or single-quoted
/// attribute values.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

#[must_use]
pub fn esc(text: &str) -> Esc<'_> {
    Esc(text)
}

/// One URL path segment: a value can neither leave its segment nor
/// its attribute.
pub use crate::support::percent::encode as href_segment;

/// Unix seconds as the day, `2026-01-02` (UTC).
#[must_use]
pub fn day(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// Unix seconds as `2026-01-02 03:04:05 UTC`.
#[must_use]
pub fn utc(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(format).ok())
        .map_or_else(|| unix.to_string(), |t| format!("{t} UTC"))
}

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.7em 1.5em}
header a{color:#fff;text-decoration:none;font-weight:600}
header nav{display:inline;margin-left:1.5em}
header nav a{font-weight:400;margin-right:1em}
main{padding:1em 1.5em;max-width:72em}
h1{font-size:1.35em;margin:.3em 0 .6em}
h2{font-size:1.1em;margin:1.4em 0 .5em}
h3{font-size:1em;margin:.2em 0 .4em}
a{color:#1a5fb4}
code,pre{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.9em}
pre{background:#fff;border:1px solid #d8dce3;padding:.7em;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid #d8dce3;padding:.35em .55em;text-align:left;vertical-align:top}
th{background:#eceef2;font-weight:600}
ul.statuses{list-style:none;margin:0;padding:0}
ul.statuses li{margin:.1em 0}
.badge{display:inline-block;border-radius:.3em;padding:0 .45em;font-size:.85em;font-weight:600;color:#fff;background:#6b7280;margin-right:.3em;white-space:nowrap}
.success,.allowed,.accepted{background:#2e7d32}
.failure,.denied,.refused,.invalid,.rewound{background:#c62828}
.error{background:#b45309}
.pending,.unjudged{background:#6b7280}
.stale{background:#7c4dff}
.who{color:#4b5563;font-size:.9em}
.muted{color:#6b7280}
section.commit{background:#fff;border:1px solid #d8dce3;padding:.6em .9em;margin:.8em 0}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:0}
dt{font-weight:600}
dd{margin:0}
table.tokens{font-size:.9em}
.nowrap{white-space:nowrap}
";

/// A whole page: no scripts, no external resources, inline style only
/// (what the Content-Security-Policy allows).
#[must_use]
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><a href=\"/\">lbops</a><nav><a href=\"/\">Commits</a>\
         <a href=\"/estate\">Estate</a><a href=\"/tokens\">API tokens</a></nav></header>\n<main>\n{body}</main>\n</body>\n</html>\n",
        esc(title)
    )
}

/// A colored badge; `class` is one of the fixed class names above.
#[must_use]
pub fn badge(class: &str, text: &str) -> String {
    format!("<span class=\"badge {}\">{}</span>", esc(class), esc(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\" title='y'>&</a>").to_string(),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(esc("plain é").to_string(), "plain é");
    }

    #[test]
    fn href_segments_cannot_leave_their_segment() {
        assert_eq!(href_segment("abc123"), "abc123");
        assert_eq!(href_segment("../x\"><"), "..%2Fx%22%3E%3C");
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(day(86_399), "1970-01-01");
    }
}
