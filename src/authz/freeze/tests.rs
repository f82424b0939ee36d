//! Window evaluation and scope. Boundaries: `from` included, `until`
//! excluded; weekly times are wall-clock times in the freeze's zone.

use super::window::{freeze_until, in_force_until};
use super::*;
use crate::spec::{load, Options, SourceFile};

fn at(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn freeze_yaml(zone: &str, windows: &str, scope: &str) -> String {
    format!(
        "kind: Freeze\nname: f\nlabels: {{team: sre}}\nspec:\n  time_zone: {zone}\n  windows:\n{windows}  scope: {scope}\n"
    )
}

fn catalog(zone: &str, windows: &str, scope: &str) -> Catalog {
    let text = freeze_yaml(zone, windows, scope);
    load(&[SourceFile::new("f.yaml", text)], &Options::at(0))
        .expect("the freeze validates")
        .catalog
}

fn until(zone: &str, windows: &str, now: &str) -> Option<i64> {
    let catalog = catalog(zone, windows, "{resources: ['pool/*']}");
    freeze_until(&catalog.freezes["f"].spec, at(now)).map(|(_, until)| until)
}

const CHRISTMAS: &str =
    "    - absolute: {name: christmas, from: '2026-12-20T00:00:00+01:00', until: '2026-12-27T00:00:00+01:00'}\n";

#[test]
fn an_absolute_window_holds_from_its_start_until_just_before_its_end() {
    let end = Some(at("2026-12-26T23:00:00Z"));
    assert_eq!(until("UTC", CHRISTMAS, "2026-12-19T22:59:59Z"), None);
    assert_eq!(
        until("UTC", CHRISTMAS, "2026-12-19T23:00:00Z"),
        end,
        "from is included"
    );
    assert_eq!(until("UTC", CHRISTMAS, "2026-12-26T22:59:59Z"), end);
    assert_eq!(
        until("UTC", CHRISTMAS, "2026-12-26T23:00:00Z"),
        None,
        "until is excluded"
    );
}

#[test]
fn a_weekly_window_across_midnight_ends_on_the_next_day() {
    let night = "    - weekly: {days: [fri], from: '22:00', until: '06:00'}\n";
    // 2026-12-04 is a Friday.
    assert_eq!(until("UTC", night, "2026-12-04T21:59:59Z"), None);
    let end = Some(at("2026-12-05T06:00:00Z"));
    assert_eq!(until("UTC", night, "2026-12-04T22:00:00Z"), end);
    assert_eq!(
        until("UTC", night, "2026-12-05T05:59:59Z"),
        end,
        "Saturday morning still"
    );
    assert_eq!(until("UTC", night, "2026-12-05T06:00:00Z"), None);
    assert_eq!(
        until("UTC", night, "2026-12-05T22:30:00Z"),
        None,
        "not on Saturday night"
    );
}

#[test]
fn a_weekly_window_follows_daylight_saving_time() {
    let sunday_night = "    - weekly: {days: [sun], from: '00:00', until: '06:00'}\n";
    // Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST. 06:00 CEST is 04:00Z
    // (a fixed +01:00 would say 05:00Z).
    let zone = "Europe/Berlin";
    assert_eq!(
        until(zone, sunday_night, "2026-03-29T03:59:59Z"),
        Some(at("2026-03-29T04:00:00Z"))
    );
    assert_eq!(until(zone, sunday_night, "2026-03-29T04:00:00Z"), None);
    assert_eq!(
        until(zone, sunday_night, "2026-03-28T23:00:00Z"),
        Some(at("2026-03-29T04:00:00Z")),
        "starts at midnight CET"
    );
    assert_eq!(until(zone, sunday_night, "2026-03-28T22:59:59Z"), None);
    // 2026-10-25: 03:00 CEST becomes 02:00 CET; the window starts at
    // midnight CEST (22:00Z) and ends at 06:00 CET (05:00Z): 7 real hours.
    assert_eq!(until(zone, sunday_night, "2026-10-24T21:59:59Z"), None);
    let end = Some(at("2026-10-25T05:00:00Z"));
    assert_eq!(until(zone, sunday_night, "2026-10-24T22:00:00Z"), end);
    assert_eq!(until(zone, sunday_night, "2026-10-25T04:59:59Z"), end);
    assert_eq!(until(zone, sunday_night, "2026-10-25T05:00:00Z"), None);
}

#[test]
fn a_time_skipped_by_daylight_saving_is_read_after_the_gap() {
    // 02:30 does not exist in Berlin on 2026-03-29: read as 03:30 CEST (01:30Z).
    let gap = "    - weekly: {days: [sun], from: '02:30', until: '12:00'}\n";
    let zone = "Europe/Berlin";
    assert_eq!(until(zone, gap, "2026-03-29T01:29:59Z"), None);
    assert_eq!(
        until(zone, gap, "2026-03-29T01:30:00Z"),
        Some(at("2026-03-29T10:00:00Z"))
    );
}

#[test]
fn windows_that_follow_on_are_one_freeze_until_the_last_ends() {
    let weekend = "    - weekly: {name: friday-evening, days: [fri], from: '16:00', until: '24:00'}\n    - weekly: {days: [sat], from: '00:00', until: '24:00'}\n";
    let catalog = catalog("UTC", weekend, "{resources: ['*']}");
    let (window, end) =
        freeze_until(&catalog.freezes["f"].spec, at("2026-12-04T17:00:00Z")).unwrap();
    assert_eq!(window, 0);
    assert_eq!(
        end,
        at("2026-12-06T00:00:00Z"),
        "Friday evening runs into Saturday"
    );
    let found = in_force(&catalog, at("2026-12-04T17:00:00Z"));
    assert_eq!(
        found[0].frozen.to_string(),
        "frozen by freeze/f (window friday-evening) until 2026-12-06T00:00:00Z"
    );
}

#[test]
fn a_window_of_every_hour_stops_following_after_a_bound() {
    let always = "    - weekly: {days: [mon, tue, wed, thu, fri, sat, sun], from: '00:00', until: '24:00'}\n";
    let end = until("UTC", always, "2026-12-04T17:00:00Z").unwrap();
    assert!(end > at("2026-12-04T17:00:00Z"));
    assert!(end <= at("2026-12-04T17:00:00Z") + 86_400 * (window::MAX_CHAIN as i64 + 1));
}

#[test]
fn in_force_windows_are_per_zone() {
    let evening = "    - weekly: {days: [fri], from: '16:00', until: '23:00'}\n";
    let w = &catalog("America/New_York", evening, "{resources: ['*']}").freezes["f"].spec;
    let zone = w.time_zone.value.tz();
    // 16:00 in New York on 2026-12-04 is 21:00Z.
    assert_eq!(
        in_force_until(&w.windows[0].value, zone, at("2026-12-04T20:59:59Z")),
        None
    );
    assert!(in_force_until(&w.windows[0].value, zone, at("2026-12-04T21:00:00Z")).is_some());
}

fn change(
    resource: &str,
    before: Option<&[(&str, &str)]>,
    after: Option<&[(&str, &str)]>,
) -> Change {
    let (kind, name) = resource.split_once('/').unwrap();
    let labels = |side: Option<&[(&str, &str)]>| {
        side.map(|l| {
            l.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        })
    };
    Change {
        action: &actions::POOL_WEIGHTS_UPDATE,
        resource: Some(ResourceId::new(
            Kind::parse(kind).unwrap(),
            name.parse().unwrap(),
        )),
        labels_before: labels(before),
        labels_after: labels(after),
        detail: String::new(),
    }
}

#[test]
fn the_scope_takes_resource_patterns_and_labels_on_either_side() {
    let catalog = catalog(
        "UTC",
        CHRISTMAS,
        "{resources: ['pool/web-*'], labels: {tier: prod}}",
    );
    let now = at("2026-12-24T12:00:00Z");
    let in_force = in_force(&catalog, now);
    assert_eq!(in_force.len(), 1);
    let prod: &[(&str, &str)] = &[("tier", "prod")];
    let dev: &[(&str, &str)] = &[("tier", "dev")];
    assert_eq!(
        covering(&in_force, &change("pool/web-api", Some(prod), Some(prod))).len(),
        1
    );
    assert_eq!(
        covering(&in_force, &change("pool/web-api", Some(prod), Some(dev))).len(),
        1,
        "relabelling out of scope is frozen"
    );
    assert_eq!(
        covering(&in_force, &change("pool/web-api", None, Some(prod))).len(),
        1
    );
    assert!(covering(&in_force, &change("pool/web-api", Some(dev), Some(dev))).is_empty());
    assert!(covering(&in_force, &change("pool/db", Some(prod), Some(prod))).is_empty());
    assert!(in_force_at_other_times_is_empty(&catalog));
}

fn in_force_at_other_times_is_empty(catalog: &Catalog) -> bool {
    in_force(catalog, at("2026-12-27T00:00:00Z")).is_empty()
}

#[test]
fn the_break_glass_trailer_is_read_and_bounded() {
    assert_eq!(glass("fix\n\nbody"), Glass::Intact);
    assert_eq!(
        glass("fix\n\nLbops-Break-Glass:  INC-4211 checkout down \n"),
        Glass::Broken {
            reason: "INC-4211 checkout down".into()
        }
    );
    assert!(matches!(
        glass("fix\n\nLbops-Break-Glass:\n"),
        Glass::Unreadable { .. }
    ));
    let long = format!("x\n\nLbops-Break-Glass: {}\n", "a".repeat(MAX_REASON + 1));
    assert!(matches!(glass(&long), Glass::Unreadable { problem } if problem.contains("longer")));
    assert!(matches!(
        glass("x\n\nLbops-Break-Glass: a\u{7}b"),
        Glass::Unreadable { .. }
    ));
}
