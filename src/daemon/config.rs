//! The daemon config, `lbops.yaml`: typed, read with the same YAML reader
//! as the repository, so every mistake is reported at file:line:column
//! and unknown fields are errors.

use crate::source::{CommitId, Credentials, SecretRef};
use crate::spec::units::Dur;
use crate::spec::yaml::{self, de};
use serde::Deserialize;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The daemon's config, checked: every choice the file offers as a pair of
/// optional fields ("`path` or `url`") is an enum here, so the rest of the
/// daemon never meets a combination the check refused.
#[derive(Debug)]
pub struct DaemonConfig {
    pub repository: RepositoryConfig,
    pub trigger: TriggerConfig,
    pub trust: TrustConfig,
    pub provider: ProviderConfig,
    pub drift: DriftConfig,
    pub statuses: StatusConfig,
    /// The daemon's own pages, probes and `/metrics`.
    pub api: ApiConfig,
    /// Where denials, apply failures, drift, rewritten history and invalid
    /// commits are announced.
    pub alerts: crate::report::alerts::AlertsConfig,
    /// Where lbops keeps its state, audit log and data-plane config.
    pub state_dir: PathBuf,
    pub log: LogConfig,
    /// The SCIM 2.0 endpoints at `/scim/v2` for the identity provider;
    /// `None`: no such endpoints.
    pub scim: Option<ScimConfig>,
    /// OIDC sign-in for the pages and the API; `None`: API tokens only,
    /// and the pages open to whoever reaches them.
    pub oidc: Option<super::oidc::OidcConfig>,
    /// How what the identity provider pushes applies to git's Users.
    pub idp: IdpConfig,
    /// Replicas on etcd; `None`: this process alone, as by default.
    pub cluster: Option<crate::cluster::ClusterConfig>,
}

/// The config as written, before the rules across its fields are checked
/// ([`DaemonConfig::parse`] turns it into a [`DaemonConfig`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    repository: RepositoryFile,
    #[serde(default)]
    trigger: TriggerFile,
    trust: TrustFile,
    #[serde(default)]
    provider: ProviderFile,
    #[serde(default)]
    drift: super::drift::policy::DriftFile,
    #[serde(default)]
    statuses: StatusConfig,
    #[serde(default)]
    api: ApiConfig,
    #[serde(default)]
    alerts: crate::report::alerts::AlertsConfig,
    state_dir: PathBuf,
    #[serde(default)]
    log: LogConfig,
    #[serde(default)]
    scim: Option<ScimFile>,
    #[serde(default)]
    oidc: Option<super::oidc::config::OidcFile>,
    #[serde(default)]
    idp: IdpConfig,
    #[serde(default)]
    cluster: Option<crate::cluster::config::ClusterFile>,
}

#[derive(Debug)]
pub struct RepositoryConfig {
    pub location: RepositoryLocation,
    pub branch: String,
    /// Other refs whose heads are judged and planned, never applied, with
    /// an `lbops/plan` status (e.g. pull-request branches).
    pub plan_refs: Vec<String>,
}

/// Where the watched repository is.
#[derive(Debug)]
pub enum RepositoryLocation {
    /// A repository on this machine, read in place.
    Local(PathBuf),
    /// A remote to mirror (https or ssh).
    Remote {
        url: String,
        credentials: Option<Credentials>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RepositoryFile {
    path: Option<PathBuf>,
    url: Option<String>,
    #[serde(default = "main_branch")]
    branch: String,
    credentials: Option<CredentialsFile>,
    #[serde(default = "all_branches")]
    plan_refs: Vec<String>,
}

fn all_branches() -> Vec<String> {
    vec!["refs/heads/*".to_owned()]
}

fn main_branch() -> String {
    "main".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    /// The user name for a token (`x-access-token` for GitHub, `oauth2` for GitLab).
    username: Option<String>,
    token_file: Option<PathBuf>,
    token_env: Option<String>,
    ssh_key: Option<PathBuf>,
    ssh_passphrase_file: Option<PathBuf>,
}

#[derive(Debug)]
pub struct TriggerConfig {
    /// How often to look for a new head anyway; `0s` turns polling off.
    pub poll: Dur,
    /// Watch a local repository's refs with inotify.
    pub watch: bool,
    pub webhook: Option<WebhookConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerFile {
    #[serde(default = "default_poll")]
    poll: Dur,
    #[serde(default = "yes")]
    watch: bool,
    webhook: Option<WebhookFile>,
}

impl Default for TriggerFile {
    fn default() -> Self {
        TriggerFile {
            poll: default_poll(),
            watch: true,
            webhook: None,
        }
    }
}

fn default_poll() -> Dur {
    Dur(Duration::from_secs(30))
}

fn yes() -> bool {
    true
}

#[derive(Debug)]
pub struct WebhookConfig {
    pub listen: SocketAddr,
    /// The secret the forge signs (or sends) with.
    pub secret: SecretRef,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    listen: SocketAddr,
    secret_file: Option<PathBuf>,
    secret_env: Option<String>,
}

/// What the identity provider pushes users and groups with.
#[derive(Debug)]
pub struct ScimConfig {
    /// The bearer token the identity provider sends; kept only as its
    /// SHA-256 once read.
    pub token: SecretRef,
    /// The endpoint's public URL (e.g. `https://lbops.example.com/scim/v2`),
    /// the base of each resource's `meta.location`; `None`: from the
    /// request's `Host`.
    pub url: Option<String>,
}

/// How the people the identity provider pushes (over SCIM) are matched
/// to git's Users, and what an unmatched User is. Without an `idp:`
/// section, SCIM still applies as pushed: a deactivated person is
/// deactivated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpConfig {
    /// What of a git User is looked up in the directory.
    #[serde(default, rename = "match")]
    pub match_by: IdpMatch,
    /// A git User no IdP account answers to is deprovisioned (needs
    /// `scim:`). Off by default: teams often keep bots and break-glass
    /// admins outside the identity provider.
    #[serde(default)]
    pub require_known_users: bool,
}

/// How git Users are found in the directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdpMatch {
    /// Each of the User's emails against the IdP userName and emails, in
    /// any case: the one key both sides hold.
    #[default]
    Email,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScimFile {
    token_file: Option<PathBuf>,
    token_env: Option<String>,
    url: Option<String>,
}

impl ScimFile {
    fn check(self, problems: &mut Vec<Problem>) -> Option<ScimConfig> {
        let url = self.url.map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &url {
            let scheme = url.starts_with("https://") || url.starts_with("http://");
            if !scheme || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                problems.push((
                    vec!["scim", "url"],
                    "the SCIM endpoint's public URL, e.g. `https://lbops.example.com/scim/v2`"
                        .to_owned(),
                ));
            }
        }
        let token = match (self.token_file, self.token_env) {
            (Some(file), None) => SecretRef::File(file),
            (None, Some(env)) => SecretRef::Env(env),
            _ => {
                problems.push((
                    vec!["scim"],
                    "give exactly one of `token_file` or `token_env`: the bearer token the identity provider sends (e.g. `openssl rand -hex 32`)".to_owned(),
                ));
                return None;
            }
        };
        Some(ScimConfig { token, url })
    }
}

#[derive(Debug)]
pub struct TrustConfig {
    pub start: TrustStart,
    /// `false` trusts author emails without signatures: for demos only,
    /// and warned about loudly at every start.
    pub verify_signatures: bool,
    /// How long judging one pushed head may take; a head that takes
    /// longer is refused as invalid (`judgement-aborted`).
    pub judge_budget: Dur,
}

/// Where trust starts before lbops has applied any commit.
#[derive(Debug)]
pub enum TrustStart {
    /// Admin public keys (SSH lines or armored OpenPGP blocks, given
    /// inline or in files) whose signed commits may write the first policy.
    AdminKeys {
        keys: Vec<String>,
        files: Vec<PathBuf>,
    },
    /// A commit whose policy is trusted as is.
    Pinned(CommitId),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    #[serde(default)]
    admin_keys: Vec<String>,
    #[serde(default)]
    admin_key_files: Vec<PathBuf>,
    pinned_commit: Option<String>,
    #[serde(default = "yes")]
    verify_signatures: bool,
    #[serde(default = "default_judge_budget")]
    judge_budget: Dur,
}

fn default_judge_budget() -> Dur {
    Dur(crate::judge::Budget::DEFAULT)
}

#[derive(Debug)]
pub struct ProviderConfig {
    pub embedded: EmbeddedConfig,
    /// Balancers placed on AWS Elastic Load Balancing v2; every other
    /// balancer runs on the embedded data plane.
    pub aws: Option<crate::provider::aws::AwsConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderFile {
    #[serde(default)]
    embedded: EmbeddedFile,
    #[serde(default)]
    aws: Option<crate::provider::aws::AwsConfig>,
}

/// Which data plane runs the balancers not placed elsewhere.
#[derive(Debug)]
pub enum EmbeddedConfig {
    /// One in this process, its admin API on this (loopback) address.
    InProcess { admin_listen: SocketAddr },
    /// Separate `lbops dataplane` processes (they keep serving while the
    /// daemon restarts), driven as one fleet: every step goes to every
    /// node, and counts as applied once `min_nodes` took it. The file's
    /// `url` and `token_file` for one data plane are a fleet of one.
    Nodes {
        nodes: Vec<NodeConfig>,
        /// 1 to `nodes.len()`.
        min_nodes: usize,
    },
}

/// The node name a lone separate data plane (`url`, `token_file`) gets.
pub const LONE_NODE: &str = "dataplane";

/// One data-plane node of a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Unique in the fleet; names it in statuses, pages, metrics, alerts.
    pub name: crate::spec::units::Name,
    /// Its admin API's base URL, e.g. `http://10.0.0.11:8711`.
    pub url: String,
    /// The file holding its admin token.
    pub token_file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddedFile {
    #[serde(default = "default_admin_listen")]
    admin_listen: SocketAddr,
    url: Option<String>,
    token_file: Option<PathBuf>,
    nodes: Option<Vec<NodeFile>>,
    min_nodes: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    name: String,
    url: String,
    token_file: PathBuf,
}

impl Default for EmbeddedFile {
    fn default() -> Self {
        EmbeddedFile {
            admin_listen: default_admin_listen(),
            url: None,
            token_file: None,
            nodes: None,
            min_nodes: None,
        }
    }
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub use super::drift::policy::{DriftConfig, DriftMode, DriftPolicy};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// Set this when two daemons watch one repository: `lbops/NAME/apply`.
    pub instance: Option<String>,
    #[serde(default)]
    pub git_notes: GitNotesConfig,
    /// Where the daemon's page is reachable, for status links.
    pub page_url: Option<String>,
    /// Forges that get the same statuses as commit checks.
    #[serde(default)]
    pub forges: Vec<crate::report::forge::ForgeConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Where the pages (`/`, `/commits/{sha}`), `/healthz`, `/readyz`,
    /// `/metrics` and the token-authenticated API (`/v1/…`) are served.
    /// The pages are read-only, but they show who changed what: loopback
    /// unless a proxy in front decides who may look.
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
    /// How fast each API token may call (`/v1/…`).
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// The daemon's API signing key: an unencrypted OpenSSH private key
    /// file, outside the repository, readable only by the daemon's user.
    /// Commits it signs speak for the ServiceAccount and token their
    /// trailers name, and for nobody else; without it, such commits
    /// identify nobody. `lbops authorize --api-key` takes its `.pub`.
    #[serde(default)]
    pub signing_key_file: Option<PathBuf>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: default_api_listen(),
            rate_limit: RateLimitConfig::default(),
            signing_key_file: None,
        }
    }
}

fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8712))
}

/// A token bucket per API token (and, for calls that present no valid
/// token, per peer address): `burst` calls at once, refilled at
/// `per_second`; a call over it is answered `429` with `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(default = "default_per_second")]
    pub per_second: NonZeroU32,
    #[serde(default = "default_burst")]
    pub burst: NonZeroU32,
}

/// Calls per second a token may make on average: a deploy pipeline or an
/// autoscaler calls a few times a minute; a loop gone wrong is stopped.
pub const DEFAULT_RATE_PER_SECOND: NonZeroU32 = NonZeroU32::new(10).expect("not zero");
/// Calls a token may make at once after being idle.
pub const DEFAULT_RATE_BURST: NonZeroU32 = NonZeroU32::new(20).expect("not zero");

fn default_per_second() -> NonZeroU32 {
    DEFAULT_RATE_PER_SECOND
}

fn default_burst() -> NonZeroU32 {
    DEFAULT_RATE_BURST
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_second: DEFAULT_RATE_PER_SECOND,
            burst: DEFAULT_RATE_BURST,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitNotesConfig {
    #[serde(default = "notes_ref", rename = "ref")]
    pub notes_ref: String,
    /// Push the notes to the remote (when the repository is one).
    #[serde(default = "yes")]
    pub push: bool,
}

impl Default for GitNotesConfig {
    fn default() -> Self {
        GitNotesConfig {
            notes_ref: notes_ref(),
            push: true,
        }
    }
}

fn notes_ref() -> String {
    "refs/notes/lbops".to_owned()
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human lines on a terminal, JSON otherwise.
    #[default]
    Auto,
    Text,
    Json,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
}

/// One problem with the config, at its place in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigProblem {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors {
    pub problems: Vec<ConfigProblem>,
}

impl DaemonConfig {
    /// Reads and checks a config file; relative paths in it are taken
    /// from the file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            problems: vec![ConfigProblem {
                file: file.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read the config: {e}"),
            }],
        })?;
        Self::parse_in(&file, &text, path.parent().unwrap_or(Path::new(".")))
    }

    /// Parses config text; `file` names it in messages. Relative paths
    /// stay relative.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigErrors> {
        Self::parse_in(file, text, Path::new(""))
    }

    fn parse_in(file: &str, text: &str, base: &Path) -> Result<Self, ConfigErrors> {
        let problem = |pos: yaml::Pos, message: String| ConfigProblem {
            file: file.to_owned(),
            line: pos.line,
            column: pos.column,
            message,
        };
        let parsed = yaml::parse(text);
        if let Some(e) = parsed
            .fatal
            .or_else(|| parsed.duplicate_keys.into_iter().next())
        {
            return Err(ConfigErrors {
                problems: vec![problem(e.pos, e.message)],
            });
        }
        let [document] = parsed.documents.as_slice() else {
            return Err(ConfigErrors {
                problems: vec![problem(
                    yaml::Pos::new(1, 1),
                    "expected one YAML document (repository, trust, state_dir, …)".into(),
                )],
            });
        };
        let mut written: ConfigFile =
            de::from_node(&document.root).map_err(|errors| ConfigErrors {
                problems: errors
                    .iter()
                    .map(|e| problem(e.pos.unwrap_or_default(), e.to_string()))
                    .collect(),
            })?;
        written.resolve_paths(base);
        let root = &document.root;
        let at = |path: &[&str]| {
            path.iter()
                .try_fold(root, |node, key| node.get(key))
                .map_or(root.pos, |node| node.pos)
        };
        written.check().map_err(|problems| ConfigErrors {
            problems: problems
                .into_iter()
                .map(|(path, message)| problem(at(&path), message))
                .collect(),
        })
    }
}

/// A rule across fields that the config breaks: the field path it is
/// about, and what to do.
type Problem = (Vec<&'static str>, String);

impl ConfigFile {
    /// Checks the rules across fields and, when all hold, gives the typed
    /// config: each pair of optional fields becomes the one choice made.
    fn check(self) -> Result<DaemonConfig, Vec<Problem>> {
        let mut problems = Vec::new();
        let repository = self.repository.check(&mut problems);
        let trust = self.trust.check(&mut problems);
        let embedded = self.provider.embedded.check(&mut problems);
        let webhook = self
            .trigger
            .webhook
            .map(|hook| hook.check(&self.api, &mut problems));
        if let Err(e) = cron::Schedule::from_str(self.drift.schedule()) {
            // The parser's message repeats the input over several lines; its last line says why.
            let e = e.to_string();
            let e = e.lines().last().unwrap_or_default();
            problems.push((
                vec!["drift", "schedule"],
                format!("`{}` is not a cron expression ({e}); write six fields with seconds first, e.g. `0 */5 * * * *` for every five minutes", self.drift.schedule()),
            ));
        }
        let drift = self.drift.check(&mut problems);
        if let Some(instance) = &self.statuses.instance {
            if instance.parse::<crate::spec::units::Name>().is_err() {
                problems.push((
                    vec!["statuses", "instance"],
                    "an instance name is lowercase letters, digits and `-`, e.g. `staging`"
                        .to_owned(),
                ));
            }
        }
        if self.idp.require_known_users && self.scim.is_none() {
            problems.push((
                vec!["idp", "require_known_users"],
                "this needs a `scim:` section: without an identity provider pushing users, every git User would be unknown and refused; add `scim:` or set it to false".to_owned(),
            ));
        }
        let scim = self.scim.map(|scim| scim.check(&mut problems));
        // No webhook is a choice; a webhook the check refused is not.
        let webhook = webhook.map_or(Some(None), |checked| checked.map(Some));
        let scim = scim.map_or(Some(None), |checked| checked.map(Some));
        let oidc = self.oidc.map(|oidc| oidc.check(&mut problems));
        let oidc = oidc.map_or(Some(None), |checked| checked.map(Some));
        let cluster = self.cluster.map(|cluster| cluster.check(&mut problems));
        let cluster = cluster.map_or(Some(None), |checked| checked.map(Some));
        match (
            repository, trust, embedded, webhook, scim, oidc, cluster, drift,
        ) {
            (
                Some(repository),
                Some(trust),
                Some(embedded),
                Some(webhook),
                Some(scim),
                Some(oidc),
                Some(cluster),
                Some(drift),
            ) if problems.is_empty() => Ok(DaemonConfig {
                repository,
                trigger: TriggerConfig {
                    poll: self.trigger.poll,
                    watch: self.trigger.watch,
                    webhook,
                },
                trust,
                provider: ProviderConfig {
                    embedded,
                    aws: self.provider.aws,
                },
                drift,
                statuses: self.statuses,
                api: self.api,
                alerts: self.alerts,
                state_dir: self.state_dir,
                log: self.log,
                scim,
                oidc,
                idp: self.idp,
                cluster,
            }),
            _ => Err(problems),
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.state_dir);
        if let Some(cluster) = &mut self.cluster {
            cluster.resolve_paths(base);
        }
        if let Some(p) = &mut self.repository.path {
            fix(p);
        }
        if let Some(c) = &mut self.repository.credentials {
            for p in [
                &mut c.token_file,
                &mut c.ssh_key,
                &mut c.ssh_passphrase_file,
            ]
            .into_iter()
            .flatten()
            {
                fix(p);
            }
        }
        for p in &mut self.trust.admin_key_files {
            fix(p);
        }
        if let Some(p) = &mut self.api.signing_key_file {
            fix(p);
        }
        if let Some(p) = &mut self.provider.embedded.token_file {
            fix(p);
        }
        for node in self.provider.embedded.nodes.iter_mut().flatten() {
            fix(&mut node.token_file);
        }
        if let Some(p) = self.scim.as_mut().and_then(|s| s.token_file.as_mut()) {
            fix(p);
        }
        if let Some(oidc) = &mut self.oidc {
            oidc.resolve_paths(fix);
        }
        for hook in &mut self.alerts.webhooks {
            if let Some(p) = &mut hook.secret_file {
                fix(p);
            }
        }
        for slack in &mut self.alerts.slack {
            if let Some(p) = &mut slack.url_file {
                fix(p);
            }
        }
        for forge in &mut self.statuses.forges {
            if let Some(p) = &mut forge.token_file {
                fix(p);
            }
        }
        if let Some(p) = self
            .trigger
            .webhook
            .as_mut()
            .and_then(|h| h.secret_file.as_mut())
        {
            fix(p);
        }
    }
}

impl RepositoryFile {
    fn check(self, problems: &mut Vec<Problem>) -> Option<RepositoryConfig> {
        let credentials = self.credentials.map(|c| c.check(problems));
        let location = match (self.path, self.url) {
            (Some(_), Some(_)) | (None, None) => {
                problems.push((
                    vec!["repository"],
                    "give exactly one of `path` (a repository on this machine) or `url` (a remote to mirror)".to_owned(),
                ));
                return None;
            }
            (Some(_), None) if credentials.is_some() => {
                problems.push((
                    vec!["repository", "credentials"],
                    "credentials are for a remote `url`; a local `path` is read directly"
                        .to_owned(),
                ));
                return None;
            }
            (Some(path), None) => RepositoryLocation::Local(path),
            (None, Some(url)) => RepositoryLocation::Remote {
                url,
                credentials: match credentials {
                    None => None,
                    Some(checked) => Some(checked?),
                },
            },
        };
        Some(RepositoryConfig {
            location,
            branch: self.branch,
            plan_refs: self.plan_refs,
        })
    }
}

impl CredentialsFile {
    /// The repository credentials, as the source module takes them.
    fn check(self, problems: &mut Vec<Problem>) -> Option<Credentials> {
        match (self.token_file, self.token_env, self.ssh_key) {
            (None, None, Some(private_key)) => Some(Credentials::SshKey {
                username: self.username.unwrap_or_else(|| "git".to_owned()),
                private_key,
                passphrase: self.ssh_passphrase_file.map(SecretRef::File),
            }),
            (Some(file), None, None) => Some(Credentials::Token {
                username: self.username.unwrap_or_else(|| "x-access-token".to_owned()),
                token: SecretRef::File(file),
            }),
            (None, Some(env), None) => Some(Credentials::Token {
                username: self.username.unwrap_or_else(|| "x-access-token".to_owned()),
                token: SecretRef::Env(env),
            }),
            _ => {
                problems.push((
                    vec!["repository", "credentials"],
                    "give exactly one of `token_file`, `token_env` or `ssh_key`".to_owned(),
                ));
                None
            }
        }
    }
}

impl TrustFile {
    fn check(self, problems: &mut Vec<Problem>) -> Option<TrustConfig> {
        let keys = !self.admin_keys.is_empty() || !self.admin_key_files.is_empty();
        let pinned = match &self.pinned_commit {
            Some(commit) => {
                let parsed = CommitId::parse(commit).ok().filter(|_| commit.len() == 40);
                if parsed.is_none() {
                    problems.push((
                        vec!["trust", "pinned_commit"],
                        "pin a full commit id (40 hex digits), e.g. from `git rev-parse HEAD`"
                            .to_owned(),
                    ));
                }
                Some(parsed)
            }
            None => None,
        };
        let start = match (keys, pinned) {
            (true, None) => TrustStart::AdminKeys {
                keys: self.admin_keys,
                files: self.admin_key_files,
            },
            (false, Some(commit)) => TrustStart::Pinned(commit?),
            (true, Some(_)) | (false, None) => {
                problems.push((
                    vec!["trust"],
                    "give either `admin_keys`/`admin_key_files` (whose signed commits may write the first policy) or `pinned_commit` (trusted as is), not both or neither".to_owned(),
                ));
                return None;
            }
        };
        Some(TrustConfig {
            start,
            verify_signatures: self.verify_signatures,
            judge_budget: self.judge_budget,
        })
    }
}

impl EmbeddedFile {
    fn check(self, problems: &mut Vec<Problem>) -> Option<EmbeddedConfig> {
        let here = || vec!["provider", "embedded"];
        let nodes = match (self.url, self.token_file, self.nodes) {
            (None, None, None) => {
                if self.min_nodes.is_some() {
                    problems.push((
                        vec!["provider", "embedded", "min_nodes"],
                        "`min_nodes` is for a fleet: list its data planes under `nodes`, or drop `min_nodes`".to_owned(),
                    ));
                    return None;
                }
                return Some(EmbeddedConfig::InProcess {
                    admin_listen: self.admin_listen,
                });
            }
            (Some(url), Some(token_file), None) => vec![NodeConfig {
                name: LONE_NODE.parse().ok()?,
                url,
                token_file,
            }],
            (None, None, Some(nodes)) => check_nodes(nodes, problems)?,
            (_, _, Some(_)) => {
                problems.push((
                    here(),
                    "give either `nodes` (a fleet) or `url` and `token_file` (one data plane), not both; one data plane is a `nodes` list of one".to_owned(),
                ));
                return None;
            }
            _ => {
                problems.push((
                    here(),
                    "a separate data plane needs both `url` and `token_file` (its admin token)"
                        .to_owned(),
                ));
                return None;
            }
        };
        let min_nodes = match self.min_nodes {
            None => nodes.len(),
            Some(n) if (1..=nodes.len()).contains(&n) => n,
            Some(n) => {
                problems.push((
                    vec!["provider", "embedded", "min_nodes"],
                    format!(
                        "{n} is not between 1 and the {} node(s) listed: give how many nodes must apply a change for it to count (default: all of them)",
                        nodes.len()
                    ),
                ));
                return None;
            }
        };
        Some(EmbeddedConfig::Nodes { nodes, min_nodes })
    }
}

/// The nodes of a fleet, each named once and validly.
fn check_nodes(nodes: Vec<NodeFile>, problems: &mut Vec<Problem>) -> Option<Vec<NodeConfig>> {
    let at = || vec!["provider", "embedded", "nodes"];
    if nodes.is_empty() {
        problems.push((
            at(),
            "list at least one data-plane node ({name, url, token_file}), or drop `nodes` to run the data plane in this process".to_owned(),
        ));
        return None;
    }
    let before = problems.len();
    let mut checked: Vec<NodeConfig> = Vec::with_capacity(nodes.len());
    for node in nodes {
        let Ok(name) = node.name.parse::<crate::spec::units::Name>() else {
            problems.push((
                at(),
                format!(
                    "`{}` is not a node name: use lowercase letters, digits and `-`, e.g. `dp-1`",
                    node.name
                ),
            ));
            continue;
        };
        if checked.iter().any(|n| n.name == name) {
            problems.push((
                at(),
                format!("`{name}` names two nodes: give each node its own name"),
            ));
            continue;
        }
        if !(node.url.starts_with("http://") || node.url.starts_with("https://")) {
            problems.push((
                at(),
                format!(
                    "node `{name}`: `{}` is not an admin URL; write it like `http://10.0.0.11:8711`",
                    node.url
                ),
            ));
            continue;
        }
        checked.push(NodeConfig {
            name,
            url: node.url,
            token_file: node.token_file,
        });
    }
    (problems.len() == before).then_some(checked)
}

impl WebhookFile {
    fn check(self, api: &ApiConfig, problems: &mut Vec<Problem>) -> Option<WebhookConfig> {
        if self.listen == api.listen && self.listen.port() != 0 {
            problems.push((
                vec!["api", "listen"],
                format!(
                    "{} is the webhook's address too; give the pages their own",
                    self.listen
                ),
            ));
        }
        let secret = match (self.secret_file, self.secret_env) {
            (Some(file), None) => SecretRef::File(file),
            (None, Some(env)) => SecretRef::Env(env),
            _ => {
                problems.push((
                    vec!["trigger", "webhook"],
                    "give exactly one of `secret_file` or `secret_env`: a webhook without a secret would let anyone trigger".to_owned(),
                ));
                return None;
            }
        };
        Some(WebhookConfig {
            listen: self.listen,
            secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
repository:
  path: ./gitops
  branch: main
trigger:
  poll: 10s
  webhook: {listen: 127.0.0.1:8713, secret_env: LBOPS_WEBHOOK_SECRET}
trust:
  admin_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJojBZXi4yAwSnstgVB1YI0cUd0TSexakS+w9RshBaHL alice']
drift:
  schedule: '*/30 * * * * *'
  kinds: {Pool: revert}
statuses: {instance: staging}
state_dir: state
";

    #[test]
    fn a_good_config_reads_with_defaults_and_paths_from_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lbops.yaml");
        std::fs::write(&path, GOOD).unwrap();
        let config = DaemonConfig::load(&path).unwrap();
        assert!(matches!(
            &config.repository.location,
            RepositoryLocation::Local(path) if *path == dir.path().join("./gitops")
        ));
        assert_eq!(config.state_dir, dir.path().join("state"));
        assert_eq!(config.trigger.poll.0, Duration::from_secs(10));
        assert!(config.trigger.watch && config.trust.verify_signatures);
        assert_eq!(config.statuses.git_notes.notes_ref, "refs/notes/lbops");
        assert_eq!(config.api.listen, "127.0.0.1:8712".parse().unwrap());
        use crate::daemon::drift::DriftField;
        use crate::spec::kinds::{Kind, ResourceId};
        let mode = |kind, field| {
            let id = ResourceId::new(kind, "web".parse().unwrap());
            config.drift.policy.mode(&id, field)
        };
        assert_eq!(mode(Kind::Pool, DriftField::Weights), DriftMode::Revert);
        assert_eq!(
            mode(Kind::LoadBalancer, DriftField::Listeners),
            DriftMode::Report
        );
    }

    #[test]
    fn a_drift_field_that_does_not_exist_is_named_with_the_valid_ones() {
        let text = GOOD.replace(
            "  kinds: {Pool: revert}",
            "  kinds: {Pool: revert}\n  fields:\n    - {kind: LoadBalancer, field: routes, mode: revert}",
        );
        let errors = DaemonConfig::parse("lbops.yaml", &text).unwrap_err();
        assert_eq!(errors.problems.len(), 1, "{errors}");
        assert_eq!(errors.problems[0].line, 14, "at the list: {errors}");
        assert!(
            errors.problems[0].message.starts_with(
                "drift.fields[0].field: `routes` is not a field of LoadBalancer; use one of existence, listeners"
            ),
            "{errors}"
        );
        let text = GOOD.replace(
            "  kinds: {Pool: revert}",
            "  fields: [{kind: Pool, field: weights, mode: accept, names: [db]}]",
        );
        let config = DaemonConfig::parse("lbops.yaml", &text).unwrap();
        assert_eq!(config.drift.policy.fields.len(), 1);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_reported_at_their_line() {
        let text = GOOD.replace("  branch: main", "  branch: main\n  brnch: x");
        let errors = DaemonConfig::parse("lbops.yaml", &text).unwrap_err();
        let first = &errors.problems[0];
        assert_eq!((first.line, first.column), (5, 3), "{errors}");
        assert!(first.message.contains("brnch"), "{errors}");

        let text = format!("{GOOD}api: {{listen: '[::1]:9000', lisen: x}}\n");
        let errors = DaemonConfig::parse("lbops.yaml", &text).unwrap_err();
        assert!(errors.to_string().contains("lisen"), "{errors}");
        let text = format!("{GOOD}api: {{listen: '127.0.0.1:8713'}}\n");
        let errors = DaemonConfig::parse("lbops.yaml", &text).unwrap_err();
        assert!(
            errors.to_string().contains("the webhook's address too"),
            "{errors}"
        );

        let text = GOOD.replace("'*/30 * * * * *'", "every minute");
        let errors = DaemonConfig::parse("lbops.yaml", &text).unwrap_err();
        assert!(errors.to_string().starts_with("lbops.yaml:11:"), "{errors}");
        assert!(errors.to_string().contains("seconds first"), "{errors}");
    }

    #[test]
    fn the_api_signing_key_is_a_file_by_reference() {
        let config = DaemonConfig::parse("lbops.yaml", GOOD).unwrap();
        assert_eq!(config.api.signing_key_file, None);
        let text = format!("{GOOD}api: {{signing_key_file: /etc/lbops/api-key}}\n");
        let config = DaemonConfig::parse("lbops.yaml", &text).unwrap();
        assert_eq!(
            config.api.signing_key_file.as_deref(),
            Some(Path::new("/etc/lbops/api-key"))
        );
    }

    #[test]
    fn oidc_takes_its_secret_by_reference_and_says_what_each_field_wants() {
        use super::super::oidc::{Page, SignInRequired};
        use crate::idp::oidc::Mapping;
        assert!(DaemonConfig::parse("lbops.yaml", GOOD)
            .unwrap()
            .oidc
            .is_none());
        let text = format!(
            "{GOOD}oidc: {{issuer: 'https://idp.example.com/', client_id: lbops, client_secret_env: S, public_url: 'https://lbops.example.com'}}\n"
        );
        let oidc = DaemonConfig::parse("lbops.yaml", &text)
            .unwrap()
            .oidc
            .unwrap();
        assert_eq!(oidc.issuer, "https://idp.example.com");
        assert_eq!(oidc.client_secret, SecretRef::Env("S".into()));
        assert_eq!(oidc.mapping, Mapping::VerifiedEmail);
        assert_eq!(oidc.require_sign_in, SignInRequired::All);
        assert_eq!(oidc.scopes, ["openid", "email", "profile"]);
        assert_eq!(
            oidc.redirect_uri(),
            "https://lbops.example.com/auth/callback"
        );
        assert!(oidc.secure() && !oidc.allow_viewers);
        let text = format!(
            "{GOOD}oidc: {{issuer: 'http://127.0.0.1:1', client_id: c, client_secret_file: s, public_url: 'http://127.0.0.1:2', map_by: {{claim: preferred_username}}, require_sign_in: [tokens, metrics], allow_viewers: true}}\n"
        );
        let oidc = DaemonConfig::parse("lbops.yaml", &text)
            .unwrap()
            .oidc
            .unwrap();
        assert_eq!(oidc.mapping, Mapping::Claim("preferred_username".into()));
        assert_eq!(
            oidc.require_sign_in,
            SignInRequired::Pages(vec![Page::Tokens, Page::Metrics])
        );
        assert!(!oidc.secure() && oidc.allow_viewers);
        let text = format!(
            "{GOOD}oidc: {{issuer: 'ldap://x', client_id: c, public_url: x, scopes: [email], map_by: phone, require_sign_in: some, clock_skew: 1h}}\n"
        );
        let errors = DaemonConfig::parse("lbops.yaml", &text)
            .unwrap_err()
            .to_string();
        for wanted in [
            "issuer URL",
            "browsers reach lbops",
            "client_secret_file",
            "include `openid`",
            "`{claim: NAME}`",
            "list of pages",
            "at most 5m",
        ] {
            assert!(errors.contains(wanted), "{wanted}: {errors}");
        }
    }

    #[test]
    fn scim_takes_its_token_by_reference_and_is_off_without_a_section() {
        assert!(DaemonConfig::parse("lbops.yaml", GOOD)
            .unwrap()
            .scim
            .is_none());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lbops.yaml");
        std::fs::write(
            &path,
            format!("{GOOD}scim: {{token_file: scim-token, url: 'https://lbops.example.com/scim/v2/'}}\n"),
        )
        .unwrap();
        let scim = DaemonConfig::load(&path).unwrap().scim.unwrap();
        assert_eq!(scim.token, SecretRef::File(dir.path().join("scim-token")));
        assert_eq!(
            scim.url.as_deref(),
            Some("https://lbops.example.com/scim/v2")
        );
        let text = format!("{GOOD}scim: {{token_env: T}}\n");
        let scim = DaemonConfig::parse("lbops.yaml", &text)
            .unwrap()
            .scim
            .unwrap();
        assert_eq!(scim.token, SecretRef::Env("T".into()));
        let text = format!("{GOOD}scim: {{url: 'ftp://x'}}\n");
        let errors = DaemonConfig::parse("lbops.yaml", &text)
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains("lbops.yaml:15:") && errors.contains("exactly one of `token_file`"),
            "{errors}"
        );
        assert!(errors.contains("public URL"), "{errors}");
        let text = format!("{GOOD}scim: {{token: x}}\n");
        assert!(DaemonConfig::parse("lbops.yaml", &text).is_err());
    }

    #[test]
    fn idp_matches_by_email_and_requires_known_users_only_with_scim() {
        let config = DaemonConfig::parse("lbops.yaml", GOOD).unwrap();
        assert_eq!(config.idp, IdpConfig::default());
        assert!(!config.idp.require_known_users);
        let text = format!(
            "{GOOD}scim: {{token_env: T}}\nidp: {{match: email, require_known_users: true}}\n"
        );
        let config = DaemonConfig::parse("lbops.yaml", &text).unwrap();
        assert!(config.idp.require_known_users);
        assert_eq!(config.idp.match_by, IdpMatch::Email);
        let text = format!("{GOOD}idp: {{require_known_users: true}}\n");
        let errors = DaemonConfig::parse("lbops.yaml", &text)
            .unwrap_err()
            .to_string();
        assert!(errors.contains("needs a `scim:` section"), "{errors}");
        let text = format!("{GOOD}scim: {{token_env: T}}\nidp: {{match: name}}\n");
        assert!(DaemonConfig::parse("lbops.yaml", &text).is_err());
    }

    #[test]
    fn the_api_rate_limit_has_a_default_and_refuses_zero() {
        let config = DaemonConfig::parse("lbops.yaml", GOOD).unwrap();
        assert_eq!(config.api.rate_limit, RateLimitConfig::default());
        let text = format!("{GOOD}api: {{rate_limit: {{per_second: 2, burst: 5}}}}\n");
        let config = DaemonConfig::parse("lbops.yaml", &text).unwrap();
        assert_eq!(config.api.rate_limit.per_second.get(), 2);
        assert_eq!(config.api.rate_limit.burst.get(), 5);
        let text = format!("{GOOD}api: {{rate_limit: {{per_second: 0}}}}\n");
        let errors = DaemonConfig::parse("lbops.yaml", &text).unwrap_err();
        let errors = errors.to_string();
        assert!(
            errors.starts_with("lbops.yaml:15:32:") && errors.contains("nonzero"),
            "{errors}"
        );
    }

    #[test]
    fn rules_across_fields_say_what_to_give() {
        let both = GOOD.replace(
            "  path: ./gitops",
            "  path: ./gitops\n  url: https://example.test/r.git",
        );
        let errors = DaemonConfig::parse("c.yaml", &both)
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains("c.yaml:3:") && errors.contains("exactly one of `path`"),
            "{errors}"
        );

        let pinned = GOOD.replace("trust:\n", "trust:\n  pinned_commit: abc\n");
        let errors = DaemonConfig::parse("c.yaml", &pinned)
            .unwrap_err()
            .to_string();
        assert!(errors.contains("not both or neither"), "{errors}");
        assert!(errors.contains("40 hex digits"), "{errors}");

        let no_secret = GOOD.replace(", secret_env: LBOPS_WEBHOOK_SECRET", "");
        let errors = DaemonConfig::parse("c.yaml", &no_secret)
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains("c.yaml:7:") && errors.contains("anyone"),
            "{errors}"
        );
    }

    #[test]
    fn each_choice_of_the_file_becomes_one_variant() {
        let remote = GOOD
            .replace(
                "  path: ./gitops",
                "  url: https://example.test/r.git\n  credentials: {token_env: GIT_TOKEN}",
            )
            .replace(
                "  admin_keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJojBZXi4yAwSnstgVB1YI0cUd0TSexakS+w9RshBaHL alice']",
                &format!("  pinned_commit: {}", "ab".repeat(20)),
            );
        let config = DaemonConfig::parse("c.yaml", &remote).unwrap();
        assert!(matches!(
            &config.repository.location,
            RepositoryLocation::Remote {
                url,
                credentials: Some(Credentials::Token { username, token: SecretRef::Env(env) }),
            } if url == "https://example.test/r.git" && username == "x-access-token" && env == "GIT_TOKEN"
        ));
        assert!(
            matches!(config.trust.start, TrustStart::Pinned(c) if c.to_string() == "ab".repeat(20))
        );
        assert!(matches!(
            &config.trigger.webhook,
            Some(WebhookConfig { secret: SecretRef::Env(env), .. }) if env == "LBOPS_WEBHOOK_SECRET"
        ));
        assert!(matches!(
            config.provider.embedded,
            EmbeddedConfig::InProcess { .. }
        ));

        let separate =
            format!("{GOOD}provider: {{embedded: {{url: 'http://127.0.0.1:9', token_file: t}}}}\n");
        let config = DaemonConfig::parse("c.yaml", &separate).unwrap();
        let EmbeddedConfig::Nodes { nodes, min_nodes } = &config.provider.embedded else {
            panic!("{:?}", config.provider.embedded);
        };
        assert_eq!(*min_nodes, 1);
        assert_eq!(
            nodes,
            &[NodeConfig {
                name: LONE_NODE.parse().unwrap(),
                url: "http://127.0.0.1:9".into(),
                token_file: "t".into(),
            }],
            "one separate data plane is a fleet of one"
        );
    }

    #[test]
    fn a_fleet_lists_its_nodes_and_how_many_must_apply() {
        let fleet = format!(
            "{GOOD}provider:\n  embedded:\n    nodes:\n      - {{name: dp-1, url: 'http://10.0.0.1:8711', token_file: t1}}\n      - {{name: dp-2, url: 'http://10.0.0.2:8711', token_file: /etc/t2}}\n      - {{name: dp-3, url: 'http://10.0.0.3:8711', token_file: t3}}\n"
        );
        let config = DaemonConfig::parse_in("c.yaml", &fleet, Path::new("/srv")).unwrap();
        let EmbeddedConfig::Nodes { nodes, min_nodes } = &config.provider.embedded else {
            panic!("{:?}", config.provider.embedded);
        };
        assert_eq!(*min_nodes, 3, "all of them by default");
        let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["dp-1", "dp-2", "dp-3"]);
        assert_eq!(
            nodes[0].token_file,
            Path::new("/srv/t1"),
            "relative to the config"
        );
        assert_eq!(nodes[1].token_file, Path::new("/etc/t2"));

        let two = format!("{fleet}    min_nodes: 2\n");
        let config = DaemonConfig::parse("c.yaml", &two).unwrap();
        assert!(matches!(
            config.provider.embedded,
            EmbeddedConfig::Nodes { min_nodes: 2, .. }
        ));
    }

    #[test]
    fn a_fleet_that_cannot_work_is_refused_with_the_field_and_what_to_do() {
        let node =
            |name: &str| format!("{{name: '{name}', url: 'http://10.0.0.1:8711', token_file: t}}");
        let cases = [
            (
                format!("nodes: [{}, {}], min_nodes: 3", node("dp-1"), node("dp-2")),
                "3 is not between 1 and the 2 node(s) listed",
            ),
            (
                format!("nodes: [{}], min_nodes: 0", node("dp-1")),
                "0 is not between 1 and the 1 node(s) listed",
            ),
            (
                format!("nodes: [{}, {}]", node("dp-1"), node("dp-1")),
                "`dp-1` names two nodes",
            ),
            (
                format!("nodes: [{}]", node("DP 1")),
                "`DP 1` is not a node name",
            ),
            ("nodes: []".to_owned(), "list at least one data-plane node"),
            (
                format!(
                    "nodes: [{}], url: 'http://x:1', token_file: t",
                    node("dp-1")
                ),
                "not both",
            ),
            ("min_nodes: 2".to_owned(), "`min_nodes` is for a fleet"),
            (
                "nodes: [{name: dp-1, url: '10.0.0.1:8711', token_file: t}]".to_owned(),
                "is not an admin URL",
            ),
        ];
        for (embedded, expected) in cases {
            let text = format!("{GOOD}provider: {{embedded: {{{embedded}}}}}\n");
            let errors = DaemonConfig::parse("c.yaml", &text)
                .unwrap_err()
                .to_string();
            assert!(
                errors.contains(expected) && errors.starts_with("c.yaml:"),
                "{embedded}: {errors}"
            );
        }
    }
}
