//! `lbops status` against a real daemon: a real repository, the embedded
//! data plane with real backends, the API with a reader's token. The
//! tree names every balancer, listener, route, pool and target with its
//! health; `--output json` is the daemon's estate and parses; a bad token
//! exits 1 and a missing token file 2; `--watch` draws again and again;
//! no colour when stdout is not a terminal.

mod common;

use common::topology::Topology;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn lbops(args: Vec<String>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lbops"));
    command.args(&args).stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("LBOPS_") || key == "NO_COLOR" {
            command.env_remove(key);
        }
    }
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("lbops runs");
    Run {
        code: out.status.code().expect("lbops exits"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn args(server: &str, token: &std::path::Path, more: &[&str]) -> Vec<String> {
    let mut all = vec![
        "status".to_owned(),
        "--server".to_owned(),
        server.to_owned(),
        "--token-file".to_owned(),
        token.display().to_string(),
    ];
    all.extend(more.iter().map(|s| (*s).to_owned()));
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_draws_the_estate_as_a_tree_and_as_json_with_documented_exit_codes() {
    let t = Topology::start().await;
    let server = t.daemon.pages().await;
    let token = t.reader_token_file();
    t.traffic("/", 5).await;

    // The tree, once every target has been checked healthy.
    let deadline = Instant::now() + Duration::from_secs(20);
    let tree = loop {
        let run = lbops(args(&server, &token, &[])).await;
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        if run.stdout.matches(" healthy ").count() >= 3 {
            break run.stdout;
        }
        assert!(
            Instant::now() < deadline,
            "never all healthy:\n{}",
            run.stdout
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for expected in [
        format!("estate at {}", &t.first[..12]),
        "loadbalancer/edge embedded on in-process 127.0.0.1 running".to_owned(),
        format!("listener http :{} http", t.port),
        "route reports path=/reports* → web 75%, db 25%".to_owned(),
        "route default * → web 100%".to_owned(),
        "pool/web".to_owned(),
        "pool/db".to_owned(),
        format!("{} healthy w90 90%", t.stable.address),
        format!("{} healthy w10 10%", t.canary.address),
        format!("{} healthy w1 100%", t.db.address),
    ] {
        assert!(tree.contains(&expected), "no {expected:?} in\n{tree}");
    }
    assert!(!tree.contains('\x1b'), "no colour into a pipe:\n{tree}");

    // JSON: the daemon's estate, whole.
    let run = lbops(args(&server, &token, &["--output", "json"])).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(json["commit"], t.first.as_str());
    assert_eq!(json["balancers"][0]["name"], "edge");
    let pools: Vec<&str> = json["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(pools, ["db", "web"]);
    assert_eq!(json["pools"][1]["targets"].as_array().unwrap().len(), 2);

    // A wrong token: the daemon says no, exit 1; no token file: exit 2.
    let wrong = t.dir.path().join("wrong.token");
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&wrong)
            .unwrap();
        let other = lbops::spec::material::api_token::ApiToken::generate(common::api::random);
        std::io::Write::write_all(&mut file, format!("{}\n", other.expose()).as_bytes()).unwrap();
    }
    let run = lbops(args(&server, &wrong, &[])).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    let run = lbops(args(&server, &t.dir.path().join("none"), &[])).await;
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);

    // --watch draws again until stopped.
    let mut child = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args(args(&server, &token, &["--watch", "--interval", "300ms"]))
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(child.try_wait().unwrap().is_none(), "--watch exited");
    }
    let _ = child.kill();
    let _ = child.wait();
    let frames = reader.join().unwrap().matches("estate at ").count();
    assert!(frames >= 2, "{frames} frame(s) in 3 s of --watch");
}
