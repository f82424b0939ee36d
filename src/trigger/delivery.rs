//! Which delivery a webhook request is: the forge's delivery id, if it sent
//! one, and the digest of the body it signed. A pure function of a request
//! that [`verify`](super::verify) already proved.
//!
//! | forge          | delivery id header (first one present)                                          |
//! |----------------|---------------------------------------------------------------------------------|
//! | GitHub         | `X-GitHub-Delivery`                                                             |
//! | GitLab         | `X-Gitlab-Event-UUID`, `Idempotency-Key` (GitLab 17.4+, kept on retries)        |
//! | Gitea, Forgejo | `X-Forgejo-Delivery`, `X-Gitea-Delivery`, `X-Gogs-Delivery`, `X-GitHub-Delivery` |
//! | Bitbucket      | `X-Request-UUID` (`X-Hook-UUID` names the webhook, not the delivery)            |
//!
//! Gitea and Forgejo send the same id in every one of their headers.
//! Gogs is not a sender the endpoint accepts at all, so it has no row.
//!
//! No forge signs its delivery id: whoever captured a delivery can replay it
//! under another id, or none. That is why a delivery is also known by the
//! SHA-256 of its body, which is signed (GitHub, Gitea, Forgejo) or at least
//! only accepted with the secret token beside it (GitLab).

use super::rejection::BadRequest;
use super::verify::sender;
use super::Forge;
use hyper::header::HeaderMap;
use sha2::{Digest, Sha256};

/// The longest delivery id taken; forges send a 36-character UUID.
pub const MAX_DELIVERY_ID_LEN: usize = 128;

/// One verified webhook request, as the replay check knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The forge's id for it, when it sent one.
    pub id: Option<DeliveryId>,
    /// SHA-256 of the body as received.
    pub body_sha256: [u8; 32],
}

/// A delivery id and the header it came in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryId {
    pub header: &'static str,
    /// Visible ASCII, at most [`MAX_DELIVERY_ID_LEN`] bytes: safe to log
    /// and to show.
    pub value: String,
}

const GITHUB: &[&str] = &["X-GitHub-Delivery"];
const GITLAB: &[&str] = &["X-Gitlab-Event-UUID", "Idempotency-Key"];
const BITBUCKET: &[&str] = &["X-Request-UUID"];
const GITEA: &[&str] = &[
    "X-Forgejo-Delivery",
    "X-Gitea-Delivery",
    "X-Gogs-Delivery",
    "X-GitHub-Delivery",
];

/// Which delivery a request that [`verify`](super::verify) accepted is.
///
/// A delivery id that is sent twice, is not visible ASCII, or is longer
/// than [`MAX_DELIVERY_ID_LEN`] is a [`BadRequest`]: forges send one UUID,
/// so anything else was made by someone else.
pub fn delivery(headers: &HeaderMap, body: &[u8]) -> Result<Delivery, BadRequest> {
    let candidates = match sender(headers) {
        Ok(Forge::GitHub) => GITHUB,
        Ok(Forge::GitLab) => GITLAB,
        Ok(Forge::Gitea) => GITEA,
        Ok(Forge::Bitbucket) => BITBUCKET,
        // Not proven, so never asked; nothing to name.
        Err(_) => &[],
    };
    let mut id = None;
    for &header in candidates {
        let mut values = headers.get_all(header).iter();
        let Some(value) = values.next() else {
            continue;
        };
        if values.next().is_some() {
            return Err(BadRequest::DuplicateDelivery { header });
        }
        let bytes = value.as_bytes();
        let well_formed = !bytes.is_empty()
            && bytes.len() <= MAX_DELIVERY_ID_LEN
            && bytes.iter().all(|b| b.is_ascii_graphic());
        if !well_formed {
            return Err(BadRequest::BadDelivery {
                header,
                max: MAX_DELIVERY_ID_LEN,
            });
        }
        id = Some(DeliveryId {
            header,
            value: String::from_utf8_lossy(bytes).into_owned(),
        });
        break;
    }
    Ok(Delivery {
        id,
        body_sha256: Sha256::digest(body).into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};

    const UUID: &str = "f6266f16-1bf3-46a5-9ea4-602e06ead473";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn id(pairs: &[(&str, &str)]) -> Option<DeliveryId> {
        delivery(&headers(pairs), b"{}").unwrap().id
    }

    #[test]
    fn each_forge_is_known_by_its_own_header() {
        let github = id(&[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", UUID)]).unwrap();
        assert_eq!(
            (github.header, github.value.as_str()),
            ("X-GitHub-Delivery", UUID)
        );
        let gitlab = id(&[
            ("X-Gitlab-Event", "Push Hook"),
            ("X-Gitlab-Event-UUID", UUID),
        ]);
        assert_eq!(gitlab.unwrap().header, "X-Gitlab-Event-UUID");
        let retried = id(&[("X-Gitlab-Event", "Push Hook"), ("Idempotency-Key", UUID)]);
        assert_eq!(retried.unwrap().header, "Idempotency-Key");
        // As Forgejo sends it: every header, one id.
        let forgejo = id(&[
            ("X-Forgejo-Event", "push"),
            ("X-Forgejo-Delivery", UUID),
            ("X-Gitea-Event", "push"),
            ("X-Gitea-Delivery", UUID),
            ("X-Gogs-Delivery", UUID),
            ("X-GitHub-Delivery", UUID),
        ]);
        assert_eq!(forgejo.unwrap().header, "X-Forgejo-Delivery");
        let gitea = id(&[("X-Gitea-Event", "push"), ("X-Gitea-Delivery", UUID)]);
        assert_eq!(gitea.unwrap().header, "X-Gitea-Delivery");
        let bitbucket = id(&[
            ("X-Event-Key", "repo:push"),
            ("X-Hook-UUID", "{a8f7e9c0-0000-4000-8000-000000000000}"),
            ("X-Request-UUID", UUID),
        ]);
        assert_eq!(bitbucket.unwrap().header, "X-Request-UUID");
        // A GitLab request's X-GitHub-Delivery is not GitLab's id.
        assert_eq!(
            id(&[("X-Gitlab-Event", "Push Hook"), ("X-GitHub-Delivery", UUID)]),
            None
        );
        assert_eq!(id(&[("X-GitHub-Event", "push")]), None);
    }

    #[test]
    fn the_body_digest_is_sha256_of_the_bytes() {
        let d = delivery(&headers(&[("X-GitHub-Event", "push")]), b"abc").unwrap();
        // `printf abc | sha256sum`
        let hex = crate::support::hex::encode(&d.body_sha256);
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn an_id_that_no_forge_would_send_is_a_bad_request() {
        let long = "a".repeat(MAX_DELIVERY_ID_LEN + 1);
        for bad in ["", "two words", long.as_str()] {
            let err = delivery(
                &headers(&[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", bad)]),
                b"{}",
            )
            .unwrap_err();
            assert_eq!(
                err,
                BadRequest::BadDelivery {
                    header: "X-GitHub-Delivery",
                    max: MAX_DELIVERY_ID_LEN
                },
                "{bad:?}"
            );
        }
        let err = delivery(
            &headers(&[
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", UUID),
                ("X-GitHub-Delivery", "another"),
            ]),
            b"{}",
        )
        .unwrap_err();
        assert_eq!(
            err,
            BadRequest::DuplicateDelivery {
                header: "X-GitHub-Delivery"
            }
        );
        // The message names the header and never echoes the value.
        assert!(!err.to_string().contains("another"), "{err}");
        let long_err = delivery(
            &headers(&[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", &long)]),
            b"{}",
        )
        .unwrap_err()
        .to_string();
        assert!(!long_err.contains(&long), "{long_err}");
    }
}
