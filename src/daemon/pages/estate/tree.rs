//! The estate as a compact terminal tree (pure), for `lbops status` in an
//! SSH session: balancer → listener → route → pool → target, with health,
//! weights and split, live figures, a block sparkline, and drift. Colour
//! only when asked (the CLI asks when stdout is a terminal and `NO_COLOR`
//! is unset); without it, every state is still a word.

use super::model::{Drift, Estate, Figures, LastChange, Pool, RouteAction, Target};
use super::svg::health_word;
use crate::model::Health;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// How many of the newest samples a terminal sparkline shows.
const SPARK_CHARS: usize = 30;

/// ANSI colours, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Ansi,
    Plain,
}

impl Colour {
    fn paint(self, code: &str, text: &str) -> String {
        match self {
            Colour::Ansi => format!("\x1b[{code}m{text}\x1b[0m"),
            Colour::Plain => text.to_owned(),
        }
    }
    fn health(self, health: Health) -> String {
        let code = match health {
            Health::Healthy => "32",
            Health::Unhealthy => "31;1",
            Health::Draining => "33",
            Health::Unknown => "2",
        };
        self.paint(code, health_word(health))
    }
    fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }
    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
    fn drift(self, drift: Option<&Drift>) -> String {
        match drift {
            None => String::new(),
            Some(d) => {
                let lines = if d.lines.is_empty() {
                    "runs but git does not list it".to_owned()
                } else {
                    d.lines.join("; ")
                };
                format!(" {}", self.paint("31;1", &format!("DRIFT: {lines}")))
            }
        }
    }
}

/// The whole tree; ends with a newline.
#[must_use]
pub fn tree(estate: &Estate, colour: Colour) -> String {
    let mut out = String::new();
    let Some(commit) = &estate.commit else {
        out.push_str("no commit applied yet: nothing runs\n");
        return out;
    };
    let _ = writeln!(
        out,
        "estate at {} — {} balancer(s), {} pool(s), {} target(s){}",
        colour.bold(commit.get(..12).unwrap_or(commit)),
        estate.balancers.len(),
        estate.pools.len(),
        estate.pools.iter().map(|p| p.targets.len()).sum::<usize>(),
        if estate.observed {
            String::new()
        } else {
            colour.paint("33", " (provider not answering: health unknown)")
        }
    );
    let mut shown: BTreeSet<&str> = BTreeSet::new();
    for balancer in &estate.balancers {
        let _ = writeln!(
            out,
            "{} {} {} {}{}{}{}",
            colour.bold(&format!("loadbalancer/{}", balancer.name)),
            balancer.provider,
            balancer.addresses.join(","),
            match balancer.running {
                Some(true) => colour.paint("32", "running"),
                Some(false) => colour.paint("31;1", "not running"),
                None => colour.dim("not observed"),
            },
            figures(balancer.figures.as_ref(), colour),
            change(balancer.last_change.as_ref(), colour),
            colour.drift(balancer.drift.as_ref()),
        );
        let listeners = balancer.listeners.len();
        for (li, listener) in balancer.listeners.iter().enumerate() {
            let last_listener = li + 1 == listeners;
            let (lbranch, indent) = branch(last_listener);
            let _ = writeln!(
                out,
                "{lbranch}listener {} :{} {}",
                listener.name, listener.port, listener.protocol
            );
            let routes = listener.routes.len();
            for (ri, route) in listener.routes.iter().enumerate() {
                let (rbranch, rindent) = branch(ri + 1 == routes);
                let action = match &route.action {
                    RouteAction::Forward { split } => {
                        let parts: Vec<String> = split
                            .iter()
                            .map(|s| format!("{} {}%", s.pool, s.percent))
                            .collect();
                        format!("→ {}", parts.join(", "))
                    }
                    RouteAction::Redirect { status, to } => format!("redirect {status} → {to}"),
                    RouteAction::Fixed { status } => format!("fixed {status}"),
                };
                let _ = writeln!(
                    out,
                    "{indent}{rbranch}route {} {} {action}{}",
                    route.name,
                    route.matches,
                    figures(route.figures.as_ref(), colour)
                );
                let RouteAction::Forward { split } = &route.action else {
                    continue;
                };
                let prefix = format!("{indent}{rindent}");
                let pools = split.len();
                for (pi, part) in split.iter().enumerate() {
                    let (pbranch, pindent) = branch(pi + 1 == pools);
                    match estate.pool(&part.pool) {
                        Some(pool) if shown.insert(pool.name.as_str()) => {
                            pool_lines(
                                &mut out,
                                &format!("{prefix}{pbranch}"),
                                &format!("{prefix}{pindent}"),
                                pool,
                                colour,
                            );
                        }
                        Some(pool) => {
                            let _ = writeln!(
                                out,
                                "{prefix}{pbranch}pool/{} {}",
                                pool.name,
                                colour.dim("(shown above)")
                            );
                        }
                        None => {
                            let _ = writeln!(
                                out,
                                "{prefix}{pbranch}pool/{} {}",
                                part.pool,
                                colour.dim("(not readable)")
                            );
                        }
                    }
                }
            }
        }
    }
    let rest: Vec<&Pool> = estate
        .pools
        .iter()
        .filter(|p| !shown.contains(p.name.as_str()))
        .collect();
    if !rest.is_empty() {
        out.push_str("pools no balancer forwards to:\n");
        for pool in rest {
            pool_lines(&mut out, "", "", pool, colour);
        }
    }
    out
}

/// The branch glyph for an item and the indent for its children.
fn branch(last: bool) -> (&'static str, &'static str) {
    if last {
        ("└─ ", "   ")
    } else {
        ("├─ ", "│  ")
    }
}

fn pool_lines(out: &mut String, first: &str, indent: &str, pool: &Pool, colour: Colour) {
    let _ = writeln!(
        out,
        "{first}{} {} {}{}{}{}",
        colour.bold(&format!("pool/{}", pool.name)),
        pool.algorithm,
        colour.dim(&format!("check: {}", pool.health_check)),
        figures(pool.figures.as_ref(), colour),
        change(pool.last_change.as_ref(), colour),
        colour.drift(pool.drift.as_ref()),
    );
    let targets = pool.targets.len();
    for (i, target) in pool.targets.iter().enumerate() {
        let (tbranch, _) = branch(i + 1 == targets);
        let _ = writeln!(out, "{indent}{tbranch}{}", target_line(target, colour));
    }
}

fn target_line(target: &Target, colour: Colour) -> String {
    let mut line = format!(
        "{} {} w{} {}%",
        target.address,
        colour.health(target.health),
        target.weight,
        target.percent
    );
    if target.backup {
        line.push_str(" backup");
    }
    if let Some(running) = target.running_weight {
        let _ = write!(line, " (runs w{running})");
    }
    if let Some(ramp) = target.ramp_weight {
        let _ = write!(line, " slow start {ramp}/{}", target.weight);
    }
    if let Some(left) = target.draining_left_seconds {
        line.push_str(&colour.paint("33", &format!(" draining {left}s left")));
    }
    line.push_str(&figures(target.figures.as_ref(), colour));
    if let Some(last) = target.history.last() {
        let _ = write!(
            line,
            " {}",
            colour.dim(&format!(
                "(last: {} — {})",
                if last.healthy { "healthy" } else { "unhealthy" },
                last.why
            ))
        );
    }
    let drift = if target.drift.is_none() && !target.in_git {
        Some(Drift { lines: Vec::new() })
    } else {
        target.drift.clone()
    };
    line.push_str(&colour.drift(drift.as_ref()));
    line
}

fn figures(figures: Option<&Figures>, colour: Colour) -> String {
    let Some(f) = figures else {
        return String::new();
    };
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("≤{v}ms"));
    let errors = format!("{:.1}% 5xx", f.error_ratio * 100.0);
    let errors = if f.error_ratio > 0.0 {
        colour.paint("31", &errors)
    } else {
        errors
    };
    format!(
        "  {:.1} req/s {errors} p50 {} p99 {} {} active {}",
        f.requests_per_second,
        ms(f.p50_ms),
        ms(f.p99_ms),
        f.active,
        sparkline(&f.sparkline)
    )
}

fn change(change: Option<&LastChange>, colour: Colour) -> String {
    match change {
        None => String::new(),
        Some(c) => format!(
            " {}",
            colour.dim(&format!(
                "[{} {} {}]",
                c.commit.get(..12).unwrap_or(&c.commit),
                c.author,
                c.summary
            ))
        ),
    }
}

/// The newest samples as block characters, scaled to their maximum.
#[must_use]
pub fn sparkline(values: &[f32]) -> String {
    const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let newest = &values[values.len().saturating_sub(SPARK_CHARS)..];
    let max = newest.iter().copied().fold(0.0_f32, f32::max);
    newest
        .iter()
        .map(|v| {
            if max <= 0.0 {
                BLOCKS[0]
            } else {
                BLOCKS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}
