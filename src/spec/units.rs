//! Small value types shared by the kinds: names, durations, timestamps,
//! `host:port` targets. Each parses from the text a user writes and
//! explains itself when it can't.

use super::diagnostic::shown;
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

/// Implements `Deserialize` through `FromStr` (whose error text is shown to
/// the user) and a string JSON Schema with a description.
macro_rules! string_value {
    ($ty:ty, $schema_name:literal, $description:literal $(, pattern = $pattern:literal)?) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'_, str> as ::serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }

        impl ::schemars::JsonSchema for $ty {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                $schema_name.into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                #[allow(unused_mut)]
                let mut schema = schemars::json_schema!({ "type": "string", "description": $description });
                $( schema.insert("pattern".into(), $pattern.into()); )?
                schema
            }
        }
    };
}
pub(crate) use string_value;

/// The most characters an email address may have (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// The one form in which lbops compares email addresses: the address as
/// written, ASCII-lowercased, or why it is not a well-formed address.
///
/// Validation (duplicate emails), identity (the keyring, claimed authors)
/// and commit emails all go through here, so that no two places can
/// disagree about whether two spellings are one person. Nothing is
/// trimmed or repaired: `"alice@example.test "` is refused, not read as
/// alice's, since a padded copy of an address is how one impersonates it.
///
/// # Errors
///
/// When the text is not `local@domain` with a non-empty local part of
/// printable characters and a dotted domain of letters, digits and `-`.
pub fn canonical_email(text: &str) -> Result<String, String> {
    let refuse = |why: &str| {
        Err(format!(
            "`{}` is not a well-formed email address: {why}",
            shown(text)
        ))
    };
    if text.is_empty() || text.len() > MAX_EMAIL_LEN {
        return refuse(&format!("it must be 1 to {MAX_EMAIL_LEN} characters"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("it contains spaces or control characters");
    }
    let Some((local, domain)) = text.split_once('@') else {
        return refuse("it has no `@`");
    };
    if local.is_empty() || local.len() > 64 {
        return refuse("the part before `@` must be 1 to 64 characters");
    }
    if local.contains(['@', '"', '<', '>', '(', ')', ',', ';', ':', '\\', '[', ']']) {
        return refuse("the part before `@` holds a character mail addresses quote");
    }
    let labels_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    if !domain.contains('.') || !labels_ok {
        return refuse("the part after `@` must be a domain such as `example.test`");
    }
    Ok(text.to_ascii_lowercase())
}

/// The most characters a resource name may have (a DNS label's limit, so
/// that names can become host names and provider identifiers).
pub const MAX_NAME_LEN: usize = 63;

/// A resource name: lowercase letters, digits and `-`, starting with a
/// letter or digit, at most [`MAX_NAME_LEN`] characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let valid_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let valid_ends = !s.starts_with('-') && !s.ends_with('-');
        if s.is_empty() || s.len() > MAX_NAME_LEN || !valid_chars || !valid_ends {
            return Err(format!(
                "`{}` is not a valid name: use 1 to {MAX_NAME_LEN} lowercase letters, digits and `-`, not starting or ending with `-`",
                shown(s)
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

string_value!(
    Name,
    "Name",
    "lowercase letters, digits and '-'",
    pattern = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
);

/// A duration written as `250ms`, `5s`, `2m`, `1h` or combined (`1m30s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}ms", self.0.as_millis()))
    }
}

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("`{}` is not a duration: write a number and a unit (ms, s, m, h), e.g. `500ms`, `5s`, `1m30s`", shown(s))
        };
        let mut total = Duration::ZERO;
        let mut rest = s.trim();
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let unit_len = rest[digits..]
                .bytes()
                .take_while(u8::is_ascii_alphabetic)
                .count();
            if digits == 0 || unit_len == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            let unit = match &rest[digits..digits + unit_len] {
                "ms" => Duration::from_millis(1),
                "s" => Duration::from_secs(1),
                "m" => Duration::from_secs(60),
                "h" => Duration::from_secs(3600),
                _ => return Err(bad()),
            };
            let part = unit
                .checked_mul(u32::try_from(n).map_err(|_| bad())?)
                .ok_or_else(bad)?;
            total = total.checked_add(part).ok_or_else(bad)?;
            rest = &rest[digits + unit_len..];
        }
        Ok(Self(total))
    }
}

string_value!(
    Dur,
    "Duration",
    "a duration such as 500ms, 5s, 1m30s",
    pattern = "^([0-9]+(ms|s|m|h))+$"
);

/// A point in time, read from `2027-01-31` (midnight UTC) or RFC 3339.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    #[must_use]
    pub fn unix(self) -> i64 {
        self.0
    }
}

impl FromStr for Timestamp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        use time::format_description::well_known::Rfc3339;
        if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
            return Ok(Self(t.unix_timestamp()));
        }
        let date_format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(s, &date_format)
            .map(|d| Self(d.midnight().assume_utc().unix_timestamp()))
            .map_err(|_| {
                format!(
                    "`{}` is not a date: write `2027-01-31` or `2027-01-31T12:00:00Z`",
                    shown(s)
                )
            })
    }
}

string_value!(
    Timestamp,
    "Timestamp",
    "a date (2027-01-31) or an RFC 3339 time (2027-01-31T12:00:00Z)"
);

/// Where a backend listens: an IP address or DNS name, and a port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetAddr {
    pub host: TargetHost,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetHost {
    Ip(IpAddr),
    Dns(String),
}

impl fmt::Display for TargetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            TargetHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            TargetHost::Ip(ip) => write!(f, "{ip}:{}", self.port),
            TargetHost::Dns(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

impl Serialize for TargetAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for TargetAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("`{}` is not a target address: {why}; write `host:port`, e.g. `10.0.1.5:8080`, `[2001:db8::5]:8080` or `app-1.internal:8080`", shown(s))
        };
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (ip, port) = rest
                .split_once("]:")
                .ok_or_else(|| bad("an IPv6 address needs brackets and a port"))?;
            let ip: std::net::Ipv6Addr = ip
                .parse()
                .map_err(|_| bad("the IPv6 address does not parse"))?;
            (TargetHost::Ip(IpAddr::V6(ip)), port)
        } else {
            let (host, port) = s
                .rsplit_once(':')
                .ok_or_else(|| bad("the port is missing"))?;
            if host.contains(':') {
                return Err(bad("an IPv6 address needs brackets"));
            }
            let host = match host.parse::<IpAddr>() {
                Ok(ip) => TargetHost::Ip(ip),
                Err(_) if is_dns_name(host) => TargetHost::Dns(host.to_ascii_lowercase()),
                Err(_) => return Err(bad("the host is neither an IP address nor a DNS name")),
            };
            (host, port)
        };
        let port: u16 = port
            .parse()
            .map_err(|_| bad("the port must be a number from 1 to 65535"))?;
        if port == 0 {
            return Err(bad("the port must be a number from 1 to 65535"));
        }
        Ok(Self { host, port })
    }
}

string_value!(
    TargetAddr,
    "TargetAddr",
    "host:port, e.g. 10.0.1.5:8080, [2001:db8::5]:8080, app-1.internal:8080"
);

/// A DNS name as RFC 1123 allows it (labels of letters, digits and `-`).
#[must_use]
pub fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_have_one_canonical_form_and_padding_is_refused() {
        assert_eq!(
            canonical_email("Alice@Example.TEST").unwrap(),
            "alice@example.test"
        );
        assert_eq!(
            canonical_email("a.b+ci@x-y.example.test").unwrap(),
            "a.b+ci@x-y.example.test"
        );
        for bad in [
            "",
            "alice@example.test ",
            " alice@example.test",
            "alice @example.test",
            "alice@example.test\u{0}",
            "alice",
            "@example.test",
            "alice@",
            "alice@localhost",
            "alice@@example.test",
            "a@b@example.test",
            "<alice@example.test>",
            "alice@example..test",
            "alice@-example.test",
            "alice@exam_ple.test",
        ] {
            assert!(canonical_email(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.test", "a".repeat(250));
        assert!(canonical_email(&long).is_err());
    }

    #[test]
    fn durations_parse_and_combine() {
        assert_eq!("5s".parse::<Dur>().unwrap().0, Duration::from_secs(5));
        assert_eq!("1m30s".parse::<Dur>().unwrap().0, Duration::from_secs(90));
        assert_eq!(
            "250ms".parse::<Dur>().unwrap().0,
            Duration::from_millis(250)
        );
        for bad in ["", "5", "s", "5 sec", "1d", "-1s"] {
            assert!(bad.parse::<Dur>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn names_follow_dns_label_rules() {
        assert!("web-canary-2".parse::<Name>().is_ok());
        for bad in ["", "Web", "web_1", "-web", "web-", &"a".repeat(64)] {
            assert!(bad.parse::<Name>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn target_addresses_accept_ipv4_ipv6_and_dns() {
        assert_eq!(
            "10.0.0.1:80".parse::<TargetAddr>().unwrap().to_string(),
            "10.0.0.1:80"
        );
        assert_eq!(
            "[::1]:8080".parse::<TargetAddr>().unwrap().to_string(),
            "[::1]:8080"
        );
        assert_eq!(
            "App.internal:81".parse::<TargetAddr>().unwrap().to_string(),
            "app.internal:81"
        );
        for bad in [
            "10.0.0.1",
            "::1:80",
            "10.0.0.1:0",
            "10.0.0.1:70000",
            "bad host:80",
            "[::1]80",
        ] {
            assert!(
                bad.parse::<TargetAddr>().is_err(),
                "{bad:?} should not parse"
            );
        }
    }

    #[test]
    fn timestamps_read_dates_and_rfc3339() {
        assert_eq!("1970-01-02".parse::<Timestamp>().unwrap().unix(), 86_400);
        assert_eq!(
            "1970-01-01T00:01:00Z".parse::<Timestamp>().unwrap().unix(),
            60
        );
        assert!("tomorrow".parse::<Timestamp>().is_err());
    }
}
