//! The few fields of a push payload lbops reads, from a body whose
//! signature has already been checked.

use super::rejection::BadRequest;
use super::{Forge, WebhookEvent};
use serde::Deserialize;

/// The fields shared by GitHub, GitLab and Gitea push payloads; all others
/// are ignored.
#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    after: Option<String>,
    /// GitLab: the head after the push, `null` when the ref was deleted.
    checkout_sha: Option<String>,
}

/// Bitbucket Cloud's push payload: `push.changes[]`, each with the ref's
/// `new` state (`null` when it was deleted) and its `old` one.
#[derive(Deserialize)]
struct BitbucketPush {
    push: BitbucketChanges,
}

#[derive(Deserialize)]
struct BitbucketChanges {
    changes: Vec<BitbucketChange>,
}

#[derive(Deserialize)]
struct BitbucketChange {
    new: Option<BitbucketRef>,
    old: Option<BitbucketRef>,
}

#[derive(Deserialize)]
struct BitbucketRef {
    /// `branch` or `tag`.
    #[serde(rename = "type")]
    kind: String,
    name: String,
    target: Option<BitbucketTarget>,
}

#[derive(Deserialize)]
struct BitbucketTarget {
    hash: String,
}

/// Reads a push event's ref and new head from its JSON body.
pub(super) fn push(forge: Forge, body: &[u8]) -> Result<WebhookEvent, BadRequest> {
    if forge == Forge::Bitbucket {
        return bitbucket_push(body);
    }
    let push: Push =
        serde_json::from_slice(body).map_err(|e| BadRequest::NotJson(e.to_string()))?;
    let git_ref = push.git_ref.map(checked_ref).transpose()?;
    let head = match forge {
        Forge::GitLab => push.checkout_sha.or(push.after),
        Forge::GitHub | Forge::Gitea | Forge::Bitbucket => push.after,
    };
    let after = head
        .map(checked_sha)
        .transpose()?
        .filter(|sha| !is_zero(sha));
    Ok(WebhookEvent::Push {
        forge,
        git_ref,
        after,
    })
}

/// A Bitbucket push names the first change's ref and its new head (a push
/// of several refs still triggers one reconcile, which reads them all).
fn bitbucket_push(body: &[u8]) -> Result<WebhookEvent, BadRequest> {
    let push: BitbucketPush =
        serde_json::from_slice(body).map_err(|e| BadRequest::NotJson(e.to_string()))?;
    let Some(change) = push.push.changes.into_iter().next() else {
        return Ok(WebhookEvent::Push {
            forge: Forge::Bitbucket,
            git_ref: None,
            after: None,
        });
    };
    let (named, after) = match (change.new, change.old) {
        (Some(new), _) => {
            let after = new.target.as_ref().map(|t| t.hash.clone());
            (Some(new), after)
        }
        (None, old) => (old, None),
    };
    let git_ref = named
        .map(|r| match r.kind.as_str() {
            "tag" => Ok(format!("refs/tags/{}", r.name)),
            "branch" | "named_branch" => Ok(format!("refs/heads/{}", r.name)),
            _ => Err(BadRequest::BadField {
                field: "push.changes[].new.type",
                expected: "branch or tag",
            }),
        })
        .transpose()?
        .map(checked_ref)
        .transpose()?;
    let after = after.map(checked_sha).transpose()?;
    Ok(WebhookEvent::Push {
        forge: Forge::Bitbucket,
        git_ref,
        after,
    })
}

fn checked_ref(git_ref: String) -> Result<String, BadRequest> {
    let well_formed = git_ref.starts_with("refs/")
        && git_ref.len() <= 1024
        && !git_ref.bytes().any(|b| b.is_ascii_control() || b == b' ');
    if well_formed {
        Ok(git_ref)
    } else {
        Err(BadRequest::BadField {
            field: "ref",
            expected: "a full ref name such as refs/heads/main",
        })
    }
}

/// A SHA-1 or SHA-256 object id, in lower case.
fn checked_sha(sha: String) -> Result<String, BadRequest> {
    if matches!(sha.len(), 40 | 64) && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(sha.to_ascii_lowercase())
    } else {
        Err(BadRequest::BadField {
            field: "after",
            expected: "a commit id of 40 or 64 hex digits",
        })
    }
}

/// The all-zero id forges send as the new head of a deleted ref.
fn is_zero(sha: &str) -> bool {
    sha.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
    const ZERO: &str = "0000000000000000000000000000000000000000";

    fn event(forge: Forge, git_ref: &str, after: Option<&str>) -> WebhookEvent {
        WebhookEvent::Push {
            forge,
            git_ref: Some(git_ref.into()),
            after: after.map(Into::into),
        }
    }

    #[test]
    fn reads_ref_and_new_head() {
        let body =
            format!(r#"{{"ref":"refs/heads/main","before":"{ZERO}","after":"{SHA}","x":[1]}}"#);
        assert_eq!(
            push(Forge::GitHub, body.as_bytes()),
            Ok(event(Forge::GitHub, "refs/heads/main", Some(SHA)))
        );
    }

    #[test]
    fn gitlab_prefers_checkout_sha_and_a_deletion_has_no_head() {
        let other = "1111111111111111111111111111111111111111";
        let body =
            format!(r#"{{"ref":"refs/heads/main","after":"{other}","checkout_sha":"{SHA}"}}"#);
        assert_eq!(
            push(Forge::GitLab, body.as_bytes()),
            Ok(event(Forge::GitLab, "refs/heads/main", Some(SHA)))
        );
        let deleted = format!(r#"{{"ref":"refs/heads/old","after":"{ZERO}","checkout_sha":null}}"#);
        assert_eq!(
            push(Forge::GitLab, deleted.as_bytes()),
            Ok(event(Forge::GitLab, "refs/heads/old", None))
        );
        let deleted = format!(r#"{{"ref":"refs/tags/v1","after":"{ZERO}"}}"#);
        assert_eq!(
            push(Forge::Gitea, deleted.as_bytes()),
            Ok(event(Forge::Gitea, "refs/tags/v1", None))
        );
    }

    #[test]
    fn reads_bitbucket_pushes() {
        // Trimmed from Bitbucket Cloud's repo:push payload.
        let body = format!(
            r#"{{"push":{{"changes":[{{"new":{{"type":"branch","name":"main","target":{{"type":"commit","hash":"{SHA}"}}}},"old":{{"type":"branch","name":"main","target":{{"hash":"{ZERO}"}}}},"created":false,"forced":false}}]}},"repository":{{"full_name":"acme/lb-config"}}}}"#
        );
        assert_eq!(
            push(Forge::Bitbucket, body.as_bytes()),
            Ok(event(Forge::Bitbucket, "refs/heads/main", Some(SHA)))
        );
        let deleted = r#"{"push":{"changes":[{"new":null,"old":{"type":"tag","name":"v1","target":{"hash":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}}}]}}"#;
        assert_eq!(
            push(Forge::Bitbucket, deleted.as_bytes()),
            Ok(event(Forge::Bitbucket, "refs/tags/v1", None))
        );
        assert!(push(Forge::Bitbucket, br#"{"ref":"refs/heads/main"}"#).is_err());
    }

    #[test]
    fn refuses_what_is_not_a_push_payload() {
        let form = b"payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D";
        let err = push(Forge::GitHub, form).unwrap_err();
        assert!(err.to_string().contains("application/json"), "{err}");
        assert!(matches!(
            push(Forge::GitHub, br#"{"ref":"main"}"#),
            Err(BadRequest::BadField { field: "ref", .. })
        ));
        assert!(matches!(
            push(Forge::GitHub, br#"{"ref":"refs/heads/a\nb"}"#),
            Err(BadRequest::BadField { field: "ref", .. })
        ));
        assert!(matches!(
            push(
                Forge::Gitea,
                br#"{"ref":"refs/heads/main","after":"HEAD~1"}"#
            ),
            Err(BadRequest::BadField { field: "after", .. })
        ));
    }
}
