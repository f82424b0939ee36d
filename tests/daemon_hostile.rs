//! The daemon survives any commit: hostile files pushed unsigned — a
//! mapping of 460,000 keys, nesting 60,000 deep, an alias bomb, a private
//! key padded past the file limit — to the watched branch and to a
//! pull-request branch are refused (never a stall, never a crash), the
//! balancer keeps serving, and the next good commit is applied. A head
//! that judging cannot finish (over its time budget, or one the daemon
//! stopped on before) is refused as invalid and recorded, so no crash loop.

mod common;

use common::estate::{pools, wait_for_status, Daemon, PinnedEstate as Estate};
use common::git::{Author, Signing};

fn mallory() -> Author<'static> {
    Author {
        name: "Mallory",
        email: "mallory@example.test",
        signing: Signing::Unsigned,
    }
}

/// What the state file says was decided for `commit`.
fn judged<'s>(state: &'s serde_json::Value, commit: &str) -> Option<&'s str> {
    state["judged"]
        .as_array()?
        .iter()
        .find(|j| j["commit"] == commit)?["outcome"]
        .as_str()
}

/// Each hostile file: a name and its text.
fn hostile_files() -> Vec<(&'static str, String)> {
    let mut wide = String::from("kind: Pool\nname: wide\nspec:\n  targets: []\n  extra:\n");
    for i in 0..460_000 {
        wide.push_str(&format!("    k{i}: v\n"));
    }
    let deep = "- ".repeat(60_000) + "x\n";
    let flow = "[".repeat(20_000) + &"]".repeat(20_000) + "\n";
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let padded_key = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n{}",
        " ".repeat(17 * 1024 * 1024)
    );
    vec![
        ("wide.yaml", wide),
        ("deep.yaml", deep),
        ("flow.yaml", flow),
        ("bomb.yaml", bomb),
        ("notes/key.txt", padded_key),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_unsigned_pushes_are_refused_and_the_next_good_commit_is_applied() {
    let e = Estate::new("").await;
    let mut daemon = Daemon::start(&e.config_path());
    wait_for_status(&e.repo, &e.first, "lbops/apply: success", &daemon).await;

    // Each hostile file on a pull-request branch of its own (judged for
    // `lbops/plan`), and all of them stacked on the watched branch.
    let mut branch_heads = Vec::new();
    for (i, (file, text)) in hostile_files().into_iter().enumerate() {
        e.repo.git(
            &["checkout", "-q", "-b", &format!("evil-{i}"), &e.first],
            &[],
        );
        e.repo.write(file, &text);
        branch_heads.push((file, e.repo.commit(&mallory(), file)));
        e.repo.git(&["checkout", "-q", "main"], &[]);
        e.repo.write(file, &text);
    }
    let stacked = e.repo.commit(&mallory(), "everything at once");

    wait_for_status(&e.repo, &stacked, "lbops/validate: failure", &daemon).await;
    wait_for_status(&e.repo, &stacked, "lbops/apply: failure", &daemon).await;
    for (file, head) in &branch_heads {
        let note = wait_for_status(&e.repo, head, "lbops/plan: failure", &daemon).await;
        assert!(note.contains("would be refused"), "{file}: {note}");
    }
    assert!(daemon.running(), "the daemon died:\n{}", daemon.logs());
    e.serves().await;

    // The branch goes back to the trusted commit and alice's next signed
    // commit is judged on its own: applied.
    e.repo.git(&["reset", "-q", "--hard", &e.first], &[]);
    e.repo
        .write("pools.yaml", &pools(&e.stable, &e.canary, 50, 1));
    let good = e.repo.commit(&e.team.alice(), "canary to 50");
    wait_for_status(&e.repo, &good, "lbops/apply: success", &daemon).await;
    e.serves().await;
    assert!(daemon.running(), "the daemon died:\n{}", daemon.logs());
    daemon.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_the_daemon_stopped_on_twice_is_refused_not_judged_again() {
    let e = Estate::new("").await;
    let mut daemon = Daemon::start(&e.config_path());
    wait_for_status(&e.repo, &e.first, "lbops/apply: success", &daemon).await;
    daemon.kill();

    // A head that two earlier starts began judging and never finished (as
    // if it crashed the daemon each time).
    e.repo
        .write("pools.yaml", &pools(&e.stable, &e.canary, 50, 1));
    let poison = e.repo.commit(&e.team.alice(), "crashed the daemon twice");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(e.state_file()).unwrap()).unwrap();
    state["judging"] = serde_json::json!({"commit": poison, "attempts": 2});
    std::fs::write(e.state_file(), state.to_string()).unwrap();

    let mut daemon = Daemon::start(&e.config_path());
    let note = wait_for_status(&e.repo, &poison, "lbops/validate: failure", &daemon).await;
    assert!(note.contains("judgement-aborted"), "{note}");
    wait_for_status(&e.repo, &poison, "lbops/apply: failure", &daemon).await;
    // Recorded as judged: a restart does not judge it again.
    e.wait_for_state(&daemon, |state| {
        state.get("judging").is_none() && judged(state, &poison) == Some("invalid")
    })
    .await;
    daemon.kill();

    // The next commit is judged on its own.
    let mut daemon = Daemon::start(&e.config_path());
    e.repo
        .write("pools.yaml", &pools(&e.stable, &e.canary, 30, 1));
    let next = e.repo.commit(&e.team.alice(), "canary to 30");
    wait_for_status(&e.repo, &next, "lbops/apply: success", &daemon).await;
    daemon.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_over_its_judging_budget_is_refused_as_invalid() {
    // A budget nothing can meet: every new head is refused, and recorded.
    let e = Estate::new(", judge_budget: 0s").await;
    let mut daemon = Daemon::start(&e.config_path());
    e.repo
        .write("pools.yaml", &pools(&e.stable, &e.canary, 50, 1));
    let head = e.repo.commit(&e.team.alice(), "canary to 50");
    let note = wait_for_status(&e.repo, &head, "lbops/validate: failure", &daemon).await;
    assert!(note.contains("judgement-aborted"), "{note}");
    assert!(note.contains("budget"), "{note}");
    e.wait_for_state(&daemon, |state| judged(state, &head) == Some("invalid"))
        .await;
    assert!(daemon.running(), "{}", daemon.logs());
    daemon.kill();
}
