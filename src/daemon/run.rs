//! The imperative shell around [`Reconciler`]: builds every part from the
//! config, runs the embedded data plane in-process, and turns triggers
//! (poll, filesystem watch, webhook), data-plane events and the drift
//! schedule into reconciles and drift checks — one at a time, with
//! triggers that arrive meanwhile coalesced.

use super::api::limit::RateLimiter;
use super::api::{ApiState, Live, Observe};
use super::config::{EmbeddedConfig, RepositoryLocation, TrustStart};
use super::readiness::Readiness;
use super::reconcile::{error_policy, Deps, Next, Reconciler, RetryPolicy, Waiting};
use super::reporter::outbox::{deliver, forge_key, Outbox, Tell, FILE as OUTBOX_FILE};
use super::reporter::Reporter;
use super::state::{DaemonState, StateError, StateStore};
use super::DaemonConfig;
use crate::audit::{AuditEvent, AuditLog, EventKind, DAEMON_ACTOR};
use crate::dataplane::admin::{self, token_sha256, AdminConfig, AdminServer};
use crate::dataplane::Dataplane;
use crate::identity::Keyring;
use crate::judge::TrustAnchor;
use crate::provider::embedded::{EmbeddedProvider, Fleet, FleetNode};
use crate::report::notes::{GitNotes, NotesConfig, PushTarget};
use crate::report::ContextName;
use crate::source::{GitLocation, GitSource, SecretRef};
use crate::support::clock::{Clock, SystemClock, TokioSleeper};
use crate::trigger::{Trigger, TriggerSource};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

/// The audit log, in the state directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// The bare mirror of a remote repository, in the state directory.
pub const MIRROR_DIR: &str = "mirror.git";

/// The name the in-process data plane has among the data-plane nodes.
pub const IN_PROCESS_NODE: &str = "in-process";

/// The file, in the state directory, holding the in-process data plane's
/// admin token (mode 0600), for operators on this machine.
pub const ADMIN_TOKEN_FILE: &str = "dataplane-admin-token";

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot prepare the state directory {}: {source}", path.display())]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Git(#[from] crate::source::GitError),
    #[error("trust.admin_keys: {0}")]
    AdminKeys(String),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error(transparent)]
    State(#[from] super::state::StateError),
    #[error("the in-process data plane: {0}")]
    Dataplane(String),
    #[error("statuses: {0}")]
    Notes(String),
    #[error("trigger: {0}")]
    Trigger(String),
    #[error("api: cannot listen on {listen}: {error}")]
    Api {
        listen: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error("{0}")]
    Alerts(String),
    #[error("api.signing_key_file: {0}")]
    ApiKey(#[from] crate::source::ApiSignerError),
    #[error(transparent)]
    IdempotencyKeys(#[from] super::api::writer::ledger_file::LedgerFileError),
    #[error(
        "api.signing_key_file {} is inside the watched repository; the API key signs for every \
         token, so keep it outside the repository, readable only by the daemon's user",
        .0.display()
    )]
    ApiKeyInRepository(PathBuf),
    #[error("{0}")]
    Scim(String),
    #[error("{0}")]
    Oidc(String),
    #[error("{0}")]
    Cluster(String),
}

/// Runs the daemon until `shutdown` completes.
pub async fn run(config: DaemonConfig, shutdown: impl Future) -> Result<(), StartError> {
    // The one place the daemon reads wall time; every part asks this clock.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state_dir = config.state_dir.clone();
    let state_error = |source| StartError::StateDir {
        path: state_dir.clone(),
        source,
    };
    std::fs::create_dir_all(&state_dir).map_err(state_error)?;
    restrict(&state_dir, 0o700).map_err(state_error)?;

    let (source, notes_repo) = match &config.repository.location {
        RepositoryLocation::Local(path) => (
            GitSource::open(path, &config.repository.branch)?,
            path.clone(),
        ),
        RepositoryLocation::Remote { url, credentials } => {
            let mirror = state_dir.join(MIRROR_DIR);
            let source =
                GitSource::remote(url, &mirror, &config.repository.branch, credentials.clone())?;
            (source, mirror)
        }
    };
    let first_trust = first_trust(&config)?;
    // Its public half judges commits; the write endpoints sign with it.
    let api_signer = match &config.api.signing_key_file {
        Some(path) => {
            let repo = match &config.repository.location {
                RepositoryLocation::Local(repo) => Some(repo.as_path()),
                RepositoryLocation::Remote { .. } => None,
            };
            Some(Arc::new(api_key(path, repo)?))
        }
        None => None,
    };
    let api_key = api_signer
        .as_ref()
        .map(|signer| crate::identity::ApiKey::of(signer.public_key()));
    // API writes move the branch where the daemon reads it: in place, or
    // by a push from the mirror.
    let write_to = match &config.repository.location {
        RepositoryLocation::Local(path) => GitLocation::Local(path.clone()),
        RepositoryLocation::Remote { url, credentials } => GitLocation::Remote {
            url: url.clone(),
            mirror: state_dir.join(MIRROR_DIR),
            credentials: credentials.clone(),
        },
    };
    let write_branch = config.repository.branch.clone();
    let store = StateStore::in_dir(&state_dir);
    let mut state = store.load()?;
    let mut audit = open_audit(&state_dir.join(AUDIT_FILE), &store, &mut state)?;
    if !config.trust.verify_signatures {
        tracing::warn!(
            "SIGNATURE CHECKS ARE OFF (trust.verify_signatures: false): commits are judged by the \
             author email they claim, so anyone who can push can act as anyone. Use this for a \
             demo only, never for balancers that matter."
        );
        let event = AuditEvent::new(EventKind::Trust, DAEMON_ACTOR, "signature checks off");
        state.audit_head = Some(
            audit
                .append(&event, time::OffsetDateTime::from(clock.now()))?
                .to_string(),
        );
    }

    let (fleet, in_process) = match &config.provider.embedded {
        EmbeddedConfig::Nodes { nodes, min_nodes } => {
            let fleet = fleet_nodes(nodes)?;
            let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            tracing::info!(nodes = %names.join(","), min_nodes, "driving separate data-plane nodes");
            (Fleet::new(fleet, *min_nodes, clock.clone()), None)
        }
        EmbeddedConfig::InProcess { admin_listen } => {
            let (provider, dataplane, admin) = start_dataplane(*admin_listen, &state_dir).await?;
            let node = FleetNode {
                name: IN_PROCESS_NODE.to_owned(),
                client: provider,
            };
            (
                Fleet::new(vec![node], 1, clock.clone()),
                Some((dataplane, admin)),
            )
        }
    };
    let fleet = Arc::new(fleet);
    // Nodes that fell behind are brought up to the fleet's config as soon
    // as they answer; what each node does is on the pages, in /metrics
    // and in alerts.
    let _catch_up = fleet.catch_up();
    let nodes = fleet.status();

    let aws = match &config.provider.aws {
        Some(aws) => {
            let balancers: Vec<&str> = aws.balancers.keys().map(|n| n.as_str()).collect();
            tracing::info!(region = %aws.region, balancers = %balancers.join(","), "placing balancers on aws");
            Some(crate::provider::aws::AwsProvider::connect(aws.clone(), Vec::new()).await)
        }
        None => None,
    };
    let provider = Arc::new(crate::provider::placed::Placed::new(fleet, aws));

    let mut notes_config = NotesConfig::new(
        notes_repo,
        ContextName::new(config.statuses.instance.clone()),
    );
    notes_config.notes_ref = config.statuses.git_notes.notes_ref.clone();
    if let (RepositoryLocation::Remote { url, credentials }, true) =
        (&config.repository.location, config.statuses.git_notes.push)
    {
        notes_config.push = Some(PushTarget {
            url: url.clone(),
            credentials: credentials.clone(),
        });
    }
    let notes = GitNotes::new(notes_config).map_err(|e| StartError::Notes(e.to_string()))?;
    let forges = config
        .statuses
        .forges
        .iter()
        .map(|forge| {
            let names = ContextName::new(config.statuses.instance.clone());
            let sink = crate::report::forge::build(forge, names, clock.clone())
                .map_err(|e| StartError::Notes(e.to_string()))?;
            let key = forge_key(
                forge.kind.as_str(),
                &forge.api().map_err(|e| StartError::Notes(e.to_string()))?,
                forge.repository.trim().trim_matches('/'),
            );
            Ok((key, sink))
        })
        .collect::<Result<Vec<_>, StartError>>()?;
    let keys: Vec<String> = forges.iter().map(|(key, _)| key.clone()).collect();
    let outbox = Arc::new(
        Outbox::open(&state_dir.join(OUTBOX_FILE), &keys)
            .map_err(|e| StartError::Notes(e.to_string()))?,
    );

    let (triggers, mut triggered) = mpsc::channel::<Trigger>(64);
    let _watcher = match (&config.repository.location, config.trigger.watch) {
        (RepositoryLocation::Local(path), true) => Some(watch(path, triggers.clone())?),
        _ => None,
    };
    let (stop_hook, hook_stopped) = tokio::sync::oneshot::channel::<()>();
    let webhook = match &config.trigger.webhook {
        Some(hook) => {
            let secret = hook
                .secret
                .read()
                .map_err(|e| StartError::Trigger(e.to_string()))?;
            let listener = tokio::net::TcpListener::bind(hook.listen)
                .await
                .map_err(|e| {
                    StartError::Trigger(format!("cannot listen on {}: {e}", hook.listen))
                })?;
            Some(tokio::spawn(crate::trigger::serve(
                listener,
                secret,
                triggers.clone(),
                async move {
                    let _ = hook_stopped.await;
                },
            )))
        }
        None => None,
    };
    let api_listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .map_err(|error| StartError::Api {
            listen: config.api.listen,
            error,
        })?;
    // Only an in-process data plane tells of hand changes at once; a
    // separate one is checked on the drift schedule.
    let mut events = match &in_process {
        Some((_, admin)) => admin.events().subscribe(),
        None => broadcast::channel(1).1,
    };
    let schedule = cron::Schedule::from_str(&config.drift.schedule)
        .map_err(|e| StartError::Trigger(format!("drift.schedule: {e}")))?;
    let poll = config.trigger.poll.0;

    let alerter = Arc::new(
        crate::report::alerts::Alerter::from_config(&config.alerts)
            .map_err(|e| StartError::Alerts(e.to_string()))?
            .with_clock(clock.clone()),
    );
    let journal = Arc::new(super::journal::Journal::default());
    let metrics = Arc::new(super::metrics::Metrics::default());
    let readiness = Arc::new(Readiness::default());
    if let Ok(address) = api_listener.local_addr() {
        tracing::info!(pages = %format!("http://{address}/"), api = %format!("http://{address}/v1/"), "pages, probes and /metrics");
    }
    let _node_alerts = crate::support::task::AbortOnDrop(tokio::spawn(
        super::nodes::alert_on_change(nodes.clone(), alerter.clone()),
    ));
    let tell = Tell {
        journal: journal.clone(),
        alerter: alerter.clone(),
        clock: clock.clone(),
    };
    let _deliveries: Vec<crate::support::task::AbortOnDrop> = forges
        .into_iter()
        .map(|(key, sink)| {
            crate::support::task::AbortOnDrop(tokio::spawn(deliver(
                outbox.clone(),
                sink,
                key,
                Arc::new(TokioSleeper),
                tell.clone(),
            )))
        })
        .collect();
    let audit = Arc::new(std::sync::Mutex::new(audit));
    let scim = match &config.scim {
        Some(scim) => Some(start_scim(scim, &state_dir, audit.clone(), clock.clone())?),
        None => None,
    };
    let idp =
        super::idp::IdpHandle::new(scim.as_ref().map(|scim| scim.directory.clone()), config.idp);
    // Every push of the identity provider is looked at at once: alerts
    // for who lost or regained access, and the branch's head judged again.
    let mut idp_changes = idp.subscribe();
    let oidc = match config.oidc.clone() {
        Some(oidc) => {
            let oidc = super::oidc::Oidc::new(oidc, idp.clone())
                .map_err(|e| StartError::Oidc(format!("oidc: {e}")))?;
            tracing::info!(
                issuer = %oidc.config().issuer,
                redirect_uri = %oidc.config().redirect_uri(),
                "OIDC sign-in"
            );
            Some(Arc::new(oidc))
        }
        None => None,
    };
    let rate_limit = config.api.rate_limit;
    let observer: Arc<dyn Observe> = provider.clone();
    let claimer = provider.clone();
    let reporter = Reporter {
        audit: audit.clone(),
        notes,
        forges: keys,
        outbox,
        alerter,
        journal: journal.clone(),
        metrics: metrics.clone(),
        branch: config.repository.branch.clone(),
        page_url: config.statuses.page_url.clone(),
        clock: clock.clone(),
        epoch: None,
    };
    // On etcd, this replica applies only while it leads; without a
    // `cluster:` section it is the only one, and always leads.
    let replica = match &config.cluster {
        Some(cluster) => {
            Some(super::replica::Replica::start(cluster).map_err(StartError::Cluster)?)
        }
        None => None,
    };
    let mut leadership = replica.as_ref().map(|r| r.leadership.clone());
    // The SCIM directory, shared by the replicas: kept by the leader,
    // followed by the standbys.
    let directory = scim.as_ref().map(|scim| scim.directory.clone());
    if let Some(replica) = &replica {
        metrics.cluster(replica.view.clone());
        if let Some(directory) = &directory {
            directory.share(replica.shared.clone());
        }
    }
    let mut leading = replica.is_none();
    // Why no replica can lead, while this one (the last leader) knows.
    let mut unled: Option<String> = None;
    let mut reconciler = Reconciler::new(
        Deps {
            config,
            source,
            provider,
            store,
            first_trust,
            api_key,
            reporter,
            clock: clock.clone(),
            idp: idp.clone(),
            shared: replica.as_ref().map(|r| r.shared.clone()),
        },
        state,
    );
    let writer = super::api::writer::Writer::new(
        write_to,
        write_branch,
        api_signer,
        Some(triggers.clone()),
        journal.clone(),
        state_dir.join(super::api::writer::ledger_file::FILE),
    )?;
    let writer = Arc::new(match &replica {
        Some(replica) => writer.shared(replica.shared.clone()),
        None => writer,
    });
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let live = Arc::new(Live::new(observer));
    let estate = super::pages::estate::Sources {
        figures: Arc::default(),
        journal: journal.clone(),
    };
    let sampler = tokio::spawn(super::pages::estate::sample(
        live.clone(),
        reconciler.trusted(),
        estate.figures.clone(),
    ));
    let pages = super::pages::router(super::pages::PagesState {
        journal: journal.clone(),
        metrics: metrics.clone(),
        ready: readiness.clone(),
        clock: clock.clone(),
        trusted: reconciler.trusted(),
        started: clock.unix_seconds(),
        oidc: oidc.clone(),
        idp: idp.clone(),
        nodes,
        cluster: replica.as_ref().map(|r| r.view.clone()),
        live: Some(live.clone()),
        estate: estate.clone(),
    });
    let api = super::api::router(ApiState {
        estate,
        trusted: reconciler.trusted(),
        live,
        audit: audit.clone(),
        limiter: Arc::new(RateLimiter::new(rate_limit)),
        metrics: metrics.clone(),
        clock: clock.clone(),
        writer: Some(writer),
        oidc: oidc.clone(),
        idp: idp.clone(),
    });
    let mut routes = pages.nest(super::api::routes::PREFIX, api);
    if let Some(oidc) = oidc {
        let auth = super::oidc::routes::router(super::oidc::routes::AuthState {
            oidc,
            trusted: reconciler.trusted(),
            clock: clock.clone(),
            audit: audit.clone(),
        });
        routes = routes.nest(super::oidc::routes::PREFIX, auth);
    }
    if let Some(scim) = scim {
        if let Ok(address) = api_listener.local_addr() {
            tracing::info!(scim = %format!("http://{address}{}/", super::scim::PREFIX), "SCIM endpoints for the identity provider");
        }
        routes = routes.nest(super::scim::PREFIX, super::scim::router(scim));
    }
    let api = tokio::spawn(super::pages::serve(api_listener, routes, async move {
        let _ = api_stopped.await;
    }));

    tokio::pin!(shutdown);
    let mut attempt: u32 = 0;
    let mut reconcile_at = Some(Instant::now());
    let mut next_poll = (!poll.is_zero()).then(|| Instant::now() + poll);
    let mut next_drift = next_fire(&schedule, clock.now());
    let mut ready = false;
    let mut next_follow = Instant::now();
    loop {
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            _ = &mut shutdown => break,
            Some(trigger) = triggered.recv() => {
                tracing::debug!(?trigger.source, "triggered");
                while triggered.try_recv().is_ok() {}
                reconcile_at = Some(Instant::now());
            }
            () = tokio::time::sleep_until(next_poll.unwrap_or(far)), if next_poll.is_some() => {
                next_poll = Some(Instant::now() + poll);
                reconcile_at.get_or_insert_with(Instant::now);
            }
            role = role_changed(&mut leadership), if leadership.is_some() => {
                let Ok(role) = role else {
                    leadership = None;
                    continue;
                };
                if let Some(replica) = &replica {
                    replica.view.saw(&role, clock.unix_seconds());
                }
                match role {
                    crate::cluster::Role::Leader { epoch, .. } if !leading => {
                        let Some(replica) = &replica else { continue };
                        match replica
                            .take_over(&mut reconciler, directory.as_deref(), &claimer, epoch, clock.unix_seconds())
                            .await
                        {
                            Ok(()) => {
                                leading = true;
                                unled = None;
                                reconcile_at = Some(Instant::now());
                            }
                            // Tried again at the lease's next renewal.
                            Err(e) => tracing::warn!(error = %e, "not taking over yet"),
                        }
                    }
                    crate::cluster::Role::Leader { .. } => {}
                    crate::cluster::Role::Standby { leader, etcd_error } => {
                        // Only the leader that lost etcd tells of it: a
                        // standby cut off alone must not mark heads that
                        // another replica applies.
                        unled = match (&leader, etcd_error) {
                            (None, Some(why)) if leading || unled.is_some() => Some(format!("etcd: {why}")),
                            _ => None,
                        };
                        if leading {
                            tracing::warn!(?leader, why = ?unled, "standing by");
                            reconciler.stand_by();
                            leading = false;
                        }
                    }
                }
            }
            () = tokio::time::sleep_until(next_follow), if !leading => {
                next_follow = Instant::now() + FOLLOW_EVERY;
                if let Some(why) = &unled {
                    if let Err(e) = reconciler.unled(why).await {
                        tracing::warn!(error = %e, "cannot report the head as waiting for a leader");
                    }
                }
                let Some(replica) = &replica else { continue };
                match replica.follow(&mut reconciler, directory.as_deref()).await {
                    // A standby is ready once it follows the leader it
                    // knows: it serves the pages and API reads, names whom
                    // writes go to, and systemd's Type=notify needs READY=1
                    // from it too.
                    Ok(true) if !ready => {
                        ready = true;
                        tracing::info!("ready (standing by)");
                        super::notify::notify("READY=1");
                        show_readiness(&readiness, None, ready);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "cannot follow the leader"),
                }
            }
            () = tokio::time::sleep_until(reconcile_at.unwrap_or(far)), if reconcile_at.is_some() && leading => {
                reconcile_at = None;
                let result = reconciler.reconcile().await;
                // A head the daemon waits on counts as a failure on every
                // pass, so that a dashboard shows it stuck.
                metrics.reconciled(result.is_ok() && reconciler.waiting().is_none());
                match result {
                    Ok(next) => {
                        attempt = 0;
                        if let Next::RequeueAfter(delay) = next {
                            reconcile_at = Some(Instant::now() + delay);
                        }
                        if !ready && reconciler.waiting().is_none() {
                            ready = true;
                            tracing::info!("ready");
                            super::notify::notify("READY=1");
                        }
                        show_readiness(&readiness, reconciler.waiting(), ready);
                        super::notify::status(reconciler.state().trusted);
                        if let Err(e) = reconciler.check_drift().await {
                            tracing::warn!(error = %e, "drift check failed");
                        }
                        if let Err(e) = reconciler.plan_other_refs().await {
                            tracing::warn!(error = %e, "planning other refs failed");
                        }
                    }
                    Err(e) => {
                        let policy = RetryPolicy { poll, jitter_seed: crate::support::backoff::random_seed() };
                        let next = error_policy(&e, attempt, policy);
                        attempt = attempt.saturating_add(1);
                        match next {
                            Next::RequeueAfter(delay) => {
                                tracing::warn!(error = %e, retry_in = ?delay, "reconcile failed");
                                reconcile_at = Some(Instant::now() + delay);
                            }
                            // The reconciler reported it on the head, and
                            // does not try that head again.
                            Next::Idle => {
                                tracing::error!(error = %e, retry = ?e.retry(), "reconcile failed; waiting for a new commit or an operator");
                            }
                        }
                        show_readiness(&readiness, reconciler.waiting(), ready);
                    }
                }
            }
            changed = changed(&mut idp_changes), if idp_changes.is_some() => {
                if changed.is_err() {
                    // The directory is gone: nothing will change again.
                    idp_changes = None;
                    continue;
                }
                if !leading {
                    continue;
                }
                if let Err(e) = reconciler.idp_changed().await {
                    tracing::warn!(error = %e, "cannot record a change of the identity provider's directory");
                }
                reconcile_at = Some(Instant::now());
            }
            event = events.recv(), if in_process.is_some() => {
                if matches!(event, Err(broadcast::error::RecvError::Closed)) {
                    break;
                }
                if leading && matches!(event, Ok(admin::DataplaneEvent::Config { .. }) | Err(_)) {
                    if let Err(e) = reconciler.check_drift().await {
                        tracing::warn!(error = %e, "drift check failed");
                    }
                }
            }
            () = tokio::time::sleep_until(next_drift), if reconcile_at.is_none() && leading => {
                next_drift = next_fire(&schedule, clock.now());
                if let Err(e) = reconciler.check_drift().await {
                    tracing::warn!(error = %e, "drift check failed");
                }
            }
        }
    }
    tracing::info!("stopping");
    super::notify::notify("STOPPING=1");
    let _ = stop_hook.send(());
    let _ = stop_api.send(());
    sampler.abort();
    match tokio::time::timeout(Duration::from_secs(5), api).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the pages stopped with an error"),
        Err(_) => tracing::warn!("the pages did not stop within 5s"),
        Ok(_) => {}
    }
    if let Some(task) = webhook {
        let _ = task.await;
    }
    if let Some(replica) = replica {
        replica.stop().await;
    }
    if let Some((dataplane, admin)) = in_process {
        admin.shutdown().await;
        dataplane.shutdown().await;
    }
    Ok(())
}

/// How often a standby reads the shared state, to show the leader's
/// trusted commit on its pages and API reads.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// The next change of this replica's role; never, for a daemon alone.
async fn role_changed(
    leadership: &mut Option<crate::cluster::Leadership>,
) -> Result<crate::cluster::Role, tokio::sync::watch::error::RecvError> {
    match leadership {
        Some(leadership) => leadership.changed().await,
        None => std::future::pending().await,
    }
}

/// The next change of the identity provider's directory; never, without
/// one.
async fn changed(
    changes: &mut Option<tokio::sync::watch::Receiver<Arc<crate::idp::DirectoryView>>>,
) -> Result<(), tokio::sync::watch::error::RecvError> {
    match changes {
        Some(changes) => changes.changed().await,
        None => std::future::pending().await,
    }
}

/// The configured data-plane nodes, each with the admin token read from
/// its file.
fn fleet_nodes(nodes: &[super::config::NodeConfig]) -> Result<Vec<FleetNode>, StartError> {
    nodes
        .iter()
        .map(|node| {
            let token = SecretRef::File(node.token_file.clone())
                .read()
                .map_err(|e| {
                    StartError::Dataplane(format!(
                        "provider.embedded.nodes: node `{}`: {e}",
                        node.name
                    ))
                })?;
            Ok(FleetNode {
                name: node.name.to_string(),
                client: EmbeddedProvider::new(node.url.clone(), token.expose()),
            })
        })
        .collect()
}

/// The embedded data plane, in this process, behind its admin API on
/// loopback, with a token kept in the state directory.
async fn start_dataplane(
    admin_listen: std::net::SocketAddr,
    state_dir: &Path,
) -> Result<(EmbeddedProvider, Arc<Dataplane>, AdminServer), StartError> {
    let dataplane_dir = state_dir.join("dataplane");
    let token = admin_token(state_dir).map_err(|source| StartError::StateDir {
        path: state_dir.to_path_buf(),
        source,
    })?;
    let dataplane = Arc::new(Dataplane::new());
    if let Some(version) = admin::restore(&dataplane, &dataplane_dir)
        .await
        .map_err(|e| StartError::Dataplane(e.to_string()))?
    {
        tracing::info!(version, "data plane serves its last config again");
    }
    let admin = AdminServer::start(
        dataplane.clone(),
        AdminConfig {
            listen: admin_listen,
            token_sha256: token_sha256(&token),
            state_dir: dataplane_dir,
        },
    )
    .await
    .map_err(|e| StartError::Dataplane(format!("cannot start the admin API: {e}")))?;
    tracing::info!(
        admin = %admin.local_addr(),
        token_file = %state_dir.join(ADMIN_TOKEN_FILE).display(),
        "data plane admin API"
    );
    let provider = EmbeddedProvider::new(format!("http://{}", admin.local_addr()), token);
    Ok((provider, dataplane, admin))
}

/// The SCIM endpoints' state: the token read and hashed (it is not kept
/// otherwise), the directory read from the state directory.
fn start_scim(
    config: &super::config::ScimConfig,
    state_dir: &Path,
    audit: Arc<std::sync::Mutex<AuditLog>>,
    clock: Arc<dyn Clock>,
) -> Result<super::scim::ScimState, StartError> {
    let token = config
        .token
        .read()
        .map_err(|e| StartError::Scim(format!("scim: {e}")))?;
    let token =
        super::scim::ScimToken::new(token.expose()).map_err(|e| StartError::Scim(e.to_string()))?;
    let directory =
        super::scim::Directory::open(state_dir).map_err(|e| StartError::Scim(e.to_string()))?;
    let view = directory.snapshot();
    tracing::info!(
        users = view
            .users()
            .filter(|u| u.standing != crate::idp::Standing::Deleted)
            .count(),
        groups = view.groups().count(),
        seq = view.seq(),
        "SCIM directory loaded"
    );
    Ok(super::scim::ScimState {
        token,
        directory: Arc::new(directory),
        audit,
        clock,
        url: config.url.clone(),
    })
}

/// Opens the audit log and checks that it holds the head the state kept
/// (refusing to start on one whose end was cut, unless an operator
/// accepted that in the log), then keeps its current head in the state.
fn open_audit(
    path: &Path,
    store: &StateStore,
    state: &mut DaemonState,
) -> Result<AuditLog, StartError> {
    let expected = state.parsed_audit_head().map_err(|e| StateError::Damaged {
        path: store.path().to_owned(),
        reason: format!("audit_head: {e}"),
    })?;
    let opened = AuditLog::open_continuing(path, expected.as_ref())?;
    if let Some(repaired) = &opened.repaired {
        tracing::warn!(%repaired, "audit log repaired after a crash");
    }
    if let Some(accepted) = &opened.accepted {
        tracing::warn!(%accepted, "going on from an audit log whose lost end was accepted");
    }
    let head = opened.log.head().to_string();
    if opened.log.head().seq > 0 && state.audit_head.as_deref() != Some(head.as_str()) {
        // From now on a cut is measured from here, not from an older head.
        state.audit_head = Some(head);
        store.save(state)?;
    }
    Ok(opened.log)
}

/// What `/readyz` says: not ready while the daemon waits on a head (and
/// why), ready once a reconcile has finished, and not ready before. A
/// failure that is tried again changes nothing.
fn show_readiness(readiness: &Readiness, waiting: Option<&Waiting>, ready: bool) {
    match (waiting, ready) {
        (Some(waiting), _) => readiness.not_ready(waiting.reason.clone()),
        (None, true) => readiness.ready(),
        (None, false) => {}
    }
}

/// When the drift `schedule` fires next after `now`.
fn next_fire(schedule: &cron::Schedule, now: std::time::SystemTime) -> Instant {
    let now = chrono::DateTime::<chrono::Utc>::from(now);
    let wait = schedule
        .after(&now)
        .next()
        .and_then(|at| (at - now).to_std().ok())
        .unwrap_or(Duration::from_secs(3600));
    Instant::now() + wait
}

/// Where trust starts before any commit is applied: the pinned commit,
/// or the admin keys whose signed commits may write the first policy (the
/// config check requires exactly one of them).
fn first_trust(config: &DaemonConfig) -> Result<TrustAnchor, StartError> {
    let (mut keys, files) = match &config.trust.start {
        TrustStart::Pinned(commit) => return Ok(TrustAnchor::Commit(*commit)),
        TrustStart::AdminKeys { keys, files } => (keys.clone(), files),
    };
    for file in files {
        keys.push(
            std::fs::read_to_string(file).map_err(|e| {
                StartError::AdminKeys(format!("cannot read {}: {e}", file.display()))
            })?,
        );
    }
    Keyring::bootstrap(&keys)
        .map(|k| TrustAnchor::AdminKeys(Arc::new(k)))
        .map_err(|e| StartError::AdminKeys(e.to_string()))
}

/// The API signing key at `path`, which must not lie inside the watched
/// repository `repo` (when it is on this machine). Its public half judges
/// commits; the write endpoints sign with it.
fn api_key(path: &Path, repo: Option<&Path>) -> Result<crate::source::ApiSigner, StartError> {
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_owned());
    if repo.is_some_and(|repo| real(path).starts_with(real(repo))) {
        return Err(StartError::ApiKeyInRepository(path.to_owned()));
    }
    let signer = crate::source::ApiSigner::read(path)?;
    tracing::info!(fingerprint = %signer.fingerprint(), "API signing key loaded");
    Ok(signer)
}

/// The data plane's admin token: made once (32 random bytes, hex) and
/// kept in the state directory, readable by this user only.
fn admin_token(state_dir: &Path) -> std::io::Result<String> {
    let path = state_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| std::io::Error::other("no randomness from the operating system"))?;
    let token = crate::support::hex::encode(&bytes);
    crate::fsutil::write_atomically(&path, token.as_bytes())?;
    Ok(token)
}

fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Watches a local repository's refs: a commit, a merge or a reset moves
/// a file under `.git/refs` (or `packed-refs`), which triggers a reconcile.
fn watch(
    repo: &Path,
    triggers: mpsc::Sender<Trigger>,
) -> Result<notify::RecommendedWatcher, StartError> {
    use notify::Watcher as _;
    let git_dir = if repo.join(".git").is_dir() {
        repo.join(".git")
    } else {
        repo.to_path_buf()
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Only writes move refs; reads (lbops' own, too) must not trigger.
        let relevant = event.is_ok_and(|e| {
            !matches!(e.kind, notify::EventKind::Access(_))
                && e.paths.iter().any(|p| {
                    let text = p.to_string_lossy();
                    !text.contains("/refs/notes/") && !text.ends_with(".lock")
                })
        });
        if relevant {
            let _ = triggers.try_send(Trigger {
                source: TriggerSource::Watch,
                git_ref: None,
                after: None,
            });
        }
    })
    .map_err(|e| StartError::Trigger(format!("cannot watch {}: {e}", repo.display())))?;
    for (path, mode) in [
        (git_dir.join("refs"), notify::RecursiveMode::Recursive),
        (git_dir.clone(), notify::RecursiveMode::NonRecursive),
    ] {
        watcher
            .watch(&path, mode)
            .map_err(|e| StartError::Trigger(format!("cannot watch {}: {e}", path.display())))?;
    }
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::reconcile::Retry;

    #[test]
    fn readyz_says_why_the_daemon_waits_and_a_retried_failure_changes_nothing() {
        let readiness = Readiness::default();
        let starting = readiness.why_not();
        show_readiness(&readiness, None, false);
        assert_eq!(readiness.why_not(), starting, "still starting");

        let waiting = Waiting {
            head: crate::source::CommitId::parse(&"ab".repeat(20)).unwrap(),
            retry: Retry::NeedsOperator,
            reason: "waiting for an operator: the audit log …".into(),
        };
        show_readiness(&readiness, Some(&waiting), false);
        assert_eq!(readiness.why_not(), Some(waiting.reason.clone()));

        show_readiness(&readiness, None, true);
        assert_eq!(readiness.why_not(), None);
        show_readiness(&readiness, Some(&waiting), true);
        assert_eq!(readiness.why_not(), Some(waiting.reason));
    }

    #[test]
    fn the_api_key_is_read_from_outside_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[3; 32]));
        let pem = key.to_openssh(ssh_key::LineEnding::LF).unwrap();
        let (inside, outside) = (repo.join("api-key"), dir.path().join("api-key"));
        std::fs::write(&inside, pem.as_bytes()).unwrap();
        std::fs::write(&outside, pem.as_bytes()).unwrap();
        assert!(matches!(
            api_key(&inside, Some(&repo)),
            Err(StartError::ApiKeyInRepository(_))
        ));
        let public = api_key(&outside, Some(&repo)).unwrap();
        assert_eq!(
            public.fingerprint(),
            key.fingerprint(ssh_key::HashAlg::Sha256).to_string()
        );
        std::fs::write(&outside, "not a key").unwrap();
        let error = api_key(&outside, None).unwrap_err().to_string();
        assert!(error.contains("not an OpenSSH private key"), "{error}");
        assert!(!error.contains("not a key"), "{error}");
    }
}
