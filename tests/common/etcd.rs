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
}

impl EtcdServer {
    /// A one-member cluster, ready to answer.
    pub async fn start() -> Self {
        let ports = Ports::default();
        let mut server = EtcdServer {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            client: ports.hold(),
            peer: ports.hold(),
            _ports: ports,
        };
        server.run().await;
        server
    }

    /// The client URL, e.g. `http://127.0.0.1:41234`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }

    /// Starts it (again, on the same ports and data) and waits until it
    /// answers.
    pub async fn run(&mut self) {
        let binary = std::env::var("LBOPS_ETCD").unwrap_or_else(|_| "etcd".to_owned());
        let peer = format!("http://127.0.0.1:{}", self.peer);
        let log = std::fs::File::create(self.dir.path().join("etcd.log")).unwrap();
        let child = Command::new(&binary)
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
