//! The fleet on real data planes in this process, each behind its own
//! admin API on loopback: every node applies, a node that is down does
//! not block the others while `min_nodes` is met and is caught up when it
//! answers again, too few nodes fail the step, a node that refuses the
//! epoch fences the daemon, and the node that differs stands for the
//! fleet.

use super::*;
use crate::dataplane::admin::{token_sha256, AdminConfig, AdminServer};
use crate::dataplane::Dataplane;
use crate::plan::plan;
use crate::spec::{load, Catalog, Options, SourceFile};
use crate::support::clock::SystemClock;
use std::net::SocketAddr;

const TOKEN: &str = "fleet-unit-test-token";

fn catalog(weight: u32) -> Catalog {
    let yaml = format!(
        "kind: Pool\nname: web\nspec:\n  targets:\n    - {{address: '127.0.0.1:9', weight: {weight}}}\n"
    );
    load(
        &[SourceFile::new("repo.yaml", &yaml)],
        &Options::at(1_800_000_000),
    )
    .unwrap_or_else(|e| panic!("{:#?}", e.diagnostics))
    .catalog
}

fn config(weight: u32) -> DataplaneConfig {
    DataplaneConfig::from_catalog(&catalog(weight), 0)
}

#[test]
fn the_node_that_differs_stands_for_the_fleet() {
    let (a, b) = (config(1), config(2));
    let mut a_later = a.clone();
    a_later.version = 9;
    // Versions do not count, content does.
    assert_eq!(representative(&[&a, &a_later], Some(&a)), Some((0, false)));
    assert_eq!(representative(&[&a, &b, &a], Some(&a)), Some((1, true)));
    assert_eq!(representative(&[&b, &a, &a], Some(&a)), Some((0, true)));
    // Nothing pushed yet: the odd one out.
    assert_eq!(representative(&[&a, &a, &b], None), Some((2, true)));
    assert_eq!(representative(&[&b, &a, &a], None), Some((0, true)));
    assert_eq!(representative(&[&a, &a], None), Some((0, false)));
    assert_eq!(representative(&[], None), None);
}

/// A data plane in this process, its admin API on `listen`.
struct Node {
    dataplane: Arc<Dataplane>,
    admin: AdminServer,
    state_dir: tempfile::TempDir,
}

impl Node {
    async fn start(listen: SocketAddr, state_dir: tempfile::TempDir) -> Self {
        let dataplane = Arc::new(Dataplane::with_workers(1).unwrap());
        crate::dataplane::admin::restore(&dataplane, state_dir.path())
            .await
            .unwrap();
        let admin = AdminServer::start(
            dataplane.clone(),
            AdminConfig {
                listen,
                token_sha256: token_sha256(TOKEN),
                state_dir: state_dir.path().to_owned(),
            },
        )
        .await
        .unwrap();
        Self {
            dataplane,
            admin,
            state_dir,
        }
    }

    async fn stop(self) -> (SocketAddr, tempfile::TempDir) {
        let at = self.admin.local_addr();
        self.admin.shutdown().await;
        self.dataplane.shutdown().await;
        (at, self.state_dir)
    }

    fn runs(&self) -> DataplaneConfig {
        self.dataplane.snapshot().config.clone()
    }
}

fn fleet_of(nodes: &[&Node], min_nodes: usize) -> Arc<Fleet> {
    let nodes = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| FleetNode {
            name: format!("dp-{}", i + 1),
            client: EmbeddedProvider::new(format!("http://{}", node.admin.local_addr()), TOKEN),
        })
        .collect();
    Arc::new(Fleet::new(nodes, min_nodes, Arc::new(SystemClock)))
}

async fn apply(fleet: &Fleet, desired: &Catalog, epoch: Option<u64>) -> Vec<StepOutcome> {
    let observed = fleet.observe().await.unwrap();
    let steps = plan(desired, &observed).steps;
    assert!(!steps.is_empty());
    let context = ApplyContext {
        catalog: desired,
        commit: crate::source::CommitId::parse(&"ab".repeat(20)).unwrap(),
        epoch,
        may_start: None,
    };
    fleet.apply(&steps, context).await
}

/// Polls `done` until it holds, for at most 10 s.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn start_three() -> [Node; 3] {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    [
        Node::start(any, tempfile::tempdir().unwrap()).await,
        Node::start(any, tempfile::tempdir().unwrap()).await,
        Node::start(any, tempfile::tempdir().unwrap()).await,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_is_down_falls_behind_and_is_caught_up_when_it_answers() {
    let [one, two, three] = start_three().await;
    let fleet = fleet_of(&[&one, &two, &three], 2);
    let _catch_up = fleet.catch_up();

    let outcomes = apply(&fleet, &catalog(1), Some(4)).await;
    assert!(
        outcomes.iter().all(|o| *o == StepOutcome::Applied),
        "{outcomes:?}"
    );
    for node in [&one, &two, &three] {
        assert!(same(&node.runs(), &config(1)));
    }

    let (at, state_dir) = three.stop().await;
    let outcomes = apply(&fleet, &catalog(2), Some(4)).await;
    let StepOutcome::Partly { behind } = &outcomes[0] else {
        panic!("{outcomes:?}");
    };
    assert!(
        behind.starts_with("applied on 2 of 3 nodes; dp-3 is behind: cannot reach http://"),
        "{behind}"
    );
    let status = fleet.status().borrow().clone();
    assert!(
        status.nodes[2].behind.is_some() && !status.nodes[2].reachable,
        "{status:?}"
    );
    assert!(same(&one.runs(), &config(2)) && same(&two.runs(), &config(2)));

    // Back on its port with its old config: brought up with no new apply.
    let three = Node::start(at, state_dir).await;
    eventually("dp-3 catches up", || same(&three.runs(), &config(2))).await;
    let mut status = fleet.status();
    let caught_up = status.wait_for(|s| s.nodes[2].behind.is_none());
    tokio::time::timeout(Duration::from_secs(10), caught_up)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        crate::dataplane::admin::epoch::load(three.state_dir.path()).unwrap(),
        Some(4),
        "pushed under the epoch it was applied with"
    );
    for node in [one, two, three] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_nodes_fail_the_step_and_nothing_is_half_spread() {
    let [one, two, three] = start_three().await;
    let fleet = fleet_of(&[&one, &two, &three], 3);
    apply(&fleet, &catalog(1), None).await;
    let (_, _state_dir) = three.stop().await;
    let outcomes = apply(&fleet, &catalog(2), None).await;
    let StepOutcome::Failed { reason } = &outcomes[0] else {
        panic!("{outcomes:?}");
    };
    assert!(
        reason.starts_with("applied on 2 of 3 nodes, 3 needed; dp-3 is behind: cannot reach"),
        "{reason}"
    );
    assert!(outcomes[1..].iter().all(|o| *o == StepOutcome::Skipped));
    assert!(same(&one.runs(), &config(1)), "nothing was sent");
    for node in [one, two] {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refusing_the_epoch_fences_the_daemon() {
    let [one, two, three] = start_three().await;
    let fleet = fleet_of(&[&one, &two, &three], 2);
    apply(&fleet, &catalog(1), Some(5)).await;
    // A newer leader reaches dp-2 first.
    let newer = EmbeddedProvider::new(format!("http://{}", two.admin.local_addr()), TOKEN);
    let mut config = two.runs();
    config.version += 1;
    newer.put_config(&config, Some(6)).await.unwrap();

    let outcomes = apply(&fleet, &catalog(2), Some(5)).await;
    let StepOutcome::Failed { reason } = &outcomes[0] else {
        panic!("{outcomes:?}");
    };
    assert!(
        reason.contains("dp-2: fenced") && reason.contains("epoch 6"),
        "{reason}"
    );
    let fenced = fleet.status().borrow().fenced.clone();
    assert_eq!(
        fenced,
        Some(Fenced {
            node: "dp-2".into(),
            ours: 5,
            highest: 6
        })
    );
    // Known to be replaced: the next try sends nothing at all.
    let before = one.runs();
    let outcomes = apply(&fleet, &catalog(3), Some(5)).await;
    assert!(
        matches!(&outcomes[0], StepOutcome::Failed { reason } if reason.starts_with("fenced: dp-2 has accepted epoch 6")),
        "{outcomes:?}"
    );
    assert_eq!(one.runs(), before);
    // Elected again, with a newer epoch: it leads once more.
    let outcomes = apply(&fleet, &catalog(3), Some(7)).await;
    assert!(
        outcomes.iter().all(|o| *o == StepOutcome::Applied),
        "{outcomes:?}"
    );
    for node in [one, two, three] {
        node.stop().await;
    }
}
