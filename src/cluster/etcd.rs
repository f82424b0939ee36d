//! A small client for etcd's v3 API through its JSON gateway (`/v3/…`),
//! over the reqwest already in the tree.
//!
//! Why the gateway and not the `etcd-client` crate: that crate brings
//! tonic, prost and a build-time `protoc`, minutes of compile on two cores
//! for five calls; the gateway is part of every etcd since 3.3, speaks the
//! same v3 semantics (leases, transactions, revisions), and its answers
//! are the protobuf messages in JSON (64-bit integers as strings, bytes as
//! base64, zero values left out). What the gateway cannot do is stream a
//! watch as cheaply; lbops polls the leader key instead (a standby looks
//! every [`super::lease::STANDBY_POLL`]).
//!
//! Every call has a deadline, answers are bounded in size, and the
//! endpoints are tried in turn from the last one that answered.

use crate::source::{Secret, SecretRef};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The largest answer read from etcd: a range of lbops' few keys is far
/// smaller; anything bigger is not an answer lbops asked for.
const MAX_ANSWER: usize = 4 << 20;

/// How to reach etcd.
#[derive(Clone, Debug)]
pub struct EtcdConfig {
    /// `http(s)://host:port` of each member.
    pub endpoints: Vec<String>,
    /// PEM CA bundle that signed the members' certificates; `None`: the
    /// system's roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM), for members that require one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// etcd's own authentication: a user and where its password is.
    pub user: Option<(String, SecretRef)>,
    /// The deadline of one call.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("etcd is unreachable ({endpoints}): {reason}")]
    Unreachable { endpoints: String, reason: String },
    #[error("etcd refused {call} ({status}): {message}")]
    Refused {
        call: &'static str,
        status: u16,
        message: String,
    },
    #[error("etcd answered {call} with something lbops cannot read: {reason}")]
    BadAnswer { call: &'static str, reason: String },
    #[error("etcd client setup: {0}")]
    Setup(String),
}

/// A lease's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseId(pub i64);

/// A key and its value with etcd's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// The revision that created the key (since its last deletion).
    pub create_revision: i64,
    pub mod_revision: i64,
    pub lease: i64,
}

/// One comparison of a transaction.
#[derive(Clone, Debug)]
pub enum Compare {
    /// The key's create revision equals this (0: the key does not exist).
    CreateRevision { key: Vec<u8>, equals: i64 },
    /// The key's value equals this.
    Value { key: Vec<u8>, equals: Vec<u8> },
}

/// One operation of a transaction.
#[derive(Clone, Debug)]
pub enum Op {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    Get {
        key: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
}

/// What a transaction did.
#[derive(Clone, Debug, Default)]
pub struct TxnResult {
    /// Whether every comparison held (and `success` ran).
    pub succeeded: bool,
    /// The store's revision after the transaction.
    pub revision: i64,
    /// For each `Get` that ran, in order: what it found.
    pub found: Vec<Option<KeyValue>>,
}

/// The client. Cheap to share behind an `Arc`.
pub struct Etcd {
    http: reqwest::Client,
    endpoints: Vec<String>,
    /// The endpoint that answered last: tried first.
    current: AtomicUsize,
    user: Option<(String, Secret)>,
    /// The token etcd's authentication gave, until it is refused.
    token: Mutex<Option<String>>,
}

impl Etcd {
    pub fn new(config: &EtcdConfig) -> Result<Self, EtcdError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if config.endpoints.is_empty() {
            return Err(EtcdError::Setup("no endpoints".into()));
        }
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(config.timeout)
            .connect_timeout(config.timeout);
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| EtcdError::Setup(format!("ca_file {}: {e}", path.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                EtcdError::Setup(format!("ca_file {}: not PEM ({e})", path.display()))
            })?;
            builder = builder.tls_certs_only(certs);
        }
        if let Some((cert, key)) = &config.client_cert {
            let mut pem = std::fs::read(cert)
                .map_err(|e| EtcdError::Setup(format!("cert_file {}: {e}", cert.display())))?;
            pem.extend(
                std::fs::read(key)
                    .map_err(|e| EtcdError::Setup(format!("key_file {}: {e}", key.display())))?,
            );
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| EtcdError::Setup(format!("cert_file/key_file: {e}")))?;
            builder = builder.identity(identity);
        }
        let user = match &config.user {
            Some((name, password)) => Some((
                name.clone(),
                password
                    .read()
                    .map_err(|e| EtcdError::Setup(format!("password: {e}")))?,
            )),
            None => None,
        };
        Ok(Etcd {
            http: builder
                .build()
                .map_err(|e| EtcdError::Setup(e.to_string()))?,
            endpoints: config
                .endpoints
                .iter()
                .map(|e| e.trim_end_matches('/').to_owned())
                .collect(),
            current: AtomicUsize::new(0),
            user,
            token: Mutex::new(None),
        })
    }

    /// A lease of `ttl` (whole seconds, at least 1).
    pub async fn grant(&self, ttl: Duration) -> Result<LeaseId, EtcdError> {
        #[derive(Deserialize)]
        struct Granted {
            #[serde(rename = "ID")]
            id: Option<String>,
            error: Option<String>,
        }
        let ttl = ttl.as_secs().max(1);
        let answer: Granted = self.call("lease/grant", json!({ "TTL": ttl })).await?;
        if let Some(error) = answer.error.filter(|e| !e.is_empty()) {
            return Err(refused("lease/grant", error));
        }
        answer
            .id
            .and_then(|id| id.parse().ok())
            .map(LeaseId)
            .ok_or_else(|| bad("lease/grant", "no lease id"))
    }

    /// Renews `lease`; `Ok(None)` when it has expired (or never was).
    pub async fn keep_alive(&self, lease: LeaseId) -> Result<Option<Duration>, EtcdError> {
        #[derive(Deserialize)]
        struct Answer {
            result: Option<Kept>,
            error: Option<Value>,
        }
        #[derive(Deserialize)]
        struct Kept {
            #[serde(rename = "TTL")]
            ttl: Option<String>,
        }
        let answer: Answer = self
            .call("lease/keepalive", json!({ "ID": lease.0.to_string() }))
            .await?;
        if let Some(error) = answer.error {
            return Err(refused("lease/keepalive", error.to_string()));
        }
        let ttl: i64 = answer
            .result
            .and_then(|r| r.ttl)
            .map_or(Ok(0), |t| t.parse())
            .map_err(|_| bad("lease/keepalive", "TTL is not a number"))?;
        Ok((ttl > 0).then(|| Duration::from_secs(ttl.unsigned_abs())))
    }

    /// Ends `lease` now, deleting the keys attached to it.
    pub async fn revoke(&self, lease: LeaseId) -> Result<(), EtcdError> {
        let _: Value = self
            .call("lease/revoke", json!({ "ID": lease.0.to_string() }))
            .await?;
        Ok(())
    }

    /// The key's value, if it exists.
    pub async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, EtcdError> {
        let result = self.txn(&[], &[Op::Get { key: key.to_vec() }], &[]).await?;
        Ok(result.found.into_iter().next().flatten())
    }

    /// Every key under `prefix` (at most `limit`), in key order.
    pub async fn list(&self, prefix: &[u8], limit: usize) -> Result<Vec<KeyValue>, EtcdError> {
        let mut end = prefix.to_vec();
        // The range end is the prefix with its last byte one higher.
        while let Some(last) = end.pop() {
            if last < 0xff {
                end.push(last + 1);
                break;
            }
        }
        let body = json!({
            "key": B64.encode(prefix),
            "range_end": B64.encode(&end),
            "limit": limit.to_string(),
        });
        let answer: RangeAnswer = self.call("kv/range", body).await?;
        answer.kvs.into_iter().map(KvJson::decode).collect()
    }

    /// Runs `success` if every comparison holds, `failure` otherwise — one
    /// atomic step of the store.
    pub async fn txn(
        &self,
        compare: &[Compare],
        success: &[Op],
        failure: &[Op],
    ) -> Result<TxnResult, EtcdError> {
        let body = json!({
            "compare": compare.iter().map(compare_json).collect::<Vec<_>>(),
            "success": success.iter().map(op_json).collect::<Vec<_>>(),
            "failure": failure.iter().map(op_json).collect::<Vec<_>>(),
        });
        let answer: TxnAnswer = self.call("kv/txn", body).await?;
        if let Some(error) = answer.error.filter(|e| !e.is_empty()) {
            return Err(refused("kv/txn", error));
        }
        let revision = answer
            .header
            .and_then(|h| h.revision)
            .map_or(Ok(0), |r| r.parse())
            .map_err(|_| bad("kv/txn", "revision is not a number"))?;
        let mut found = Vec::new();
        for response in answer.responses {
            if let Some(range) = response.response_range {
                let first = range
                    .kvs
                    .into_iter()
                    .next()
                    .map(KvJson::decode)
                    .transpose()?;
                found.push(first);
            }
        }
        Ok(TxnResult {
            succeeded: answer.succeeded,
            revision,
            found,
        })
    }

    /// POSTs `body` to `/v3/{path}` at the endpoints in turn, with the
    /// auth token when etcd's authentication is on (fetched once, again
    /// when etcd refuses it).
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        path: &'static str,
        body: Value,
    ) -> Result<T, EtcdError> {
        let mut last = String::new();
        let start = self.current.load(Ordering::Relaxed);
        for offset in 0..self.endpoints.len() {
            let index = (start + offset) % self.endpoints.len();
            let endpoint = &self.endpoints[index];
            match self.call_at(endpoint, path, &body).await {
                Ok(answer) => {
                    self.current.store(index, Ordering::Relaxed);
                    return serde_json::from_slice(&answer).map_err(|e| bad(path, &e.to_string()));
                }
                Err(Failure::Answered(error)) => return Err(error),
                Err(Failure::Unreachable(reason)) => last = format!("{endpoint}: {reason}"),
            }
        }
        Err(EtcdError::Unreachable {
            endpoints: self.endpoints.join(", "),
            reason: last,
        })
    }

    async fn call_at(
        &self,
        endpoint: &str,
        path: &'static str,
        body: &Value,
    ) -> Result<Vec<u8>, Failure> {
        for attempt in 0..2 {
            let token = match &self.user {
                Some(user) => Some(self.token(endpoint, user).await?),
                None => None,
            };
            let mut request = self.http.post(format!("{endpoint}/v3/{path}")).json(body);
            if let Some(token) = &token {
                request = request.header("authorization", token);
            }
            let (status, bytes) = send(request).await?;
            if status.is_success() {
                return Ok(bytes);
            }
            let message = error_message(&bytes);
            // An expired or revoked auth token: fetch a new one, once.
            if attempt == 0 && token.is_some() && message.contains("token") {
                *self.token.lock().unwrap_or_else(|p| p.into_inner()) = None;
                continue;
            }
            // etcd answers 503 while it has no leader: another member may.
            if status.as_u16() == 503 {
                return Err(Failure::Unreachable(message));
            }
            return Err(Failure::Answered(EtcdError::Refused {
                call: path,
                status: status.as_u16(),
                message,
            }));
        }
        Err(Failure::Unreachable(
            "the auth token was refused twice".into(),
        ))
    }

    async fn token(
        &self,
        endpoint: &str,
        (name, password): &(String, Secret),
    ) -> Result<String, Failure> {
        if let Some(token) = self.token.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(token);
        }
        #[derive(Deserialize)]
        struct Authenticated {
            token: Option<String>,
        }
        let request = self
            .http
            .post(format!("{endpoint}/v3/auth/authenticate"))
            .json(&json!({ "name": name, "password": password.expose() }));
        let (status, bytes) = send(request).await?;
        if !status.is_success() {
            return Err(Failure::Answered(EtcdError::Refused {
                call: "auth/authenticate",
                status: status.as_u16(),
                message: error_message(&bytes),
            }));
        }
        let token = serde_json::from_slice::<Authenticated>(&bytes)
            .ok()
            .and_then(|a| a.token)
            .ok_or_else(|| Failure::Answered(bad("auth/authenticate", "no token")))?;
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        Ok(token)
    }
}

enum Failure {
    /// Try the next endpoint.
    Unreachable(String),
    /// A real answer: the next endpoint would say the same.
    Answered(EtcdError),
}

async fn send(request: reqwest::RequestBuilder) -> Result<(reqwest::StatusCode, Vec<u8>), Failure> {
    let mut response = request
        .send()
        .await
        .map_err(|e| Failure::Unreachable(without_url(&e)))?;
    let status = response.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::Unreachable(without_url(&e)))?
    {
        if bytes.len() + chunk.len() > MAX_ANSWER {
            return Err(Failure::Unreachable(format!(
                "an answer over {MAX_ANSWER} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((status, bytes))
}

/// reqwest's error text, without the URL it repeats.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(source) = std::error::Error::source(error) {
        text = format!("{text}: {source}");
    }
    text
}

fn error_message(bytes: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorAnswer {
        message: Option<String>,
        error: Option<String>,
    }
    serde_json::from_slice::<ErrorAnswer>(bytes)
        .ok()
        .and_then(|e| e.message.or(e.error))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned())
}

fn refused(call: &'static str, message: String) -> EtcdError {
    EtcdError::Refused {
        call,
        status: 200,
        message,
    }
}

fn bad(call: &'static str, reason: &str) -> EtcdError {
    EtcdError::BadAnswer {
        call,
        reason: reason.to_owned(),
    }
}

fn compare_json(compare: &Compare) -> Value {
    match compare {
        Compare::CreateRevision { key, equals } => json!({
            "key": B64.encode(key),
            "target": "CREATE",
            "result": "EQUAL",
            "create_revision": equals.to_string(),
        }),
        Compare::Value { key, equals } => json!({
            "key": B64.encode(key),
            "target": "VALUE",
            "result": "EQUAL",
            "value": B64.encode(equals),
        }),
    }
}

fn op_json(op: &Op) -> Value {
    match op {
        Op::Put { key, value, lease } => {
            let mut put = json!({ "key": B64.encode(key), "value": B64.encode(value) });
            if let Some(lease) = lease {
                put["lease"] = json!(lease.0.to_string());
            }
            json!({ "request_put": put })
        }
        Op::Get { key } => json!({ "request_range": { "key": B64.encode(key) } }),
        Op::Delete { key } => json!({ "request_delete_range": { "key": B64.encode(key) } }),
    }
}

#[derive(Deserialize)]
struct TxnAnswer {
    header: Option<Header>,
    #[serde(default)]
    succeeded: bool,
    #[serde(default)]
    responses: Vec<ResponseOp>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    revision: Option<String>,
}

#[derive(Deserialize)]
struct ResponseOp {
    response_range: Option<RangeAnswer>,
}

#[derive(Deserialize)]
struct RangeAnswer {
    #[serde(default)]
    kvs: Vec<KvJson>,
}

#[derive(Deserialize)]
struct KvJson {
    key: Option<String>,
    value: Option<String>,
    create_revision: Option<String>,
    mod_revision: Option<String>,
    lease: Option<String>,
}

impl KvJson {
    fn decode(self) -> Result<KeyValue, EtcdError> {
        let bytes = |field: Option<String>| {
            B64.decode(field.unwrap_or_default())
                .map_err(|_| bad("kv/txn", "a key or value is not base64"))
        };
        let number = |field: Option<String>| {
            field
                .map_or(Ok(0), |n| n.parse::<i64>())
                .map_err(|_| bad("kv/txn", "a revision is not a number"))
        };
        Ok(KeyValue {
            key: bytes(self.key)?,
            value: bytes(self.value)?,
            create_revision: number(self.create_revision)?,
            mod_revision: number(self.mod_revision)?,
            lease: number(self.lease)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_the_gateway_json_with_base64_bytes_and_string_numbers() {
        let put = op_json(&Op::Put {
            key: b"/lbops/leader".to_vec(),
            value: b"a".to_vec(),
            lease: Some(LeaseId(7)),
        });
        assert_eq!(
            put,
            json!({"request_put": {"key": "L2xib3BzL2xlYWRlcg==", "value": "YQ==", "lease": "7"}})
        );
        let compare = compare_json(&Compare::CreateRevision {
            key: b"k".to_vec(),
            equals: 0,
        });
        assert_eq!(compare["create_revision"], "0");
        assert_eq!(compare["target"], "CREATE");
    }

    #[test]
    fn an_answer_without_zero_values_reads_as_zero() {
        // etcd leaves out `succeeded: false` and zero revisions.
        let answer: TxnAnswer = serde_json::from_str(
            r#"{"header":{"revision":"9"},"responses":[{"response_range":{"header":{},"kvs":[{"key":"aw==","create_revision":"3","mod_revision":"9","version":"2","value":"dg=="}],"count":"1"}}]}"#,
        )
        .unwrap();
        assert!(!answer.succeeded);
        let kv = answer
            .responses
            .into_iter()
            .next()
            .unwrap()
            .response_range
            .unwrap()
            .kvs
            .remove(0)
            .decode()
            .unwrap();
        assert_eq!(
            (kv.key, kv.value, kv.create_revision, kv.lease),
            (b"k".to_vec(), b"v".to_vec(), 3, 0)
        );
    }
}
