//! The topology picture of one balancer (pure): five columns left to
//! right — balancer, listeners, routes, pools, targets — with the edges
//! between them, health as fill, drift as a red dashed outline, and the
//! traffic split on the route → pool edges. Every node links to its row
//! in the tables beside it, so the picture adds nothing a text browser
//! misses.

use super::model::{anchor, Balancer, Estate, RouteAction, Target};
use crate::daemon::pages::html::esc;
use crate::model::Health;
use std::fmt::Write as _;

const COLUMN: u32 = 190;
const NODE_W: u32 = 160;
const NODE_H: u32 = 26;
const ROW: u32 = 34;
const PAD: u32 = 8;

/// One box of the picture.
struct Node {
    column: u32,
    label: String,
    /// Where it links to on the page.
    href: String,
    class: &'static str,
    drift: bool,
    title: String,
}

/// The SVG of `balancer`, with the pools it forwards to taken from `estate`.
#[must_use]
pub fn topology(estate: &Estate, balancer: &Balancer) -> String {
    let mut nodes: Vec<Node> = Vec::new();
    // Edges by node index, with a label.
    let mut edges: Vec<(usize, usize, String)> = Vec::new();
    let lb = nodes.len();
    nodes.push(Node {
        column: 0,
        label: balancer.name.clone(),
        href: format!("#{}", anchor::balancer(&balancer.name)),
        class: match balancer.running {
            Some(true) => "ok",
            Some(false) => "bad",
            None => "unknown",
        },
        drift: balancer.drift.is_some(),
        title: format!("loadbalancer/{} ({})", balancer.name, balancer.provider),
    });
    let mut pools: Vec<(String, usize)> = Vec::new();
    for listener in &balancer.listeners {
        let l = nodes.len();
        nodes.push(Node {
            column: 1,
            label: format!("{} :{} {}", listener.name, listener.port, listener.protocol),
            href: format!("#{}", anchor::balancer(&balancer.name)),
            class: "plain",
            drift: false,
            title: format!("listener {}", listener.name),
        });
        edges.push((lb, l, String::new()));
        for route in &listener.routes {
            let r = nodes.len();
            nodes.push(Node {
                column: 2,
                label: format!("{} {}", route.name, route.matches),
                href: format!("#{}", anchor::balancer(&balancer.name)),
                class: "plain",
                drift: false,
                title: format!("route {}: {}", route.name, route.matches),
            });
            edges.push((l, r, String::new()));
            let RouteAction::Forward { split } = &route.action else {
                continue;
            };
            for part in split {
                let p = match pools.iter().find(|(name, _)| *name == part.pool) {
                    Some((_, p)) => *p,
                    None => {
                        let p = nodes.len();
                        let pool = estate.pool(&part.pool);
                        nodes.push(Node {
                            column: 3,
                            label: part.pool.clone(),
                            href: format!("#{}", anchor::pool(&part.pool)),
                            class: pool.map_or("unknown", |p| pool_class(&p.targets)),
                            drift: pool.is_some_and(|p| p.drift.is_some()),
                            title: format!("pool/{}", part.pool),
                        });
                        pools.push((part.pool.clone(), p));
                        for target in pool.map(|p| p.targets.as_slice()).unwrap_or_default() {
                            let t = nodes.len();
                            nodes.push(target_node(&part.pool, target));
                            edges.push((p, t, format!("w{}", target.weight)));
                        }
                        p
                    }
                };
                edges.push((r, p, format!("{}%", part.percent)));
            }
        }
    }
    draw(&nodes, &edges, &balancer.name)
}

fn target_node(pool: &str, target: &Target) -> Node {
    Node {
        column: 4,
        label: target.address.clone(),
        href: format!("#{}", anchor::target(pool, &target.address)),
        class: health_class(target.health),
        drift: target.drift.is_some() || !target.in_git,
        title: format!("{} {}", target.address, health_word(target.health)),
    }
}

/// A CSS class for a health.
#[must_use]
pub fn health_class(health: Health) -> &'static str {
    match health {
        Health::Healthy => "ok",
        Health::Unhealthy => "bad",
        Health::Draining => "warn",
        Health::Unknown => "unknown",
    }
}

#[must_use]
pub fn health_word(health: Health) -> &'static str {
    match health {
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
        Health::Draining => "draining",
        Health::Unknown => "unknown",
    }
}

/// A pool is as healthy as its primaries: all up, some down, all down.
fn pool_class(targets: &[Target]) -> &'static str {
    let primaries = targets.iter().filter(|t| !t.backup && t.in_git);
    let (mut up, mut down) = (0, 0);
    for t in primaries {
        match t.health {
            Health::Healthy => up += 1,
            Health::Unhealthy => down += 1,
            Health::Draining | Health::Unknown => {}
        }
    }
    match (up, down) {
        (_, 0) if up > 0 => "ok",
        (0, d) if d > 0 => "bad",
        (_, d) if d > 0 => "warn",
        _ => "unknown",
    }
}

fn draw(nodes: &[Node], edges: &[(usize, usize, String)], name: &str) -> String {
    // Each column stacks its nodes from the top; the picture is as tall
    // as its fullest column.
    let mut rows = [0u32; 5];
    let mut at: Vec<(u32, u32)> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let column = node.column as usize;
        at.push((PAD + node.column * COLUMN, PAD + rows[column] * ROW));
        rows[column] += 1;
    }
    let height = rows.iter().max().copied().unwrap_or(1).max(1) * ROW + 2 * PAD;
    let width = 4 * COLUMN + NODE_W + 2 * PAD;
    let mut svg = String::with_capacity(256 + nodes.len() * 300);
    let _ = write!(
        svg,
        "<svg class=\"topology\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"topology of {}\">",
        esc(name)
    );
    for (from, to, label) in edges {
        let (x1, y1) = (at[*from].0 + NODE_W, at[*from].1 + NODE_H / 2);
        let (x2, y2) = (at[*to].0, at[*to].1 + NODE_H / 2);
        let mid = (x1 + x2) / 2;
        let _ = write!(
            svg,
            "<path class=\"edge\" d=\"M{x1} {y1} C{mid} {y1} {mid} {y2} {x2} {y2}\"/>"
        );
        if !label.is_empty() {
            // A quarter along the curve: edges into one node (a pool two
            // routes share) keep their labels apart there.
            let (lx, ly) = quarter_along((x1, y1), mid, (x2, y2));
            let _ = write!(
                svg,
                "<text class=\"edge-label\" x=\"{lx}\" y=\"{}\">{}</text>",
                ly.saturating_sub(3),
                esc(label)
            );
        }
    }
    for (node, (x, y)) in nodes.iter().zip(&at) {
        let drift = if node.drift { " drift" } else { "" };
        let label: String = node.label.chars().take(24).collect();
        let _ = write!(
            svg,
            "<a href=\"{href}\"><g class=\"node {class}{drift}\"><title>{title}{drifted}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"4\"/>\
             <text x=\"{tx}\" y=\"{ty}\">{label}</text></g></a>",
            href = esc(&node.href),
            class = node.class,
            title = esc(&node.title),
            drifted = if node.drift { " — drifted" } else { "" },
            tx = x + 6,
            ty = y + 17,
            label = esc(&label),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The point at t = 1/4 of the edge's cubic curve (control points at
/// `mid` on each end's height).
fn quarter_along((x1, y1): (u32, u32), mid: u32, (x2, y2): (u32, u32)) -> (u32, u32) {
    // Bernstein weights at t = 1/4, in 64ths: 27, 27, 9, 1.
    let x = (27 * x1 + 27 * mid + 9 * mid + x2) / 64;
    let y = (54 * y1 + 9 * y2 + y2) / 64;
    (x, y)
}
