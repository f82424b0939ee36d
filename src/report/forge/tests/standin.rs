//! A stand-in forge on 127.0.0.1: answers what a test scripts, and
//! refuses — recording a violation the test then fails on — any request
//! that does not have the published shape of its API (see `shapes.rs`).
//!
//! Beyond the shape it keeps each commit's statuses and answers as the
//! real forge does (see [`Rules`]): GitLab's state machine (a pending or
//! running status refuses the same state again, 400 "Cannot transition
//! status"), GitLab's `target_url` of at most 255 characters and its 404
//! "References for commit" for a `ref` the commit is not on, GitHub's
//! 1,000 statuses per commit and context (422), and an outage (503) until
//! a time on a test's clock. Redirects and rate limits are scripted
//! [`Reply`]s.

use crate::report::forge::ForgeKind;
use crate::support::clock::Clock;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use tokio::net::TcpListener;

/// A request of the published shape.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    /// The scheme of the Authorization header (`Bearer`, `Basic`), if sent.
    pub auth: Option<String>,
    pub body: Value,
    pub at: Instant,
}

/// An answer a test scripts; requests beyond the script get 201.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: format!("{{\"message\":\"stand-in says {status}\"}}"),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }
}

/// Checks one request against an API's published shape.
pub type Shape =
    fn(method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, String>;

/// What the forge does with a request of the right shape, as the real
/// one does.
pub struct Rules {
    kind: ForgeKind,
    /// GitHub: statuses kept per commit and context (1,000).
    pub status_limit: usize,
    /// GitLab: the branches and the commits on each, for `ref`.
    pub branches: BTreeMap<String, BTreeSet<String>>,
}

impl Rules {
    fn of(kind: ForgeKind) -> Self {
        Rules {
            kind,
            status_limit: 1_000,
            branches: BTreeMap::from([(
                "main".to_owned(),
                BTreeSet::from([super::commit().to_string()]),
            )]),
        }
    }
}

/// One status the forge took.
#[derive(Clone, Debug, PartialEq)]
pub struct Kept {
    pub sha: String,
    pub context: String,
    pub body: Value,
}

struct Shared {
    seen: Vec<Seen>,
    violations: Vec<String>,
    replies: VecDeque<Reply>,
    rules: Rules,
    /// Every status the forge took, in order.
    kept: Vec<Kept>,
    /// 503 until this time on this clock.
    outage: Option<(Arc<dyn Clock>, SystemTime)>,
}

pub struct StandIn {
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    server: tokio::task::JoinHandle<()>,
}

impl StandIn {
    pub async fn start(kind: ForgeKind, shape: Shape) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared {
            seen: Vec::new(),
            violations: Vec::new(),
            replies: VecDeque::new(),
            rules: Rules::of(kind),
            kept: Vec::new(),
            outage: None,
        }));
        let state = shared.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(&state, shape, request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        StandIn {
            base,
            shared,
            server,
        }
    }

    /// Queues the answer to the next request of the right shape.
    pub fn reply(&self, reply: Reply) {
        self.lock().replies.push_back(reply);
    }

    /// The path a status of `commit` is posted to on this forge.
    pub fn path_of(&self, commit: crate::source::CommitId) -> String {
        let kind = self.lock().rules.kind;
        match kind {
            ForgeKind::GitHub => format!("/repos/{}/statuses/{commit}", super::shapes::OWNER_REPO),
            ForgeKind::GitLab => format!(
                "/api/v4/projects/{}/statuses/{commit}",
                super::shapes::GITLAB_PROJECT.replace('/', "%2F")
            ),
            ForgeKind::Gitea => {
                format!(
                    "/api/v1/repos/{}/statuses/{commit}",
                    super::shapes::OWNER_REPO
                )
            }
            ForgeKind::Bitbucket => format!(
                "/2.0/repositories/{}/commit/{commit}/statuses/build",
                super::shapes::OWNER_REPO
            ),
        }
    }

    /// Changes how the forge behaves.
    pub fn rules(&self, change: impl FnOnce(&mut Rules)) {
        change(&mut self.lock().rules);
    }

    /// Answers 503 to every request until `clock` says `until`.
    pub fn outage(&self, clock: Arc<dyn Clock>, until: SystemTime) {
        self.lock().outage = Some((clock, until));
    }

    /// Every status the forge took, in order; panics like [`Self::seen`].
    pub fn kept(&self) -> Vec<Kept> {
        self.seen();
        self.lock().kept.clone()
    }

    /// The requests of the right shape, in order; panics if any request
    /// was not of the right shape.
    pub fn seen(&self) -> Vec<Seen> {
        let shared = self.lock();
        assert!(
            shared.violations.is_empty(),
            "requests not of the published shape:\n{}",
            shared.violations.join("\n")
        );
        shared.seen.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    state: &Mutex<Shared>,
    shape: Shape,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let checked = shape(parts.method.as_str(), &path, &parts.headers, &body);
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let reply = match checked {
        Err(violation) => {
            state
                .violations
                .push(format!("{} {path}: {violation}", parts.method));
            Reply::status(422).body(&format!("{{\"message\":{}}}", Value::from(violation)))
        }
        Ok(body) => {
            let auth = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_whitespace().next())
                .map(str::to_owned);
            state.seen.push(Seen {
                path: path.clone(),
                auth,
                body: body.clone(),
                at: Instant::now(),
            });
            let down = match &state.outage {
                Some((clock, until)) => clock.now() < *until,
                None => false,
            };
            match state.replies.pop_front() {
                Some(reply) => reply,
                None if down => Reply::status(503).body("<html>503 Service Unavailable</html>"),
                None => take(&mut state, &path, body),
            }
        }
    };
    let mut response = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap())
        .header("content-type", "application/json");
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Full::new(Bytes::from(reply.body))).unwrap()
}

/// The forge's own answer to a status of the right shape, keeping it
/// when it takes it.
fn take(state: &mut Shared, path: &str, body: Value) -> Reply {
    let sha = path
        .split('/')
        .find(|segment| segment.len() == 40 && segment.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_default()
        .to_owned();
    let context_field = match state.rules.kind {
        ForgeKind::GitHub | ForgeKind::Gitea => "context",
        ForgeKind::GitLab => "name",
        ForgeKind::Bitbucket => "key",
    };
    let context = body[context_field].as_str().unwrap_or("default").to_owned();
    let earlier: Vec<&Kept> = state
        .kept
        .iter()
        .filter(|k| k.sha == sha && k.context == context)
        .collect();
    match state.rules.kind {
        ForgeKind::GitHub if earlier.len() >= state.rules.status_limit => {
            return Reply::status(422).body(
                r#"{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","field":"context","message":"This SHA and context has reached the maximum number of statuses."}],"documentation_url":"https://docs.github.com/rest/commits/statuses#create-a-commit-status","status":"422"}"#,
            );
        }
        ForgeKind::GitLab => {
            if let Some(refused) = gitlab(&state.rules, &sha, &body, earlier.last().copied()) {
                return refused;
            }
        }
        _ => {}
    }
    state.kept.push(Kept { sha, context, body });
    Reply::status(201).body("{}")
}

/// GitLab's checks (`Ci::CreateCommitStatusService`): a `target_url`
/// over 255 characters, a `ref` the commit is not on, and its state
/// machine — a pending or running status is found and moved (`enqueue`,
/// `run`), which a status already there refuses; a finished one is left
/// and a new one made, so anything may follow it.
fn gitlab(rules: &Rules, sha: &str, body: &Value, last: Option<&Kept>) -> Option<Reply> {
    if body["target_url"]
        .as_str()
        .is_some_and(|u| u.chars().count() > 255)
    {
        return Some(
            Reply::status(400)
                .body(r#"{"message":{"target_url":["is too long (maximum is 255 characters)"]}}"#),
        );
    }
    // With a ref, the commit must be on it; without one GitLab takes the
    // first branch holding the commit, and there must be one.
    let on_a_branch = match body["ref"].as_str() {
        Some(git_ref) => rules.branches.get(git_ref).is_some_and(|c| c.contains(sha)),
        None => rules.branches.values().any(|c| c.contains(sha)),
    };
    if !on_a_branch {
        return Some(
            Reply::status(404).body(r#"{"message":"404 References for commit Not Found"}"#),
        );
    }
    let was = last.and_then(|k| k.body["state"].as_str()).unwrap_or("");
    let wanted = body["state"].as_str().unwrap_or("");
    let (event, refused) = match (was, wanted) {
        ("pending", "pending") => ("enqueue", true),
        ("running", "pending") => ("enqueue", true),
        ("running", "running") => ("run", true),
        _ => ("", false),
    };
    refused.then(|| {
        Reply::status(400).body(&format!(
            r#"{{"message":"Cannot transition status via :{event} from :{was} (Reason(s): Status cannot transition via \"{event}\")"}}"#
        ))
    })
}
