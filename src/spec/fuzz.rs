//! A structured fuzzer for the YAML reader and the spec loader, run as two
//! ordinary unit tests over a fixed number of cases (a few seconds).
//!
//! Each case is a text made from a fixed-seed PRNG: a hostile *shape*
//! (deep block or flow nesting, wide mappings, alias chains, anchors
//! dropped deep, huge keys, many documents…) or a file of the example
//! repository, then mutated a few times (tokens inserted, spans deleted,
//! duplicated, or repeated thousands of times with a counter so that the
//! copies are distinct keys, tails spliced from other shapes). Every case
//! must finish without a panic, without overflowing a 2 MiB stack (the size
//! of a tokio worker's, where the data plane parses configs), and within
//! [`BASE_BUDGET`] + [`BUDGET_PER_KIB`] per KiB of CPU time.
//!
//! Why hand-rolled rather than `cargo fuzz` or `proptest`: `cargo fuzz`
//! needs a nightly compiler and does not run under `cargo test`; `proptest`
//! would be a new dependency whose strength, shrinking, buys little here,
//! because the inputs that break parsers are shapes (deep, wide, aliased)
//! that a generator aware of YAML produces directly, while byte-level
//! mutations cover the rest. Every case is a pure function of the seed and
//! its number, so a failure names both and is replayed exactly with
//! `LBOPS_FUZZ_SEED=<seed> LBOPS_FUZZ_CASE=<n> cargo test --lib spec::fuzz`
//! (`LBOPS_FUZZ_VERBOSE=1` prints each case's start and time). CI runs the
//! default seed's first [`YAML_CASES`] and [`LOAD_CASES`] cases; set
//! `LBOPS_FUZZ_SECS` to run for that long instead, and a new
//! `LBOPS_FUZZ_SEED` to explore other inputs.
//!
//! It finds the bugs it was written for: with the reader's depth check
//! switched off, case 41 (115 KB of `- - - …`) overflows the case thread's
//! stack; with the check on but the duplicate-key scan linear per key again
//! (quadratic per mapping), case 67 (a 244 KB flow mapping) takes twice its
//! budget.

use super::yaml::{self, Node, Value};
use super::{load, Limits, Options, SourceFile};
use std::time::{Duration, Instant};

/// The seed CI runs with; any other explores other inputs.
const DEFAULT_SEED: u64 = 0x1b0_95ee_d5ee_d001;
/// How many cases each test runs unless `LBOPS_FUZZ_SECS` asks for a time
/// instead: a fixed number, so that CI always runs the same inputs, and a
/// few seconds' worth in a debug build.
const YAML_CASES: u64 = 200;
const LOAD_CASES: u64 = 100;
/// The largest input generated: big enough that a quadratic step costs
/// seconds, small enough that a linear one costs milliseconds.
const MAX_INPUT: usize = 256 * 1024;
/// CPU time any case may take, plus [`BUDGET_PER_KIB`] per KiB of input.
/// Generous (a debug build on a shared 2-core machine reads well under
/// 1 ms per KiB), so only work that grows faster than the input trips it.
const BASE_BUDGET: Duration = Duration::from_millis(500);
const BUDGET_PER_KIB: Duration = Duration::from_millis(2);
/// The stack each case runs on: a tokio worker's.
const CASE_STACK: usize = 2 * 1024 * 1024;
/// A "now" for certificate expiry in the loader cases.
const NOW: i64 = 1_795_564_800;

/// splitmix64: tiny, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn for_case(seed: u64, case: u64) -> Self {
        let mut rng = Self(seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A count from 1 to `max`: a third of the time near `max` (where
    /// quadratic work and deep recursion show), otherwise log-uniform, so
    /// small counts, where off-by-one mistakes live, come up as often.
    fn size(&mut self, max: usize) -> usize {
        let max = max.max(1);
        if self.chance(33) {
            return max - self.below(max / 2 + 1).min(max - 1);
        }
        let bits = usize::BITS - max.leading_zeros();
        let top = 1usize << self.below(bits as usize + 1);
        1 + self.below(top.min(max))
    }
}

/// Files of the example repository: real documents to mutate.
const SEEDS: &[&str] = &[
    include_str!("../../examples/repo/balancers/web.yaml"),
    include_str!("../../examples/repo/balancers/db.yaml"),
    include_str!("../../examples/repo/pools/web.yaml"),
    include_str!("../../examples/repo/pools/db.yaml"),
    include_str!("../../examples/repo/access/users.yaml"),
    include_str!("../../examples/repo/access/roles.yaml"),
    include_str!("../../examples/repo/access/groups.yaml"),
    include_str!("../../examples/repo/access/service-accounts.yaml"),
    include_str!("../../examples/repo/addresspools/loopback.yaml"),
    include_str!("../../examples/repo/certificates/wildcard-example-test.yaml"),
];

/// Pieces of YAML syntax that mutations insert.
const TOKENS: &[&str] = &[
    "- ",
    ": ",
    "\n",
    "  ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "!!str ",
    "? ",
    "|\n",
    ">-\n",
    "'",
    "\"",
    "# c\n",
    "---\n",
    "...\n",
    "\t",
    "\\",
    "%YAML 1.2\n",
    "\u{feff}",
    "é",
    "k: v\n",
    "~",
    "null",
    "0x1F",
    "-1",
    "1e9",
    "!!map ",
    "*",
    "&",
    ":",
    "-",
    "\r\n",
    "kind: Pool\n",
    "name: x\n",
    "spec:\n",
    "  targets:\n    - address: 10.0.0.1:80\n",
];

/// A hostile shape of about `bytes` bytes at most.
fn shape(rng: &mut Rng, bytes: usize) -> String {
    let n = |rng: &mut Rng, unit: usize| rng.size(bytes / unit.max(1));
    match rng.below(16) {
        0 => format!("{}x\n", "- ".repeat(n(rng, 2))),
        1 => {
            let d = n(rng, 2);
            let close = if rng.chance(80) { d } else { rng.below(d) };
            format!("{}{}\n", "[".repeat(d), "]".repeat(close))
        }
        2 => {
            let d = n(rng, 5);
            format!("{}1{}\n", "{a: ".repeat(d), "}".repeat(d))
        }
        3 => {
            // Indented block mappings: the text grows with the square of
            // the depth, so the depth stays modest.
            let d = rng.size(((bytes as f64).sqrt() as usize).max(2));
            (0..d)
                .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
                .collect()
        }
        4 => {
            let d = rng.size(((bytes as f64).sqrt() as usize).max(2));
            (0..d).map(|i| format!("{}-\n", "  ".repeat(i))).collect()
        }
        5 => format!("{}x\n", "? ".repeat(n(rng, 2))),
        6 => (0..n(rng, 14)).map(|i| format!("key-{i}: {i}\n")).collect(),
        7 => {
            let distinct = rng.size(64);
            (0..n(rng, 8))
                .map(|i| format!("k{}: {i}\n", i % distinct))
                .collect()
        }
        8 => {
            let keys: String = (0..n(rng, 10)).map(|i| format!("k{i}: 1, ")).collect();
            format!("{{{keys}}}\n")
        }
        9 => {
            // Nested aliases: each level a list of the one before.
            let fan = 2 + rng.below(9);
            let levels = 1 + rng.below(12);
            let mut text = format!("l0: &l0 [{}]\n", vec!["x"; fan].join(", "));
            for l in 1..levels {
                let refs = vec![format!("*l{}", l - 1); fan].join(", ");
                text.push_str(&format!("l{l}: &l{l} [{refs}]\n"));
            }
            text
        }
        10 => {
            // A deep anchored value, then aliased from deep inside
            // another: the alias's own depth adds to where it lands.
            let d = n(rng, 4);
            let e = n(rng, 4);
            format!(
                "a: &deep {}x{}\nb: {}*deep{}\n",
                "[".repeat(d),
                "]".repeat(d),
                "[".repeat(e),
                "]".repeat(e)
            )
        }
        11 => "---\n".repeat(n(rng, 4)),
        12 => format!("{}: 1\n", "k".repeat(n(rng, 1))),
        13 => format!(
            "kind: Pool\nname: p\n{}: 1\nspec:\n  targets: []\n",
            "x".repeat(n(rng, 1))
        ),
        14 => format!(
            "kind: Pool\nname: p\nspec:\n  targets: {}{{address: 10.0.0.1:80}}{}\n",
            "[".repeat(n(rng, 2)),
            "]".repeat(rng.size(64))
        ),
        _ => {
            // Mixed block and flow: `- [` repeated.
            let d = n(rng, 4);
            format!("{}x{}\n", "- [".repeat(d), "]".repeat(d))
        }
    }
}

/// One mutation of `text` in place, keeping it under [`MAX_INPUT`].
fn mutate(rng: &mut Rng, text: &mut Vec<u8>) {
    let at = |rng: &mut Rng, text: &Vec<u8>| rng.below(text.len() + 1);
    match rng.below(7) {
        0 => {
            let i = at(rng, text);
            let token = rng.pick(TOKENS).as_bytes();
            text.splice(i..i, token.iter().copied());
        }
        1 if !text.is_empty() => {
            let i = rng.below(text.len());
            let len = rng.size(text.len() - i);
            text.drain(i..i + len);
        }
        2 if !text.is_empty() => {
            let i = rng.below(text.len());
            let len = rng.size((text.len() - i).min(256));
            let span = text[i..i + len].to_vec();
            let j = at(rng, text);
            text.splice(j..j, span);
        }
        3 | 6 if !text.is_empty() => {
            // A span repeated many times, each copy numbered after its
            // first letter, so repeated keys are distinct keys. Half the
            // time the span is whole lines: a real mapping or list made wide.
            let (i, len) = if rng.chance(50) {
                let i = rng.below(text.len());
                let len = rng.size((text.len() - i).min(64));
                (i, len)
            } else {
                let start = rng.below(text.len());
                let start = text[..start]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                let lines = 1 + rng.below(3);
                let mut end = start;
                for _ in 0..lines {
                    end = text[end..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(text.len(), |p| end + p + 1);
                }
                (start, (end - start).max(1).min(text.len() - start))
            };
            if len == 0 {
                return;
            }
            let span = text[i..i + len].to_vec();
            let room = MAX_INPUT.saturating_sub(text.len()) / (len + 6);
            let times = rng.size(room.max(1));
            let letter = span.iter().position(u8::is_ascii_alphabetic);
            let mut copies = Vec::with_capacity(times * (len + 6));
            for k in 0..times {
                match letter {
                    Some(p) => {
                        copies.extend_from_slice(&span[..=p]);
                        copies.extend_from_slice(k.to_string().as_bytes());
                        copies.extend_from_slice(&span[p + 1..]);
                    }
                    None => copies.extend_from_slice(&span),
                }
            }
            text.splice(i + len..i + len, copies);
        }
        4 => {
            let i = at(rng, text);
            text.truncate(i);
            let room = MAX_INPUT.saturating_sub(text.len());
            text.extend_from_slice(shape(rng, room).as_bytes());
        }
        _ if !text.is_empty() => {
            let i = rng.below(text.len());
            text[i] = *rng.pick(b"-:[]{},&*!|>'\"#%@? \n\tax0");
        }
        _ => {}
    }
    text.truncate(MAX_INPUT);
}

/// The text of case `case`.
fn input(seed: u64, case: u64) -> String {
    let mut rng = Rng::for_case(seed, case);
    // Shapes are hostile already: half of them go in as they are, so that
    // mutations do not hide them behind an early syntax error.
    let (mut text, mutations) = if rng.chance(50) {
        let mutations = if rng.chance(50) { 0 } else { 1 + rng.below(2) };
        (shape(&mut rng, MAX_INPUT).into_bytes(), mutations)
    } else {
        (rng.pick(SEEDS).as_bytes().to_vec(), 1 + rng.below(3))
    };
    for _ in 0..mutations {
        mutate(&mut rng, &mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// CPU time of the calling thread, where Linux tells it (10 ms ticks);
/// wall time elsewhere. CPU time, so a busy shared machine does not fail
/// a case that was merely waiting.
fn thread_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn measure<T>(work: impl FnOnce() -> T) -> (T, Duration) {
    let (cpu, wall) = (thread_time(), Instant::now());
    let out = work();
    let took = match (cpu, thread_time()) {
        (Some(before), Some(after)) => after.saturating_sub(before),
        _ => wall.elapsed(),
    };
    (out, took)
}

/// One case's work: `None` when every property held, or what broke.
type Case = fn(&str) -> Option<String>;

/// Runs cases from the seed until the time is up (or only
/// `LBOPS_FUZZ_CASE`), each on its own thread with a tokio-sized stack, and
/// fails naming the first case that panicked, broke a property, or ran over
/// its budget. A stack overflow aborts the test binary; the message then
/// names the thread, and so the case.
fn run(what: &str, cases: u64, work: Case) {
    let env = |name: &str| std::env::var(name).ok();
    let seed = env("LBOPS_FUZZ_SEED")
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(DEFAULT_SEED);
    let deadline = env("LBOPS_FUZZ_SECS")
        .and_then(|s| s.parse::<f64>().ok())
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let only = env("LBOPS_FUZZ_CASE").and_then(|s| s.parse::<u64>().ok());
    let verbose = env("LBOPS_FUZZ_VERBOSE").is_some();
    let (mut case, mut bytes) = (only.unwrap_or(0), 0usize);
    loop {
        let text = input(seed, case);
        let len = text.len();
        if verbose {
            let head: String = text.chars().take(40).collect();
            eprintln!("case {case}: {len} bytes: {head:?}");
        }
        let outcome = std::thread::Builder::new()
            .name(format!("fuzz {what} seed {seed:#x} case {case}"))
            .stack_size(CASE_STACK)
            .spawn(move || {
                let (broken, took) = measure(|| work(&text));
                (took, broken)
            })
            .expect("spawn a case thread")
            .join();
        let budget = BASE_BUDGET + BUDGET_PER_KIB * u32::try_from(len / 1024).unwrap_or(u32::MAX);
        if verbose {
            if let Ok((took, _)) = &outcome {
                eprintln!("case {case}: took {took:?}");
            }
        }
        let failure = match outcome {
            Err(_) => Some("panicked (message above)".to_owned()),
            Ok((took, _)) if took > budget => Some(format!(
                "took {took:?} of CPU for {len} bytes, over its budget of {budget:?}"
            )),
            Ok((_, Some(broken))) => Some(broken),
            Ok((_, None)) => None,
        };
        if let Some(failure) = failure {
            let text = input(seed, case);
            let path = std::env::temp_dir().join(format!("lbops-fuzz-{seed:x}-{case}.yaml"));
            let _ = std::fs::write(&path, &text);
            panic!(
                "{what}: case {case} of seed {seed:#x} ({len} bytes, written to {}) {failure}; \
                 replay with LBOPS_FUZZ_SEED={seed:x} LBOPS_FUZZ_CASE={case}",
                path.display()
            );
        }
        bytes += len;
        case += 1;
        let done = match deadline {
            Some(deadline) => Instant::now() >= deadline,
            None => case >= cases,
        };
        if only.is_some() || done {
            break;
        }
    }
    eprintln!(
        "fuzz {what}: {case} cases, {} KiB, seed {seed:#x}",
        bytes / 1024
    );
}

#[test]
fn the_yaml_reader_survives_hostile_input_in_linear_time() {
    // The loosest limits any entry point uses, so that any work growing
    // faster than the text has room to show.
    run("yaml", YAML_CASES, |text| {
        let limits = Limits::CATALOG_DOCUMENT;
        let parsed = yaml::parse_with(text, &limits);
        let deepest = parsed.documents.iter().map(|d| depth(&d.root)).max();
        let nodes: usize = parsed.documents.iter().map(|d| count(&d.root)).sum();
        match parsed.fatal {
            _ if deepest > Some(limits.depth) => {
                Some(format!("a tree {deepest:?} levels deep was built"))
            }
            _ if nodes > limits.nodes => Some(format!("{nodes} values were built")),
            Some(e) if e.pos.line == 0 || e.message.is_empty() => {
                Some(format!("an error without a place or a message: {e:?}"))
            }
            _ => None,
        }
    });
}

#[test]
fn the_spec_loader_survives_hostile_input_in_linear_time() {
    run("load", LOAD_CASES, |text| {
        let files = [
            SourceFile::new("fuzz.yaml", text),
            SourceFile::new("pools.yaml", SEEDS[2]),
        ];
        let diagnostics = match load(&files, &Options::at(NOW)) {
            Ok(validated) => validated.warnings,
            Err(invalid) => invalid.diagnostics,
        };
        diagnostics
            .iter()
            .find(|d| d.line == 0 || d.message.is_empty())
            .map(|d| format!("a diagnostic without a place or a message: {d}"))
    });
}

/// The deepest nesting under `node`, walked with a stack of its own.
fn depth(node: &Node) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(node, 0)];
    while let Some((node, above)) = pending.pop() {
        match &node.value {
            Value::Scalar { .. } => deepest = deepest.max(above),
            Value::Seq(items) => {
                deepest = deepest.max(above + 1);
                pending.extend(items.iter().map(|n| (n, above + 1)));
            }
            Value::Map(entries) => {
                deepest = deepest.max(above + 1);
                for (k, v) in entries {
                    pending.push((k, above + 1));
                    pending.push((v, above + 1));
                }
            }
        }
    }
    deepest
}

/// The values in `node`, itself included.
fn count(node: &Node) -> usize {
    let mut n = 0;
    let mut pending = vec![node];
    while let Some(node) = pending.pop() {
        n += 1;
        match &node.value {
            Value::Scalar { .. } => {}
            Value::Seq(items) => pending.extend(items),
            Value::Map(entries) => {
                for (k, v) in entries {
                    pending.push(k);
                    pending.push(v);
                }
            }
        }
    }
    n
}
