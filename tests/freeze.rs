//! A change freeze on the real daemon: `lbops run` as a process over a
//! real signed repository whose trusted policy holds a Freeze in force
//! now. alice (who holds `freeze.break_glass`) breaks the glass with a
//! reason: applied, with a `break_glass` audit record and the reason; bob
//! changes the same pool without one: refused, naming the freeze.

mod common;

use common::estate::{access, wait_for_status, Daemon, Team};
use common::git::GitRepo;
use serde_json::Value;
use std::path::PathBuf;

/// `web` (team web) with its one target at `weight`.
fn pools(weight: u32) -> String {
    format!(
        "kind: Pool
name: web
labels: {{team: web}}
spec:
  targets: [{{address: '127.0.0.1:9', weight: {weight}}}]
"
    )
}

/// RFC 3339 in UTC, `seconds` from now.
fn from_now(seconds: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = time::OffsetDateTime::from_unix_timestamp(now + seconds).unwrap();
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A freeze of every pool, in force from an hour ago for two hours.
fn freeze() -> String {
    format!(
        "kind: Freeze
name: holiday
spec:
  time_zone: UTC
  windows:
    - absolute: {{name: now, from: '{}', until: '{}'}}
  scope:
    resources: [pool/*]
",
        from_now(-3600),
        from_now(7200)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_freeze_a_break_glass_is_applied_and_recorded_and_a_plain_change_is_refused() {
    let team = Team::new();
    let repo = GitRepo::new();
    repo.write("access.yaml", &access(&team.alice, &team.bob));
    repo.write("pools.yaml", &pools(1));
    repo.write("freeze.yaml", &freeze());
    let first = repo.commit(&team.alice(), "the estate, frozen");
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
",
        repo.path().display(),
        dir.path().join("state").display()
    );
    let config_path: PathBuf = dir.path().join("lbops.yaml");
    std::fs::write(&config_path, config).unwrap();
    let daemon = Daemon::start(&config_path);

    // alice breaks the glass, with a reason: applied.
    repo.write("pools.yaml", &pools(2));
    let glass = repo.commit(
        &team.alice(),
        "web weight 2 during the incident\n\nLbops-Break-Glass: INC-42 the canary leaks memory",
    );
    wait_for_status(&repo, &glass, "lbops/apply: success", &daemon).await;
    let records: Vec<Value> = std::fs::read_to_string(dir.path().join("state/audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &Value| r["event"]["kind"] == "break_glass")
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    let record = records[0].to_string();
    assert!(
        record.contains("user/alice") && record.contains("INC-42 the canary leaks memory"),
        "{record}"
    );
    assert!(record.contains("freeze/holiday"), "{record}");

    // bob, who may change team-web weights, but not in the freeze.
    repo.write("pools.yaml", &pools(3));
    let plain = repo.commit(&team.bob(), "web weight 3");
    let note = wait_for_status(&repo, &plain, "lbops/authorize: failure", &daemon).await;
    assert!(note.contains("frozen by freeze/holiday"), "{note}");
}
