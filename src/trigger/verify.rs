//! Is this webhook request from someone who holds the secret? A pure
//! function of the headers, the body and the secret.
//!
//! | forge          | proof                                                  | event header                      |
//! |----------------|--------------------------------------------------------|-----------------------------------|
//! | GitHub         | `X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`        | `X-GitHub-Event`                  |
//! | GitLab         | `X-Gitlab-Token: <secret>`                             | `X-Gitlab-Event`                  |
//! | Gitea, Forgejo | `X-Gitea-Signature` / `X-Forgejo-Signature: <hex HMAC>` | `X-Gitea-Event` / `X-Forgejo-Event` |
//! | Bitbucket Cloud | `X-Hub-Signature: sha256=<hex HMAC-SHA256>`           | `X-Event-Key`                     |
//!
//! Gitea and Forgejo also send GitHub's headers, so they are recognised
//! first; Bitbucket sends none of the others'. Every comparison with the secret is constant time (`hmac`'s
//! `verify_slice`), and the body is parsed only once it is proven.

use super::event::WebhookEvent;
use super::payload;
use super::rejection::{BadRequest, Rejection, Unauthorized};
use super::Forge;
use hmac::{Hmac, Mac};
use hyper::header::{HeaderMap, HeaderValue};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const GITHUB_EVENT: &str = "x-github-event";
const GITHUB_SIGNATURE: &str = "X-Hub-Signature-256";
const GITLAB_EVENT: &str = "x-gitlab-event";
const GITLAB_TOKEN: &str = "X-Gitlab-Token";
const GITEA_EVENT: &str = "x-gitea-event";
const GITEA_SIGNATURE: &str = "X-Gitea-Signature";
const FORGEJO_EVENT: &str = "x-forgejo-event";
const FORGEJO_SIGNATURE: &str = "X-Forgejo-Signature";
const BITBUCKET_EVENT: &str = "x-event-key";
/// Bitbucket signs as GitHub does, under GitHub's older header name
/// (GitHub itself sends a SHA-1 there, which lbops does not take).
const BITBUCKET_SIGNATURE: &str = "X-Hub-Signature";

/// What a GitHub signature looks like, for the error message.
const GITHUB_FORMAT: &str = "sha256= and 64 hex digits";
/// What a Gitea or Forgejo signature looks like.
const GITEA_FORMAT: &str = "64 hex digits";

/// Checks that a webhook request carries a valid signature (or, for
/// GitLab, token) made with `secret`, then reads what it asks for.
///
/// A request from no forge we know, or with a missing, malformed or wrong
/// proof, is [`Rejection::Unauthorized`]; a proven request whose event
/// cannot be read is [`Rejection::BadRequest`]. An empty `secret` trusts
/// nobody.
pub fn verify(headers: &HeaderMap, body: &[u8], secret: &[u8]) -> Result<WebhookEvent, Rejection> {
    if secret.is_empty() {
        return Err(Unauthorized::NoSecret.into());
    }
    let forge = sender(headers)?;
    let event_header = match forge {
        Forge::GitHub => {
            check_signature(headers, GITHUB_SIGNATURE, Some("sha256="), body, secret)?;
            GITHUB_EVENT
        }
        Forge::GitLab => {
            check_token(headers, GITLAB_TOKEN, secret)?;
            GITLAB_EVENT
        }
        Forge::Gitea => {
            let forgejo = headers.contains_key(FORGEJO_SIGNATURE)
                || (headers.contains_key(FORGEJO_EVENT) && !headers.contains_key(GITEA_SIGNATURE));
            let header = if forgejo {
                FORGEJO_SIGNATURE
            } else {
                GITEA_SIGNATURE
            };
            check_signature(headers, header, None, body, secret)?;
            if headers.contains_key(FORGEJO_EVENT) {
                FORGEJO_EVENT
            } else {
                GITEA_EVENT
            }
        }
        Forge::Bitbucket => {
            check_signature(headers, BITBUCKET_SIGNATURE, Some("sha256="), body, secret)?;
            BITBUCKET_EVENT
        }
    };
    let name = event_name(headers, event_header)?;
    Ok(classify(forge, name, body)?)
}

/// Which forge the request says it is from, by the headers only that forge
/// sends. Naming a forge earns nothing: its proof is checked next.
pub(super) fn sender(headers: &HeaderMap) -> Result<Forge, Unauthorized> {
    let any = |names: &[&str]| names.iter().any(|name| headers.contains_key(*name));
    if any(&[
        GITEA_EVENT,
        GITEA_SIGNATURE,
        FORGEJO_EVENT,
        FORGEJO_SIGNATURE,
    ]) {
        Ok(Forge::Gitea)
    } else if any(&[GITLAB_EVENT, GITLAB_TOKEN]) {
        Ok(Forge::GitLab)
    } else if any(&[GITHUB_EVENT, GITHUB_SIGNATURE]) {
        Ok(Forge::GitHub)
    } else if any(&[BITBUCKET_EVENT]) {
        Ok(Forge::Bitbucket)
    } else {
        Err(Unauthorized::UnknownSender)
    }
}

/// The one value of `header`, if sent; two values are refused rather than
/// guessing which one a proxy or the forge meant.
fn single<'a>(headers: &'a HeaderMap, header: &'static str) -> Option<Result<&'a HeaderValue, ()>> {
    let mut values = headers.get_all(header).iter();
    let first = values.next()?;
    Some(if values.next().is_some() {
        Err(())
    } else {
        Ok(first)
    })
}

/// Checks `header: <prefix><hex HMAC-SHA256(secret, body)>`.
fn check_signature(
    headers: &HeaderMap,
    header: &'static str,
    prefix: Option<&str>,
    body: &[u8],
    secret: &[u8],
) -> Result<(), Unauthorized> {
    let value = single(headers, header)
        .ok_or(Unauthorized::MissingSignature { header })?
        .map_err(|()| Unauthorized::DuplicateHeader { header })?;
    let malformed = Unauthorized::MalformedSignature {
        header,
        expected: if prefix.is_some() {
            GITHUB_FORMAT
        } else {
            GITEA_FORMAT
        },
    };
    let hex = match prefix {
        Some(prefix) => value
            .as_bytes()
            .strip_prefix(prefix.as_bytes())
            .ok_or_else(|| malformed.clone())?,
        None => value.as_bytes(),
    };
    let signature = decode_hex32(hex).ok_or(malformed)?;
    let mut mac = keyed(secret);
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| Unauthorized::WrongSignature { header })
}

/// Checks that `header` holds `secret` itself, in constant time: both are
/// run through HMAC keyed with the secret and the two MACs compared with
/// `verify_slice`, so neither the time nor the lengths compared depend on
/// where the token first differs.
fn check_token(
    headers: &HeaderMap,
    header: &'static str,
    secret: &[u8],
) -> Result<(), Unauthorized> {
    let token = single(headers, header)
        .ok_or(Unauthorized::MissingSignature { header })?
        .map_err(|()| Unauthorized::DuplicateHeader { header })?;
    let mut expected = keyed(secret);
    expected.update(secret);
    let expected = expected.finalize().into_bytes();
    let mut presented = keyed(secret);
    presented.update(token.as_bytes());
    presented
        .verify_slice(&expected)
        .map_err(|_| Unauthorized::WrongToken { header })
}

fn keyed(secret: &[u8]) -> HmacSha256 {
    // HMAC hashes a long key and pads a short one: any length is fine.
    HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length")
}

/// 64 hex digits, in either case, as 32 bytes.
fn decode_hex32(hex: &[u8]) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(bytes)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The event's name, from a request already proven.
fn event_name<'a>(headers: &'a HeaderMap, header: &'static str) -> Result<&'a str, BadRequest> {
    single(headers, header)
        .ok_or(BadRequest::MissingEvent { header })?
        .map_err(|()| BadRequest::DuplicateEvent { header })?
        .to_str()
        .map_err(|_| BadRequest::EventNotText { header })
}

/// What a proven event asks for.
fn classify(forge: Forge, name: &str, body: &[u8]) -> Result<WebhookEvent, BadRequest> {
    match (forge, name) {
        (Forge::GitHub, "ping") => Ok(WebhookEvent::Ping),
        (Forge::GitHub | Forge::Gitea, "push")
        | (Forge::GitLab, "Push Hook" | "Tag Push Hook")
        | (Forge::Bitbucket, "repo:push") => payload::push(forge, body),
        _ => Ok(WebhookEvent::Ignored(name.to_owned())),
    }
}

#[cfg(test)]
mod tests;
