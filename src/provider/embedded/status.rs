//! What a fleet knows of each of its data-plane nodes, for the daemon's
//! pages, metrics and alerts, and the words a step's outcome uses for a
//! fleet that is partly behind. Values only: the fleet keeps them in a
//! `watch` channel, readers borrow them.

use serde::Serialize;

/// One node, as last seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    /// Its name in the daemon config (`provider.embedded.nodes[].name`).
    pub name: String,
    /// Its admin API.
    pub url: String,
    /// It answered the last time it was asked.
    pub reachable: bool,
    /// Why it is not known to run the fleet's config (it missed a push,
    /// was down, or refused); `None`: in step with the fleet.
    pub behind: Option<String>,
    /// It runs a config other nodes do not, and no push of this daemon
    /// explains it: a hand change, reported as drift.
    pub differs: bool,
    /// The version of the config it runs, as it said last.
    pub version: Option<u64>,
    /// The highest leader epoch it has accepted, as it said last.
    pub epoch: Option<u64>,
    /// The last failure talking to it, kept after it recovers.
    pub last_error: Option<String>,
    /// When it last answered (unix seconds).
    pub last_contact: Option<i64>,
}

impl NodeStatus {
    #[must_use]
    pub fn new(name: &str, url: &str) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            reachable: false,
            // Not known until it is asked.
            behind: None,
            differs: false,
            version: None,
            epoch: None,
            last_error: None,
            last_contact: None,
        }
    }
}

/// A node refused this daemon's epoch: a newer leader drives the fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fenced {
    pub node: String,
    /// The epoch this daemon pushed under.
    pub ours: u64,
    /// The newer epoch the node has accepted.
    pub highest: u64,
}

/// Every node, in config order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FleetStatus {
    pub nodes: Vec<NodeStatus>,
    /// How many nodes must take a step for it to count as applied.
    pub min_nodes: usize,
    /// Set when a node refused this daemon's epoch; cleared by an apply
    /// under a newer one.
    pub fenced: Option<Fenced>,
}

impl FleetStatus {
    /// The nodes that are behind, with why.
    pub fn behind(&self) -> impl Iterator<Item = (&str, &str)> {
        self.nodes
            .iter()
            .filter_map(|n| n.behind.as_deref().map(|why| (n.name.as_str(), why)))
    }
}

/// What a step's outcome says of a fleet that `applied` of `total` nodes
/// took, with the others and why: "applied on 2 of 3 nodes; dp-3 is
/// behind: connection refused". `needed`: the minimum, when it was not
/// met.
#[must_use]
pub fn shortfall(
    applied: usize,
    total: usize,
    needed: Option<usize>,
    behind: &[(&str, &str)],
) -> String {
    let mut text = format!("applied on {applied} of {total} nodes");
    if let Some(needed) = needed {
        text.push_str(&format!(", {needed} needed"));
    }
    for (node, why) in behind {
        text.push_str(&format!("; {node} is behind: {why}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortfall_names_each_node_behind_and_why() {
        assert_eq!(
            shortfall(2, 3, None, &[("dp-3", "connection refused")]),
            "applied on 2 of 3 nodes; dp-3 is behind: connection refused"
        );
        assert_eq!(
            shortfall(1, 3, Some(2), &[("dp-2", "timed out"), ("dp-3", "409")]),
            "applied on 1 of 3 nodes, 2 needed; dp-2 is behind: timed out; dp-3 is behind: 409"
        );
    }
}
