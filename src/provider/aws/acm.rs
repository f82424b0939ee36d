//! Certificates: imported into ACM from the chain in git and the key its
//! reference points at (read at apply time, never logged), re-imported
//! in place on rotation so listeners keep their ARN, unless the key type
//! or size changes: ACM keeps those, so that is a new certificate.

use super::apply::once_imported;
use super::map::{TAG_CHAIN, TAG_COMMIT, TAG_ID, TAG_INSTANCE, TAG_KEY, TAG_SERIAL};
use super::observe::{self, Inventory};
use super::{Applying, AwsError, AwsProvider};
use crate::spec::kinds::certificate::KeyRef;
use crate::spec::kinds::{Kind, ResourceId};
use crate::spec::units::Name;
use aws_smithy_types::Blob;

/// On a certificate lbops replaced with a new import because its key type
/// or size changed (ACM refuses such a re-import); the value is the
/// commit that replaced it. Observe reads it as [`replaced_name`], which
/// no catalog has, so the plan moves listeners off it and deletes it.
pub(super) const TAG_REPLACED: &str = "lbops:replaced";

/// The name a replaced certificate is observed under: `replaced-` and
/// ACM's id of it.
#[must_use]
pub(super) fn replaced_name(arn: &str) -> Name {
    let id = arn
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    format!("replaced-{id}")
        .parse()
        .unwrap_or_else(|_| "replaced-certificate".parse().expect("a valid name"))
}

pub(super) async fn put_certificate(
    provider: &AwsProvider,
    applying: &Applying,
    inventory: &mut Inventory,
    name: &Name,
    chain_pem: &str,
    key: &KeyRef,
) -> Result<(), AwsError> {
    let mut existing = inventory.certificates.get(name).cloned();
    let arn = match key {
        // Already in ACM: lbops only tags it, to find it again.
        KeyRef::Provider(arn) => arn.clone(),
        KeyRef::File(_) | KeyRef::Env(_) => {
            let (leaf, chain) = split_chain(chain_pem);
            let private_key = read_key(key)?;
            if let Some(old) = &existing {
                let now = key_algorithm_of(provider, old).await?;
                let new = key_algorithm(&leaf);
                if let (Some(now), Some(new)) = (now, new) {
                    if now != new {
                        // Marked first: cut off after this, the next plan
                        // imports anew and still deletes the old one.
                        tracing::info!(certificate = %name, from = %now, to = new, "key type changed: importing a new certificate");
                        retire(provider, applying, old).await?;
                        existing = None;
                    }
                }
            }
            let mut import = provider
                .acm
                .import_certificate()
                .certificate(Blob::new(leaf))
                .private_key(Blob::new(private_key))
                .set_certificate_arn(existing.clone());
            if !chain.is_empty() {
                import = import.certificate_chain(Blob::new(chain));
            }
            if existing.is_none() {
                // Owned from the moment it exists: found again should the
                // tagging below not happen, and an IAM policy can require
                // `aws:RequestTag/lbops:id` of a new import. ACM refuses
                // tags on a re-import (which names the ARN); that one is
                // allowed by `aws:ResourceTag/lbops:id`.
                import = import.set_tags(Some(acm_tags(import_tags(name, applying))?));
            }
            import
                .send()
                .await
                .map_err(|e| AwsError::call("ImportCertificate", &e))?
                .certificate_arn()
                .map(str::to_owned)
                .ok_or_else(|| AwsError::Step("ImportCertificate returned no ARN".to_owned()))?
        }
    };
    let serial = once_imported("DescribeCertificate", || serial(provider, &arn)).await?;
    let mut tags = import_tags(name, applying);
    tags.extend(certificate_tags(chain_pem, &serial, key));
    let tags = acm_tags(tags)?;
    once_imported("AddTagsToCertificate", || async {
        provider
            .acm
            .add_tags_to_certificate()
            .certificate_arn(&arn)
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .map_err(|e| AwsError::call("AddTagsToCertificate", &e))
    })
    .await?;
    inventory.certificates.insert(name.clone(), arn);
    Ok(())
}

/// Marks a certificate as replaced ([`TAG_REPLACED`]).
async fn retire(provider: &AwsProvider, applying: &Applying, arn: &str) -> Result<(), AwsError> {
    let tag = aws_sdk_acm::types::Tag::builder()
        .key(TAG_REPLACED)
        .value(applying.commit_tag())
        .build()
        .map_err(|e| AwsError::Step(e.to_string()))?;
    provider
        .acm
        .add_tags_to_certificate()
        .certificate_arn(arn)
        .tags(tag)
        .send()
        .await
        .map_err(|e| AwsError::call("AddTagsToCertificate", &e))?;
    Ok(())
}

/// The key type and size ACM holds for a certificate (`EC_prime256v1`).
async fn key_algorithm_of(provider: &AwsProvider, arn: &str) -> Result<Option<String>, AwsError> {
    Ok(provider
        .acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::call("DescribeCertificate", &e))?
        .certificate()
        .and_then(|c| c.key_algorithm())
        .map(|k| k.as_str().to_owned()))
}

/// ACM's name for the key type and size of the leaf certificate in
/// `leaf_pem`; `None` when lbops cannot tell (the import then says).
fn key_algorithm(leaf_pem: &[u8]) -> Option<&'static str> {
    use x509_parser::public_key::PublicKey;
    let (_, pem) = x509_parser::pem::parse_x509_pem(leaf_pem).ok()?;
    let certificate = pem.parse_x509().ok()?;
    let key = certificate.public_key();
    match key.parsed().ok()? {
        PublicKey::RSA(rsa) => match rsa.key_size() {
            1024 => Some("RSA_1024"),
            2048 => Some("RSA_2048"),
            3072 => Some("RSA_3072"),
            4096 => Some("RSA_4096"),
            _ => None,
        },
        PublicKey::EC(_) => {
            let curve = key.algorithm.parameters.as_ref()?.as_oid().ok()?;
            match curve.to_id_string().as_str() {
                "1.2.840.10045.3.1.7" => Some("EC_prime256v1"),
                "1.3.132.0.34" => Some("EC_secp384r1"),
                "1.3.132.0.35" => Some("EC_secp521r1"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Tags as the ACM SDK takes them.
fn acm_tags(tags: Vec<(String, String)>) -> Result<Vec<aws_sdk_acm::types::Tag>, AwsError> {
    tags.into_iter()
        .map(|(k, v)| aws_sdk_acm::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AwsError::Step(e.to_string()))
}

/// The tags a new import carries in its request: whose it is, and from
/// which commit. The rest (chain digest, serial, key reference) needs the
/// certificate's serial, so it is added after.
fn import_tags(name: &Name, applying: &Applying) -> Vec<(String, String)> {
    let id = ResourceId::new(Kind::Certificate, name.clone()).to_string();
    let instance = applying.instance_tag().map(|i| (TAG_INSTANCE, i));
    [(TAG_ID, id), (TAG_COMMIT, applying.commit_tag())]
        .into_iter()
        .chain(instance)
        .flat_map(|(key, value)| super::tags::encode(key, &value))
        .collect()
}

/// The tags of a certificate lbops imported (or adopted) beside its
/// [`import_tags`], as ACM takes them ([`tags`](super::tags)): a key
/// file's path can hold anything.
fn certificate_tags(chain_pem: &str, serial: &str, key: &KeyRef) -> Vec<(String, String)> {
    [
        (TAG_CHAIN, crate::model::sha256_hex(chain_pem)),
        (TAG_SERIAL, serial.to_owned()),
        (TAG_KEY, observe::key_tag(key)),
    ]
    .iter()
    .flat_map(|(key, value)| super::tags::encode(key, value))
    .collect()
}

/// What `ListCertificates` must include: every key type ACM knows (the
/// acm model's `KeyAlgorithm`). Left out, ACM lists only RSA_1024 and
/// RSA_2048 certificates, so an ECDSA one (the example's) is never seen:
/// every apply would import it again and never delete the old copies,
/// until the account's import quota ran out.
pub(super) fn every_key_type() -> aws_sdk_acm::types::Filters {
    use aws_sdk_acm::types::{Filters, KeyAlgorithm};
    let all = KeyAlgorithm::values()
        .iter()
        .copied()
        .map(KeyAlgorithm::from);
    Filters::builder()
        .set_key_types(Some(all.collect()))
        .build()
}

/// The serial number ACM holds for a certificate: what tells lbops' own
/// import from one made by hand.
pub(super) async fn serial(provider: &AwsProvider, arn: &str) -> Result<String, AwsError> {
    Ok(provider
        .acm
        .describe_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::call("DescribeCertificate", &e))?
        .certificate()
        .and_then(|c| c.serial().map(str::to_owned))
        .unwrap_or_default())
}

/// The leaf certificate, and the rest of the chain, as PEM bytes.
fn split_chain(chain_pem: &str) -> (Vec<u8>, Vec<u8>) {
    const END: &str = "-----END CERTIFICATE-----";
    match chain_pem.find(END) {
        Some(at) => {
            let (leaf, rest) = chain_pem.split_at(at + END.len());
            (
                format!("{}\n", leaf.trim()).into_bytes(),
                rest.trim().as_bytes().to_vec(),
            )
        }
        None => (chain_pem.as_bytes().to_vec(), Vec::new()),
    }
}

/// The private key a reference points at. The error names the reference,
/// never what it holds.
fn read_key(key: &KeyRef) -> Result<Vec<u8>, AwsError> {
    match key {
        KeyRef::File(path) => std::fs::read(path)
            .map_err(|e| AwsError::Step(format!("cannot read private key file `{path}`: {e}"))),
        KeyRef::Env(name) => std::env::var(name)
            .map(String::into_bytes)
            .map_err(|_| AwsError::Step(format!("private key variable `{name}` is not set"))),
        KeyRef::Provider(id) => Err(AwsError::Step(format!(
            "certificate `{id}` is already in ACM; lbops has no key to import"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::aws::testing::{config, replayed, Answer, Replay};

    #[test]
    fn a_chain_splits_into_its_leaf_and_the_rest() {
        let chain = "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        let (leaf, rest) = split_chain(chain);
        assert_eq!(
            String::from_utf8(leaf).unwrap(),
            "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(
            String::from_utf8(rest).unwrap(),
            "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----"
        );
        let (leaf, rest) =
            split_chain("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n");
        assert!(!leaf.is_empty() && rest.is_empty());
    }

    #[test]
    fn the_key_type_and_size_read_from_a_leaf_are_acms_names() {
        let rsa = include_str!("../../../tests/fixtures/material/chain.pem");
        let (leaf, _) = split_chain(rsa);
        assert_eq!(key_algorithm(&leaf), Some("RSA_2048"));
        for (algorithm, expected) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, "EC_prime256v1"),
            (&rcgen::PKCS_ECDSA_P384_SHA384, "EC_secp384r1"),
        ] {
            let (pem, _) = self_signed(algorithm);
            assert_eq!(key_algorithm(pem.as_bytes()), Some(expected));
        }
        assert_eq!(key_algorithm(b"not a certificate"), None);
    }

    /// A certificate and its key, as PEM.
    fn self_signed(algorithm: &'static rcgen::SignatureAlgorithm) -> (String, String) {
        let key = rcgen::KeyPair::generate_for(algorithm).unwrap();
        let params = rcgen::CertificateParams::new(vec!["shop.example.test".to_owned()]).unwrap();
        (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
    }

    const OLD: &str =
        "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012";
    const NEW: &str =
        "arn:aws:acm:eu-west-1:123456789012:certificate/87654321-4321-4321-4321-210987654321";

    fn described(arn: &str, key_algorithm: &str) -> Answer {
        Answer::ok(
            "DescribeCertificate",
            &format!(
                r#"{{"Certificate":{{"CertificateArn":"{arn}","Serial":"5e:1a","Type":"IMPORTED","Status":"ISSUED","KeyAlgorithm":"{key_algorithm}"}}}}"#
            ),
        )
    }

    /// Puts an ECDSA P-256 certificate named `shop` over `OLD`, answered
    /// by `answers`; the requests sent and the ARN it is then known by.
    async fn put_over_old(answers: Vec<Answer>) -> (Vec<serde_json::Value>, String) {
        let dir = tempfile::tempdir().unwrap();
        let (pem, key) = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256);
        let key_path = dir.path().join("shop.key");
        std::fs::write(&key_path, key).unwrap();
        let replay = Replay::new(answers);
        let provider = replayed(config(&[], Some("http://127.0.0.1:9")), &replay).await;
        let applying = Applying {
            placement: super::super::Placement::default(),
            commit: crate::source::CommitId::parse("0123456789abcdef0123456789abcdef01234567")
                .unwrap(),
            instance: None,
        };
        let name: Name = "shop".parse().unwrap();
        let mut inventory = Inventory::default();
        inventory.certificates.insert(name.clone(), OLD.to_owned());
        let key = KeyRef::File(key_path.display().to_string());
        put_certificate(&provider, &applying, &mut inventory, &name, &pem, &key)
            .await
            .unwrap();
        assert_eq!(replay.left(), Vec::<&str>::new(), "answers never asked for");
        let sent = replay
            .sent()
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect();
        (sent, inventory.certificates[&name].clone())
    }

    #[tokio::test]
    async fn the_same_key_type_is_re_imported_in_place() {
        let (sent, arn) = put_over_old(vec![
            described(OLD, "EC_prime256v1"),
            Answer::ok(
                "ImportCertificate",
                &format!(r#"{{"CertificateArn":"{OLD}"}}"#),
            ),
            described(OLD, "EC_prime256v1"),
            Answer::ok("AddTagsToCertificate", "{}"),
        ])
        .await;
        assert_eq!(
            sent[1]["CertificateArn"], OLD,
            "re-imported over the old ARN"
        );
        assert_eq!(arn, OLD);
    }

    /// ACM keeps a certificate's key type and size: re-importing an ECDSA
    /// certificate over an RSA one fails on AWS (moto allows it).
    #[tokio::test]
    async fn a_new_key_type_is_a_new_certificate_and_the_old_one_is_left_to_the_plan() {
        let not_yet = Answer {
            operation: "DescribeCertificate",
            status: 400,
            body: format!(
                r#"{{"__type":"ResourceNotFoundException","message":"Could not find certificate {NEW}."}}"#
            ),
        };
        let (sent, arn) = put_over_old(vec![
            described(OLD, "RSA_2048"),
            Answer::ok("AddTagsToCertificate", "{}"),
            Answer::ok(
                "ImportCertificate",
                &format!(r#"{{"CertificateArn":"{NEW}"}}"#),
            ),
            // Eventual consistency: ACM does not know it for a moment.
            not_yet,
            described(NEW, "EC_prime256v1"),
            Answer::ok("AddTagsToCertificate", "{}"),
        ])
        .await;
        // The old one is marked replaced before anything is imported.
        assert_eq!(sent[1]["CertificateArn"], OLD);
        assert_eq!(sent[1]["Tags"][0]["Key"], TAG_REPLACED);
        assert!(
            sent[2].get("CertificateArn").is_none(),
            "a new import: {}",
            sent[2]
        );
        assert_eq!(sent[5]["CertificateArn"], NEW);
        assert_eq!(arn, NEW);
        assert_eq!(
            replaced_name(OLD).as_str(),
            "replaced-12345678-1234-1234-1234-123456789012"
        );
    }

    #[test]
    fn certificate_tags_are_valid_in_acm_and_read_back() {
        let applying = Applying {
            placement: super::super::Placement::default(),
            commit: crate::source::CommitId::parse("0123456789abcdef0123456789abcdef01234567")
                .unwrap(),
            instance: Some("blue".parse().unwrap()),
        };
        let name: Name = "shop-example-test".parse().unwrap();
        let path = format!("/etc/lbops/keys/{}/shop; key=1 (é).key", "d".repeat(300));
        for key in [
            KeyRef::File(path),
            KeyRef::Env("SHOP_KEY".into()),
            KeyRef::Provider("arn:aws:acm:eu-west-1:123456789012:certificate/0b1c".into()),
        ] {
            let mut tags = import_tags(&name, &applying);
            tags.extend(certificate_tags("chain", "0a:1b:2c", &key));
            // The acm model's TagKey and TagValue, ASCII part (all lbops
            // writes); at most 50 tags on a certificate.
            assert!(tags.len() <= 50);
            let alphabet = |s: &str| {
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c))
            };
            for (k, v) in &tags {
                assert!((1..=128).contains(&k.len()) && alphabet(k), "{k}");
                assert!(v.len() <= 256 && alphabet(v), "{k}: {v:?}");
            }
            let read: observe::Tags = tags.into_iter().collect();
            assert_eq!(read[TAG_ID], "certificate/shop-example-test");
            assert_eq!(read[TAG_INSTANCE], "blue");
            let decoded = super::super::tags::decode(&read, TAG_KEY);
            assert_eq!(decoded.as_deref().and_then(observe::key_ref), Some(key));
            assert_eq!(
                super::super::tags::decode(&read, TAG_SERIAL).as_deref(),
                Some("0a:1b:2c")
            );
        }
    }

    #[test]
    fn certificates_of_every_key_type_are_listed() {
        // The acm model's KeyAlgorithm (2015-12-08): what ACM lists by
        // default is only the two RSA ones.
        let filters = every_key_type();
        let asked: Vec<&str> = filters
            .key_types()
            .iter()
            .map(aws_sdk_acm::types::KeyAlgorithm::as_str)
            .collect();
        for key_type in [
            "RSA_1024",
            "RSA_2048",
            "RSA_3072",
            "RSA_4096",
            "EC_prime256v1",
            "EC_secp384r1",
            "EC_secp521r1",
        ] {
            assert!(asked.contains(&key_type), "{key_type} in {asked:?}");
        }
    }

    #[test]
    fn a_key_error_names_the_reference_never_the_key() {
        let e = read_key(&KeyRef::Env("LBOPS_TEST_KEY_THAT_IS_NOT_SET".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "private key variable `LBOPS_TEST_KEY_THAT_IS_NOT_SET` is not set"
        );
    }
}
