//! `Freeze`: time windows in which changes to some resources are refused,
//! unless a commit breaks the glass.
//!
//! ```yaml
//! kind: Freeze
//! name: holiday
//! spec:
//!   time_zone: Europe/Berlin
//!   windows:
//!     - absolute: {name: christmas, from: 2026-12-20T00:00:00+01:00, until: 2026-12-27T00:00:00+01:00}
//!     - weekly: {name: friday-evening, days: [fri], from: "16:00", until: "24:00"}
//!   scope:
//!     resources: [pool/*, loadbalancer/*]
//!     labels: {tier: prod}
//! ```
//!
//! Times are typed here (an instant, a wall-clock time, a zone the
//! bundled IANA database knows); when a window is in force is decided in
//! `authz::freeze`.

use crate::spec::diagnostic::shown;
use crate::spec::units::{string_value, Name};
use crate::spec::yaml::Spanned;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The most windows one Freeze may list.
pub const MAX_WINDOWS: usize = 32;
/// The most resource patterns a Freeze's scope may list.
pub const MAX_SCOPE_RESOURCES: usize = 64;
/// The most Freezes a repository may hold: each change is checked against
/// every one in force.
pub const MAX_FREEZES: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeSpec {
    #[serde(default)]
    pub description: Option<String>,
    /// The IANA time zone weekly windows are read in (`Europe/Berlin`,
    /// `America/New_York`, `UTC`), daylight saving time included.
    pub time_zone: Spanned<Zone>,
    /// When the freeze is in force: any one window in force is enough.
    pub windows: Vec<Spanned<Window>>,
    /// What it freezes.
    pub scope: Scope,
}

/// The changes a freeze covers: a change to a resource that one of
/// `resources` matches, and that has every label of `labels` before or
/// after the change (so relabelling moves nothing out of a freeze).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Resource patterns `kind/name`, `*` in a name matching any run, as in Role rules: `pool/*`, `loadbalancer/web-*`, `*`.
    pub resources: Vec<Spanned<String>>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One window: a fixed stretch of time, or a weekly one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    Absolute(Absolute),
    Weekly(Weekly),
}

impl Window {
    /// The window's own name, if it has one.
    #[must_use]
    pub fn name(&self) -> Option<&Name> {
        match self {
            Window::Absolute(a) => a.name.as_ref(),
            Window::Weekly(w) => w.name.as_ref(),
        }
    }
}

/// From `from` (included) until `until` (excluded), two RFC 3339 times
/// with an offset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Absolute {
    #[serde(default)]
    pub name: Option<Name>,
    pub from: Spanned<Instant>,
    pub until: Spanned<Instant>,
}

/// On each of `days`, from the wall-clock time `from` (included) until
/// `until` (excluded), in the freeze's time zone. An `until` at or before
/// `from` ends on the next day (`from: "22:00", until: "06:00"`); `24:00`
/// is the end of the day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Weekly {
    #[serde(default)]
    pub name: Option<Name>,
    /// The days the window starts on.
    pub days: Vec<Spanned<Day>>,
    pub from: Spanned<ClockTime>,
    pub until: Spanned<ClockTime>,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    /// Monday is 1, Sunday 7 (ISO 8601).
    #[must_use]
    pub fn number(self) -> i8 {
        match self {
            Day::Mon => 1,
            Day::Tue => 2,
            Day::Wed => 3,
            Day::Thu => 4,
            Day::Fri => 5,
            Day::Sat => 6,
            Day::Sun => 7,
        }
    }
}

/// A point in time, read from RFC 3339 with an explicit offset
/// (`2026-12-20T00:00:00+01:00`, `2026-12-20T00:00:00Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub jiff::Timestamp);

impl FromStr for Instant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse::<jiff::Timestamp>().map(Instant).map_err(|_| {
            format!(
                "`{}` is not an RFC 3339 time with an offset: write e.g. `2026-12-20T00:00:00+01:00` or `2026-12-20T00:00:00Z`",
                shown(s)
            )
        })
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Instant {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

string_value!(
    Instant,
    "Instant",
    "an RFC 3339 time with an offset (2026-12-20T00:00:00+01:00)"
);

/// A wall-clock time `HH:MM`, `00:00` to `24:00`, as minutes after midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime(u16);

impl ClockTime {
    /// `24:00`: the end of a day.
    pub const END_OF_DAY: ClockTime = ClockTime(24 * 60);

    #[must_use]
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl FromStr for ClockTime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{}` is not a time of day: write `HH:MM` from `00:00` to `24:00`, e.g. `16:00`",
                shown(s)
            )
        };
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        let two_digits = |t: &str| t.len() == 2 && t.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(h) || !two_digits(m) {
            return Err(bad());
        }
        let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        match (h, m) {
            (0..=23, 0..=59) | (24, 0) => Ok(ClockTime(h * 60 + m)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for ClockTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

string_value!(
    ClockTime,
    "ClockTime",
    "a wall-clock time HH:MM, 00:00 to 24:00",
    pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"
);

/// The longest time zone name accepted (the longest IANA name is 30).
const MAX_ZONE_NAME: usize = 64;

/// An IANA time zone from the database bundled into lbops (so the daemon
/// and `lbops authorize` on any machine read a window alike).
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl Zone {
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    #[must_use]
    pub fn tz(&self) -> &jiff::tz::TimeZone {
        &self.zone
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl FromStr for Zone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let plausible = !s.is_empty()
            && s.len() <= MAX_ZONE_NAME
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'));
        let zone = plausible
            .then(|| jiff::tz::db().get(s).ok())
            .flatten()
            .ok_or_else(|| {
                format!(
                    "`{}` is not an IANA time zone lbops knows: write e.g. `Europe/Berlin`, `America/New_York` or `UTC`",
                    shown(s)
                )
            })?;
        Ok(Zone {
            name: s.to_owned(),
            zone,
        })
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

string_value!(
    Zone,
    "TimeZone",
    "an IANA time zone name (Europe/Berlin, America/New_York, UTC)"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times() {
        assert_eq!("16:00".parse::<ClockTime>().unwrap().minutes(), 960);
        assert_eq!("00:00".parse::<ClockTime>().unwrap().minutes(), 0);
        assert_eq!("24:00".parse::<ClockTime>(), Ok(ClockTime::END_OF_DAY));
        for bad in ["24:01", "7:00", "07:60", "0700", "", "+1:00", "07:0x"] {
            assert!(bad.parse::<ClockTime>().is_err(), "{bad}");
        }
        assert_eq!("07:05".parse::<ClockTime>().unwrap().to_string(), "07:05");
    }

    #[test]
    fn zones_and_instants() {
        assert_eq!(
            "Europe/Berlin".parse::<Zone>().unwrap().name(),
            "Europe/Berlin"
        );
        assert!("UTC".parse::<Zone>().is_ok());
        let err = "Mars/Olympus".parse::<Zone>().unwrap_err();
        assert!(err.contains("not an IANA time zone"), "{err}");
        assert!("../../etc/passwd".parse::<Zone>().is_err());
        assert!("x".repeat(100).parse::<Zone>().is_err());
        assert!("2026-12-20T00:00:00+01:00".parse::<Instant>().is_ok());
        let err = "2026-12-20".parse::<Instant>().unwrap_err();
        assert!(err.contains("with an offset"), "{err}");
    }
}
