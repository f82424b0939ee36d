//! The daemon and its audit log, end to end: `lbops run` as a real process
//! over a real signed repository, its audit log on a real (tiny) disk that
//! fills up and empties again, and a log whose last record is deleted
//! between two runs.
//!
//! No audit, no change: a commit waits while its records cannot be
//! written. Audit back, changes back: once they can, it is applied by the
//! same process. And a log that lost its end is not appended to.

mod common;

use common::estate::{balancer, note, pools, wait_for_status, Daemon, Team};
use common::git::GitRepo;
use common::{free_port, Backend, ChildProcess, Reply};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Estate {
    team: Team,
    repo: GitRepo,
    stable: Backend,
    canary: Backend,
    port: u16,
    dir: tempfile::TempDir,
    first: String,
}

impl Estate {
    async fn new() -> Self {
        let team = Team::new();
        let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let canary = Backend::start_at("canary", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let (port, admin_port) = (free_port(), free_port());
        let repo = GitRepo::new();
        repo.write("access.yaml", &team.access());
        repo.write("pools.yaml", &pools(&stable, &canary, 10, 1));
        repo.write("balancers.yaml", &balancer(port));
        let first = repo.commit(&team.alice(), "the estate");
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:{admin_port}'}}}}
drift: {{schedule: '0 0 * * * *'}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
",
            repo.path().display(),
            dir.path().join("state").display()
        );
        std::fs::write(dir.path().join("lbops.yaml"), config).unwrap();
        Estate {
            team,
            repo,
            stable,
            canary,
            port,
            dir,
            first,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("lbops.yaml")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn log(&self) -> PathBuf {
        self.state_dir().join("audit.jsonl")
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    fn state(&self) -> serde_json::Value {
        std::fs::read_to_string(self.state_dir().join("daemon-state.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }

    /// Waits until the state file says `commit` is trusted and keeps the
    /// log's current head: everything of the apply is on disk.
    async fn wait_until_saved(&self, commit: &str, daemon: &Daemon) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = self.state();
            let head = audit_verify(&self.log(), None).1;
            let saved = state["trusted"] == commit
                && state["audit_head"]
                    .as_str()
                    .is_some_and(|h| head.contains(&h.replace(':', " ")));
            if saved {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "state {state} log {head}\n{}",
                daemon.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many of `n` requests through the balancer the canary answered.
    async fn canary_share(&self, n: usize) -> f64 {
        let mut canary = 0;
        for _ in 0..n {
            let body = get(self.port).await;
            if body.starts_with("canary") {
                canary += 1;
            } else {
                assert!(body.starts_with("stable"), "{body}");
            }
        }
        canary as f64 / n as f64
    }
}

async fn get(port: u16) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the balancer listens");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    raw.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// `lbops audit verify FILE [--head HEAD]`: (exit code, stdout).
fn audit_verify(log: &Path, head: Option<&str>) -> (i32, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lbops"));
    command.args(["audit", "verify"]).arg(log);
    if let Some(head) = head {
        command.args(["--head", head]);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// How many reconciles failed because the audit log could not be written.
fn audit_failures(daemon: &Daemon) -> usize {
    daemon
        .logs()
        .lines()
        .filter(|l| l.contains("reconcile failed") && l.contains("cannot write the audit log"))
        .count()
}

/// A tmpfs of `size` on a fresh directory, unmounted when dropped; `None`
/// (with the reason printed) where this process may not mount one.
struct SmallDisk {
    dir: Option<tempfile::TempDir>,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => Some(SmallDisk { dir: Some(dir) }),
            Ok(out) => {
                println!(
                    "skipped: cannot mount a tmpfs here ({}); run as root to fill a real disk",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("skipped: cannot run mount ({e}); run as root to fill a real disk");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.as_ref().unwrap().path()
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = [0u8; 4096];
        while file.write(&block).is_ok_and(|n| n > 0) {}
        while file.write(&[0]).is_ok_and(|n| n == 1) {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = Command::new("umount").arg(dir.path()).status();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_waits_while_the_audit_log_cannot_be_written_and_is_applied_once_it_can() {
    let Some(disk) = SmallDisk::mount("64k") else {
        return;
    };
    let e = Estate::new().await;
    // The audit log lives on the small disk; the rest of the state does not.
    std::fs::create_dir_all(e.state_dir()).unwrap();
    let log_on_disk = disk.path().join("audit.jsonl");
    std::fs::File::create(&log_on_disk).unwrap();
    std::os::unix::fs::symlink(&log_on_disk, e.log()).unwrap();
    let daemon = Daemon::start(&e.config());
    wait_for_status(&e.repo, &e.first, "lbops/apply: success", &daemon).await;

    // The disk fills up. What is left of the log's last page may still
    // take a record or two, so bob pushes until one of his commits meets
    // the full disk.
    let filler = disk.fill();
    let mut waiting = None;
    for weight in [20, 30, 40, 50, 60, 70, 80, 90] {
        let failures = audit_failures(&daemon);
        e.repo
            .write("pools.yaml", &pools(&e.stable, &e.canary, weight, 1));
        let commit = e.repo.commit(&e.team.bob(), &format!("canary to {weight}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if audit_failures(&daemon) > failures {
                waiting = Some((commit, weight));
                break;
            }
            if note(&e.repo, &commit).is_some_and(|n| n.contains("lbops/apply: success")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{commit}: {:?}\n{}",
                note(&e.repo, &commit),
                daemon.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if waiting.is_some() {
            break;
        }
    }
    let (commit, weight) = waiting.expect("a commit met the full disk");
    println!("the commit setting the canary to {weight}% met the full disk");

    // While the disk is full the daemon keeps trying, and the commit stays
    // unapplied: no apply success, and no change without its record.
    let failures = audit_failures(&daemon);
    let deadline = Instant::now() + Duration::from_secs(30);
    while audit_failures(&daemon) < failures + 2 {
        assert!(Instant::now() < deadline, "no retry:\n{}", daemon.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pending = note(&e.repo, &commit).unwrap_or_default();
    assert!(!pending.contains("lbops/apply: success"), "{pending}");
    let share = e.canary_share(200).await;
    let changed = (share - f64::from(weight) / 100.0).abs() < 0.1;
    let recorded = e
        .audit()
        .lines()
        .any(|l| l.contains("\"applying\"") && l.contains(&commit));
    assert!(
        !changed || recorded,
        "the balancer changed ({share}) without an audit record:\n{}",
        e.audit()
    );

    // Room again: the same process applies it, and the chain holds.
    std::fs::remove_file(&filler).unwrap();
    wait_for_status(&e.repo, &commit, "lbops/apply: success", &daemon).await;
    let share = e.canary_share(300).await;
    assert!(
        (share - f64::from(weight) / 100.0).abs() < 0.12,
        "canary at {weight}%: {share}"
    );
    let (code, out) = audit_verify(&e.log(), None);
    assert_eq!(code, 0, "{out}");
    let audit = e.audit();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"applied\"") && l.contains(&commit)),
        "{audit}"
    );
    assert!(
        daemon.logs().matches("\"message\":\"ready\"").count() == 1,
        "one process throughout"
    );
    drop(daemon);
}

/// Starts `lbops run` and waits for it to exit: (exit code, stderr).
async fn run_to_exit(config: &Path) -> (i32, String) {
    let (mut process, mut stderr) =
        ChildProcess::lbops(|c| c.arg("run").arg("--config").arg(config));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "lbops run did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut text = String::new();
    stderr.read_to_string(&mut text).unwrap();
    common::keep_log("daemon-refused", &text);
    (status.code().unwrap_or(-1), text)
}

fn delete_last_line(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.pop();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(log, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_whose_last_record_was_deleted_stops_the_daemon_until_restored_or_accepted() {
    let e = Estate::new().await;
    let mut daemon = Daemon::start(&e.config());
    wait_for_status(&e.repo, &e.first, "lbops/apply: success", &daemon).await;
    e.wait_until_saved(&e.first, &daemon).await;
    daemon.kill();
    let kept = e.state()["audit_head"].as_str().unwrap().to_owned();
    let backup = std::fs::read(e.log()).unwrap();
    let records = backup.iter().filter(|b| **b == b'\n').count();
    assert!(records >= 2, "{}", e.audit());

    // Someone deletes the last record. The chain alone still verifies.
    delete_last_line(&e.log());
    assert_eq!(audit_verify(&e.log(), None).0, 0);
    let (code, stderr) = run_to_exit(&e.config()).await;
    assert_ne!(code, 0, "{stderr}");
    let log = e.log().display().to_string();
    for words in [
        format!("{log}:{records}: the log ends at seq {}", records - 1),
        format!("lbops had written up to record {records}"),
        "Restore the log from a backup".to_owned(),
        format!("lbops audit accept-end {log} --was {kept} --reason"),
    ] {
        assert!(stderr.contains(&words), "{words}\n{stderr}");
    }
    let cut = std::fs::read(e.log()).unwrap();
    assert!(
        backup.starts_with(&cut) && cut.len() < backup.len(),
        "the refusal leaves the log alone"
    );

    // Recovery 1: the log comes back from a backup.
    std::fs::write(e.log(), &backup).unwrap();
    let mut daemon = Daemon::start(&e.config());
    daemon.ready().await;
    daemon.kill();

    // Recovery 2: the record is gone for good, and the operator says so.
    delete_last_line(&e.log());
    let (code, _) = run_to_exit(&e.config()).await;
    assert_ne!(code, 0);
    let out = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args(["audit", "accept-end"])
        .arg(e.log())
        .args(["--was", &kept, "--reason", "disk restored from a snapshot"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("accepted"), "{stdout}");
    let daemon = Daemon::start(&e.config());
    daemon.ready().await;
    assert!(
        daemon.logs().contains("lost end was accepted"),
        "{}",
        daemon.logs()
    );
    let audit = e.audit();
    let acceptance = audit.lines().last().unwrap();
    assert!(
        acceptance.contains("audit log end accepted")
            && acceptance.contains(&kept)
            && acceptance.contains("disk restored from a snapshot"),
        "{acceptance}"
    );
    // The state now keeps the new end, and the log verifies against it.
    let head = e.state()["audit_head"].as_str().unwrap().to_owned();
    assert_ne!(head, kept);
    let (code, out) = audit_verify(&e.log(), Some(&head));
    assert_eq!(code, 0, "{out}");
    drop(daemon);
}
