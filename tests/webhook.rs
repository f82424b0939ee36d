//! The webhook endpoint on a real loopback socket, driven by hand-written
//! HTTP/1.1 requests as a forge sends them: verified pushes reach the
//! daemon's channel exactly once, anything unproven is refused with `401`
//! and reaches nothing, and the endpoint stops when told.

mod common;

use common::logs;
use hmac::{Hmac, Mac};
use lbops::source::SecretRef;
use lbops::trigger::{self, Forge, Trigger, TriggerSource, MAX_BODY_BYTES, PATH};
use sha2::Sha256;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const SECRET: &str = "webhook-secret-for-tests-91c2";
const SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";

/// The endpoint on 127.0.0.1 with a port of its own, and the daemon's end
/// of the trigger channel.
struct Endpoint {
    addr: SocketAddr,
    triggers: mpsc::Receiver<Trigger>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Endpoint {
    async fn start() -> Self {
        Self::start_at(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    async fn start_at(address: SocketAddr) -> Self {
        // The secret comes the way the daemon reads it: from a file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webhook-secret");
        std::fs::write(&path, format!("{SECRET}\n")).unwrap();
        let secret = SecretRef::File(path).read().unwrap();
        let listener = TcpListener::bind(address).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, triggers) = mpsc::channel(8);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(trigger::serve(listener, secret, sender, stopped));
        Self {
            addr,
            triggers,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    /// Stops the endpoint, waits for it to return, and hands back every
    /// trigger it ever sent (its sender is gone once it returns).
    async fn stop(mut self) -> Vec<Trigger> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the endpoint stops when told")
            .unwrap()
            .unwrap();
        let mut sent = Vec::new();
        while let Some(trigger) = self.triggers.recv().await {
            sent.push(trigger);
        }
        sent
    }
}

/// A response: its status code, its head and its body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// Sends `head` (request line and headers, without the blank line) and
/// `body`, then reads the response until the server closes.
async fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("the endpoint answers")
        .unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// POSTs `body` to the hook path with `headers`, as a forge does.
async fn post(addr: SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut head = format!(
        "POST {PATH} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("\r\n{name}: {value}"));
    }
    exchange(addr, &head, body).await
}

/// Hex HMAC-SHA256 of `body` under `secret`.
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn push_body(git_ref: &str) -> Vec<u8> {
    format!(
        r#"{{"ref":"{git_ref}","before":"0000000000000000000000000000000000000000","after":"{SHA}","repository":{{"full_name":"acme/lb"}}}}"#
    )
    .into_bytes()
}

fn trigger(forge: Forge) -> Trigger {
    Trigger {
        source: TriggerSource::Webhook(forge),
        git_ref: Some("refs/heads/main".into()),
        after: Some(SHA.into()),
    }
}

#[tokio::test]
async fn a_signed_github_push_is_accepted_and_triggers_once() {
    let endpoint = Endpoint::start().await;
    let body = push_body("refs/heads/main");
    let signature = format!("sha256={}", sign(SECRET, &body));
    let answer = post(
        endpoint.addr,
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            ("X-Hub-Signature-256", &signature),
        ],
        &body,
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert!(answer.body.contains(SHA), "{}", answer.body);
    assert_eq!(endpoint.stop().await, vec![trigger(Forge::GitHub)]);
}

#[tokio::test]
async fn a_bad_signature_is_refused_with_401_and_triggers_nothing() {
    let mut endpoint = Endpoint::start().await;
    let body = push_body("refs/heads/main");
    let wrong_secret = format!("sha256={}", sign("someone-elses-secret", &body));
    let tampered = format!("sha256={}", sign(SECRET, &push_body("refs/heads/evil")));
    let malformed = "sha256=not-hex".to_owned();
    for signature in [&wrong_secret, &tampered, &malformed] {
        let answer = post(
            endpoint.addr,
            &[
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", signature),
            ],
            &body,
        )
        .await;
        assert_eq!(answer.status, 401, "{}", answer.body);
        assert!(
            answer.body.contains("X-Hub-Signature-256"),
            "{}",
            answer.body
        );
        assert!(!answer.body.contains(signature.as_str()), "{}", answer.body);
    }
    // No proof at all, and no forge at all.
    let answer = post(endpoint.addr, &[("X-GitHub-Event", "push")], &body).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    let answer = post(endpoint.addr, &[], &body).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    // A wrong GitLab token.
    let answer = post(
        endpoint.addr,
        &[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "guess")],
        &body,
    )
    .await;
    assert_eq!(answer.status, 401, "{}", answer.body);

    assert!(matches!(
        endpoint.triggers.try_recv(),
        Err(mpsc::error::TryRecvError::Empty)
    ));
    assert_eq!(endpoint.stop().await, vec![]);
}

#[tokio::test]
async fn a_gitlab_push_with_the_right_token_is_accepted() {
    let endpoint = Endpoint::start().await;
    let body = format!(
        r#"{{"object_kind":"push","ref":"refs/heads/main","after":"{SHA}","checkout_sha":"{SHA}"}}"#
    );
    let answer = post(
        endpoint.addr,
        &[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", SECRET)],
        body.as_bytes(),
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(endpoint.stop().await, vec![trigger(Forge::GitLab)]);
}

#[tokio::test]
async fn a_signed_forgejo_push_is_accepted() {
    let endpoint = Endpoint::start().await;
    let body = push_body("refs/heads/main");
    let signature = sign(SECRET, &body);
    let answer = post(
        endpoint.addr,
        &[
            ("X-Forgejo-Event", "push"),
            ("X-Forgejo-Signature", &signature),
            ("X-Gitea-Event", "push"),
            ("X-Gitea-Signature", &signature),
        ],
        &body,
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(endpoint.stop().await, vec![trigger(Forge::Gitea)]);
}

#[tokio::test]
async fn a_signed_bitbucket_push_is_accepted() {
    let endpoint = Endpoint::start().await;
    let body = format!(
        r#"{{"push":{{"changes":[{{"new":{{"type":"branch","name":"main","target":{{"type":"commit","hash":"{SHA}"}}}},"old":{{"type":"branch","name":"main","target":{{"type":"commit","hash":"0000000000000000000000000000000000000000"}}}}}}]}},"repository":{{"full_name":"acme/lb"}}}}"#
    )
    .into_bytes();
    let signature = format!("sha256={}", sign(SECRET, &body));
    let answer = post(
        endpoint.addr,
        &[
            ("X-Event-Key", "repo:push"),
            ("X-Hook-UUID", "{a8f7e9c0-5f0e-4b5c-9c43-6a1b4a0f6d11}"),
            ("X-Request-UUID", "5f3c1a0e-7b7e-4f43-9a8f-0d7c2c9e1b22"),
            ("X-Hub-Signature", &signature),
            ("User-Agent", "Bitbucket-Webhooks/2.0"),
        ],
        &body,
    )
    .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(endpoint.stop().await, vec![trigger(Forge::Bitbucket)]);
}

#[tokio::test]
async fn a_ping_and_other_events_are_answered_200_without_a_trigger() {
    let endpoint = Endpoint::start().await;
    let ping = br#"{"zen":"Design for failure.","hook_id":1}"#;
    let signature = format!("sha256={}", sign(SECRET, ping));
    let answer = post(
        endpoint.addr,
        &[
            ("X-GitHub-Event", "ping"),
            ("X-Hub-Signature-256", &signature),
        ],
        ping,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let issue = br#"{"action":"opened"}"#;
    let signature = format!("sha256={}", sign(SECRET, issue));
    let answer = post(
        endpoint.addr,
        &[
            ("X-GitHub-Event", "issues"),
            ("X-Hub-Signature-256", &signature),
        ],
        issue,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(endpoint.stop().await, vec![]);
}

#[tokio::test]
async fn a_signed_body_that_is_not_a_push_payload_is_a_400() {
    let endpoint = Endpoint::start().await;
    let body = b"payload=%7B%7D";
    let signature = format!("sha256={}", sign(SECRET, body));
    let answer = post(
        endpoint.addr,
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &signature),
        ],
        body,
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("application/json"), "{}", answer.body);
    assert_eq!(endpoint.stop().await, vec![]);
}

#[tokio::test]
async fn an_oversized_body_is_a_413() {
    let endpoint = Endpoint::start().await;
    // Declared too large: refused before any of it is read.
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nX-GitHub-Event: push\r\nContent-Length: {}",
        MAX_BODY_BYTES + 1
    );
    let answer = exchange(endpoint.addr, &head, b"").await;
    assert_eq!(answer.status, 413, "{}", answer.body);

    // Not declared (chunked): refused once the limit is crossed.
    let head =
        format!("POST {PATH} HTTP/1.1\r\nX-GitHub-Event: push\r\nTransfer-Encoding: chunked");
    let mut body = format!("{:x}\r\n", MAX_BODY_BYTES + 1).into_bytes();
    body.extend(std::iter::repeat_n(b' ', MAX_BODY_BYTES + 1));
    body.extend(b"\r\n0\r\n\r\n");
    let answer = exchange(endpoint.addr, &head, &body).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(endpoint.stop().await, vec![]);
}

#[tokio::test]
async fn other_paths_and_methods_are_refused() {
    let endpoint = Endpoint::start().await;
    let body = push_body("refs/heads/main");
    let signature = format!("sha256={}", sign(SECRET, &body));
    let head = format!(
        "POST /hooks/other HTTP/1.1\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}",
        body.len()
    );
    let answer = exchange(endpoint.addr, &head, &body).await;
    assert_eq!(answer.status, 404, "{}", answer.body);
    let answer = exchange(endpoint.addr, &format!("GET {PATH} HTTP/1.1"), b"").await;
    assert_eq!(answer.status, 405, "{}", answer.body);
    assert!(
        answer.head.to_ascii_lowercase().contains("\r\nallow: post"),
        "{}",
        answer.head
    );
    assert_eq!(endpoint.stop().await, vec![]);
}

#[tokio::test]
async fn the_endpoint_stops_when_told_and_frees_its_port() {
    // The test holds the port, so that nobody else listens there after.
    let port = common::Ports::default();
    let endpoint = Endpoint::start_at(port.address()).await;
    let addr = endpoint.addr;
    // An idle keep-alive connection must not hold the shutdown up.
    let _idle = TcpStream::connect(addr).await.unwrap();
    assert_eq!(endpoint.stop().await, vec![]);
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_push_the_daemon_cannot_take_is_a_503() {
    let mut endpoint = Endpoint::start().await;
    // The daemon has gone away.
    endpoint.triggers.close();
    let body = push_body("refs/heads/main");
    let signature = format!("sha256={}", sign(SECRET, &body));
    let answer = post(
        endpoint.addr,
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &signature),
        ],
        &body,
    )
    .await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    endpoint.stop().await;
}

// One thread, so that the endpoint's tasks log into this test's capture.
#[tokio::test(flavor = "current_thread")]
async fn refusals_are_logged_with_peer_and_reason_but_no_secret_or_signature() {
    let capture = logs::capture(tracing::Level::INFO);

    let endpoint = Endpoint::start().await;
    let body = push_body("refs/heads/main");
    let wrong = format!("sha256={}", sign("someone-elses-secret", &body));
    let right = format!("sha256={}", sign(SECRET, &body));
    let answer = post(
        endpoint.addr,
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &wrong)],
        &body,
    )
    .await;
    assert_eq!(answer.status, 401);
    // A GitLab token that is almost the secret.
    let almost = &SECRET[..SECRET.len() - 1];
    let answer = post(
        endpoint.addr,
        &[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", almost)],
        &body,
    )
    .await;
    assert_eq!(answer.status, 401);
    let answer = post(
        endpoint.addr,
        &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &right)],
        &body,
    )
    .await;
    assert_eq!(answer.status, 202);
    endpoint.stop().await;

    let log = capture.text();
    assert_eq!(log.matches("webhook request refused").count(), 2, "{log}");
    assert!(log.contains("127.0.0.1:"), "{log}");
    assert!(log.contains("X-Hub-Signature-256 does not match"), "{log}");
    assert!(
        log.contains("X-Gitlab-Token is not the webhook secret"),
        "{log}"
    );
    assert!(log.contains("webhook push accepted"), "{log}");
    for value in [SECRET, almost, &wrong[7..], &right[7..]] {
        assert!(!log.contains(value), "the log holds {value}: {log}");
    }
}

/// The race the log capture is built against: another test's thread,
/// capturing nothing, reaches a log line first; this thread's capture
/// still gets the line when it logs it, and only its own.
#[test]
fn a_capture_gets_a_line_that_another_thread_reached_first() {
    fn log_a_line() {
        tracing::warn!("a line two threads log");
    }
    let capture = logs::capture(tracing::Level::INFO);
    std::thread::spawn(log_a_line).join().unwrap();
    log_a_line();
    let log = capture.text();
    assert_eq!(log.matches("a line two threads log").count(), 1, "{log}");
}

// Replays. A forge signs the body only; the delivery id rides in a header
// beside it. lbops keeps the ids (and the body digests) of the deliveries
// it acted on and refuses a repeat of either with `409`.

const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const OTHER_DELIVERY: &str = "0b989ba4-242f-11e5-81e1-c7b6b9a6f6a8";

fn push_to(after: &str) -> Vec<u8> {
    format!(r#"{{"ref":"refs/heads/main","before":"{SHA}","after":"{after}"}}"#).into_bytes()
}

async fn github_push(addr: SocketAddr, delivery: Option<&str>, body: &[u8]) -> Answer {
    let signature = format!("sha256={}", sign(SECRET, body));
    let mut headers = vec![
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", signature.as_str()),
    ];
    if let Some(delivery) = delivery {
        headers.push(("X-GitHub-Delivery", delivery));
    }
    post(addr, &headers, body).await
}

#[tokio::test]
async fn the_same_delivery_twice_is_refused_the_second_time_with_409() {
    let endpoint = Endpoint::start().await;
    let body = push_body("refs/heads/main");
    let first = github_push(endpoint.addr, Some(DELIVERY), &body).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let again = github_push(endpoint.addr, Some(DELIVERY), &body).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains(DELIVERY), "{}", again.body);
    assert!(again.body.contains("already received"), "{}", again.body);
    assert_eq!(
        endpoint.stop().await,
        vec![trigger(Forge::GitHub)],
        "one trigger for one delivery"
    );
}

#[tokio::test]
async fn another_delivery_is_accepted() {
    let endpoint = Endpoint::start().await;
    let next = "1111111111111111111111111111111111111111";
    let first = github_push(endpoint.addr, Some(DELIVERY), &push_body("refs/heads/main")).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let second = github_push(endpoint.addr, Some(OTHER_DELIVERY), &push_to(next)).await;
    assert_eq!(second.status, 202, "{}", second.body);
    let sent = endpoint.stop().await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1].after.as_deref(), Some(next));
}

#[tokio::test]
async fn a_replay_under_a_new_delivery_id_or_none_is_refused() {
    // The id is not signed: whoever captured a delivery can change it. The
    // signed body is what they cannot change.
    let endpoint = Endpoint::start().await;
    let body = push_body("refs/heads/main");
    let first = github_push(endpoint.addr, Some(DELIVERY), &body).await;
    assert_eq!(first.status, 202, "{}", first.body);
    for delivery in [Some(OTHER_DELIVERY), None] {
        let replay = github_push(endpoint.addr, delivery, &body).await;
        assert_eq!(replay.status, 409, "{delivery:?}: {}", replay.body);
        assert!(replay.body.contains("same signed body"), "{}", replay.body);
    }
    assert_eq!(endpoint.stop().await, vec![trigger(Forge::GitHub)]);
}

#[tokio::test]
async fn a_signed_delivery_without_an_id_is_accepted_once() {
    let endpoint = Endpoint::start().await;
    let body = push_body("refs/heads/main");
    let first = github_push(endpoint.addr, None, &body).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let again = github_push(endpoint.addr, None, &body).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(endpoint.stop().await, vec![trigger(Forge::GitHub)]);
}

#[tokio::test]
async fn an_unverified_repeat_does_not_block_the_signed_delivery() {
    let endpoint = Endpoint::start().await;
    let body = push_body("refs/heads/main");
    // Someone who knows the id (and the body) but not the secret tries to
    // use it up first, twice over.
    let forged = format!("sha256={}", sign("someone-elses-secret", &body));
    for _ in 0..2 {
        let answer = post(
            endpoint.addr,
            &[
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", DELIVERY),
                ("X-Hub-Signature-256", &forged),
            ],
            &body,
        )
        .await;
        assert_eq!(answer.status, 401, "{}", answer.body);
    }
    let unsigned = post(
        endpoint.addr,
        &[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", DELIVERY)],
        &body,
    )
    .await;
    assert_eq!(unsigned.status, 401, "{}", unsigned.body);
    let signed = github_push(endpoint.addr, Some(DELIVERY), &body).await;
    assert_eq!(signed.status, 202, "{}", signed.body);
    assert_eq!(endpoint.stop().await, vec![trigger(Forge::GitHub)]);
}

#[tokio::test]
async fn gitlab_and_gitea_repeats_are_refused_by_their_own_delivery_headers() {
    let endpoint = Endpoint::start().await;
    let gitlab = format!(
        r#"{{"object_kind":"push","ref":"refs/heads/main","after":"{SHA}","checkout_sha":"{SHA}"}}"#
    );
    let headers = [
        ("X-Gitlab-Event", "Push Hook"),
        ("X-Gitlab-Token", SECRET),
        ("X-Gitlab-Event-UUID", DELIVERY),
    ];
    let first = post(endpoint.addr, &headers, gitlab.as_bytes()).await;
    assert_eq!(first.status, 202, "{}", first.body);
    // The same delivery id with another body: still the same delivery.
    let other = gitlab.replace("\"push\"", "\"push\",\"x\":1");
    let again = post(endpoint.addr, &headers, other.as_bytes()).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("X-Gitlab-Event-UUID"), "{}", again.body);

    let gitea = push_to("2222222222222222222222222222222222222222");
    let signature = sign(SECRET, &gitea);
    let headers = [
        ("X-Gitea-Event", "push"),
        ("X-Gitea-Signature", signature.as_str()),
        ("X-Gitea-Delivery", OTHER_DELIVERY),
    ];
    let first = post(endpoint.addr, &headers, &gitea).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let resigned = push_to("3333333333333333333333333333333333333333");
    let signature = sign(SECRET, &resigned);
    let again = post(
        endpoint.addr,
        &[
            ("X-Gitea-Event", "push"),
            ("X-Gitea-Signature", signature.as_str()),
            ("X-Gitea-Delivery", OTHER_DELIVERY),
        ],
        &resigned,
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("X-Gitea-Delivery"), "{}", again.body);
    assert_eq!(endpoint.stop().await.len(), 2);
}

#[tokio::test]
async fn a_delivery_id_that_is_not_an_id_is_a_400() {
    let endpoint = Endpoint::start().await;
    let long = "a".repeat(200);
    let answer = github_push(endpoint.addr, Some(&long), &push_body("refs/heads/main")).await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("X-GitHub-Delivery"), "{}", answer.body);
    assert_eq!(endpoint.stop().await, vec![]);
}

// One thread, so that the endpoint's tasks log into this test's capture.
#[tokio::test(flavor = "current_thread")]
async fn a_refused_repeat_is_logged_with_its_delivery_id() {
    let capture = logs::capture(tracing::Level::INFO);
    let endpoint = Endpoint::start().await;
    let body = push_body("refs/heads/main");
    assert_eq!(
        github_push(endpoint.addr, Some(DELIVERY), &body)
            .await
            .status,
        202
    );
    assert_eq!(
        github_push(endpoint.addr, Some(DELIVERY), &body)
            .await
            .status,
        409
    );
    endpoint.stop().await;
    let log = capture.text();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("webhook request refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{log}");
    assert!(
        refused[0].contains("409") && refused[0].contains(DELIVERY),
        "{log}"
    );
    let accepted: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("webhook push accepted"))
        .collect();
    assert!(accepted[0].contains(DELIVERY), "{log}");
}

#[tokio::test]
async fn a_delivery_the_daemon_could_not_take_is_taken_when_the_forge_retries() {
    let mut endpoint = Endpoint::start().await;
    // Fill the daemon's channel (8 places) with distinct deliveries.
    for n in 0..8 {
        let body = push_to(&format!("{n:040}"));
        let id = format!("delivery-{n}");
        let answer = github_push(endpoint.addr, Some(&id), &body).await;
        assert_eq!(answer.status, 202, "{}", answer.body);
    }
    let body = push_to(&"9".repeat(40));
    let busy = github_push(endpoint.addr, Some(DELIVERY), &body).await;
    assert_eq!(busy.status, 503, "{}", busy.body);
    // The daemon takes one; the forge redelivers the same delivery.
    endpoint.triggers.recv().await.unwrap();
    let retried = github_push(endpoint.addr, Some(DELIVERY), &body).await;
    assert_eq!(retried.status, 202, "{}", retried.body);
    let repeated = github_push(endpoint.addr, Some(DELIVERY), &body).await;
    assert_eq!(repeated.status, 409, "{}", repeated.body);
    assert_eq!(endpoint.stop().await.len(), 8);
}
