//! `git http-backend` (git's smart HTTP server, a CGI program) behind
//! a hyper server on 127.0.0.1, optionally asking for Basic
//! credentials or redirecting every request elsewhere: a real HTTP git
//! remote for the tests that fetch and push. Shared by
//! `src/source/git/publish/tests.rs` (through `#[path]`) and the
//! integration tests (`common::git_http`), so it uses nothing else of
//! `tests/common`.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct GitHttp {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    requests: Arc<AtomicUsize>,
    pushes: Arc<AtomicUsize>,
}

struct Serve {
    root: PathBuf,
    basic: Option<String>,
    redirect: Option<String>,
    requests: Arc<AtomicUsize>,
    pushes: Arc<AtomicUsize>,
}

impl GitHttp {
    /// Serves the repositories under `root` (to whoever sends
    /// `credentials`, when given; redirecting to `redirect`, when given).
    pub fn start(
        root: &Path,
        credentials: Option<(&str, &str)>,
        redirect: Option<String>,
    ) -> GitHttp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let pushes = Arc::new(AtomicUsize::new(0));
        let serve = Arc::new(Serve {
            root: root.to_owned(),
            basic: credentials.map(|(user, password)| {
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            }),
            redirect,
            requests: requests.clone(),
            pushes: pushes.clone(),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::pin!(stopped);
                loop {
                    let stream = tokio::select! {
                        accepted = listener.accept() => accepted.unwrap().0,
                        _ = &mut stopped => return,
                    };
                    let serve = serve.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |request| {
                            let serve = serve.clone();
                            async move {
                                Ok::<_, std::convert::Infallible>(serve.answer(request).await)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        GitHttp {
            port,
            stop: Some(stop),
            thread: Some(thread),
            requests,
            pushes,
        }
    }

    /// The repository's URL, with `userinfo` (`user:password@`) in it.
    /// The URL of `repo.git` under the root, with `userinfo` (`user:pass@`) if any.
    pub fn url(&self, userinfo: &str) -> String {
        format!("http://{userinfo}127.0.0.1:{}/repo.git", self.port)
    }

    /// How many requests it received.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// How many pushes (`git-receive-pack` calls) it received.
    pub fn pushes(&self) -> usize {
        self.pushes.load(Ordering::SeqCst)
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|stop| stop.send(()));
        let _ = self.thread.take().map(std::thread::JoinHandle::join);
    }
}

impl Serve {
    async fn answer(&self, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let reply = |status: u16, headers: &[(&str, &str)], body: Vec<u8>| {
            let mut response = Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(*name, *value);
            }
            response.body(Full::new(Bytes::from(body))).unwrap()
        };
        let uri = request.uri().clone();
        if uri.path().ends_with("/git-receive-pack") {
            self.pushes.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(to) = &self.redirect {
            let location = format!("{to}{}", uri.path_and_query().unwrap());
            return reply(302, &[("location", &location)], Vec::new());
        }
        let authorized = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "));
        if let Some(basic) = &self.basic {
            if authorized != Some(basic.as_str()) {
                return reply(
                    401,
                    &[("www-authenticate", "Basic realm=\"git\"")],
                    Vec::new(),
                );
            }
        }
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (content_type, encoding) = (header("content-type"), header("content-encoding"));
        let method = request.method().to_string();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let mut cgi = std::process::Command::new("git")
            .arg("http-backend")
            .env_clear()
            .env("GIT_PROJECT_ROOT", &self.root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("REQUEST_METHOD", method)
            .env("PATH_INFO", uri.path())
            .env("QUERY_STRING", uri.query().unwrap_or_default())
            .env("CONTENT_TYPE", content_type)
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("HTTP_CONTENT_ENCODING", encoding)
            .env("REMOTE_USER", "lbops")
            .env("REMOTE_ADDR", "127.0.0.1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write as _;
            cgi.stdin.take().unwrap().write_all(&body).unwrap();
        }
        let out = cgi.wait_with_output().unwrap().stdout;
        let split = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| (at, at + 4))
            .or_else(|| {
                out.windows(2)
                    .position(|w| w == b"\n\n")
                    .map(|at| (at, at + 2))
            })
            .unwrap();
        let head = String::from_utf8_lossy(&out[..split.0]).into_owned();
        let mut status = 200;
        let mut headers = Vec::new();
        for line in head.lines() {
            let (name, value) = line.split_once(':').unwrap();
            let value = value.trim();
            if name.eq_ignore_ascii_case("status") {
                status = value[..3].parse().unwrap();
            } else {
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        reply(status, &headers, out[split.1..].to_vec())
    }
}
