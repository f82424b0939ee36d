//! `lbops demo`, the README's main command, as a new user runs it: the
//! real binary in a fresh directory, then what it prints to try — HTTP and
//! HTTPS through the balancer (trusting only the demo's CA), the canary
//! split, a commit signed by the repository's own git config and its
//! status — and a clean stop on SIGTERM.

mod common;

use bytes::Bytes;
use common::ChildProcess;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Where the example's `web` balancer listens.
const WEB: &str = "127.0.10.1";

/// The running demo; its output is collected (never left to fill a pipe)
/// and it is killed when dropped, backends and balancer with it.
struct Demo {
    process: ChildProcess,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Demo {
    fn start(dir: &Path) -> Self {
        let (mut process, stderr) = ChildProcess::lbops(|c| {
            c.arg("demo")
                .arg("--dir")
                .arg(dir)
                .stdout(Stdio::piped())
                // The user's own git config plays no part.
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
        });
        let stdout = std::io::BufReader::new(process.0.stdout.take().unwrap());
        Demo {
            process,
            stdout: collect(stdout),
            stderr: collect(stderr),
        }
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            self.stdout.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap().join("\n")
        )
    }

    /// Waits until the demo has printed what to try; returns all it printed.
    fn instructions(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let stdout = self.stdout.lock().unwrap().join("\n");
            if stdout.contains("Ctrl-C stops") {
                return stdout;
            }
            assert!(
                Instant::now() < deadline,
                "nothing to try within a minute:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn collect(reader: impl BufRead + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// Git in the demo repository with no global or system config: only the
/// repository's own.
fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A plain-HTTP GET to `WEB:port` with a Host header: status, headers, body.
async fn http_get(port: u16, host: &str, path: &str) -> (u16, hyper::HeaderMap, String) {
    let stream = TcpStream::connect((WEB, port)).await.unwrap();
    request(stream, host, path).await
}

/// An HTTPS GET, as `curl --cacert CA --resolve HOST:8443:WEB` sends it.
async fn https_get(ca: &Path, host: &str, path: &str) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect((WEB, 8443)).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(host.to_owned()).unwrap(), tcp)
        .await
        .expect("the demo's certificate verifies against its CA");
    let (status, _, body) = request(tls, host, path).await;
    (status, body)
}

async fn request<S>(stream: S, host: &str, path: &str) -> (u16, hyper::HeaderMap, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// How many of `n` requests for `/` each pool answered: (stable, canary).
async fn split(ca: &Path, n: usize) -> (usize, usize) {
    let (mut stable, mut canary) = (0, 0);
    for _ in 0..n {
        let (status, body) = https_get(ca, "www.example.test", "/").await;
        assert_eq!(status, 200, "{body}");
        match body.split(' ').next() {
            Some("web-stable") => stable += 1,
            Some("web-canary") => canary += 1,
            _ => panic!("neither web-stable nor web-canary: {body}"),
        }
    }
    (stable, canary)
}

/// The lbops note of a commit, once it has a line starting with `line`.
async fn wait_for_note(repo: &Path, commit: &str, line: &str, demo: &Demo) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["notes", "--ref=lbops", "show", commit])
            .output()
            .unwrap();
        let note = String::from_utf8_lossy(&out.stdout).into_owned();
        if note.lines().any(|l| l.starts_with(line)) {
            return note;
        }
        assert!(
            Instant::now() < deadline,
            "no `{line}` on {commit}: {note:?}\n{}",
            demo.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_the_example_and_applies_a_signed_commit() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("lbops-demo");
    let started = Instant::now();
    let mut demo = Demo::start(&dir);
    let printed = demo.instructions();
    let ready_after = started.elapsed();
    assert!(ready_after < Duration::from_secs(60), "{ready_after:?}");
    let dir = dir.canonicalize().unwrap();
    let ca = dir.join("demo-ca.pem");
    let repo = dir.join("repo");
    check_layout(&dir);

    // What it prints is what this test does.
    let curl = |host: &str| {
        format!(
            "curl -s --cacert {} --resolve {host}.example.test:8443:{WEB} \
             https://{host}.example.test:8443",
            ca.display()
        )
    };
    for expected in [
        format!("curl -si -H 'Host: www.example.test' http://{WEB}:8080/hello"),
        format!("{}/\n", curl("www")),
        format!("{}/v1/users", curl("api")),
        format!("{}/checkout", curl("www")),
        format!("git -C {} log --notes=lbops -3", repo.display()),
    ] {
        assert!(printed.contains(&expected), "{expected:?} in:\n{printed}");
    }

    // Plain HTTP redirects to HTTPS.
    let (status, headers, _) = http_get(8080, "www.example.test", "/hello").await;
    assert_eq!(status, 301);
    assert_eq!(
        headers["location"].to_str().unwrap(),
        "https://www.example.test:8443/hello"
    );

    // HTTPS: the canary route splits 90/10 between the two pools.
    let (stable, canary) = split(&ca, 100).await;
    assert!(stable > 0 && canary > 0, "{stable} stable, {canary} canary");
    assert!(stable > 3 * canary, "{stable} stable, {canary} canary");

    // The API route and the maintenance page.
    let (status, body) = https_get(&ca, "api.example.test", "/v1/users").await;
    assert_eq!(
        (status, body.split(' ').take(2).collect::<Vec<_>>()),
        (200, vec!["web-api", "/v1/users"])
    );
    let (status, body) = https_get(&ca, "www.example.test", "/checkout").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("maintenance"), "{body}");

    // The printed commit, run as printed: signed by the repository's own
    // config, judged, applied.
    let shift = printed
        .lines()
        .map(str::trim)
        .find(|l| l.contains("git commit -am"))
        .expect("a commit to try");
    let out = Command::new("sh")
        .args(["-c", shift])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{shift}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let signature = git(&repo, &["log", "-1", "--format=%G? %ae", &head]);
    assert_eq!(
        signature, "G alice@example.test",
        "a good signature by alice"
    );
    let note = wait_for_note(&repo, &head, "lbops/apply: success", &demo).await;
    assert!(note.contains("lbops/authorize: success"), "{note}");
    let (stable, canary) = split(&ca, 100).await;
    assert!(
        (30..=70).contains(&canary),
        "canary at 50%: {stable} stable, {canary} canary"
    );
    let log = git(&repo, &["log", "--notes=lbops", "-3"]);
    assert_eq!(log.matches("lbops/apply: success").count(), 2, "{log}");

    // SIGTERM stops it cleanly: exit 0, everything kept on disk.
    let pid = demo.process.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = demo.process.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after SIGTERM:\n{}",
            demo.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}\n{}", demo.output());
    assert!(
        TcpStream::connect((WEB, 8443)).await.is_err(),
        "the balancer stopped with it"
    );
}

/// The demo repository is the example, but for alice's key and the
/// certificate, which are the demo's; no private key is in it, and
/// everything is committed.
fn check_layout(dir: &Path) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/repo");
    let changed = [
        "access/users.yaml",
        "certificates/wildcard-example-test.pem",
        "certificates/wildcard-example-test.yaml",
    ];
    for file in walk(&example) {
        let relative = file.strip_prefix(&example).unwrap();
        let copied = std::fs::read_to_string(dir.join("repo").join(relative))
            .unwrap_or_else(|e| panic!("{} not copied: {e}", relative.display()));
        let original = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            copied == original,
            !changed.contains(&relative.to_str().unwrap()),
            "{}",
            relative.display()
        );
        assert!(!copied.contains("PRIVATE KEY"), "{}", relative.display());
    }
    let alice = std::fs::read_to_string(dir.join("keys/alice.pub")).unwrap();
    let users = std::fs::read_to_string(dir.join("repo/access/users.yaml")).unwrap();
    assert!(users.contains(alice.trim()), "{users}");
    let key = dir.join("keys/wildcard-example-test.key");
    let certificate =
        std::fs::read_to_string(dir.join("repo/certificates/wildcard-example-test.yaml")).unwrap();
    assert!(
        certificate.contains(&format!("file: '{}'", key.display())),
        "{certificate}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    assert_eq!(git(&dir.join("repo"), &["status", "--porcelain"]), "");
}

#[test]
fn a_directory_that_is_not_empty_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .arg("demo")
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already exists and is not empty") && stderr.contains("--dir"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing written"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
