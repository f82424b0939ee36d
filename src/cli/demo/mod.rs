//! `lbops demo`: the example repository as a fresh git repository signed
//! by a demo key, backends for its pools, and the daemon serving it with
//! its embedded balancer — then what to try, printed once traffic flows.

mod backends;
mod setup;

use anyhow::{anyhow, bail};
use clap::Args;
use lbops::daemon::{self, DaemonConfig};
use lbops::dataplane::config::DataplaneConfig;
use lbops::spec::{self, Catalog};
use setup::Layout;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args)]
pub struct DemoArgs {
    /// Where to put the demo's repository, keys, state and config; a new
    /// or empty directory.
    #[arg(long, value_name = "DIR", default_value = "lbops-demo")]
    dir: PathBuf,
}

/// Where the example's `web` balancer listens.
const WEB_ADDRESS: &str = "127.0.10.1";
const HTTP_PORT: u16 = 8080;
const HTTPS_PORT: u16 = 8443;
/// How long to wait for the first apply before saying so.
const PATIENCE: Duration = Duration::from_secs(60);

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let layout = setup::prepare_dir(&args.dir)?;
    let alice = setup::alice_key(&layout)?;
    let tls = setup::certificate(&layout)?;
    setup::write_repo(&layout, &alice, &tls)?;
    let catalog = validate(&layout.repo())?;
    let first = setup::init_and_commit(&layout, &alice)?;
    setup::write_config(&layout, &first)?;
    let config = DaemonConfig::load(&layout.config()).map_err(|e| anyhow!("{e}"))?;
    println!(
        "lbops demo: {} is examples/repo as a git repository; its first commit {} is signed by \
         alice, with a demo key in {}",
        layout.repo().display(),
        short(&first),
        layout.keys().display()
    );
    warn_about_taken_listeners(&catalog);

    super::run::init_logs(config.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let started = backends::start(backends::wanted(&catalog)).await;
        let names: Vec<String> = started
            .iter()
            .map(|b| format!("{} {}", b.name, b.address))
            .collect();
        println!(
            "lbops demo: backends: {}; starting the daemon…",
            names.join(", ")
        );
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stop = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        };
        // Both on this thread, which holds stdout's lock (see `main`): a
        // print from another thread would wait for it forever.
        let daemon = daemon::run(config, stop);
        tokio::pin!(daemon);
        tokio::select! {
            result = &mut daemon => result?,
            () = announce_when_ready(&layout, &first) => daemon.await?,
        }
        anyhow::Ok(())
    })?;
    println!(
        "lbops demo: stopped; {} keeps the repository, keys and state",
        layout.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The copied repository as the daemon will see it: every problem at
/// once if it does not validate.
fn validate(repo: &Path) -> anyhow::Result<Catalog> {
    let files = lbops::source::read_tree(repo)?;
    match spec::load(&files, &spec::Options::at(crate::unix_now())) {
        Ok(validated) => Ok(validated.catalog),
        Err(invalid) => {
            let problems: Vec<String> = invalid.diagnostics.iter().map(|d| d.to_string()).collect();
            bail!(
                "the demo repository does not validate:\n{}",
                problems.join("\n")
            )
        }
    }
}

/// Says which of the example's listeners cannot be bound here (another
/// program on the port), before the daemon fails to apply them.
fn warn_about_taken_listeners(catalog: &Catalog) {
    let config = DataplaneConfig::from_catalog(catalog, 0);
    for (name, balancer) in &config.load_balancers {
        for address in &balancer.addresses {
            for listener in &balancer.spec.listeners {
                let Ok(port) = u16::try_from(listener.port.value) else {
                    continue;
                };
                if let Err(e) = std::net::TcpListener::bind((*address, port)) {
                    println!(
                        "lbops demo: warning: {address}:{port} ({name}/{}) is not free ({e}); \
                         the daemon will report the balancer as failed to apply",
                        listener.name.value
                    );
                }
            }
        }
    }
}

/// Waits for the first commit's `lbops/apply` status, then prints what to
/// try (or why there is nothing to try).
async fn announce_when_ready(layout: &Layout, first: &str) {
    let started = tokio::time::Instant::now();
    let mut warned = false;
    loop {
        if let Some(note) = note(&layout.repo(), first) {
            if note.lines().any(|l| l.starts_with("lbops/apply: success")) {
                break;
            }
            if note.lines().any(|l| l.starts_with("lbops/apply: failure")) {
                println!(
                    "lbops demo: the daemon could not apply the example; its status on {}:\n{note}",
                    short(first)
                );
                return;
            }
        }
        if !warned && started.elapsed() > PATIENCE {
            warned = true;
            println!("lbops demo: still no lbops/apply status after a minute; see the logs");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while tokio::net::TcpStream::connect((WEB_ADDRESS, HTTPS_PORT))
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    print!("{}", instructions(layout, first));
}

/// The first commit's status note, once the daemon has written it.
fn note(repo: &Path, commit: &str) -> Option<String> {
    let repo = git2::Repository::open(repo).ok()?;
    let oid = git2::Oid::from_str(commit).ok()?;
    let note = repo.find_note(Some("refs/notes/lbops"), oid).ok()?;
    note.message().map(str::to_owned)
}

/// What to try, copy-pasteable; `tests/demo.rs` does each of these.
fn instructions(layout: &Layout, first: &str) -> String {
    let repo = sh(&layout.repo().display().to_string());
    let ca = sh(&layout.ca().display().to_string());
    let curl = |host: &str| {
        format!(
            "curl -s --cacert {ca} --resolve {host}.example.test:{HTTPS_PORT}:{WEB_ADDRESS} \
             https://{host}.example.test:{HTTPS_PORT}"
        )
    };
    let www = curl("www");
    let api = curl("api");
    format!(
        "
lbops demo: ready — the daemon applied commit {first} and its embedded balancer serves the
example on {WEB_ADDRESS} (logs follow). In another terminal, try:

  # plain HTTP answers with a redirect to HTTPS
  curl -si -H 'Host: www.example.test' http://{WEB_ADDRESS}:{HTTP_PORT}/hello

  # HTTPS with the demo's certificate: *.example.test splits web-stable 90 / web-canary 10
  {www}/
  for i in $(seq 100); do {www}/; done | cut -d' ' -f1 | sort | uniq -c

  # the API route (api.example.test/v1/…) and the maintenance page (/checkout)
  {api}/v1/users
  {www}/checkout

  # shift the canary to 50% with a commit signed as alice (the repository's git config signs it)
  (cd {repo} && sed -i 's/weight: 90/weight: 50/; s/weight: 10$/weight: 50/' balancers/web.yaml && git commit -am 'canary to 50')

  # the statuses lbops writes on each commit (validate, authorize, apply, drift)
  git -C {repo} log --notes=lbops -3

Ctrl-C stops the daemon, its balancer and the demo backends.
",
        first = short(first)
    )
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// A path as a shell word: as is when that is safe, else single-quoted.
pub(crate) fn sh(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:@=,%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
