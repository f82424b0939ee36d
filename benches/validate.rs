//! Parse + validate time and peak memory for generated estates.
//!
//! `cargo bench --bench validate` (optionally `-- 1000 10000` for chosen
//! sizes). Each estate has N pools of 10 targets with health checks, N/10
//! load balancers with one HTTPS-free HTTP listener routing to 10 pools
//! each, and N/100 roles. Prints one line per size.

use lbops::spec::{self, SourceFile};
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Counts live heap bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: delegates every call to the system allocator unchanged; only
// bookkeeping is added. This is the bench binary, not the library, which
// forbids unsafe code.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How many documents go into one generated file.
const DOCS_PER_FILE: usize = 100;

fn estate(pools: usize) -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, files: &mut Vec<SourceFile>, prefix: &str| {
        if !text.is_empty() {
            files.push(SourceFile::new(
                format!("{prefix}-{:06}.yaml", files.len()),
                std::mem::take(text),
            ));
        }
    };
    for p in 0..pools {
        let _ = write!(
            text,
            "---\nkind: Pool\nname: pool-{p}\nlabels: {{team: team-{}}}\nspec:\n  algorithm: least_requests\n  targets:\n",
            p % 50
        );
        for t in 0..10 {
            let _ = writeln!(
                text,
                "    - {{address: 10.{}.{}.{t}:8080, weight: {}}}",
                p / 256 % 256,
                p % 256,
                t + 1
            );
        }
        text.push_str("  health_check:\n    probe: {http: {path: /healthz}}\n    interval: 5s\n    timeout: 2s\n");
        if (p + 1) % DOCS_PER_FILE == 0 {
            flush(&mut text, &mut files, "pools");
        }
    }
    flush(&mut text, &mut files, "pools");
    for b in 0..pools / 10 {
        let _ = write!(
            text,
            "---\nkind: LoadBalancer\nname: lb-{b}\nspec:\n  addresses: [172.{}.{}.{}]\n  listeners:\n    - name: http\n      protocol: http\n      port: 80\n      routes:\n",
            16 + b / 65536 % 16,
            b / 256 % 256,
            b % 256
        );
        for r in 0..10 {
            let _ = write!(
                text,
                "        - name: r{r}\n          priority: {r}\n          match: {{host: h{r}.example.test, path: {{prefix: /{r}}}}}\n          action: {{forward: {{pools: [{{pool: pool-{}, weight: 1}}]}}}}\n",
                b * 10 + r
            );
        }
        if (b + 1) % DOCS_PER_FILE == 0 {
            flush(&mut text, &mut files, "balancers");
        }
    }
    flush(&mut text, &mut files, "balancers");
    for r in 0..(pools / 100).max(1) {
        let _ = write!(
            text,
            "---\nkind: Role\nname: role-{r}\nspec:\n  rules:\n    - actions: [pool.weights.update, pool.targets.update]\n      resources: [\"pool/*\"]\n      when: {{labels: {{team: team-{}}}}}\n",
            r % 50
        );
    }
    flush(&mut text, &mut files, "roles");
    files
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 10_000, 100_000]
    } else {
        sizes
    };
    let options = spec::Options::at(1_795_564_800);
    println!(
        "{:>8} {:>7} {:>9} {:>10} {:>12} {:>12} {:>11}",
        "pools", "files", "input MiB", "resources", "parse+valid", "per pool", "peak MiB"
    );
    for pools in sizes {
        let files = estate(pools);
        let input: usize = files.iter().map(|f| f.text.len()).sum();
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let start = Instant::now();
        let validated = spec::load(&files, &options);
        let elapsed = start.elapsed();
        let peak = PEAK.load(Ordering::Relaxed) - before;
        let resources = match &validated {
            Ok(v) => v.catalog.len(),
            Err(e) => panic!(
                "generated estate is invalid: {:?}",
                &e.diagnostics[..e.diagnostics.len().min(3)]
            ),
        };
        drop(validated);
        println!(
            "{pools:>8} {:>7} {:>9.1} {resources:>10} {:>10.0}ms {:>10.2}µs {:>11.1}",
            files.len(),
            input as f64 / 1048576.0,
            elapsed.as_secs_f64() * 1000.0,
            elapsed.as_secs_f64() * 1e6 / pools as f64,
            peak as f64 / 1048576.0,
        );
    }
}
