//! When a window is in force (pure: the time is an argument).
//!
//! Boundaries: a window is in force from its start, included, until its
//! end, excluded. A weekly window's start and end are wall-clock times in
//! the freeze's zone, turned into instants as RFC 5545 and Temporal's
//! `compatible` do: a time skipped by a daylight-saving change is read
//! as the same time after the change (shifted forward by the gap), a time
//! repeated by one as its first occurrence. So a window "00:00 to 06:00"
//! lasts five real hours on the night the clocks go forward.

use crate::spec::kinds::freeze::{ClockTime, FreezeSpec, Weekly, Window};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// How many windows that follow on from one another
/// [`freeze_until`] follows before it stops: a freeze of every day, all
/// day, is still over "at least" that far ahead.
pub(super) const MAX_CHAIN: usize = 64;

/// When `window`, in `zone`, is over if it is in force at `now` (Unix
/// seconds); `None` when it is not in force.
#[must_use]
pub(super) fn in_force_until(window: &Window, zone: &TimeZone, now: i64) -> Option<i64> {
    match window {
        Window::Absolute(a) => {
            let (from, until) = (a.from.value.0.as_second(), a.until.value.0.as_second());
            (from <= now && now < until).then_some(until)
        }
        Window::Weekly(w) => weekly_until(w, zone, now),
    }
}

/// A weekly window starts at most one day before the local date of
/// `now` (it lasts less than a day and a half however clocks move), so
/// only today's and yesterday's starts can hold `now`.
fn weekly_until(window: &Weekly, zone: &TimeZone, now: i64) -> Option<i64> {
    let today = Timestamp::from_second(now)
        .ok()?
        .to_zoned(zone.clone())
        .date();
    let days = [Some(today), today.yesterday().ok()];
    days.into_iter()
        .flatten()
        .filter(|day| {
            window
                .days
                .iter()
                .any(|d| d.value.number() == day.weekday().to_monday_one_offset())
        })
        .filter_map(|day| {
            let start = instant(day, window.from.value, zone)?;
            let end_day = if window.until.value > window.from.value {
                day
            } else {
                day.tomorrow().ok()?
            };
            let end = instant(end_day, window.until.value, zone)?;
            (start <= now && now < end).then_some(end)
        })
        .max()
}

/// The instant of a wall-clock time on a day in a zone (`24:00` is the
/// next day's midnight), as the module's documentation says.
fn instant(day: Date, time: ClockTime, zone: &TimeZone) -> Option<i64> {
    let (day, minutes) = if time == ClockTime::END_OF_DAY {
        (day.tomorrow().ok()?, 0)
    } else {
        (day, time.minutes())
    };
    let hour = i8::try_from(minutes / 60).ok()?;
    let minute = i8::try_from(minutes % 60).ok()?;
    let civil = day.at(hour, minute, 0, 0);
    let at = zone.to_ambiguous_timestamp(civil).compatible().ok()?;
    Some(at.as_second())
}

/// Whether `freeze` is in force at `now`: the first window (in the order
/// written) in force, and the first instant after `now` at which no
/// window of the freeze is, following windows that start as another ends
/// (at most [`MAX_CHAIN`] of them).
#[must_use]
pub(super) fn freeze_until(freeze: &FreezeSpec, now: i64) -> Option<(usize, i64)> {
    let zone = freeze.time_zone.value.tz();
    let latest_end = |at: i64| {
        freeze
            .windows
            .iter()
            .enumerate()
            .filter_map(|(i, w)| in_force_until(&w.value, zone, at).map(|end| (i, end)))
            .max_by_key(|&(i, end)| (end, std::cmp::Reverse(i)))
    };
    let first = freeze
        .windows
        .iter()
        .position(|w| in_force_until(&w.value, zone, now).is_some())?;
    let mut until = latest_end(now)?.1;
    for _ in 0..MAX_CHAIN {
        match latest_end(until) {
            Some((_, end)) if end > until => until = end,
            _ => break,
        }
    }
    Some((first, until))
}
