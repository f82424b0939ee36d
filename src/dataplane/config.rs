//! What a data plane runs: the balancer part of a [`Catalog`], with
//! addresses resolved and certificate chains inlined, and a version.
//!
//! The config travels as JSON (admin API, file on disk). It is read back
//! with lbops' own YAML reader — JSON is YAML — so that positions survive
//! into errors and [`Spanned`](crate::spec::yaml::Spanned) fields work.

use crate::spec::kinds::certificate::KeyRef;
use crate::spec::kinds::loadbalancer::LoadBalancerSpec;
use crate::spec::kinds::pool::PoolSpec;
use crate::spec::kinds::{Kind, ResourceId};
use crate::spec::units::Name;
use crate::spec::yaml::{self, de, Pos};
use crate::spec::{Catalog, Limits};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The whole desired state of one data plane.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataplaneConfig {
    /// Increases with every accepted change; a lower one is refused as stale.
    pub version: u64,
    #[serde(default)]
    pub load_balancers: BTreeMap<Name, BalancerConfig>,
    #[serde(default)]
    pub pools: BTreeMap<Name, PoolSpec>,
    #[serde(default)]
    pub certificates: BTreeMap<Name, CertificateConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancerConfig {
    /// The addresses its listeners bind, allocated by `spec::alloc`.
    pub addresses: Vec<IpAddr>,
    pub spec: LoadBalancerSpec,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    pub chain_pem: String,
    /// Read by the data plane itself: the key never leaves its machine.
    pub key: KeyRef,
}

/// A config that could not be read, with the position of the first problem.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ConfigError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl ConfigError {
    fn at(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }
}

impl DataplaneConfig {
    /// The data-plane part of a validated catalog.
    #[must_use]
    pub fn from_catalog(catalog: &Catalog, version: u64) -> Self {
        let load_balancers = catalog
            .load_balancers
            .values()
            .map(|lb| {
                let id = ResourceId::new(Kind::LoadBalancer, lb.name.clone()).to_string();
                let addresses = catalog
                    .allocation
                    .get(&id)
                    .map(|assigned| assigned.iter().map(|a| a.address).collect())
                    .unwrap_or_default();
                let config = BalancerConfig {
                    addresses,
                    spec: lb.spec.clone(),
                };
                (lb.name.clone(), config)
            })
            .collect();
        let pools = catalog
            .pools
            .values()
            .map(|p| (p.name.clone(), p.spec.clone()))
            .collect();
        let certificates = catalog
            .certificates
            .values()
            .map(|c| {
                let chain_pem = c
                    .spec
                    .chain
                    .as_ref()
                    .map(|s| s.value.clone())
                    .unwrap_or_default();
                let config = CertificateConfig {
                    chain_pem,
                    key: c.spec.private_key.value.clone(),
                };
                (c.name.clone(), config)
            })
            .collect();
        Self {
            version,
            load_balancers,
            pools,
            certificates,
        }
    }

    /// Reads a config from JSON (or YAML) text, within the limits for a
    /// document that holds a whole catalog: as large as a tree, no deeper
    /// than a repository file, so that no body can exhaust the stack of
    /// the worker that reads it.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let parsed = yaml::parse_with(text, &Limits::CATALOG_DOCUMENT);
        if let Some(e) = parsed
            .fatal
            .or_else(|| parsed.duplicate_keys.into_iter().next())
        {
            return Err(ConfigError::at(e.pos, e.message));
        }
        let [document] = parsed.documents.as_slice() else {
            return Err(ConfigError::at(
                Pos::new(1, 1),
                "expected exactly one JSON object",
            ));
        };
        de::from_node::<Self>(&document.root).map_err(|errors| {
            let first = &errors[0];
            ConfigError::at(first.pos.unwrap_or_default(), first.to_string())
        })
    }

    /// The JSON form `parse` reads.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{load, Options};

    #[test]
    fn json_round_trips_through_the_yaml_reader() {
        let files = crate::source::read_tree(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/repo"
        )))
        .expect("example repository");
        let catalog = load(&files, &Options::at(1_800_000_000))
            .expect("valid")
            .catalog;
        let config = DataplaneConfig::from_catalog(&catalog, 7);
        assert_eq!(
            config.load_balancers["web"].addresses,
            ["127.0.10.1".parse::<IpAddr>().unwrap()]
        );
        assert!(config.certificates["wildcard-example-test"]
            .chain_pem
            .contains("BEGIN CERTIFICATE"));
        let back = DataplaneConfig::parse(&config.to_json()).expect("parses");
        assert_eq!(back, config);
    }

    #[test]
    fn errors_name_the_field() {
        let err = DataplaneConfig::parse(
            "{\"version\": 1, \"pools\": {\"a\": {\"targets\": [{\"adress\": \"x\"}]}}}",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "1:45: unknown field `adress`; did you mean `address`?"
        );
    }
}
