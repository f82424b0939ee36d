//! The estate page on a large estate: 100 balancers, each with one
//! listener of 10 path routes and a default, forwarding to 1,000 pools of
//! 10 targets (10,000 targets), every pool observed (one in ten with a
//! hand-changed weight: drift), every target's load reported, and every
//! element's ring full (15 minutes of samples).
//!
//! `cargo bench --bench estate` (optionally `-- POOLS`). Timed, each the
//! median of 9 runs: building the view model (drift included), rendering
//! the page, serializing `GET /v1/estate`'s JSON, drawing `lbops status`'s
//! tree, and recording one sample into the rings.

use lbops::daemon::pages::estate::build::{build, Inputs};
use lbops::daemon::pages::estate::figures::{FigureBook, BYTES_PER_TARGET, SAMPLES};
use lbops::daemon::pages::estate::{render, tree};
use lbops::dataplane::admin::TargetLoad;
use lbops::dataplane::target_stats::{TargetCounts, Transition};
use lbops::spec::kinds::{Kind, Labels, ResourceId};
use lbops::spec::units::Name;
use lbops::spec::{self, SourceFile};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const RUNS: usize = 9;
const TARGETS: usize = 10;
const POOLS_PER_BALANCER: usize = 10;

fn estate(pools: usize) -> Vec<SourceFile> {
    let mut text = String::new();
    for p in 0..pools {
        let _ = write!(text, "---\nkind: Pool\nname: pool-{p}\nspec:\n  targets:\n");
        for t in 0..TARGETS {
            let _ = writeln!(
                text,
                "    - {{address: 10.{}.{}.{t}:8080, weight: {}}}",
                p / 256 % 256,
                p % 256,
                t + 1
            );
        }
        let _ = writeln!(
            text,
            "  health_check: {{probe: {{http: {{path: /healthz}}}}, interval: 5s, timeout: 1s}}"
        );
    }
    for b in 0..pools / POOLS_PER_BALANCER {
        let _ = write!(
            text,
            "---\nkind: LoadBalancer\nname: lb-{b}\nspec:\n  addresses: [10.200.{}.{}]\n  listeners:\n    - name: http\n      protocol: http\n      port: 80\n      routes:\n",
            b / 256,
            b % 256
        );
        for r in 0..POOLS_PER_BALANCER {
            let pool = b * POOLS_PER_BALANCER + r;
            let other = b * POOLS_PER_BALANCER + (r + 1) % POOLS_PER_BALANCER;
            let _ = writeln!(
                text,
                "        - {{name: r{r}, priority: {}, match: {{path: {{prefix: /r{r}}}}}, action: {{forward: {{pools: [{{pool: pool-{pool}, weight: 9}}, {{pool: pool-{other}, weight: 1}}]}}}}}}",
                r + 1
            );
        }
        let _ = writeln!(
            text,
            "      default_action: {{forward: {{pools: [{{pool: pool-{}}}]}}}}",
            b * POOLS_PER_BALANCER
        );
    }
    vec![SourceFile::new("estate.yaml", text)]
}

fn loads(catalog: &lbops::spec::Catalog, round: u64) -> Vec<TargetLoad> {
    let mut loads = Vec::new();
    for (name, pool) in &catalog.pools {
        for (i, target) in pool.spec.targets.iter().enumerate() {
            let answered = round * 100 + i as u64;
            let mut latency = vec![0; 13];
            latency[2] = answered / 2;
            latency[7] = answered - answered / 2;
            loads.push(TargetLoad {
                pool: name.clone(),
                address: target.address.value.clone(),
                backup: false,
                draining: false,
                healthy: true,
                in_flight: i,
                requests: answered,
                weight: target.weight.value,
                effective_weight: target.weight.value,
                draining_left_ms: None,
                counts: TargetCounts {
                    answered,
                    errors_5xx: round,
                    latency,
                    history: vec![Transition {
                        at: 1_800_000_000,
                        healthy: true,
                        why: "1 check(s) passed".into(),
                    }],
                },
            });
        }
    }
    loads
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time<T>(what: &str, mut run: impl FnMut() -> T) -> T {
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        last = Some(std::hint::black_box(run()));
        times.push(start.elapsed());
    }
    println!(
        "{what:<44} {:>9.1} ms (median of {RUNS})",
        median(times).as_secs_f64() * 1e3
    );
    last.expect("RUNS > 0")
}

fn main() {
    let pools: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000);
    let catalog = match spec::load(&estate(pools), &spec::Options::at(1_800_000_000)) {
        Ok(valid) => valid.catalog,
        Err(invalid) => panic!(
            "the generated estate is invalid: {}",
            invalid.diagnostics[0].message
        ),
    };
    let mut observed = lbops::plan::observed_from(&catalog);
    for (i, pool) in observed.pools.values_mut().enumerate() {
        if i % 10 == 0 {
            pool.targets[0].weight += 1;
        }
    }
    let figures = FigureBook::default();
    for round in 0..SAMPLES as u64 {
        figures.record(&loads(&catalog, round), &catalog, 10.0);
    }
    let last = loads(&catalog, SAMPLES as u64);
    let targets = last.len();
    println!(
        "estate: {} balancers, {pools} pools, {targets} targets, rings of {SAMPLES} samples; \
         sparkline memory {BYTES_PER_TARGET} bytes per target ({:.1} MiB for all targets)",
        catalog.load_balancers.len(),
        (BYTES_PER_TARGET * targets) as f64 / (1024.0 * 1024.0)
    );
    let changes = HashMap::new();
    let everything = |_: Kind, _: &Name, _: &Labels| true;
    let provider = |_: &ResourceId| "embedded on in-process".to_owned();
    let commit = "c".repeat(40);
    let model = time("build the view model (drift included)", || {
        figures.read(|book| {
            build(&Inputs {
                trusted: Some((&commit, &catalog)),
                observed: Some(&observed),
                loads: &last,
                figures: Some(book),
                changes: &changes,
                provider_of: &provider,
                may_read: &everything,
                sample_seconds: 10,
            })
        })
    });
    let page = time("render the page (HTML + SVG)", || render::estate(&model));
    time("build + render: what GET /estate costs", || {
        let model = figures.read(|book| {
            build(&Inputs {
                trusted: Some((&commit, &catalog)),
                observed: Some(&observed),
                loads: &last,
                figures: Some(book),
                changes: &changes,
                provider_of: &provider,
                may_read: &everything,
                sample_seconds: 10,
            })
        });
        render::estate(&model)
    });
    let json = time("serialize GET /v1/estate", || {
        serde_json::to_string(&model).unwrap()
    });
    let text = time("draw lbops status's tree", || {
        tree::tree(&model, tree::Colour::Plain)
    });
    time("record one sample into every ring", || {
        figures.record(&last, &catalog, 10.0)
    });
    println!(
        "sizes: page {:.1} MiB, JSON {:.1} MiB, tree {:.1} MiB",
        page.len() as f64 / 1048576.0,
        json.len() as f64 / 1048576.0,
        text.len() as f64 / 1048576.0
    );
}
