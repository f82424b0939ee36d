//! `GET /metrics`: the running state in the Prometheus text format
//! (version 0.0.4).
//!

use super::{full, Body, RunningState};
use crate::dataplane::stats::{ConnectionStats, RequestStats};
use hyper::{Response, StatusCode};
use std::fmt::Write as _;

/// The content type Prometheus expects for the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) fn response(
    state: &RunningState,
    stats: &RequestStats,
    connections: &ConnectionStats,
) -> Response<Body> {
    let mut text = render(state);
    stats.render(&mut text);
    connections.render(&mut text);
    full(StatusCode::OK, CONTENT_TYPE, text)
}

/// The exposition text for `state`.
pub(super) fn render(state: &RunningState) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "lbops_dataplane_config_version",
        "gauge",
        "Version of the config being served.",
    );
    let _ = writeln!(
        out,
        "lbops_dataplane_config_version {}",
        state.observed.version
    );
    family(
        &mut out,
        "lbops_dataplane_listeners",
        "gauge",
        "Listening sockets bound for the config being served.",
    );
    let _ = writeln!(out, "lbops_dataplane_listeners {}", state.listeners.len());

    type Value = fn(&super::TargetLoad) -> u64;
    let per_target: [(&str, &str, &str, Value); 3] = [
        (
            "lbops_dataplane_target_healthy",
            "gauge",
            "1 if the target takes traffic, 0 if health checks marked it down.",
            |t| u64::from(t.healthy),
        ),
        (
            "lbops_dataplane_target_requests_total",
            "counter",
            "Requests (HTTP) or connections (TCP) sent to the target since it joined the pool.",
            |t| t.requests,
        ),
        (
            "lbops_dataplane_target_in_flight",
            "gauge",
            "Requests or connections to the target that have not finished.",
            |t| t.in_flight as u64,
        ),
    ];
    for (name, kind, help, value) in per_target {
        family(&mut out, name, kind, help);
        // Draining targets are left out: one may share its labels with
        // the target that replaced it, and a series must be unique.
        for target in state.targets.iter().filter(|t| !t.draining) {
            let _ = writeln!(
                out,
                "{name}{{pool=\"{}\",target=\"{}\"}} {}",
                escape(target.pool.as_str()),
                escape(&target.address.to_string()),
                value(target)
            );
        }
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format writes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
