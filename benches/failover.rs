//! Failover: from `kill -9` of the leading replica to the next signed
//! commit applied on all three data-plane nodes by the standby — what an
//! on-call engineer waits for when the leader's host dies.
//!
//! Real parts throughout: Debian's etcd on loopback, two `lbops run`
//! replicas with a 10 s lease (the default), three `lbops dataplane`
//! nodes. Each round starts a fresh cluster, waits until replica `a`
//! leads and `b` stands by, kills `a`, commits a weight change at once
//! and times until the change's `lbops/apply: success` status (written by
//! `b` after all three nodes took it). The floor is the lease itself: a
//! standby may not lead before the dead leader's lease lapses in etcd.
//!
//! `cargo bench --bench failover` (or `-- 5` for five rounds); the
//! numbers hardly depend on the build, so
//! `cargo bench --profile dev --bench failover` measures the same.

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use common::cluster::{wait_for_log, Cluster};
use common::estate::{note, pools};
use std::time::{Duration, Instant};

/// The lease of the measured replicas, in seconds.
const TTL: u32 = 10;

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(rounds));
}

async fn run(rounds: usize) {
    let mut took = Vec::new();
    for round in 1..=rounds {
        let c = Cluster::new().await;
        let mut a = c.replica("a", TTL);
        wait_for_log(&a, "taking over as leader", Duration::from_secs(60)).await;
        common::estate::wait_for_status(&c.repo, &c.first, "lbops/apply: success", &a).await;
        let b = c.replica("b", TTL);
        wait_for_log(&b, "ready (standing by)", Duration::from_secs(60)).await;

        a.kill();
        let killed = Instant::now();
        c.repo
            .write("pools.yaml", &pools(&c.stable, &c.canary, 50, 1));
        let shift = c.repo.commit(&c.team.bob(), "canary to 50");
        let deadline = killed + Duration::from_secs(u64::from(TTL) * 4);
        loop {
            if note(&c.repo, &shift)
                .is_some_and(|n| n.lines().any(|l| l.starts_with("lbops/apply: success")))
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no failover within {:?}:\n{}",
                deadline - killed,
                b.logs()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let elapsed = killed.elapsed();
        println!(
            "round {round}: leader killed → next commit applied on 3 nodes in {:.2} s (lease {TTL} s; over the lease {:+.2} s)",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() - f64::from(TTL)
        );
        took.push(elapsed);
    }
    took.sort();
    let median = took[took.len() / 2];
    let worst = took[took.len() - 1];
    println!(
        "failover ({rounds} rounds, lease {TTL} s): median {:.2} s, worst {:.2} s; goal < {} s (lease + 2 s): {}",
        median.as_secs_f64(),
        worst.as_secs_f64(),
        TTL + 2,
        if worst < Duration::from_secs(u64::from(TTL) + 2) { "met" } else { "NOT met" }
    );
}
