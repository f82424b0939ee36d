//! Certificates: imported into ACM from the chain in git and the key its
//! reference points at (read at apply time, never logged), re-imported
//! in place on rotation so listeners keep their ARN.

use super::map::{TAG_CHAIN, TAG_COMMIT, TAG_ID, TAG_INSTANCE, TAG_KEY, TAG_SERIAL};
use super::observe::{self, Inventory};
use super::{Applying, AwsError, AwsProvider};
use crate::spec::kinds::certificate::KeyRef;
use crate::spec::kinds::{Kind, ResourceId};
use crate::spec::units::Name;
use aws_smithy_types::Blob;

pub(super) async fn put_certificate(
    provider: &AwsProvider,
    applying: &Applying,
    inventory: &mut Inventory,
    name: &Name,
    chain_pem: &str,
    key: &KeyRef,
) -> Result<(), AwsError> {
    let existing = inventory.certificates.get(name).cloned();
    let arn = match key {
        // Already in ACM: lbops only tags it, to find it again.
        KeyRef::Provider(arn) => arn.clone(),
        KeyRef::File(_) | KeyRef::Env(_) => {
            let (leaf, chain) = split_chain(chain_pem);
            let private_key = read_key(key)?;
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
    let serial = serial(provider, &arn).await?;
    let mut tags = import_tags(name, applying);
    tags.extend(certificate_tags(chain_pem, &serial, key));
    let tags = acm_tags(tags)?;
    provider
        .acm
        .add_tags_to_certificate()
        .certificate_arn(&arn)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| AwsError::call("AddTagsToCertificate", &e))?;
    inventory.certificates.insert(name.clone(), arn);
    Ok(())
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
