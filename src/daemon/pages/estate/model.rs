//! The estate as the page, `GET /v1/estate` and `lbops status` show it:
//! plain values, built once per request by [`build`](super::build::build)
//! and rendered by pure functions. These shapes are the API's: they
//! serialize as `GET /v1/estate` answers and deserialize in the CLI.

use crate::model::Health;
use serde::{Deserialize, Serialize};

/// Everything the balancers run, as git says and as it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estate {
    /// The applied (trusted) commit; `null` before the first is applied.
    pub commit: Option<String>,
    /// Whether what runs was read (health, drift); false when the
    /// provider did not answer, and everything shown is git's.
    pub observed: bool,
    /// Seconds between two sparkline samples.
    pub sample_seconds: u32,
    pub balancers: Vec<Balancer>,
    /// Every pool the caller may read, by name; routes name them.
    pub pools: Vec<Pool>,
}

/// Which commit last changed an element, as the daemon's journal has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastChange {
    pub commit: String,
    /// The commit's first line and author email (empty when unknown, as
    /// for a commit trusted by the daemon config without judging).
    pub summary: String,
    pub author: String,
    /// `context: state` of the head's statuses, e.g. `lbops/apply: success`.
    pub statuses: Vec<String>,
}

/// Live figures of an element over the last sample, and the sparkline
/// of requests per second over the remembered samples (oldest first).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub requests_per_second: f64,
    /// 5xx answers over all answers, 0..=1.
    pub error_ratio: f64,
    /// Estimated from the latency histogram: the upper bound of the
    /// bucket the percentile falls in; `null` without answers.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub active: u64,
    pub sparkline: Vec<f32>,
}

/// What a difference between git and what runs is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    /// One line per difference, as the plan writes it.
    pub lines: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Balancer {
    pub name: String,
    /// `embedded` or `aws`: who runs it.
    pub provider: String,
    pub addresses: Vec<String>,
    /// Whether the provider runs it; `null` when not observed.
    pub running: Option<bool>,
    pub drift: Option<Drift>,
    pub last_change: Option<LastChange>,
    pub figures: Option<Figures>,
    pub listeners: Vec<Listener>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    pub name: String,
    pub protocol: String,
    pub port: u32,
    /// Its routes by priority as written, then its default action (a
    /// route named `default`, matching everything).
    pub routes: Vec<Route>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub name: String,
    /// Whether this is the listener's default action.
    pub default: bool,
    /// What it matches, e.g. `host=api.example.com path=/v1*`; `*` for
    /// everything.
    pub matches: String,
    pub action: RouteAction,
    /// The figures of the pools it forwards to (the data plane counts per
    /// target, not per route).
    pub figures: Option<Figures>,
}

/// What a route does with the requests it matches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RouteAction {
    Forward { split: Vec<Split> },
    Redirect { status: u16, to: String },
    Fixed { status: u16 },
}

/// One pool of a forward, with its share of the route's traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub pool: String,
    pub weight: u32,
    /// weight / sum of the route's weights, in percent.
    pub percent: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    pub name: String,
    pub provider: String,
    pub algorithm: String,
    /// `http GET /healthz every 2s`, or `none`.
    pub health_check: String,
    pub slow_start_seconds: Option<u64>,
    pub drift: Option<Drift>,
    pub last_change: Option<LastChange>,
    pub figures: Option<Figures>,
    pub targets: Vec<Target>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub address: String,
    pub backup: bool,
    /// False for a target that runs but git no longer lists (draining).
    pub in_git: bool,
    pub health: Health,
    /// The weight git gives it (what runs, for one git no longer lists).
    pub weight: u32,
    /// What runs now, when it differs from git's (a hand change).
    pub running_weight: Option<u32>,
    /// Its share of the pool's primary (or backup) traffic, in percent.
    pub percent: f64,
    /// The weight requests see now while slow start ramps it up; `null`
    /// when not ramping.
    pub ramp_weight: Option<u32>,
    /// Seconds a draining target may still finish requests in.
    pub draining_left_seconds: Option<u64>,
    /// Last health transitions, newest last.
    pub history: Vec<Transition>,
    pub drift: Option<Drift>,
    pub figures: Option<Figures>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// Unix seconds.
    pub at: i64,
    pub healthy: bool,
    pub why: String,
}

impl Estate {
    /// The pool named `name`, if the caller may read it.
    #[must_use]
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools
            .binary_search_by(|p| p.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.pools[i])
    }
}

/// Page anchors (and SVG ids): one per element, stable across renders.
pub mod anchor {
    #[must_use]
    pub fn balancer(name: &str) -> String {
        format!("lb-{name}")
    }
    #[must_use]
    pub fn pool(name: &str) -> String {
        format!("pool-{name}")
    }
    #[must_use]
    pub fn target(pool: &str, address: &str) -> String {
        format!("t-{pool}-{}", address.replace([':', '.', '[', ']'], "_"))
    }
}
