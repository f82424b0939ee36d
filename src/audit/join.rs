//! The logs of replicas on etcd, joined: each replica keeps its own
//! chain, and what a replica records while it leads carries the leader's
//! epoch. Verified one by one, then together:
//!
//! * an epoch belongs to one log (one leader per epoch);
//! * a log's epochs never go down (a replica leads again only under a
//!   newer epoch);
//! * a commit is recorded `applied` under one epoch at most: a later
//!   leader took over from where the last one's shared state ended, not
//!   before it.

use super::{EventKind, Record};
use std::collections::BTreeMap;

/// One replica's log: its name (the file) and its records, in order.
pub struct ReplicaLog {
    pub name: String,
    pub records: Vec<Record>,
}

/// What the joined logs hold.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Joined {
    /// Each epoch and the log it belongs to, oldest first.
    pub epochs: Vec<(u64, String)>,
    /// Judgements (`decision` and `denial` records) made while leading.
    pub decisions: usize,
    /// Commits recorded as applied, each under one epoch.
    pub applied: usize,
}

/// Where the joined logs disagree: `log`:`seq` and what is wrong.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{log}:{seq}: {problem}")]
pub struct JoinProblem {
    pub log: String,
    pub seq: u64,
    pub problem: String,
}

/// Joins `logs` (each already verified on its own).
pub fn join(logs: &[ReplicaLog]) -> Result<Joined, JoinProblem> {
    let mut owner: BTreeMap<u64, &str> = BTreeMap::new();
    let mut applied: BTreeMap<&str, (u64, &str, u64)> = BTreeMap::new();
    let mut decisions = 0;
    for log in logs {
        let mut last_epoch = 0;
        for record in &log.records {
            let Some(epoch) = record.event.epoch else {
                continue;
            };
            let problem = |problem: String| JoinProblem {
                log: log.name.clone(),
                seq: record.seq,
                problem,
            };
            if let Some(other) = owner.get(&epoch).filter(|o| **o != log.name) {
                return Err(problem(format!(
                    "epoch {epoch} is in {other} too: two replicas recorded as leader under one epoch"
                )));
            }
            owner.insert(epoch, &log.name);
            if epoch < last_epoch {
                return Err(problem(format!(
                    "epoch {epoch} after epoch {last_epoch}: a replica's epochs only grow"
                )));
            }
            last_epoch = epoch;
            match (
                record.event.kind,
                record.event.outcome.as_str(),
                &record.event.commit,
            ) {
                (EventKind::Judgement | EventKind::Denial, _, Some(_)) => decisions += 1,
                (EventKind::Apply, "applied", Some(commit)) => {
                    if let Some((first, first_log, first_seq)) = applied
                        .get(commit.as_str())
                        .filter(|(first, ..)| *first != epoch)
                    {
                        return Err(problem(format!(
                            "commit {commit} recorded applied again under epoch {epoch}, after {first_log}:{first_seq} under epoch {first}: a leader took over from an older shared state"
                        )));
                    }
                    applied
                        .entry(commit)
                        .or_insert((epoch, &log.name, record.seq));
                }
                _ => {}
            }
        }
    }
    Ok(Joined {
        epochs: owner.into_iter().map(|(e, l)| (e, l.to_owned())).collect(),
        decisions,
        applied: applied.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditEvent;

    fn record(
        seq: u64,
        epoch: Option<u64>,
        kind: EventKind,
        outcome: &str,
        commit: &str,
    ) -> Record {
        let mut event = AuditEvent::new(kind, "lbops", outcome).with_commit(commit);
        event.epoch = epoch;
        Record {
            seq,
            time: String::new(),
            prev: String::new(),
            event,
            hash: String::new(),
        }
    }

    fn log(name: &str, records: Vec<Record>) -> ReplicaLog {
        ReplicaLog {
            name: name.to_owned(),
            records,
        }
    }

    #[test]
    fn a_failover_joins_into_one_history() {
        let a = log(
            "a",
            vec![
                record(1, None, EventKind::Startup, "started", "x"),
                record(2, Some(5), EventKind::Judgement, "authorized", "c1"),
                record(3, Some(5), EventKind::Apply, "applied", "c1"),
            ],
        );
        let b = log(
            "b",
            vec![
                record(1, Some(9), EventKind::Judgement, "authorized", "c2"),
                record(2, Some(9), EventKind::Apply, "applied", "c2"),
            ],
        );
        let joined = join(&[a, b]).unwrap();
        assert_eq!(joined.epochs, vec![(5, "a".into()), (9, "b".into())]);
        assert_eq!((joined.decisions, joined.applied), (2, 2));
    }

    #[test]
    fn two_leaders_of_one_epoch_a_shrinking_epoch_and_a_second_apply_are_named() {
        let shared_epoch = join(&[
            log(
                "a",
                vec![record(4, Some(5), EventKind::Judgement, "authorized", "c")],
            ),
            log(
                "b",
                vec![record(7, Some(5), EventKind::Judgement, "authorized", "d")],
            ),
        ])
        .unwrap_err();
        assert_eq!((shared_epoch.log.as_str(), shared_epoch.seq), ("b", 7));
        assert!(
            shared_epoch.problem.contains("epoch 5 is in a"),
            "{shared_epoch}"
        );

        let shrinking = join(&[log(
            "a",
            vec![
                record(1, Some(9), EventKind::Judgement, "authorized", "c"),
                record(2, Some(5), EventKind::Judgement, "authorized", "d"),
            ],
        )])
        .unwrap_err();
        assert!(shrinking.problem.contains("only grow"), "{shrinking}");

        let twice = join(&[
            log(
                "a",
                vec![record(3, Some(5), EventKind::Apply, "applied", "c")],
            ),
            log(
                "b",
                vec![record(8, Some(9), EventKind::Apply, "applied", "c")],
            ),
        ])
        .unwrap_err();
        assert!(
            twice
                .to_string()
                .starts_with("b:8: commit c recorded applied again under epoch 9, after a:3"),
            "{twice}"
        );
    }
}
