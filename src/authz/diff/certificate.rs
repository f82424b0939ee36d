//! Certificates and address pools.
//!
//! | field | action |
//! |---|---|
//! | Certificate `chain`, `chain_file`, `private_key` | `certificate.rotate` |
//! | AddressPool `cidrs` | `addresspool.update` |

use super::text::plus_minus;
use super::{Classify, Found};
use crate::spec::actions::{self, Action};
use crate::spec::kinds::addresspool::AddressPoolSpec;
use crate::spec::kinds::certificate::{CertificateSpec, KeyRef};
use crate::spec::kinds::Kind;

const ROTATE: &Action = &actions::CERTIFICATE_ROTATE;

impl Classify for CertificateSpec {
    const KIND: Kind = Kind::Certificate;
    const CREATE: &'static Action = &actions::CERTIFICATE_CREATE;
    const DELETE: &'static Action = &actions::CERTIFICATE_DELETE;
    const LABELS: &'static Action = &actions::CERTIFICATE_LABELS_UPDATE;

    fn diff(before: &Self, after: &Self, found: &mut Found) {
        let CertificateSpec {
            chain,
            chain_file,
            private_key,
        } = before;
        if *chain != after.chain {
            found.note(ROTATE, "chain replaced");
        }
        if *chain_file != after.chain_file {
            let path = |p: &Option<_>| {
                p.as_ref().map_or(
                    "inline".to_owned(),
                    |p: &crate::spec::yaml::Spanned<String>| p.value.clone(),
                )
            };
            let detail = format!(
                "chain file {} → {}",
                path(chain_file),
                path(&after.chain_file)
            );
            found.note(ROTATE, detail);
        }
        if *private_key != after.private_key {
            let (a, b) = (key_text(private_key), key_text(&after.private_key));
            found.note(ROTATE, format!("private key {a} → {b}"));
        }
    }
}

/// Where a key lives: a path, a variable name or a store id, never the key.
fn key_text(key: &KeyRef) -> String {
    match key {
        KeyRef::File(path) => format!("file {path}"),
        KeyRef::Env(var) => format!("env {var}"),
        KeyRef::Provider(id) => format!("provider {id}"),
    }
}

impl Classify for AddressPoolSpec {
    const KIND: Kind = Kind::AddressPool;
    const CREATE: &'static Action = &actions::ADDRESSPOOL_CREATE;
    const DELETE: &'static Action = &actions::ADDRESSPOOL_DELETE;
    const LABELS: &'static Action = &actions::ADDRESSPOOL_LABELS_UPDATE;

    fn diff(before: &Self, after: &Self, found: &mut Found) {
        let AddressPoolSpec { cidrs } = before;
        if *cidrs != after.cidrs {
            let old: Vec<String> = cidrs.iter().map(|c| c.value.0.to_string()).collect();
            let new: Vec<String> = after.cidrs.iter().map(|c| c.value.0.to_string()).collect();
            let detail = plus_minus(
                "cidrs",
                old.iter().map(String::as_str),
                new.iter().map(String::as_str),
            );
            found.note(&actions::ADDRESSPOOL_UPDATE, detail.unwrap_or_default());
        }
    }
}
