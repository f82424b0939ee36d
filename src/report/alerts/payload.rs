//! The bytes each sink posts, and the webhook's signature. Pure: the
//! caller passes the time and the secret.

use super::alert::{Alert, AlertKind};
use crate::support::hex;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::json;
use sha2::Sha256;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The header carrying the webhook body's signature.
pub const SIGNATURE_HEADER: &str = "X-Lbops-Signature-256";

/// The longest text a Slack section block accepts, in characters.
pub const SLACK_SECTION_MAX: usize = 3000;

/// The generic webhook's body, field by field.
#[derive(Serialize)]
struct WebhookBody<'a> {
    kind: AlertKind,
    commit: Option<&'a str>,
    title: &'a str,
    details: &'a str,
    url: Option<&'a str>,
    time: String,
}

/// `{"kind", "commit", "title", "details", "url", "time"}` as compact
/// JSON; `commit` and `url` are `null` when unknown, `time` is RFC 3339
/// in UTC.
#[must_use]
pub fn webhook(alert: &Alert, time: OffsetDateTime) -> Vec<u8> {
    let body = WebhookBody {
        kind: alert.kind,
        commit: alert.commit.as_deref(),
        title: &alert.title,
        details: &alert.details,
        url: alert.url.as_deref(),
        time: time
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .expect("a UTC time always formats as RFC 3339"),
    };
    serde_json::to_vec(&body).expect("strings and options always serialize")
}

/// `sha256=` and the lowercase hex HMAC-SHA256 of `body` keyed with
/// `secret`: the value of [`SIGNATURE_HEADER`].
#[must_use]
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!("sha256={}", hex::encode(&digest))
}

/// A Slack incoming-webhook message: a plain `text` fallback (for
/// notifications) and one `section` block in `mrkdwn` with the title in
/// bold, the details, the commit and a link to the daemon's page.
#[must_use]
pub fn slack(alert: &Alert) -> Vec<u8> {
    let mut section = format!(
        "*{}*\n{}",
        escape(&alert.title),
        escape(alert.details.trim_end())
    );
    let mut footer = Vec::new();
    if let Some(commit) = &alert.commit {
        footer.push(format!("Commit `{}`", escape(commit)));
    }
    if let Some(url) = &alert.url {
        footer.push(format!("<{}|Open in lbops>", escape(url)));
    }
    let footer = footer.join(" · ");
    // Cut the details, never the footer, to fit a section.
    let room = SLACK_SECTION_MAX.saturating_sub(footer.chars().count() + 1);
    if section.chars().count() > room {
        section = section.chars().take(room.saturating_sub(1)).collect();
        section.push('…');
    }
    if !footer.is_empty() {
        section.push('\n');
        section.push_str(&footer);
    }
    let message = json!({
        "text": format!("lbops {}: {}", alert.kind, escape(&alert.title)),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": section}}
        ],
    });
    serde_json::to_vec(&message).expect("JSON values always serialize")
}

/// Slack's three control characters, escaped as its docs ask.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const C1: &str = "0123456789abcdef0123456789abcdef01234567";

    fn at_noon() -> OffsetDateTime {
        time::macros::datetime!(2026-03-01 12:00:00 UTC)
    }

    #[test]
    fn the_webhook_body_has_exactly_the_documented_fields() {
        let alert = Alert::drift(C1, "pool web: 2 members").with_url("https://lbops.example/c/1");
        let body: Value = serde_json::from_slice(&webhook(&alert, at_noon())).unwrap();
        let object = body.as_object().unwrap();
        let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["commit", "details", "kind", "time", "title", "url"]);
        assert_eq!(body["kind"], "drift");
        assert_eq!(body["commit"], C1);
        assert_eq!(body["title"], alert.title);
        assert_eq!(body["details"], alert.details);
        assert_eq!(body["url"], "https://lbops.example/c/1");
        assert_eq!(body["time"], "2026-03-01T12:00:00Z");
    }

    #[test]
    fn unknown_commit_and_url_are_null() {
        let body: Value =
            serde_json::from_slice(&webhook(&Alert::bad_config(None, "x"), at_noon())).unwrap();
        assert_eq!(body["commit"], Value::Null);
        assert_eq!(body["url"], Value::Null);
    }

    #[test]
    fn the_signature_is_github_style_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_slack_message_is_text_and_one_mrkdwn_section() {
        let alert = Alert::denial(C1, "mallory <m@example.com>", "owns no pool web & api")
            .with_url("https://lbops.example/c/1");
        let message: Value = serde_json::from_slice(&slack(&alert)).unwrap();
        let object = message.as_object().unwrap();
        assert_eq!(object.len(), 2, "{message}");
        let text = message["text"].as_str().unwrap();
        assert!(text.starts_with("lbops denial: Denied: commit 0123456789ab"));
        let blocks = message["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0]["type"], "section");
        assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
        let section = blocks[0]["text"]["text"].as_str().unwrap();
        assert!(
            section.starts_with("*Denied: commit 0123456789ab by mallory &lt;m@example.com&gt;*\n")
        );
        assert!(section.contains("owns no pool web &amp; api"));
        assert!(section.contains(&format!("Commit `{C1}`")));
        assert!(section.ends_with("<https://lbops.example/c/1|Open in lbops>"));
    }

    #[test]
    fn long_details_are_cut_to_fit_a_section_but_the_link_stays() {
        let alert = Alert::apply_failure(C1, &"e".repeat(10_000)).with_url("https://l/c");
        let message: Value = serde_json::from_slice(&slack(&alert)).unwrap();
        let section = message["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(section.chars().count() <= SLACK_SECTION_MAX);
        assert!(section.contains("…\nCommit"));
        assert!(section.ends_with("|Open in lbops>"));
    }
}
