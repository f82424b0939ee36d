//! The data-plane nodes as the daemon shows them: series in `/metrics`,
//! and alerts when a node falls behind, comes back, or fences this
//! daemon out. What each node does is the provider's
//! ([`FleetStatus`]); this module only words it.

use crate::provider::embedded::{FleetStatus, NodeStatus};
use crate::report::alerts::{Alert, Alerter};
use std::fmt::Write as _;
use std::sync::Arc;
use tokio::sync::watch;

/// One node's value of a series, if it has one.
type NodeValue = fn(&NodeStatus) -> Option<f64>;

/// The nodes' series, in Prometheus text.
#[must_use]
pub fn metrics(status: &FleetStatus) -> String {
    let mut out = String::new();
    let series: [(&str, &str, NodeValue); 4] = [
        (
            "lbops_dataplane_node_up",
            "Whether the data-plane node answered the last time it was asked (1) or not (0).",
            |n| Some(f64::from(u8::from(n.reachable))),
        ),
        (
            "lbops_dataplane_node_behind",
            "Whether the data-plane node is not known to run the fleet's config (1): it missed a change and is caught up when it answers.",
            |n| Some(f64::from(u8::from(n.behind.is_some()))),
        ),
        (
            "lbops_dataplane_node_config_version",
            "The version of the config the data-plane node runs, as it said last.",
            |n| n.version.map(|v| v as f64),
        ),
        (
            "lbops_dataplane_node_epoch",
            "The highest leader epoch the data-plane node has accepted, as it said last.",
            |n| n.epoch.map(|v| v as f64),
        ),
    ];
    for (name, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for node in &status.nodes {
            if let Some(value) = value(node) {
                let _ = writeln!(out, "{name}{{node=\"{}\"}} {value}", node.name);
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP lbops_dataplane_nodes_min How many data-plane nodes must apply a change for it to count."
    );
    let _ = writeln!(out, "# TYPE lbops_dataplane_nodes_min gauge");
    let _ = writeln!(out, "lbops_dataplane_nodes_min {}", status.min_nodes);
    let _ = writeln!(
        out,
        "# HELP lbops_dataplane_fenced Whether a data-plane node refused this daemon's epoch (1): another leader drives them."
    );
    let _ = writeln!(out, "# TYPE lbops_dataplane_fenced gauge");
    let _ = writeln!(
        out,
        "lbops_dataplane_fenced {}",
        u8::from(status.fenced.is_some())
    );
    out
}

/// The alerts the change from `before` to `now` raises: a node newly
/// behind, a node back in step, this daemon newly fenced.
#[must_use]
pub fn alerts(before: &FleetStatus, now: &FleetStatus) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for node in &now.nodes {
        let was = before.nodes.iter().find(|n| n.name == node.name);
        let was_behind = was.is_some_and(|n| n.behind.is_some());
        match (&node.behind, was_behind) {
            (Some(why), false) => alerts.push(Alert::node_behind(&node.name, why)),
            (None, true) => alerts.push(Alert::node_back(&node.name, node.version)),
            _ => {}
        }
    }
    if let (Some(fenced), None) = (&now.fenced, &before.fenced) {
        alerts.push(Alert::fenced(&fenced.node, fenced.ours, fenced.highest));
    }
    alerts
}

/// Sends [`alerts`] for every change of the nodes, until the provider is
/// gone.
pub async fn alert_on_change(mut status: watch::Receiver<FleetStatus>, alerter: Arc<Alerter>) {
    let mut before = status.borrow_and_update().clone();
    while status.changed().await.is_ok() {
        let now = status.borrow_and_update().clone();
        for alert in alerts(&before, &now) {
            tracing::warn!(title = %alert.title, "data-plane nodes");
            alerter.send(&alert).await;
        }
        before = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::embedded::Fenced;

    fn fleet(behind: Option<&str>) -> FleetStatus {
        let mut one = NodeStatus::new("dp-1", "http://10.0.0.1:8711");
        one.reachable = true;
        one.version = Some(12);
        one.epoch = Some(40);
        let mut two = NodeStatus::new("dp-2", "http://10.0.0.2:8711");
        two.reachable = behind.is_none();
        two.behind = behind.map(str::to_owned);
        two.version = Some(11);
        FleetStatus {
            nodes: vec![one, two],
            min_nodes: 1,
            fenced: None,
        }
    }

    #[test]
    fn each_node_is_a_labelled_series() {
        let text = metrics(&fleet(Some("connection refused")));
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "lbops_dataplane_node_up{node=\"dp-1\"} 1",
                "lbops_dataplane_node_up{node=\"dp-2\"} 0",
                "lbops_dataplane_node_behind{node=\"dp-1\"} 0",
                "lbops_dataplane_node_behind{node=\"dp-2\"} 1",
                "lbops_dataplane_node_config_version{node=\"dp-1\"} 12",
                "lbops_dataplane_node_config_version{node=\"dp-2\"} 11",
                "lbops_dataplane_node_epoch{node=\"dp-1\"} 40",
                "lbops_dataplane_nodes_min 1",
                "lbops_dataplane_fenced 0",
            ]
        );
    }

    #[test]
    fn a_node_falling_behind_coming_back_and_a_fence_are_alerts() {
        let (fine, behind) = (fleet(None), fleet(Some("connection refused")));
        let titles =
            |alerts: Vec<Alert>| -> Vec<String> { alerts.into_iter().map(|a| a.title).collect() };
        assert!(alerts(&fine, &fine).is_empty());
        assert_eq!(
            titles(alerts(&fine, &behind)),
            ["Data-plane node dp-2 is behind: connection refused"]
        );
        assert!(alerts(&behind, &behind).is_empty(), "once per fall");
        assert_eq!(
            titles(alerts(&behind, &fine)),
            ["Data-plane node dp-2 is back, at config version 11"]
        );
        let mut fenced = fine.clone();
        fenced.fenced = Some(Fenced {
            node: "dp-1".into(),
            ours: 4,
            highest: 5,
        });
        assert_eq!(
            titles(alerts(&fine, &fenced)),
            ["Fenced: data-plane node dp-1 accepted epoch 5, newer than this daemon's 4"]
        );
    }
}
