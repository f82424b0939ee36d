//! What the aws provider's unit tests share: a catalog from one YAML text,
//! and a config placing named balancers.

use super::{AwsBalancer, AwsConfig, Scheme};
use crate::spec::{load, Catalog, Options, SourceFile};

/// A repository given as one YAML text, loaded as of a fixed date.
pub(crate) fn catalog(yaml: &str) -> Catalog {
    load(
        &[SourceFile::new("repo.yaml", yaml)],
        &Options::at(1_800_000_000),
    )
    .unwrap_or_else(|e| panic!("invalid test repository: {:#?}", e.diagnostics))
    .catalog
}

/// A config placing `balancers` on AWS, each in two subnets; `endpoint`
/// where the SDK would send requests (tests that only route send none).
pub(crate) fn config(balancers: &[&str], endpoint: Option<&str>) -> AwsConfig {
    AwsConfig {
        region: "eu-west-1".into(),
        endpoint_url: endpoint.map(str::to_owned),
        vpc: "vpc-1".into(),
        instance: None,
        balancers: balancers
            .iter()
            .map(|b| {
                (
                    b.parse().expect("a valid name"),
                    AwsBalancer {
                        subnets: vec!["subnet-a".into(), "subnet-b".into()],
                        scheme: Scheme::InternetFacing,
                        security_groups: Vec::new(),
                    },
                )
            })
            .collect(),
    }
}
