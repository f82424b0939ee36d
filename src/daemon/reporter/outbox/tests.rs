use super::*;
use crate::report::alerts::AlertsConfig;
use crate::report::forge::tests::standin::{Kept, Reply};
use crate::report::forge::tests::{commit, Forge};
use crate::report::forge::{ForgeKind, RetryPolicy};
use crate::report::ContextName;
use crate::support::clock::SteppedClock;
use std::time::{Duration, Instant};

const T0: u64 = 1_767_225_600;
const KEY: &str = "github http://stand-in acme/lb-config";

fn other_commit() -> CommitId {
    CommitId::parse(&"b".repeat(40)).unwrap()
}

fn status(context: StatusContext, state: StatusState, description: &str) -> Status {
    Status::new(context, state, description).on_ref("main")
}

fn tell(clock: Arc<SteppedClock>) -> Tell {
    let alerts = AlertsConfig {
        webhooks: Vec::new(),
        slack: Vec::new(),
    };
    Tell {
        journal: Arc::new(Journal::default()),
        alerter: Arc::new(Alerter::from_config(&alerts).unwrap()),
        clock,
    }
}

async fn github(clock: &Arc<SteppedClock>) -> Forge {
    Forge::built(
        ForgeKind::GitHub,
        ContextName::default(),
        RetryPolicy::default(),
        Some(clock.clone()),
        |_| {},
    )
    .await
}

/// Runs a delivery task for `outbox`; it stops when the handle drops.
fn start(outbox: &Arc<Outbox>, forge: &Forge, clock: &Arc<SteppedClock>) -> Running {
    Running(tokio::spawn(deliver(
        outbox.clone(),
        forge.sink.clone(),
        KEY.into(),
        clock.clone(),
        tell(clock.clone()),
    )))
}

struct Running(tokio::task::JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits (really, briefly) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What a status looks like on GitHub.
fn shown(commit: CommitId, status: &Status) -> (String, String, String, String) {
    (
        commit.to_string(),
        format!("lbops/{}", status.context.as_str()),
        status.state.as_str().to_owned(),
        status.description.clone(),
    )
}

fn as_shown(kept: &Kept) -> (String, String, String, String) {
    let field = |name: &str| kept.body[name].as_str().unwrap_or_default().to_owned();
    (
        kept.sha.clone(),
        kept.context.clone(),
        field("state"),
        field("description"),
    )
}

#[tokio::test]
async fn a_ten_minute_outage_ends_with_every_status_delivered_in_order() {
    let clock = Arc::new(SteppedClock::at_unix(T0));
    let forge = github(&clock).await;
    // Down until the test says when it recovers (below), so that the
    // first delivery task cannot outrun the test's clock checks.
    forge.server.outage(clock.clone(), at(T0 + 86_400));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    let (a, b) = (commit(), other_commit());
    use StatusContext::{Apply, Authorize, Validate};
    use StatusState::{Pending, Success};
    let first = [
        (a, status(Validate, Pending, "judging")),
        (a, status(Validate, Success, "16 resources valid")),
        (b, status(Validate, Pending, "judging")),
        (a, status(Authorize, Success, "alice may change pool/web")),
        (a, status(Apply, Pending, "applying")),
    ];
    let then = [
        (b, status(Validate, Success, "3 resources valid")),
        (a, status(Apply, Success, "applied 4 steps")),
        (b, status(Apply, Pending, "applying")),
    ];
    let mut wanted = Vec::new();

    let outbox = Arc::new(Outbox::open(&path, &[KEY.into()]).unwrap());
    let running = start(&outbox, &forge, &clock);
    for (commit, status) in &first {
        outbox.want(KEY, *commit, status);
        wanted.push(shown(*commit, status));
    }
    // Two minutes into the outage, more statuses come …
    until("two minutes passed", || clock.now() >= at(T0 + 120)).await;
    for (commit, status) in &then {
        outbox.want(KEY, *commit, status);
        wanted.push(shown(*commit, status));
    }
    // … and lbops restarts: what waits is read back from the state dir.
    drop(running);
    drop(outbox);
    assert!(forge.server.kept().is_empty(), "the forge was down");
    // Back ten minutes after it went down (or, had the first task's waits
    // gone past that already, a minute from now).
    let recovers = at(T0 + 600).max(clock.now() + Duration::from_secs(60));
    forge.server.outage(clock.clone(), recovers);
    let outbox = Arc::new(Outbox::open(&path, &[KEY.into()]).unwrap());
    assert_eq!(
        outbox.waiting(KEY).len(),
        5,
        "the latest per commit and context"
    );
    let _running = start(&outbox, &forge, &clock);
    until("everything is delivered", || outbox.waiting(KEY).is_empty()).await;

    assert!(clock.now() >= recovers, "delivered only after the outage");
    let kept: Vec<_> = forge.server.kept().iter().map(as_shown).collect();
    // None lost: each commit and context shows the latest status wanted.
    for (commit, status) in first.iter().chain(&then) {
        let newest = wanted
            .iter()
            .rev()
            .find(|w| {
                (&w.0, &w.1)
                    == (
                        &commit.to_string(),
                        &format!("lbops/{}", status.context.as_str()),
                    )
            })
            .unwrap();
        let last = kept
            .iter()
            .rev()
            .find(|k| (&k.0, &k.1) == (&newest.0, &newest.1))
            .unwrap_or_else(|| panic!("{newest:?} never reached the forge"));
        assert_eq!(last, newest);
    }
    // None duplicated, and in the order wanted.
    let mut order = Vec::new();
    for k in &kept {
        assert_eq!(kept.iter().filter(|o| *o == k).count(), 1, "{k:?} twice");
        order.push(
            wanted
                .iter()
                .position(|w| w == k)
                .expect("only what was wanted"),
        );
    }
    for commit in [a, b] {
        let of_commit: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| wanted[i].0 == commit.to_string())
            .collect();
        assert!(of_commit.windows(2).all(|w| w[0] < w[1]), "{of_commit:?}");
    }
    assert_eq!(kept.len(), 5, "{kept:#?}");
    // Passes were a minute or more apart (the posts' own retries are
    // the shorter waits).
    let passes: Vec<Duration> = clock
        .slept()
        .into_iter()
        .filter(|w| *w >= RETRY.base)
        .collect();
    assert!(passes.len() >= 2, "{passes:?}");
}

fn at(seconds: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(seconds)
}

#[tokio::test]
async fn a_newer_status_replaces_the_one_waiting_and_is_saved_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    let outbox = Outbox::open(&path, &[KEY.into(), "other".into()]).unwrap();
    let pending = status(StatusContext::Apply, StatusState::Pending, "applying");
    let done = status(StatusContext::Apply, StatusState::Success, "applied");
    outbox.want(KEY, commit(), &pending);
    outbox.want("other", commit(), &pending);
    outbox.want(KEY, commit(), &done);
    let waiting = outbox.waiting(KEY);
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].status(), done);
    // On disk already; a forge no longer configured loses its statuses.
    let reopened = Outbox::open(&path, &[KEY.into()]).unwrap();
    assert_eq!(reopened.waiting(KEY), waiting);
    assert!(reopened.waiting("other").is_empty());
    // Done with an older entry (posted while the newer one came) keeps
    // the newer one.
    let older = Entry {
        seq: 0,
        ..waiting[0].clone()
    };
    reopened.done(&older);
    assert_eq!(reopened.waiting(KEY).len(), 1);
}

#[tokio::test]
async fn a_damaged_outbox_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    std::fs::write(&path, "{not json").unwrap();
    let error = Outbox::open(&path, &[]).unwrap_err().to_string();
    assert!(
        error.contains("damaged") && error.contains("move it away"),
        "{error}"
    );
}

#[tokio::test]
async fn a_refusal_is_dropped_and_holds_up_nothing_else() {
    let clock = Arc::new(SteppedClock::at_unix(T0));
    let forge = github(&clock).await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(Outbox::open(&dir.path().join(FILE), &[KEY.into()]).unwrap());
    forge.server.reply(Reply::status(404));
    let first = status(StatusContext::Validate, StatusState::Success, "valid");
    let second = status(StatusContext::Apply, StatusState::Success, "applied");
    outbox.want(KEY, commit(), &first);
    outbox.want(KEY, other_commit(), &second);
    let _running = start(&outbox, &forge, &clock);
    until("both are handled", || outbox.waiting(KEY).is_empty()).await;
    let kept = forge.server.kept();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].sha, other_commit().to_string());
    assert!(clock.slept().is_empty(), "a refusal is not waited on");
}
