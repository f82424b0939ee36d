use super::*;
use crate::spec::yaml::{self, de};

fn spec(text: &str) -> PoolSpec {
    let parsed = yaml::parse(text);
    de::from_node(&parsed.documents[0].root).expect("a valid pool spec")
}

fn counts(
    pool: &PoolState,
    n: usize,
    key: impl Fn(usize) -> Option<Vec<u8>>,
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for i in 0..n {
        let target = pool.pick(key(i).as_deref()).expect("a target");
        *counts.entry(target.address.to_string()).or_default() += 1;
    }
    counts
}

const TWO: &str = "targets:\n  - {address: 10.0.0.1:80, weight: 3}\n  - {address: 10.0.0.2:80, weight: 1}\nbackup_targets:\n  - {address: 10.0.0.9:80}\n";

#[test]
fn round_robin_follows_weights_exactly() {
    let pool = PoolState::new(&spec(TWO), &HashMap::new());
    let c = counts(&pool, 4000, |_| None);
    assert_eq!((c["10.0.0.1:80"], c["10.0.0.2:80"]), (3000, 1000));
    assert!(
        !c.contains_key("10.0.0.9:80"),
        "backups take no traffic while a primary is up"
    );
}

#[test]
fn weighted_random_and_least_requests_follow_weights_within_tolerance() {
    for algorithm in ["weighted_random", "least_requests"] {
        let pool = PoolState::new(
            &spec(&format!("algorithm: {algorithm}\n{TWO}")),
            &HashMap::new(),
        );
        let c = counts(&pool, 20_000, |_| None);
        let share = c["10.0.0.1:80"] as f64 / 20_000.0;
        assert!((0.70..=0.80).contains(&share), "{algorithm}: {share}");
    }
}

#[test]
fn least_requests_avoids_busy_targets() {
    let pool = PoolState::new(&spec("algorithm: least_requests\ntargets:\n  - {address: 10.0.0.1:80}\n  - {address: 10.0.0.2:80}\n"), &HashMap::new());
    let busy: Vec<InFlight> = (0..50).map(|_| pool.primaries[0].start_request()).collect();
    let c = counts(&pool, 1000, |_| None);
    assert!(c.get("10.0.0.1:80").copied().unwrap_or(0) < 300, "{c:?}");
    drop(busy);
    assert_eq!(pool.primaries[0].in_flight(), 0);
}

#[test]
fn consistent_hash_keeps_keys_on_their_target_and_moves_only_a_removed_ones() {
    let three = "algorithm: {consistent_hash: source_ip}\ntargets:\n  - {address: 10.0.0.1:80}\n  - {address: 10.0.0.2:80}\n  - {address: 10.0.0.3:80}\n";
    let pool = PoolState::new(&spec(three), &HashMap::new());
    let before: Vec<String> = (0..600)
        .map(|i| {
            pool.pick(Some(format!("client-{i}").as_bytes()))
                .unwrap()
                .address
                .to_string()
        })
        .collect();
    let again: Vec<String> = (0..600)
        .map(|i| {
            pool.pick(Some(format!("client-{i}").as_bytes()))
                .unwrap()
                .address
                .to_string()
        })
        .collect();
    assert_eq!(before, again, "same key, same target");
    let spread = before.iter().filter(|a| *a == "10.0.0.3:80").count();
    assert!(
        (120..=280).contains(&spread),
        "keys spread over targets: {spread}"
    );
    pool.primaries[2].set_healthy(false);
    for (i, was) in before.iter().enumerate() {
        let now = pool
            .pick(Some(format!("client-{i}").as_bytes()))
            .unwrap()
            .address
            .to_string();
        if was != "10.0.0.3:80" {
            assert_eq!(&now, was, "only keys of the failed target move");
        } else {
            assert_ne!(now, "10.0.0.3:80");
        }
    }
}

#[test]
fn backups_serve_only_when_every_primary_is_down() {
    let pool = PoolState::new(&spec(TWO), &HashMap::new());
    pool.primaries[0].set_healthy(false);
    assert_eq!(pool.pick(None).unwrap().address.to_string(), "10.0.0.2:80");
    pool.primaries[1].set_healthy(false);
    assert_eq!(pool.pick(None).unwrap().address.to_string(), "10.0.0.9:80");
    pool.backups[0].set_healthy(false);
    assert!(pool.pick(None).is_none());
}

#[test]
fn a_new_config_keeps_the_state_of_known_targets() {
    let old = PoolState::new(&spec(TWO), &HashMap::new());
    old.primaries[1].set_healthy(false);
    let known: HashMap<TargetAddr, Arc<TargetState>> = old
        .targets()
        .map(|t| (t.address.clone(), t.clone()))
        .collect();
    let new = PoolState::new(&spec(&TWO.replace("weight: 3", "weight: 5")), &known);
    assert!(Arc::ptr_eq(&new.primaries[0], &old.primaries[0]));
    assert_eq!(
        new.primaries[0].weight(),
        5,
        "weights follow the new config"
    );
    assert!(!new.primaries[1].is_healthy(), "health survives the swap");
}

#[test]
fn slow_start_ramps_the_weight_over_the_window() {
    let pool = PoolState::new(
        &spec("slow_start: 10s\ntargets:\n  - {address: 10.0.0.1:80, weight: 100}\n"),
        &HashMap::new(),
    );
    let target = &pool.primaries[0];
    let start = now_ms();
    let window = Some(std::time::Duration::from_secs(10));
    assert!(
        target.effective_weight(window, start) <= 1,
        "starts near zero"
    );
    assert_eq!(target.effective_weight(window, start + 5_000), 50);
    assert_eq!(target.effective_weight(window, start + 10_000), 100);
    assert_eq!(
        target.effective_weight(None, start),
        100,
        "no slow start, full weight"
    );
}

#[test]
fn interleaving_keeps_exact_shares_but_spreads_them_out() {
    let light: Vec<u64> = (0..100).filter(|t| interleave(*t, 100) >= 90).collect();
    assert_eq!(
        light.len(),
        10,
        "exactly ten of a hundred turns land on the last ten slots"
    );
    assert!(
        light.windows(2).all(|w| w[1] - w[0] > 1),
        "never two light turns in a row: {light:?}"
    );
    for total in [1, 2, 7, 125, 7_919] {
        let mut seen: Vec<u64> = (0..total).map(|t| interleave(t, total)).collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..total).collect::<Vec<_>>(),
            "a permutation for total {total}"
        );
    }
}

#[test]
fn a_retry_goes_to_a_target_not_tried_yet_then_to_backups_then_nowhere() {
    for algorithm in [
        "round_robin",
        "least_requests",
        "weighted_random",
        "{consistent_hash: source_ip}",
    ] {
        let pool = PoolState::new(
            &spec(&format!("algorithm: {algorithm}\n{TWO}")),
            &HashMap::new(),
        );
        let key = Some(&b"client"[..]);
        let mut tried = Vec::new();
        for _ in 0..3 {
            let next = pool.pick_other_than(key, &tried).expect("a target");
            assert!(
                !tried.iter().any(|t| Arc::ptr_eq(t, &next)),
                "{algorithm}: never the same target again"
            );
            tried.push(next);
        }
        let order: Vec<String> = tried.iter().map(|t| t.address.to_string()).collect();
        assert_eq!(order[2], "10.0.0.9:80", "{algorithm}: the backup last");
        assert!(pool.pick_other_than(key, &tried).is_none(), "{algorithm}");
    }
}

#[test]
fn the_retry_budget_outlives_config_swaps_of_its_pool() {
    let old = PoolState::new(&spec(TWO), &HashMap::new());
    // No requests yet: the floor of ten retries, then none.
    for _ in 0..10 {
        assert_eq!(old.admit_retry(), Ok(()));
    }
    assert_eq!(old.admit_retry(), Err(BudgetExhausted));
    let new = PoolState::new(&spec(TWO), &HashMap::new()).with_retry_budget_of(&old);
    assert_eq!(new.admit_retry(), Err(BudgetExhausted), "the same budget");
    let fresh = PoolState::new(&spec(TWO), &HashMap::new());
    assert_eq!(fresh.admit_retry(), Ok(()), "a pool of its own");
    assert!(new.has_several_targets());
    let one = PoolState::new(
        &spec("targets: [{address: 10.0.0.1:80}]\n"),
        &HashMap::new(),
    );
    assert!(!one.has_several_targets());
}

#[test]
fn a_cut_wakes_requests_waiting_on_every_worker_and_later_ones_at_once() {
    let pool = PoolState::new(&spec(TWO), &HashMap::new());
    let target = pool.primaries[0].clone();
    let waiting: Vec<_> = (0..3)
        .map(|worker| {
            let target = target.clone();
            let (started_tx, started_rx) = std::sync::mpsc::channel();
            let thread = std::thread::spawn(move || {
                super::super::shards::enter_worker(worker);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let cut = target.cut_off();
                    tokio::pin!(cut);
                    // Polled once (registered) before the cut comes.
                    assert!(poll_once(cut.as_mut()).await.is_pending());
                    started_tx.send(()).unwrap();
                    tokio::time::timeout(Duration::from_secs(10), cut)
                        .await
                        .expect("the cut wakes the request");
                });
            });
            started_rx.recv().unwrap();
            thread
        })
        .collect();
    target.cut_in_flight();
    for thread in waiting {
        thread.join().unwrap();
    }
    let later = target.cut_off();
    tokio::pin!(later);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert!(poll_once(later.as_mut()).await.is_ready());
    });
}

/// Polls `future` once, as a select beside a read would.
async fn poll_once<F: Future>(mut future: Pin<&mut F>) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx))).await
}
