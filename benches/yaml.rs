//! The YAML reader on hostile shapes: time and peak heap per size, to show
//! that both grow linearly with the input and that what passes a limit is
//! refused in constant time.
//!
//! `cargo bench --bench yaml` (optionally `-- keys` or `-- depth` for one
//! half). Two shapes:
//! - one mapping of N keys (`key-0: 0` …), read once with the limits lifted
//!   (so the parser's own growth shows, up to a million keys) and once
//!   within `Limits::REPOSITORY`, which refuses past 10,000 keys;
//! - N levels of nesting, as block lists (`- - - … x`) and as flow lists
//!   (`[[[ … x … ]]]`), within `Limits::REPOSITORY`: up to its 64 levels
//!   the tree is built, past them the reader stops at level 65, so the time
//!   to refuse does not depend on how deep the input goes.
//!
//! And `-- refs`: `spec::load` on N roles and a group naming N roles that
//! do not exist, the error path where "did you mean" used to compare every
//! broken name with every role.

use lbops::spec::yaml::{self, Parsed};
use lbops::spec::{self, Limits, SourceFile};
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

/// Every bound lifted but depth, which keeps the tree's `Drop` shallow.
const LIFTED: Limits = Limits {
    file_bytes: u64::MAX,
    tree_bytes: u64::MAX,
    files: usize::MAX,
    nodes: usize::MAX,
    depth: Limits::REPOSITORY.depth,
    keys: usize::MAX,
    alias_nodes: usize::MAX,
};

/// Every input is parsed at least [`MIN_RUNS`] times, and small ones
/// until this much time has passed; the fastest run is kept, so that every
/// size is measured the same way on a shared machine.
const MIN_TOTAL: Duration = Duration::from_millis(300);
const MIN_RUNS: usize = 3;

/// This thread's CPU time, where Linux tells it (in 10 ms ticks): on a
/// shared machine a long run is descheduled for much of its wall time, so
/// the fastest wall time of a few runs favours short inputs; CPU time does
/// not.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

struct Measured {
    /// The fastest wall time of the runs.
    time: Duration,
    /// The least CPU time of the runs, when it can be read.
    cpu: Option<Duration>,
    /// Heap above what was live before parsing (the input excluded).
    peak: usize,
    outcome: String,
}

/// Runs `work` (which says what came of it) and measures it.
fn measure(mut work: impl FnMut() -> String) -> Measured {
    let mut best = Duration::MAX;
    let mut least_cpu: Option<Duration> = None;
    let mut peak = 0;
    let started = Instant::now();
    let mut runs = 0;
    loop {
        runs += 1;
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let (cpu, start) = (cpu_time(), Instant::now());
        let outcome = work();
        let time = start.elapsed();
        if let (Some(before), Some(after)) = (cpu, cpu_time()) {
            let used = after.saturating_sub(before);
            least_cpu = Some(least_cpu.map_or(used, |l| l.min(used)));
        }
        peak = peak.max(PEAK.load(Ordering::Relaxed) - before);
        best = best.min(time);
        if runs >= MIN_RUNS && started.elapsed() >= MIN_TOTAL {
            return Measured {
                time: best,
                cpu: least_cpu,
                peak,
                outcome,
            };
        }
    }
}

/// Parses `text` within `limits` and says how that ended; the tree is
/// dropped inside the measurement, as a caller would.
fn parse(text: &str, limits: &Limits) -> Measured {
    measure(|| describe(&yaml::parse_with(text, limits)))
}

fn describe(parsed: &Parsed) -> String {
    match &parsed.fatal {
        Some(e) if e.exceeded.is_some() => format!("refused at {}", e.pos),
        Some(e) => format!("error: {}", e.message),
        None => format!("read, {} document(s)", parsed.documents.len()),
    }
}

fn keys(n: usize) -> String {
    let mut text = String::with_capacity(n * 16);
    for i in 0..n {
        let _ = writeln!(text, "key-{i}: {i}");
    }
    text
}

fn header() {
    println!(
        "{:<12} {:>9} {:>10} {:<10} {:>12} {:>11} {:>10} {:>11}  outcome",
        "shape", "N", "input", "limits", "wall", "wall per N", "cpu", "peak heap"
    );
}

fn row(shape: &str, n: usize, text: &str, limits: &str, m: &Measured) {
    let per = m.time.as_secs_f64() * 1e9 / n as f64;
    // Below 100 ms, 10 ms ticks say little; the wall time of the fastest
    // of many short runs is the better figure there.
    let cpu = match m.cpu {
        Some(cpu) if cpu >= Duration::from_millis(100) => format!("{} ms", cpu.as_millis()),
        _ => "-".to_owned(),
    };
    println!(
        "{shape:<12} {n:>9} {:>10} {limits:<10} {:>12} {:>8.1} ns {cpu:>10} {:>11}  {}",
        size(text.len()),
        millis(m.time),
        per,
        size(m.peak),
        m.outcome
    );
}

fn size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / 1048576.0)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn millis(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |half: &str| only.is_empty() || only.iter().any(|a| a == half);
    header();
    if wanted("keys") {
        for n in [1_000, 10_000, 100_000, 1_000_000] {
            let text = keys(n);
            row("keys", n, &text, "lifted", &parse(&text, &LIFTED));
            row(
                "keys",
                n,
                &text,
                "repository",
                &parse(&text, &Limits::REPOSITORY),
            );
        }
    }
    if wanted("refs") {
        for n in [1_000, 10_000, 100_000] {
            let mut roles = String::new();
            for i in 0..n {
                let _ = write!(
                    roles,
                    "---\nkind: Role\nname: role-{i}\nspec:\n  rules: []\n"
                );
            }
            let names: Vec<String> = (0..n).map(|i| format!("rol-{i}")).collect();
            let group = format!(
                "kind: Group\nname: g\nspec:\n  roles: [{}]\n",
                names.join(", ")
            );
            let files = [
                SourceFile::new("roles.yaml", roles),
                SourceFile::new("group.yaml", group),
            ];
            let input: String = files.iter().map(|f| f.text.as_str()).collect();
            let options = spec::Options::at(0);
            let measured = measure(|| match spec::load(&files, &options) {
                Ok(_) => "valid".to_owned(),
                Err(e) => format!("{} dangling references", e.diagnostics.len()),
            });
            row("refs (load)", n, &input, "repository", &measured);
        }
    }
    if wanted("depth") {
        for n in [10, 64, 100, 1_000, 10_000, 100_000] {
            let block = format!("{}x\n", "- ".repeat(n));
            row(
                "depth `- `",
                n,
                &block,
                "repository",
                &parse(&block, &Limits::REPOSITORY),
            );
            let flow = format!("{}x{}\n", "[".repeat(n), "]".repeat(n));
            row(
                "depth `[`",
                n,
                &flow,
                "repository",
                &parse(&flow, &Limits::REPOSITORY),
            );
        }
    }
}
