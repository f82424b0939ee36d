//! moto's server mode: a real AWS emulator speaking the AWS wire protocol
//! on 127.0.0.1, started once per test binary and killed when it ends.
//!
//! `scripts/test` installs it into `target/moto-venv` and names it in
//! `LBOPS_MOTO_SERVER`. Tests take turns: [`Moto::fresh`] waits for the
//! previous test to finish and wipes the emulator (`POST /moto-api/reset`),
//! so every test starts from an empty account.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The running emulator: its endpoint URL, e.g. `http://127.0.0.1:40123`.
pub struct Moto {
    pub endpoint: String,
    pid: u32,
    turn: tokio::sync::Mutex<()>,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

/// The secret access key the tests hand the SDK (moto accepts any);
/// `scripts/check-test-logs` makes sure no log ever shows it.
pub const AWS_TEST_SECRET: &str = "aws-test-secret-key-never-logged";

/// The emulator this test binary shares, started on first use.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(Moto::start)
}

impl Moto {
    fn start() -> Self {
        // The standard credential chain reads these; moto takes any. The
        // secret is distinctive so the suite's log check can look for it.
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7LBOPSTEST");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", AWS_TEST_SECRET);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        let program = std::env::var("LBOPS_MOTO_SERVER").unwrap_or_else(|_| {
            let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/target/moto-venv/bin/moto_server");
            assert!(
                std::path::Path::new(venv).exists(),
                "moto is not installed: run scripts/test (it installs moto[server] into target/moto-venv)"
            );
            venv.to_owned()
        });
        // Port 0: the server binds a port of its own and says which.
        let mut child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let pid = child.id();
        // The emulator must not outlive the tests: a watchdog kills it when
        // this process is gone (statics are never dropped).
        let parent = std::process::id();
        let mut watchdog = Command::new("sh")
            .args([
                "-c",
                &format!("while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill {pid} 2>/dev/null"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the moto watchdog starts");
        std::thread::spawn(move || watchdog.wait());
        let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr is piped"));
        let mut line = String::new();
        let endpoint = loop {
            line.clear();
            let read = stderr.read_line(&mut line).expect("moto's stderr reads");
            assert!(read > 0, "moto_server ended before it listened");
            // ` * Running on http://127.0.0.1:40123`
            if let Some(at) = line.find("Running on http://127.0.0.1:") {
                let address: String = line[at + "Running on ".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '\u{1b}')
                    .collect();
                break address;
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while stderr.read_line(&mut sink).is_ok_and(|n| n > 0) {
                sink.clear();
            }
            let _ = child.wait();
        });
        Self {
            endpoint,
            pid,
            turn: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits for this test's turn and wipes the emulator: an empty account
    /// for as long as the guard lives.
    pub async fn fresh(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let guard = self.turn.lock().await;
        self.reset().await;
        guard
    }

    /// Wipes every region of the emulator (`POST /moto-api/reset`).
    pub async fn reset(&self) {
        lbops::report::forge::install_crypto_provider();
        let reset = reqwest::Client::new()
            .post(format!("{}/moto-api/reset", self.endpoint))
            .send()
            .await
            .expect("moto answers");
        assert!(
            reset.status().is_success(),
            "moto reset: {}",
            reset.status()
        );
    }

    /// The emulator's process id (for tests that check it is cleaned up).
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

/// SDK clients' shared config for `region` of the emulator.
pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(&moto().endpoint)
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .load()
        .await
}

/// A VPC with a subnet in each of two zones, as an ALB needs.
pub struct Vpc {
    pub id: String,
    pub subnets: Vec<String>,
}

impl Vpc {
    pub async fn create(region: &str) -> Self {
        let ec2 = aws_sdk_ec2::Client::new(&sdk_config(region).await);
        let vpc = ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .expect("moto creates a VPC");
        let id = vpc
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("a VPC id")
            .to_owned();
        let mut subnets = Vec::new();
        for (i, zone) in ["a", "b"].iter().enumerate() {
            let subnet = ec2
                .create_subnet()
                .vpc_id(&id)
                .cidr_block(format!("10.0.{}.0/24", i + 1))
                .availability_zone(format!("{region}{zone}"))
                .send()
                .await
                .expect("moto creates a subnet");
            subnets.push(
                subnet
                    .subnet()
                    .and_then(|s| s.subnet_id())
                    .expect("a subnet id")
                    .to_owned(),
            );
        }
        Self { id, subnets }
    }
}

/// moto behind the strict request check, for a process of its own (the
/// daemon) that no interceptor of the test reaches: every request is
/// checked against the service models ([`super::aws_model`]) before it
/// is passed on. A request that breaks them is answered as AWS would
/// (400 `ValidationError`), and fails the test when this is dropped.
pub struct StrictMoto {
    /// Where to point the daemon's `endpoint_url`.
    pub endpoint: String,
    violations: Arc<Mutex<Vec<String>>>,
    /// Requests checked so far (a test can see the check was in the way).
    checked: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

impl StrictMoto {
    pub async fn start() -> Self {
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let violations = Arc::new(Mutex::new(Vec::new()));
        let checked = Arc::new(AtomicUsize::new(0));
        let (seen, count) = (violations.clone(), checked.clone());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (client, seen, count) = (client.clone(), seen.clone(), count.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let (client, seen) = (client.clone(), seen.clone());
                        count.fetch_add(1, Ordering::Relaxed);
                        async move {
                            Ok::<_, std::convert::Infallible>(pass(request, &client, &seen).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            endpoint,
            violations,
            checked,
            task,
        }
    }

    /// How many requests have been checked.
    pub fn checked(&self) -> usize {
        self.checked.load(Ordering::Relaxed)
    }

    /// Every request that broke the models so far, one report each.
    pub fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }

    /// Takes the violations seen so far: a test that provokes one on
    /// purpose takes it, so only the unexpected ones fail it.
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut *self.violations.lock().unwrap())
    }
}

impl Drop for StrictMoto {
    fn drop(&mut self) {
        self.task.abort();
        let violations = self.violations();
        if violations.is_empty() {
            return;
        }
        let text = violations.join("\n");
        if std::thread::panicking() {
            eprintln!("{text}");
        } else {
            panic!("{text}");
        }
    }
}

/// Checks one request and passes it on to moto, or answers it as AWS
/// answers a request that breaks the model.
async fn pass(
    request: hyper::Request<hyper::body::Incoming>,
    client: &reqwest::Client,
    seen: &Mutex<Vec<String>>,
) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    use super::aws_model::{check, mode, report, Mode, WireRequest};
    use http_body_util::BodyExt;
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    let mode = mode();
    if mode != Mode::Off {
        if let Err(violations) = check(&WireRequest {
            target,
            body: &body,
        }) {
            let text = report(&violations);
            eprintln!("{text}");
            if mode == Mode::Fail {
                seen.lock().unwrap().push(text.clone());
                return refused(target.is_some(), &text);
            }
        }
    }
    let url = format!("{}{}", moto().endpoint, parts.uri);
    let mut forward = client.request(parts.method, url).body(body);
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST {
            forward = forward.header(name, value);
        }
    }
    let answer = forward.send().await.expect("moto answers");
    let mut response = hyper::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    let bytes = answer.bytes().await.expect("moto's answer reads");
    response
        .body(http_body_util::Full::new(bytes))
        .expect("a valid response")
}

/// AWS's answer to a request that breaks the model, in the protocol's form.
fn refused(json: bool, text: &str) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    let (content_type, body) = if json {
        (
            "application/x-amz-json-1.1",
            serde_json::json!({"__type": "ValidationException", "message": text}).to_string(),
        )
    } else {
        let escaped = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>{escaped}</Message></Error><RequestId>strict-check</RequestId></ErrorResponse>"
            ),
        )
    };
    hyper::Response::builder()
        .status(400)
        .header("content-type", content_type)
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .expect("a valid response")
}
