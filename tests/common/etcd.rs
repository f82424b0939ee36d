//! A real etcd (Debian's `etcd-server`) on loopback for the replica
//! tests: a temp data directory and ports held for it (see [`Ports`]),
//! killed when dropped. `scripts/test` installs the package when missing.

use super::Ports;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct EtcdServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    client: u16,
    peer: u16,
    _ports: Ports,
    /// Serving clients over TLS, requiring a client certificate.
    tls: bool,
}

impl EtcdServer {
    /// A one-member cluster, ready to answer.
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// A one-member cluster serving clients over TLS only, and only those
    /// with a certificate its CA signed: [`EtcdServer::ca`],
    /// [`EtcdServer::client_cert`] (made with Debian's `openssl`).
    pub async fn start_tls() -> Self {
        Self::start_with(true).await
    }

    async fn start_with(tls: bool) -> Self {
        let ports = Ports::default();
        let mut server = EtcdServer {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            client: ports.hold(),
            peer: ports.hold(),
            _ports: ports,
            tls,
        };
        if tls {
            server.make_certificates();
        }
        server.run().await;
        server
    }

    /// A CA, and one certificate for 127.0.0.1 that serves and signs in.
    fn make_certificates(&self) {
        let dir = self.dir.path();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=lbops-test-ca",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "cert.key",
                    "-out",
                    "cert.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("ext"),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "cert.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ]);
    }

    /// The CA that signed the server's and the client's certificates.
    pub fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A client certificate and its key.
    pub fn client_cert(&self) -> (std::path::PathBuf, std::path::PathBuf) {
        (
            self.dir.path().join("cert.pem"),
            self.dir.path().join("cert.key"),
        )
    }

    /// The client URL, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client)
    }

    /// Starts it (again, on the same ports and data) and waits until it
    /// answers.
    pub async fn run(&mut self) {
        let binary = std::env::var("LBOPS_ETCD").unwrap_or_else(|_| "etcd".to_owned());
        let peer = format!("http://127.0.0.1:{}", self.peer);
        let log = std::fs::File::create(self.dir.path().join("etcd.log")).unwrap();
        let mut command = Command::new(&binary);
        if self.tls {
            let (cert, key) = self.client_cert();
            command
                .arg("--cert-file")
                .arg(&cert)
                .arg("--key-file")
                .arg(&key)
                .arg("--trusted-ca-file")
                .arg(self.ca())
                .arg("--client-cert-auth");
        }
        let child = command
            .args(["--name", "test", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &self.endpoint()])
            .args(["--advertise-client-urls", &self.endpoint()])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("test={peer}")])
            .args(["--log-level", "warn"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {binary} (Debian's etcd-server; scripts/test installs it): {e}"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.healthy().await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not become healthy:\n{}",
                std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn healthy(&self) -> bool {
        if self.tls {
            let (cert, key) = self.client_cert();
            // A blocking call of at most 2 s, in a test's own runtime.
            let out = Command::new("curl")
                .args(["-s", "--max-time", "2", "--cacert"])
                .arg(self.ca())
                .arg("--cert")
                .arg(&cert)
                .arg("--key")
                .arg(&key)
                .arg(format!("{}/health", self.endpoint()))
                .output()
                .unwrap();
            return String::from_utf8_lossy(&out.stdout).contains("\"health\":\"true\"");
        }
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.client)).await
        else {
            return false;
        };
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let request = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if stream.write_all(request.as_bytes()).await.is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut answer)).await;
        answer.contains("\"health\":\"true\"")
    }

    /// Kills it (the data stays, for [`EtcdServer::run`]).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Turns etcd's authentication on, with user `root` (role root) and
    /// `password`: from now on every call needs a token.
    pub async fn enable_auth(&self, password: &str) {
        for (path, body) in [
            (
                "/v3/auth/user/add",
                format!("{{\"name\":\"root\",\"password\":\"{password}\"}}"),
            ),
            ("/v3/auth/role/add", "{\"name\":\"root\"}".to_owned()),
            (
                "/v3/auth/user/grant",
                "{\"user\":\"root\",\"role\":\"root\"}".to_owned(),
            ),
            ("/v3/auth/enable", "{}".to_owned()),
        ] {
            let answer = post(self.client, path, &body).await;
            assert!(answer.contains("header"), "{path}: {answer}");
        }
        let refused = post(self.client, "/v3/kv/range", "{\"key\":\"Zm9v\"}").await;
        assert!(
            refused.contains("user name is empty"),
            "auth is on: {refused}"
        );
    }

    /// The value of `key`, read with etcd's own gateway.
    pub async fn get(&self, key: &str) -> Option<String> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = format!("{{\"key\":\"{}\"}}", b64.encode(key));
        let answer = post(self.client, "/v3/kv/range", &body).await;
        let json: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
        json["kvs"][0]["value"]
            .as_str()
            .map(|v| String::from_utf8(b64.decode(v).unwrap()).unwrap())
    }
}

async fn post(port: u16, path: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}
