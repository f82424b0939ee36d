use super::*;
use hyper::header::HeaderName;

const SECRET: &[u8] = b"gitea-webhook-secret";
const SHA: &str = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c";
/// A push body, and its HMAC-SHA256 under [`SECRET`] as computed by
/// `openssl dgst -sha256 -hmac gitea-webhook-secret`.
const PUSH: &[u8] =
    br#"{"ref":"refs/heads/main","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}"#;
const PUSH_HMAC: &str = "1167fb31d4284a50c072872d15403786eb77f3cfb68aad7968d125ae118bdbc5";

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

/// Hex HMAC-SHA256, computed here rather than by the code under test.
fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn push(forge: Forge) -> WebhookEvent {
    WebhookEvent::Push {
        forge,
        git_ref: Some("refs/heads/main".into()),
        after: Some(SHA.into()),
    }
}

fn unauthorized(result: Result<WebhookEvent, Rejection>) -> Unauthorized {
    match result {
        Err(Rejection::Unauthorized(why)) => why,
        other => panic!("expected 401, got {other:?}"),
    }
}

#[test]
fn the_test_helper_agrees_with_openssl() {
    assert_eq!(sign(SECRET, PUSH), PUSH_HMAC);
}

// GitHub

#[test]
fn github_published_example_verifies() {
    // From GitHub's "Validating webhook deliveries" documentation.
    let h = headers(&[
        ("X-GitHub-Event", "ping"),
        (
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ),
    ]);
    assert_eq!(
        verify(&h, b"Hello, World!", b"It's a Secret to Everybody"),
        Ok(WebhookEvent::Ping)
    );
}

#[test]
fn github_push_with_a_good_signature() {
    let signature = format!("sha256={PUSH_HMAC}");
    let h = headers(&[
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", &signature),
    ]);
    assert_eq!(verify(&h, PUSH, SECRET), Ok(push(Forge::GitHub)));
    // Upper-case hex is the same signature.
    let upper = format!("sha256={}", PUSH_HMAC.to_ascii_uppercase());
    let h = headers(&[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &upper)]);
    assert_eq!(verify(&h, PUSH, SECRET), Ok(push(Forge::GitHub)));
}

#[test]
fn github_wrong_secret_tampered_body_missing_and_malformed() {
    let good = format!("sha256={PUSH_HMAC}");
    let wrong_secret = format!("sha256={}", sign(b"not-the-secret", PUSH));
    let h = headers(&[
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", &wrong_secret),
    ]);
    assert_eq!(
        unauthorized(verify(&h, PUSH, SECRET)),
        Unauthorized::WrongSignature {
            header: GITHUB_SIGNATURE
        }
    );

    let h = headers(&[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &good)]);
    let tampered =
        br#"{"ref":"refs/heads/evil","after":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}"#;
    assert_eq!(
        unauthorized(verify(&h, tampered, SECRET)),
        Unauthorized::WrongSignature {
            header: GITHUB_SIGNATURE
        }
    );

    let h = headers(&[("X-GitHub-Event", "push")]);
    assert_eq!(
        unauthorized(verify(&h, PUSH, SECRET)),
        Unauthorized::MissingSignature {
            header: GITHUB_SIGNATURE
        }
    );

    let no_prefix = PUSH_HMAC.to_owned();
    let sha1 = format!("sha1={}", &PUSH_HMAC[..40]);
    let short = format!("sha256={}", &PUSH_HMAC[..62]);
    let not_hex = format!("sha256={}zz", &PUSH_HMAC[..62]);
    for bad in [&no_prefix, &sha1, &short, &not_hex, &format!("{good}00")] {
        let h = headers(&[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", bad)]);
        assert!(
            matches!(
                unauthorized(verify(&h, PUSH, SECRET)),
                Unauthorized::MalformedSignature { .. }
            ),
            "{bad}"
        );
    }
}

#[test]
fn github_signature_sent_twice_is_refused() {
    let good = format!("sha256={PUSH_HMAC}");
    let h = headers(&[
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", &good),
        ("X-Hub-Signature-256", &good),
    ]);
    assert_eq!(
        unauthorized(verify(&h, PUSH, SECRET)),
        Unauthorized::DuplicateHeader {
            header: GITHUB_SIGNATURE
        }
    );
}

#[test]
fn github_other_events_are_ignored_once_verified() {
    let body = br#"{"action":"opened"}"#;
    let signature = format!("sha256={}", sign(SECRET, body));
    let h = headers(&[
        ("X-GitHub-Event", "pull_request"),
        ("X-Hub-Signature-256", &signature),
    ]);
    assert_eq!(
        verify(&h, body, SECRET),
        Ok(WebhookEvent::Ignored("pull_request".into()))
    );
}

// GitLab

#[test]
fn gitlab_push_with_the_right_token() {
    let h = headers(&[
        ("X-Gitlab-Event", "Push Hook"),
        ("X-Gitlab-Token", "gitea-webhook-secret"),
    ]);
    assert_eq!(verify(&h, PUSH, SECRET), Ok(push(Forge::GitLab)));
    let h = headers(&[
        ("X-Gitlab-Event", "Tag Push Hook"),
        ("X-Gitlab-Token", "gitea-webhook-secret"),
    ]);
    let tag =
        br#"{"ref":"refs/tags/v1","checkout_sha":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}"#;
    assert_eq!(
        verify(&h, tag, SECRET),
        Ok(WebhookEvent::Push {
            forge: Forge::GitLab,
            git_ref: Some("refs/tags/v1".into()),
            after: Some(SHA.into()),
        })
    );
}

#[test]
fn gitlab_token_compare() {
    let wrong = Unauthorized::WrongToken {
        header: GITLAB_TOKEN,
    };
    for token in [
        "gitea-webhook-secreT",
        "gitea-webhook-secret ",
        "gitea-webhook-secre",
        "gitea-webhook-secretx",
        "x",
        "GITEA-WEBHOOK-SECRET",
    ] {
        let h = headers(&[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", token)]);
        assert_eq!(unauthorized(verify(&h, PUSH, SECRET)), wrong, "{token:?}");
    }
    // An empty header value is a wrong token, not a match with anything.
    let h = headers(&[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "")]);
    assert_eq!(unauthorized(verify(&h, PUSH, SECRET)), wrong);

    let h = headers(&[("X-Gitlab-Event", "Push Hook")]);
    assert_eq!(
        unauthorized(verify(&h, PUSH, SECRET)),
        Unauthorized::MissingSignature {
            header: GITLAB_TOKEN
        }
    );
}

#[test]
fn gitlab_other_hooks_are_ignored_once_verified() {
    let h = headers(&[
        ("X-Gitlab-Event", "Merge Request Hook"),
        ("X-Gitlab-Token", "gitea-webhook-secret"),
    ]);
    assert_eq!(
        verify(&h, b"{}", SECRET),
        Ok(WebhookEvent::Ignored("Merge Request Hook".into()))
    );
}

// Gitea and Forgejo

#[test]
fn gitea_push_with_a_good_signature() {
    // Gitea also sends GitHub's headers; its own win.
    let github = format!("sha256={PUSH_HMAC}");
    let h = headers(&[
        ("X-GitHub-Event", "push"),
        ("X-Gitea-Event", "push"),
        ("X-Gitea-Signature", PUSH_HMAC),
        ("X-Hub-Signature-256", &github),
    ]);
    assert_eq!(verify(&h, PUSH, SECRET), Ok(push(Forge::Gitea)));
}

#[test]
fn forgejo_push_with_a_good_signature() {
    let h = headers(&[
        ("X-Forgejo-Event", "push"),
        ("X-Forgejo-Signature", PUSH_HMAC),
    ]);
    assert_eq!(verify(&h, PUSH, SECRET), Ok(push(Forge::Gitea)));
}

#[test]
fn gitea_wrong_secret_tampered_body_missing_and_malformed() {
    let wrong_secret = sign(b"not-the-secret", PUSH);
    let h = headers(&[
        ("X-Gitea-Event", "push"),
        ("X-Gitea-Signature", &wrong_secret),
    ]);
    assert_eq!(
        unauthorized(verify(&h, PUSH, SECRET)),
        Unauthorized::WrongSignature {
            header: GITEA_SIGNATURE
        }
    );

    let h = headers(&[("X-Gitea-Event", "push"), ("X-Gitea-Signature", PUSH_HMAC)]);
    let mut tampered = PUSH.to_vec();
    tampered.push(b' ');
    assert_eq!(
        unauthorized(verify(&h, &tampered, SECRET)),
        Unauthorized::WrongSignature {
            header: GITEA_SIGNATURE
        }
    );

    let h = headers(&[("X-Gitea-Event", "push")]);
    assert_eq!(
        unauthorized(verify(&h, PUSH, SECRET)),
        Unauthorized::MissingSignature {
            header: GITEA_SIGNATURE
        }
    );
    let h = headers(&[("X-Forgejo-Event", "push")]);
    assert_eq!(
        unauthorized(verify(&h, PUSH, SECRET)),
        Unauthorized::MissingSignature {
            header: FORGEJO_SIGNATURE
        }
    );

    let prefixed = format!("sha256={PUSH_HMAC}");
    let not_hex = format!("{}g", &PUSH_HMAC[..63]);
    for bad in [&prefixed, &not_hex, &PUSH_HMAC[..63].to_owned()] {
        let h = headers(&[("X-Gitea-Event", "push"), ("X-Gitea-Signature", bad)]);
        assert_eq!(
            unauthorized(verify(&h, PUSH, SECRET)),
            Unauthorized::MalformedSignature {
                header: GITEA_SIGNATURE,
                expected: GITEA_FORMAT
            },
            "{bad}"
        );
    }
}

#[test]
fn a_wrong_forgejo_signature_is_not_rescued_by_a_gitea_one() {
    let wrong = sign(b"not-the-secret", PUSH);
    let h = headers(&[
        ("X-Forgejo-Event", "push"),
        ("X-Gitea-Event", "push"),
        ("X-Forgejo-Signature", &wrong),
        ("X-Gitea-Signature", PUSH_HMAC),
    ]);
    assert_eq!(
        unauthorized(verify(&h, PUSH, SECRET)),
        Unauthorized::WrongSignature {
            header: FORGEJO_SIGNATURE
        }
    );
}

// Any forge

// Bitbucket

/// A Bitbucket Cloud `repo:push`, trimmed.
fn bitbucket_push_body() -> String {
    format!(
        r#"{{"push":{{"changes":[{{"new":{{"type":"branch","name":"main","target":{{"type":"commit","hash":"{SHA}"}}}},"old":null}}]}}}}"#
    )
}

#[test]
fn bitbucket_push_with_a_good_signature() {
    let body = bitbucket_push_body();
    let signature = format!("sha256={}", sign(SECRET, body.as_bytes()));
    let h = headers(&[
        ("X-Event-Key", "repo:push"),
        ("X-Request-UUID", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        ("X-Hub-Signature", &signature),
        ("User-Agent", "Bitbucket-Webhooks/2.0"),
    ]);
    assert_eq!(
        verify(&h, body.as_bytes(), SECRET),
        Ok(push(Forge::Bitbucket))
    );
    // Other events are verified, then left alone.
    let h = headers(&[
        ("X-Event-Key", "pullrequest:created"),
        ("X-Hub-Signature", &signature),
    ]);
    assert_eq!(
        verify(&h, body.as_bytes(), SECRET),
        Ok(WebhookEvent::Ignored("pullrequest:created".into()))
    );
}

#[test]
fn bitbucket_wrong_secret_missing_and_malformed() {
    let body = bitbucket_push_body();
    let wrong = format!("sha256={}", sign(b"other", body.as_bytes()));
    let signed =
        |signature: &str| headers(&[("X-Event-Key", "repo:push"), ("X-Hub-Signature", signature)]);
    assert_eq!(
        unauthorized(verify(&signed(&wrong), body.as_bytes(), SECRET)),
        Unauthorized::WrongSignature {
            header: "X-Hub-Signature"
        }
    );
    // GitHub's SHA-1 form under the same header is not taken.
    assert!(matches!(
        unauthorized(verify(
            &signed("sha1=0123456789abcdef0123456789abcdef01234567"),
            body.as_bytes(),
            SECRET
        )),
        Unauthorized::MalformedSignature { .. }
    ));
    assert_eq!(
        unauthorized(verify(
            &headers(&[("X-Event-Key", "repo:push")]),
            body.as_bytes(),
            SECRET
        )),
        Unauthorized::MissingSignature {
            header: "X-Hub-Signature"
        }
    );
}

#[test]
fn no_forge_headers_means_no_trust() {
    let h = headers(&[("Content-Type", "application/json")]);
    assert_eq!(
        unauthorized(verify(&h, PUSH, SECRET)),
        Unauthorized::UnknownSender
    );
    // GitHub's legacy SHA-1 signature alone is not accepted.
    let h = headers(&[("X-Hub-Signature", "sha1=0000")]);
    assert_eq!(
        unauthorized(verify(&h, PUSH, SECRET)),
        Unauthorized::UnknownSender
    );
}

#[test]
fn an_empty_secret_trusts_nobody() {
    let signature = format!("sha256={}", sign(b"", PUSH));
    let h = headers(&[
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", &signature),
    ]);
    assert_eq!(unauthorized(verify(&h, PUSH, b"")), Unauthorized::NoSecret);
    let h = headers(&[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "")]);
    assert_eq!(unauthorized(verify(&h, PUSH, b"")), Unauthorized::NoSecret);
}

#[test]
fn the_body_is_read_only_after_the_proof() {
    // Garbage that is signed is a bad request; garbage that is not is
    // unauthorized, whatever it holds.
    let garbage = b"not json";
    let h = headers(&[
        ("X-Gitea-Event", "push"),
        ("X-Gitea-Signature", &sign(SECRET, garbage)),
    ]);
    assert!(matches!(
        verify(&h, garbage, SECRET),
        Err(Rejection::BadRequest(BadRequest::NotJson(_)))
    ));
    let h = headers(&[("X-Gitea-Event", "push"), ("X-Gitea-Signature", PUSH_HMAC)]);
    assert!(matches!(
        verify(&h, garbage, SECRET),
        Err(Rejection::Unauthorized(_))
    ));
}

#[test]
fn a_proven_request_without_an_event_name_is_a_bad_request() {
    let h = headers(&[("X-Hub-Signature-256", &format!("sha256={PUSH_HMAC}"))]);
    assert_eq!(
        verify(&h, PUSH, SECRET),
        Err(Rejection::BadRequest(BadRequest::MissingEvent {
            header: GITHUB_EVENT
        }))
    );
}

#[test]
fn messages_name_headers_never_values() {
    let secret = "gitea-webhook-secret";
    let reasons: Vec<Rejection> = vec![
        Unauthorized::NoSecret.into(),
        Unauthorized::UnknownSender.into(),
        Unauthorized::MissingSignature {
            header: GITHUB_SIGNATURE,
        }
        .into(),
        Unauthorized::DuplicateHeader {
            header: GITHUB_SIGNATURE,
        }
        .into(),
        Unauthorized::MalformedSignature {
            header: GITHUB_SIGNATURE,
            expected: GITHUB_FORMAT,
        }
        .into(),
        Unauthorized::WrongSignature {
            header: GITEA_SIGNATURE,
        }
        .into(),
        Unauthorized::WrongToken {
            header: GITLAB_TOKEN,
        }
        .into(),
        BadRequest::MissingEvent {
            header: GITHUB_EVENT,
        }
        .into(),
        BadRequest::NotJson("expected value at line 1 column 1".into()).into(),
    ];
    for reason in reasons {
        // Printed so that a person reviews the wording.
        let text = reason.to_string();
        println!("{text}");
        assert!(
            !text.contains(secret) && !text.contains(PUSH_HMAC),
            "{text}"
        );
    }
}
