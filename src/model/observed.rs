//! What a provider runs, as it reports it: the state the planner compares
//! the repository against.

use crate::spec::kinds::certificate::KeyRef;
use crate::spec::kinds::loadbalancer::LoadBalancerSpec;
use crate::spec::kinds::pool::PoolSpec;
use crate::spec::units::{Name, TargetAddr};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A target's health as the provider sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Not checked yet (just added).
    Unknown,
    Healthy,
    Unhealthy,
    /// Removed from the config; finishing in-flight requests.
    Draining,
}

/// One target as it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedTarget {
    pub address: TargetAddr,
    pub weight: u32,
    pub backup: bool,
    pub health: Health,
}

/// One pool as it runs: its configuration and its targets' health.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservedPool {
    pub spec: PoolSpec,
    pub targets: Vec<ObservedTarget>,
}

/// One certificate as it runs, known by the SHA-256 of its chain's PEM
/// text (the private key is never read back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedCertificate {
    pub chain_sha256: String,
    pub key: KeyRef,
}

/// Everything a provider runs, by resource name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedState {
    /// The provider's own version of its configuration, if it keeps one.
    pub version: u64,
    pub load_balancers: BTreeMap<Name, LoadBalancerSpec>,
    pub pools: BTreeMap<Name, ObservedPool>,
    pub certificates: BTreeMap<Name, ObservedCertificate>,
}
