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
