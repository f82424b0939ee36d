//! The estate page (pure): for each balancer its topology picture beside
//! the tables that say the same in text (what a text browser shows), then
//! every pool with its targets, health, weights, live figures, health
//! history and drift. No script; the page refreshes itself every
//! [`REFRESH_SECONDS`] with a meta tag.

use super::model::{anchor, Drift, Estate, Figures, LastChange, Pool, RouteAction, Target};
use super::svg::{health_class, health_word, topology};
use crate::daemon::pages::html::{badge, esc, href_segment, page, utc};
use std::fmt::Write as _;

/// How often the page reloads itself.
pub const REFRESH_SECONDS: u32 = 10;

/// How many points a sparkline draws at most (the ring's samples are
/// averaged in pairs past that): enough to see a shape, small enough
/// that 10,000 targets make a page a browser opens.
const SPARK_POINTS: usize = 45;

const STYLE: &str = "<style>
.estate-lb{background:#fff;border:1px solid #d8dce3;padding:.6em .9em;margin:.8em 0}
.pic{overflow-x:auto;margin:.4em 0}
svg.topology{font:12px system-ui,sans-serif}
svg .edge{fill:none;stroke:#9aa3b2;stroke-width:1.2}
svg .edge-label{fill:#4b5563;font-size:10px}
svg .node rect{stroke:#4b5563;stroke-width:1;fill:#eceef2}
svg .node.ok rect{fill:#c8e6c9}
svg .node.bad rect{fill:#ffcdd2}
svg .node.warn rect{fill:#ffe0b2}
svg .node.drift rect{stroke:#c62828;stroke-width:2.5;stroke-dasharray:5 3}
svg .node text{fill:#1d2330}
.health.ok{background:#2e7d32}.health.bad{background:#c62828}.health.warn{background:#b45309}.health.unknown{background:#6b7280}
tr.drift td{background:#fff1f0}
tr.drift td:first-child{border-left:4px solid #c62828}
.drift-note{color:#c62828;font-weight:600}
svg.spark{vertical-align:middle}
svg.spark polyline{fill:none;stroke:#1a5fb4;stroke-width:1}
td.num{text-align:right;white-space:nowrap}
</style>\n";

/// The whole page. `None`: the caller may read nothing, or no commit
/// is trusted yet (said in the page).
#[must_use]
pub fn estate(estate: &Estate) -> String {
    let mut body = String::with_capacity(4096 + estate.pools.len() * 8192);
    body.push_str(STYLE);
    body.push_str("<h1>Estate</h1>\n");
    let Some(commit) = &estate.commit else {
        body.push_str(
            "<p class=\"muted\">No commit is applied yet: there is nothing running to show.</p>\n",
        );
        return with_refresh(page("lbops: estate", &body));
    };
    let _ = writeln!(
        body,
        "<p>What runs, from the applied commit <a href=\"/commits/{sha}\"><code>{short}</code></a>: \
         {} balancer(s), {} pool(s), {} target(s). {} Figures are per {}-second sample; \
         sparklines show requests/s over the last 15 minutes. This page refreshes every {REFRESH_SECONDS} s.</p>",
        estate.balancers.len(),
        estate.pools.len(),
        estate.pools.iter().map(|p| p.targets.len()).sum::<usize>(),
        if estate.observed {
            "Health and drift are read from the provider now."
        } else {
            "<strong>The provider did not answer: health and drift are unknown, everything shown is git's.</strong>"
        },
        estate.sample_seconds,
        sha = href_segment(commit),
        short = esc(commit.get(..12).unwrap_or(commit)),
    );
    let drifted = drift_count(estate);
    if drifted > 0 {
        let _ = writeln!(
            body,
            "<p class=\"drift-note\">{drifted} element(s) drifted from git: outlined in red below.</p>"
        );
    }
    for balancer in &estate.balancers {
        let _ = writeln!(
            body,
            "<section class=\"estate-lb\" id=\"{id}\"><h2>Balancer {name} {running}</h2>",
            id = esc(&anchor::balancer(&balancer.name)),
            name = esc(&balancer.name),
            running = match balancer.running {
                Some(true) => badge("success", "running"),
                Some(false) => badge("failure", "not running"),
                None => badge("pending", "not observed"),
            },
        );
        body.push_str(
            "<table class=\"balancer\"><thead><tr><th>Provider</th><th>Addresses</th>\
                       <th>Figures</th><th>Last change</th><th>Drift</th></tr></thead><tbody>",
        );
        let _ = write!(
            body,
            "<tr{class}><td>{provider}</td><td>{addresses}</td><td>{figures}</td><td>{change}</td><td>{drift}</td></tr>",
            class = drift_class(balancer.drift.as_ref()),
            provider = esc(&balancer.provider),
            addresses = esc(&balancer.addresses.join(", ")),
            figures = figures(balancer.figures.as_ref()),
            change = last_change(balancer.last_change.as_ref()),
            drift = drift(balancer.drift.as_ref()),
        );
        body.push_str("</tbody></table>\n<div class=\"pic\">");
        body.push_str(&topology(estate, balancer));
        body.push_str("</div>\n<table class=\"routes\"><thead><tr><th>Listener</th><th>Route</th><th>Match</th>\
                       <th>Action</th><th>Figures</th></tr></thead><tbody>\n");
        for listener in &balancer.listeners {
            for route in &listener.routes {
                let _ = writeln!(
                    body,
                    "<tr><td>{} :{} {}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                    esc(&listener.name),
                    listener.port,
                    esc(&listener.protocol),
                    esc(&route.name),
                    esc(&route.matches),
                    action(&route.action),
                    figures(route.figures.as_ref()),
                );
            }
        }
        body.push_str("</tbody></table></section>\n");
    }
    body.push_str("<h2>Pools</h2>\n");
    for pool in &estate.pools {
        pool_section(&mut body, pool);
    }
    with_refresh(page("lbops: estate", &body))
}

fn with_refresh(page: String) -> String {
    page.replacen(
        "<meta charset=\"utf-8\">",
        &format!(
            "<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">"
        ),
        1,
    )
}

fn drift_count(estate: &Estate) -> usize {
    let balancers = estate
        .balancers
        .iter()
        .filter(|b| b.drift.is_some())
        .count();
    let pools = estate.pools.iter().filter(|p| p.drift.is_some()).count();
    balancers + pools
}

fn pool_section(body: &mut String, pool: &Pool) {
    let _ = writeln!(
        body,
        "<section class=\"estate-lb\" id=\"{id}\"><h3>Pool {name}</h3>\
         <table class=\"pool\"><thead><tr><th>Provider</th><th>Algorithm</th><th>Health check</th>\
         <th>Slow start</th><th>Figures</th><th>Last change</th><th>Drift</th></tr></thead><tbody>\
         <tr{class}><td>{provider}</td><td>{algorithm}</td><td>{check}</td><td>{slow}</td><td>{figures}</td>\
         <td>{change}</td><td>{drift}</td></tr></tbody></table>",
        id = esc(&anchor::pool(&pool.name)),
        name = esc(&pool.name),
        class = drift_class(pool.drift.as_ref()),
        provider = esc(&pool.provider),
        algorithm = esc(&pool.algorithm),
        check = esc(&pool.health_check),
        slow = pool
            .slow_start_seconds
            .map_or_else(|| "—".to_owned(), |s| format!("{s} s")),
        figures = figures(pool.figures.as_ref()),
        change = last_change(pool.last_change.as_ref()),
        drift = drift(pool.drift.as_ref()),
    );
    body.push_str(
        "<table class=\"targets\"><thead><tr><th>Target</th><th>Health</th><th>Weight</th><th>Share</th>\
         <th>Req/s</th><th>5xx</th><th>p50</th><th>p99</th><th>Active</th><th>Last 15 min</th>\
         <th>Health history</th><th>Drift</th></tr></thead><tbody>\n",
    );
    for target in &pool.targets {
        target_row(body, &pool.name, target);
    }
    body.push_str("</tbody></table></section>\n");
}

fn target_row(body: &mut String, pool: &str, target: &Target) {
    let mut health = format!(
        "<span class=\"badge health {}\">{}</span>",
        health_class(target.health),
        health_word(target.health)
    );
    if let Some(left) = target.draining_left_seconds {
        let _ = write!(health, " draining, {left} s left");
    }
    let mut weight = target.weight.to_string();
    if let Some(running) = target.running_weight {
        let _ = write!(weight, " (runs {running})");
    }
    if let Some(ramp) = target.ramp_weight {
        let _ = write!(weight, " ramping {ramp}/{}", target.weight);
    }
    let mut role = String::new();
    if target.backup {
        role.push_str(" <span class=\"muted\">backup</span>");
    }
    if !target.in_git {
        role.push_str(" <span class=\"drift-note\">not in git</span>");
    }
    let f = target.figures.as_ref();
    let _ = writeln!(
        body,
        "<tr id=\"{id}\"{class}><td><code>{address}</code>{role}</td><td>{health}</td><td class=\"num\">{weight}</td>\
         <td class=\"num\">{share}%</td><td class=\"num\">{rps}</td><td class=\"num\">{errors}</td>\
         <td class=\"num\">{p50}</td><td class=\"num\">{p99}</td><td class=\"num\">{active}</td>\
         <td>{spark}</td><td>{history}</td><td>{drift}</td></tr>",
        id = esc(&anchor::target(pool, &target.address)),
        // A target that runs but git does not list is drift on it too.
        class = if target.drift.is_some() || !target.in_git {
            " class=\"drift\""
        } else {
            ""
        },
        address = esc(&target.address),
        share = target.percent,
        rps = f.map_or_else(dash, |f| format!("{:.1}", f.requests_per_second)),
        errors = f.map_or_else(dash, |f| format!("{:.1}%", f.error_ratio * 100.0)),
        p50 = f.and_then(|f| f.p50_ms).map_or_else(dash, ms),
        p99 = f.and_then(|f| f.p99_ms).map_or_else(dash, ms),
        active = f.map_or_else(dash, |f| f.active.to_string()),
        spark = f.map_or_else(String::new, |f| sparkline(&f.sparkline)),
        history = transitions(target),
        drift = drift(target.drift.as_ref()),
    );
}

fn dash() -> String {
    "—".to_owned()
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("≤{v} ms")
    } else {
        format!("≤{v:.0} ms")
    }
}

fn transitions(target: &Target) -> String {
    if target.history.is_empty() {
        return "<span class=\"muted\">—</span>".to_owned();
    }
    let mut out = String::from("<ul class=\"statuses\">");
    for t in target.history.iter().rev().take(3) {
        let _ = write!(
            out,
            "<li>{} {} <span class=\"muted\">{}</span></li>",
            esc(&utc(t.at)),
            if t.healthy {
                "→ healthy"
            } else {
                "→ unhealthy"
            },
            esc(&t.why)
        );
    }
    out.push_str("</ul>");
    out
}

fn drift_class(drift: Option<&Drift>) -> &'static str {
    if drift.is_some() {
        " class=\"drift\""
    } else {
        ""
    }
}

fn drift(drift: Option<&Drift>) -> String {
    match drift {
        None => "<span class=\"muted\">—</span>".to_owned(),
        Some(d) if d.lines.is_empty() => "<span class=\"drift-note\">drifted</span>".to_owned(),
        Some(d) => {
            let lines: Vec<String> = d.lines.iter().map(|l| esc(l).to_string()).collect();
            format!(
                "<span class=\"drift-note\">drifted:</span> {}",
                lines.join("<br>")
            )
        }
    }
}

fn last_change(change: Option<&LastChange>) -> String {
    let Some(change) = change else {
        return "<span class=\"muted\">not changed by a commit judged here</span>".to_owned();
    };
    let statuses: Vec<String> = change.statuses.iter().map(|s| esc(s).to_string()).collect();
    format!(
        "<a href=\"/commits/{sha}\"><code>{short}</code></a> {summary}<br><span class=\"who\">{author}</span>\
         <br><span class=\"muted\">{statuses}</span>",
        sha = href_segment(&change.commit),
        short = esc(change.commit.get(..12).unwrap_or(&change.commit)),
        summary = esc(&change.summary),
        author = esc(&change.author),
        statuses = statuses.join(", "),
    )
}

fn action(action: &RouteAction) -> String {
    match action {
        RouteAction::Forward { split } => {
            let parts: Vec<String> = split
                .iter()
                .map(|s| {
                    format!(
                        "<a href=\"#{}\">{}</a> {}%",
                        esc(&anchor::pool(&s.pool)),
                        esc(&s.pool),
                        s.percent
                    )
                })
                .collect();
            format!("forward → {}", parts.join(", "))
        }
        RouteAction::Redirect { status, to } => format!("redirect {status} → {}", esc(to)),
        RouteAction::Fixed { status } => format!("fixed response {status}"),
    }
}

fn figures(figures: Option<&Figures>) -> String {
    let Some(f) = figures else {
        return "<span class=\"muted\">no sample yet</span>".to_owned();
    };
    format!(
        "{:.1} req/s, {:.1}% 5xx, p50 {}, p99 {}, {} active {}",
        f.requests_per_second,
        f.error_ratio * 100.0,
        f.p50_ms.map_or_else(dash, ms),
        f.p99_ms.map_or_else(dash, ms),
        f.active,
        sparkline(&f.sparkline)
    )
}

/// A tiny inline SVG line of `values` (oldest first), scaled to its
/// own maximum.
#[must_use]
pub fn sparkline(values: &[f32]) -> String {
    const W: usize = 90;
    const H: f32 = 14.0;
    if values.is_empty() {
        return String::new();
    }
    let step = values.len().div_ceil(SPARK_POINTS);
    let points: Vec<f32> = values
        .chunks(step)
        .map(|c| c.iter().sum::<f32>() / c.len() as f32)
        .collect();
    let max = points.iter().copied().fold(0.0_f32, f32::max);
    let mut out = format!(
        "<svg class=\"spark\" width=\"{W}\" height=\"{}\" viewBox=\"0 0 {W} {}\"><polyline points=\"",
        H as u32 + 2,
        H as u32 + 2
    );
    let dx = if points.len() > 1 {
        (W - 1) / (points.len() - 1)
    } else {
        0
    };
    for (i, v) in points.iter().enumerate() {
        let y = if max > 0.0 { H - v / max * H } else { H } + 1.0;
        let _ = write!(out, "{},{} ", i * dx, y.round() as u32);
    }
    out.push_str("\"/></svg>");
    out
}

/// The part of a commit's page that links to the elements it changed
/// on the estate page; empty when it changed none.
#[must_use]
pub fn changed_elements(record: &crate::daemon::journal::CommitRecord) -> String {
    use crate::spec::kinds::Kind;
    let links: Vec<String> = super::history::changed_by(record)
        .into_iter()
        .filter_map(|id| {
            let target = match id.kind {
                Kind::LoadBalancer => anchor::balancer(id.name.as_str()),
                Kind::Pool => anchor::pool(id.name.as_str()),
                _ => return None,
            };
            Some(format!(
                "<li><a href=\"/estate#{}\"><code>{}</code></a></li>",
                esc(&target),
                esc(&id.to_string())
            ))
        })
        .collect();
    if links.is_empty() {
        return String::new();
    }
    format!(
        "<h2>Elements changed</h2>\n<ul class=\"changed\">{}</ul>\n",
        links.concat()
    )
}
