//! `Pool`: the targets traffic is sent to, and how they are chosen and checked.

use crate::spec::units::{Dur, TargetAddr};
use crate::spec::yaml::Spanned;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    pub targets: Vec<Target>,
    /// Used only while every primary target is unhealthy.
    #[serde(default)]
    pub backup_targets: Vec<Target>,
    #[serde(default)]
    pub algorithm: Algorithm,
    pub health_check: Option<Spanned<HealthCheck>>,
    /// How long a removed target may finish its in-flight requests.
    #[serde(default = "default_draining_timeout")]
    pub draining_timeout: Dur,
    /// A new or recovered target's weight ramps up over this window.
    pub slow_start: Option<Dur>,
}

/// The draining timeout when a pool names none.
pub const DEFAULT_DRAINING_TIMEOUT: Duration = Duration::from_secs(30);

fn default_draining_timeout() -> Dur {
    Dur(DEFAULT_DRAINING_TIMEOUT)
}

/// The weight of a target that names none.
pub const DEFAULT_TARGET_WEIGHT: u32 = 1;

fn default_target_weight() -> Spanned<u32> {
    Spanned::unplaced(DEFAULT_TARGET_WEIGHT)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub address: Spanned<TargetAddr>,
    #[serde(default = "default_target_weight")]
    pub weight: Spanned<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    #[default]
    RoundRobin,
    LeastRequests,
    WeightedRandom,
    /// Requests with the same key go to the same target while it is healthy.
    ConsistentHash(HashKey),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HashKey {
    /// The value of this request header.
    Header(String),
    /// The client's IP address.
    SourceIp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    pub probe: Probe,
    #[serde(default = "default_interval")]
    pub interval: Spanned<Dur>,
    #[serde(default = "default_timeout")]
    pub timeout: Spanned<Dur>,
    /// Consecutive successes that make an unhealthy target healthy.
    #[serde(default = "default_healthy_threshold")]
    pub healthy_threshold: Spanned<u32>,
    /// Consecutive failures that make a healthy target unhealthy.
    #[serde(default = "default_unhealthy_threshold")]
    pub unhealthy_threshold: Spanned<u32>,
}

/// Health-check defaults, as most balancers ship them.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;
pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;

fn default_interval() -> Spanned<Dur> {
    Spanned::unplaced(Dur(DEFAULT_HEALTH_INTERVAL))
}
fn default_timeout() -> Spanned<Dur> {
    Spanned::unplaced(Dur(DEFAULT_HEALTH_TIMEOUT))
}
fn default_healthy_threshold() -> Spanned<u32> {
    Spanned::unplaced(DEFAULT_HEALTHY_THRESHOLD)
}
fn default_unhealthy_threshold() -> Spanned<u32> {
    Spanned::unplaced(DEFAULT_UNHEALTHY_THRESHOLD)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    Http(HttpProbe),
    /// A TCP connect that succeeds.
    Tcp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    pub path: Spanned<String>,
    /// Status codes that count as healthy.
    #[serde(default = "default_expected_codes")]
    pub expected_codes: Vec<Spanned<u16>>,
}

fn default_expected_codes() -> Vec<Spanned<u16>> {
    vec![Spanned::unplaced(200)]
}
