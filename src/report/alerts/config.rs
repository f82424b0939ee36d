//! The alerts part of the daemon config, and turning it into sinks. The
//! secrets are read here, once, so a daemon with a missing secret refuses
//! to start instead of failing its first alert; to change one, reload.

use super::sink::{Sink, Target};
use crate::source::{SecretError, SecretRef};
use reqwest::Url;
use serde::Deserialize;
use std::path::PathBuf;

/// Where alerts go. Every sink gets every alert.
///
/// ```yaml
/// alerts:
///   webhooks:
///     - url: https://alerts.example.com/lbops
///       secret_file: /run/credentials/lbops/alert-hmac
///   slack:
///     - url_env: LBOPS_SLACK_URL
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    #[serde(default)]
    pub webhooks: Vec<WebhookAlertConfig>,
    #[serde(default)]
    pub slack: Vec<SlackAlertConfig>,
}

/// A generic JSON webhook, signed with an HMAC secret read from a file or
/// an environment variable (exactly one of the two).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookAlertConfig {
    pub url: String,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    #[serde(default)]
    pub secret_env: Option<String>,
}

/// A Slack-compatible incoming webhook. Its URL is a secret (whoever has
/// it can post to the channel), so it is read from a file or an
/// environment variable (exactly one of the two), never written in the
/// config.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackAlertConfig {
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    #[serde(default)]
    pub url_env: Option<String>,
}

/// Why the alerts config cannot be used. `place` is where in the config:
/// `alerts.webhooks[0]`, `alerts.slack[1]`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AlertConfigError {
    #[error("{place}: the url is not a URL ({reason}); write it as https://host/path")]
    BadUrl { place: String, reason: String },
    #[error("{place}: the URL is {scheme}:, not http: or https:; alerts are posted over HTTP(S)")]
    NotHttp { place: String, scheme: String },
    #[error(
        "{place}: the URL in {from} is not a URL ({reason}); put the incoming-webhook URL there"
    )]
    BadSecretUrl {
        place: String,
        from: SecretRef,
        reason: String,
    },
    #[error("{place}: no {what}; set {first} or {second}")]
    Missing {
        place: String,
        what: &'static str,
        first: &'static str,
        second: &'static str,
    },
    #[error("{place}: both {first} and {second} are set; keep one")]
    Both {
        place: String,
        first: &'static str,
        second: &'static str,
    },
    #[error("{place}: {source}")]
    Secret {
        place: String,
        #[source]
        source: SecretError,
    },
    #[error("cannot set up the HTTP client for alerts: {0}")]
    Client(String),
}

/// The sinks `config` describes, with their secrets read.
pub(super) fn sinks(config: &AlertsConfig) -> Result<Vec<Sink>, AlertConfigError> {
    let mut sinks = Vec::new();
    for (index, webhook) in config.webhooks.iter().enumerate() {
        sinks.push(webhook_sink(&format!("alerts.webhooks[{index}]"), webhook)?);
    }
    for (index, slack) in config.slack.iter().enumerate() {
        sinks.push(slack_sink(&format!("alerts.slack[{index}]"), slack)?);
    }
    Ok(sinks)
}

fn webhook_sink(place: &str, config: &WebhookAlertConfig) -> Result<Sink, AlertConfigError> {
    let url = Url::parse(&config.url).map_err(|e| AlertConfigError::BadUrl {
        place: place.to_owned(),
        reason: e.to_string(),
    })?;
    http_only(place, &url)?;
    let from = one_of(
        place,
        "HMAC secret",
        ("secret_file", config.secret_file.as_ref()),
        ("secret_env", config.secret_env.as_ref()),
    )?;
    let secret = read(place, &from)?;
    // The host names the sink; the path and query may hold a token.
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or("?")),
        None => url.host_str().unwrap_or("?").to_owned(),
    };
    Ok(Sink {
        name: format!("{place} (webhook to {host})"),
        target: Target::Webhook { url, secret },
    })
}

fn slack_sink(place: &str, config: &SlackAlertConfig) -> Result<Sink, AlertConfigError> {
    let from = one_of(
        place,
        "Slack URL",
        ("url_file", config.url_file.as_ref()),
        ("url_env", config.url_env.as_ref()),
    )?;
    let url_text = read(place, &from)?;
    let url = Url::parse(url_text.expose()).map_err(|e| AlertConfigError::BadSecretUrl {
        place: place.to_owned(),
        from: from.clone(),
        reason: e.to_string(),
    })?;
    http_only(place, &url)?;
    Ok(Sink {
        name: format!("{place} (Slack, URL from {from})"),
        target: Target::Slack { url, url_text },
    })
}

fn http_only(place: &str, url: &Url) -> Result<(), AlertConfigError> {
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(()),
        "http" | "https" => Err(AlertConfigError::BadUrl {
            place: place.to_owned(),
            reason: "no host".to_owned(),
        }),
        scheme => Err(AlertConfigError::NotHttp {
            place: place.to_owned(),
            scheme: scheme.to_owned(),
        }),
    }
}

/// The one place a secret is read from: a file or an environment variable.
fn one_of<F: AsRef<std::path::Path>, E: AsRef<str>>(
    place: &str,
    what: &'static str,
    (first, file): (&'static str, Option<F>),
    (second, env): (&'static str, Option<E>),
) -> Result<SecretRef, AlertConfigError> {
    match (file, env) {
        (Some(file), None) => Ok(SecretRef::File(file.as_ref().to_owned())),
        (None, Some(env)) => Ok(SecretRef::Env(env.as_ref().to_owned())),
        (None, None) => Err(AlertConfigError::Missing {
            place: place.to_owned(),
            what,
            first,
            second,
        }),
        (Some(_), Some(_)) => Err(AlertConfigError::Both {
            place: place.to_owned(),
            first,
            second,
        }),
    }
}

fn read(place: &str, from: &SecretRef) -> Result<crate::source::Secret, AlertConfigError> {
    from.read().map_err(|source| AlertConfigError::Secret {
        place: place.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<AlertsConfig, serde_json::Error> {
        serde_json::from_str(json)
    }

    fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn an_empty_config_has_no_sinks_and_unknown_fields_are_refused() {
        assert_eq!(parse("{}").unwrap(), AlertsConfig::default());
        assert!(sinks(&AlertsConfig::default()).unwrap().is_empty());
        assert!(parse(r#"{"webhook": []}"#).is_err());
        assert!(parse(r#"{"slack": [{"url": "https://hooks.slack.com/x"}]}"#).is_err());
        assert!(parse(r#"{"webhooks": [{"url": "https://h", "secret": "x"}]}"#).is_err());
    }

    #[test]
    fn sinks_are_named_by_their_place_and_never_by_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let hmac = file(&dir, "hmac", "s3cret\n");
        let slack = file(
            &dir,
            "slack",
            "https://hooks.slack.com/services/T/B/t0ken\n",
        );
        let config = AlertsConfig {
            webhooks: vec![WebhookAlertConfig {
                url: "https://alerts.example.com:8443/hook/p4th".into(),
                secret_file: Some(hmac),
                secret_env: None,
            }],
            slack: vec![SlackAlertConfig {
                url_file: Some(slack.clone()),
                url_env: None,
            }],
        };
        let sinks = sinks(&config).unwrap();
        assert_eq!(
            sinks[0].name,
            "alerts.webhooks[0] (webhook to alerts.example.com:8443)"
        );
        assert_eq!(
            sinks[1].name,
            format!("alerts.slack[0] (Slack, URL from file {})", slack.display())
        );
        for sink in &sinks {
            assert!(!sink.name.contains("s3cret") && !sink.name.contains("t0ken"));
            assert!(!sink.name.contains("p4th"));
        }
        assert_eq!(
            sinks.iter().map(Sink::kind).collect::<Vec<_>>(),
            ["webhook", "slack"]
        );
    }

    #[test]
    fn a_secret_must_come_from_exactly_one_place() {
        let none = AlertsConfig {
            webhooks: vec![WebhookAlertConfig {
                url: "https://h/".into(),
                secret_file: None,
                secret_env: None,
            }],
            ..AlertsConfig::default()
        };
        let err = sinks(&none).err().unwrap().to_string();
        assert_eq!(
            err,
            "alerts.webhooks[0]: no HMAC secret; set secret_file or secret_env"
        );
        let both = AlertsConfig {
            slack: vec![SlackAlertConfig {
                url_file: Some("/x".into()),
                url_env: Some("X".into()),
            }],
            ..AlertsConfig::default()
        };
        let err = sinks(&both).err().unwrap().to_string();
        assert_eq!(
            err,
            "alerts.slack[0]: both url_file and url_env are set; keep one"
        );
    }

    #[test]
    fn bad_urls_and_missing_secrets_say_where_and_hide_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let hmac = file(&dir, "hmac", "s3cret");
        let webhook = |url: &str| AlertsConfig {
            webhooks: vec![WebhookAlertConfig {
                url: url.into(),
                secret_file: Some(hmac.clone()),
                secret_env: None,
            }],
            ..AlertsConfig::default()
        };
        assert!(matches!(
            sinks(&webhook("not a url")).err().unwrap(),
            AlertConfigError::BadUrl { .. }
        ));
        assert!(matches!(
            sinks(&webhook("ftp://h/x")).err().unwrap(),
            AlertConfigError::NotHttp { .. }
        ));

        let slack_text = file(&dir, "slack", "hooks.slack.com/services/T/B/t0ken");
        let slack = AlertsConfig {
            slack: vec![SlackAlertConfig {
                url_file: Some(slack_text),
                url_env: None,
            }],
            ..AlertsConfig::default()
        };
        let err = sinks(&slack).err().unwrap().to_string();
        assert!(
            err.starts_with("alerts.slack[0]: the URL in file "),
            "{err}"
        );
        assert!(!err.contains("t0ken"), "{err}");

        let missing = AlertsConfig {
            slack: vec![SlackAlertConfig {
                url_file: Some(dir.path().join("nope")),
                url_env: None,
            }],
            ..AlertsConfig::default()
        };
        let err = sinks(&missing).err().unwrap().to_string();
        assert!(err.starts_with("alerts.slack[0]: cannot read the secret from file"));
        assert!(err.contains("create it"), "{err}");
    }
}
