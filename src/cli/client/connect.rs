//! Where the daemon is and who calls it: `--server`, `--token-file`,
//! `--ca-file`, read and checked before anything is sent.
//!
//! The token is only ever read from a file (or a pipe): an argument or an
//! environment variable holding it would land in shell history, in `ps`
//! and in CI logs that echo commands. A regular file that grants anything
//! to "others" is refused, as ssh refuses such a key: anyone on the
//! machine could read the token (or swap in another). Group bits are
//! allowed, since sharing through a group is a deliberate choice
//! (Kubernetes' `fsGroup`, a service group).

use lbops::spec::material::api_token::{ApiToken, TokenFormatError, TOKEN_LEN};
use reqwest::Url;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The User-Agent the client sends.
const USER_AGENT: &str = concat!("lbops-cli/", env!("CARGO_PKG_VERSION"));

/// How long to wait for a TCP (and TLS) connection to the daemon.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most bytes of a token file read: a token and its line break fit
/// many times over, and a file that big is not a token file anyway.
const MAX_TOKEN_FILE: u64 = 1024;

/// Why the client cannot call the daemon, before calling it. Messages
/// never hold the token, only the file's name.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("--server `{0}` is not a URL: write it as http://HOST:PORT or https://HOST")]
    NotUrl(String),
    #[error("--server `{0}`: only http:// and https:// are spoken")]
    Scheme(String),
    #[error(
        "--server `{0}` holds a user name, password, query or fragment: give only the daemon's \
         base URL (the token goes in --token-file)"
    )]
    ExtraParts(String),
    #[error("--token-file {path}: cannot read it: {error}")]
    TokenUnreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "--token-file {path} is readable or writable by every user of this machine (mode {mode:o}): \
         `chmod o-rwx {path}` (for a Kubernetes secret volume, set `defaultMode: 0400`)"
    )]
    TokenFileOpen { path: PathBuf, mode: u32 },
    #[error(
        "--token-file {path} does not hold an lbops API token ({why}): put the token `lbops token \
         create` printed in it, alone on one line"
    )]
    NotAToken {
        path: PathBuf,
        why: TokenFormatError,
    },
    #[error(
        "--ca-file {path}: {why}: give the PEM file of the CA that signed the daemon's certificate"
    )]
    CaFile { path: PathBuf, why: String },
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

impl ConnectError {
    /// The stable code of `--output json`'s error object.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::NotUrl(_) | ConnectError::Scheme(_) | ConnectError::ExtraParts(_) => {
                "cli-bad-server"
            }
            ConnectError::TokenUnreadable { .. }
            | ConnectError::TokenFileOpen { .. }
            | ConnectError::NotAToken { .. } => "cli-bad-token-file",
            ConnectError::CaFile { .. } => "cli-bad-ca-file",
            ConnectError::Client(_) => "cli-client",
        }
    }
}

/// The daemon's base URL: http or https, nothing but scheme, host, port
/// and an optional path prefix (a proxy's).
pub fn server_url(text: &str) -> Result<Url, ConnectError> {
    let url = Url::parse(text).map_err(|_| ConnectError::NotUrl(text.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConnectError::Scheme(text.to_owned()));
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(ConnectError::ExtraParts(text.to_owned()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConnectError::NotUrl(text.to_owned()));
    }
    Ok(url)
}

/// The URL of `path` (below `/v1`, already encoded) on `server`.
#[must_use]
pub fn endpoint(server: &Url, path: &str, query: Option<&str>) -> String {
    let base = server.as_str().trim_end_matches('/');
    match query {
        Some(query) => format!("{base}/v1{path}?{query}"),
        None => format!("{base}/v1{path}"),
    }
}

/// The token in `path`: the file's text without its trailing line break,
/// checked for an lbops token's form (so a wrong file is caught here, not
/// by a 401). `-` reads standard input.
pub fn read_token(path: &Path) -> Result<ApiToken, ConnectError> {
    let unreadable = |error| ConnectError::TokenUnreadable {
        path: path.to_owned(),
        error,
    };
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_TOKEN_FILE)
            .read_to_string(&mut text)
            .map_err(unreadable)?;
    } else {
        let file = std::fs::File::open(path).map_err(unreadable)?;
        let meta = file.metadata().map_err(unreadable)?;
        // Pipes (`<(…)`, /dev/stdin) and the like belong to this process.
        if meta.is_file() {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o007 != 0 {
                return Err(ConnectError::TokenFileOpen {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        file.take(MAX_TOKEN_FILE)
            .read_to_string(&mut text)
            .map_err(unreadable)?;
    }
    let token = text.strip_suffix('\n').unwrap_or(&text);
    let token = token.strip_suffix('\r').unwrap_or(token);
    // Say "too long" rather than "bad characters" for a file with more
    // than the token in it.
    let why = match ApiToken::parse(token) {
        Ok(token) => return Ok(token),
        Err(_) if token.len() > TOKEN_LEN && token.starts_with("lbops_") => {
            TokenFormatError::Length
        }
        Err(why) => why,
    };
    Err(ConnectError::NotAToken {
        path: path.to_owned(),
        why,
    })
}

/// The HTTP client: rustls with ring, the system's roots or only
/// `ca_file`'s, no redirects (a redirected call would go elsewhere with
/// the token), proxies from the environment as usual.
pub fn client(ca_file: Option<&Path>) -> Result<reqwest::Client, ConnectError> {
    // reqwest is built without a crypto provider; lbops uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(path) = ca_file {
        let ca_error = |why: String| ConnectError::CaFile {
            path: path.to_owned(),
            why,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ca_error(format!("not PEM certificates ({e})")))?;
        if certs.is_empty() {
            return Err(ca_error("no certificate in it".into()));
        }
        builder = builder.tls_certs_only(certs);
    }
    builder
        .build()
        .map_err(|e| ConnectError::Client(e.to_string()))
}
