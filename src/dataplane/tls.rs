//! TLS termination for `https` and `tls` listeners.
//!
//! When a config is applied, [`TlsConfigs::build`] loads every certificate a
//! terminating listener names — the chain from the config, the private key
//! from wherever its [`KeyRef`] points — once, and gives each such listener a
//! rustls [`ServerConfig`] made from its policy: minimum version, cipher
//! suites, session resumption, and for `https` ALPN `h2` and `http/1.1`.
//! Anything that cannot be loaded fails the whole config, so a bad key never
//! replaces a working one. Per connection only the handshake runs, bounded
//! by [`HANDSHAKE_TIMEOUT`].
//!
//! Session resumption is rustls' default: a per-listener in-memory cache of
//! 256 sessions (TLS 1.2 session IDs, and the stateful tickets TLS 1.3 sends
//! after each full handshake), never stateless tickets. A policy with
//! `resumption: false` gets no cache and sends no tickets, so every
//! connection does a full handshake.
//!
//! SNI picks the certificate: an exact name among the leaves' DNS
//! subjectAltNames first, then a `*.` wildcard (one label), else the first
//! certificate the policy lists (also when the client sends no SNI).
//!
//! Key material never appears in an error or a log line: messages name the
//! file or the environment variable, never what it holds.

use super::config::{CertificateConfig, DataplaneConfig};
use crate::spec::kinds::certificate::KeyRef;
use crate::spec::kinds::loadbalancer::{Cipher, Protocol, TlsPolicy, TlsVersion};
use crate::spec::material;
use crate::spec::units::Name;
use rustls::crypto::ring::{self as ring_provider, cipher_suite};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::version::{TLS12, TLS13};
use rustls::{InconsistentKeys, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest private key file or variable read (PEM keys are a few KiB).
pub const MAX_KEY_BYTES: u64 = 1024 * 1024;
/// What `https` listeners offer in ALPN, preferred first.
pub const HTTPS_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A TLS listener whose certificates or policy cannot be served; the
/// message names the certificate and the file or variable, never key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("listener `{balancer}/{listener}`: {problem}")]
pub struct TlsError {
    pub balancer: Name,
    pub listener: Name,
    pub problem: String,
}

/// The rustls configs of one config version's terminating listeners.
#[derive(Debug, Default)]
pub struct TlsConfigs {
    /// By balancer, then by port (unique among a balancer's listeners).
    by_balancer: HashMap<Name, HashMap<u32, Arc<ServerConfig>>>,
}

impl TlsConfigs {
    /// Loads the certificates and keys `config`'s `https` and `tls`
    /// listeners use and builds their server configs.
    pub fn build(config: &DataplaneConfig) -> Result<Self, TlsError> {
        let mut loaded = HashMap::new();
        let mut by_balancer: HashMap<Name, HashMap<u32, Arc<ServerConfig>>> = HashMap::new();
        for (balancer, lb) in &config.load_balancers {
            for listener in &lb.spec.listeners {
                let protocol = listener.protocol.value;
                if !protocol.terminates_tls() {
                    continue;
                }
                let fail = |problem: String| TlsError {
                    balancer: balancer.clone(),
                    listener: listener.name.value.clone(),
                    problem,
                };
                let Some(policy) = &listener.tls else {
                    return Err(fail("terminates TLS but has no `tls` policy".to_owned()));
                };
                let server =
                    server_config(protocol, &policy.value, &config.certificates, &mut loaded)
                        .map_err(fail)?;
                by_balancer
                    .entry(balancer.clone())
                    .or_default()
                    .insert(listener.port.value, Arc::new(server));
            }
        }
        Ok(Self { by_balancer })
    }

    /// The server config of a terminating listener of this version: the
    /// one on `port` of `balancer`.
    #[must_use]
    pub fn for_listener(&self, balancer: &Name, port: u32) -> Option<Arc<ServerConfig>> {
        self.by_balancer.get(balancer)?.get(&port).cloned()
    }
}

/// Runs the server side of a handshake, giving up after
/// [`HANDSHAKE_TIMEOUT`]; `None` when there is no config, the handshake
/// fails or it takes too long (the connection is then dropped).
pub async fn accept<S>(config: Option<Arc<ServerConfig>>, stream: S) -> Option<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = TlsAcceptor::from(config?);
    tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
        .await
        .ok()?
        .ok()
}

/// The rustls suite of each lbops cipher name; both use the IANA names.
#[must_use]
pub fn suite(cipher: Cipher) -> SupportedCipherSuite {
    match cipher {
        Cipher::TLS13_AES_128_GCM_SHA256 => cipher_suite::TLS13_AES_128_GCM_SHA256,
        Cipher::TLS13_AES_256_GCM_SHA384 => cipher_suite::TLS13_AES_256_GCM_SHA384,
        Cipher::TLS13_CHACHA20_POLY1305_SHA256 => cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        Cipher::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        }
        Cipher::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        }
        Cipher::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => {
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        Cipher::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => {
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        }
        Cipher::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => {
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        }
        Cipher::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => {
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
    }
}

/// The suites a policy allows, in rustls' order of preference: all nine
/// when its list is empty.
fn allowed_suites(policy: &TlsPolicy) -> Vec<SupportedCipherSuite> {
    let listed: Vec<SupportedCipherSuite> = policy.ciphers.iter().map(|c| suite(*c)).collect();
    ring_provider::ALL_CIPHER_SUITES
        .iter()
        .filter(|s| listed.is_empty() || listed.contains(s))
        .copied()
        .collect()
}

/// TLS 1.3 and 1.2, or 1.3 alone.
static FROM_TLS12: [&SupportedProtocolVersion; 2] = [&TLS13, &TLS12];
static FROM_TLS13: [&SupportedProtocolVersion; 1] = [&TLS13];

fn versions(min: TlsVersion) -> &'static [&'static SupportedProtocolVersion] {
    match min {
        TlsVersion::Tls12 => &FROM_TLS12,
        TlsVersion::Tls13 => &FROM_TLS13,
    }
}

fn server_config(
    protocol: Protocol,
    policy: &TlsPolicy,
    certificates: &BTreeMap<Name, CertificateConfig>,
    loaded: &mut HashMap<Name, Arc<Loaded>>,
) -> Result<ServerConfig, String> {
    if policy.certificates.is_empty() {
        return Err("its `tls` policy lists no certificate".to_owned());
    }
    let suites = allowed_suites(policy);
    let versions = versions(policy.min_version);
    let mut chosen = Vec::with_capacity(policy.certificates.len());
    for name in &policy.certificates {
        let name = &name.value;
        let certificate = match loaded.get(name) {
            Some(done) => done.clone(),
            None => {
                let Some(config) = certificates.get(name) else {
                    return Err(format!("certificate `{name}` is not in the config"));
                };
                let done = Arc::new(
                    load_certificate(config).map_err(|e| format!("certificate `{name}`: {e}"))?,
                );
                loaded.insert(name.clone(), done.clone());
                done
            }
        };
        let algorithm = certificate.key.key.algorithm();
        let usable = suites.iter().any(|s| {
            versions.contains(&s.version()) && s.usable_for_signature_algorithm(algorithm)
        });
        if !usable {
            return Err(format!(
                "certificate `{name}` has an {algorithm:?} key, which none of the allowed cipher \
                 suites can use: allow a TLS 1.3 suite or a TLS 1.2 suite for {algorithm:?} keys"
            ));
        }
        chosen.push(certificate);
    }
    let provider = CryptoProvider {
        cipher_suites: suites,
        ..ring_provider::default_provider()
    };
    let mut server = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .map_err(|e| format!("its cipher suites and minimum version do not fit: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver {
            certificates: chosen,
        }));
    if protocol == Protocol::Https {
        server.alpn_protocols = HTTPS_ALPN.iter().map(|p| p.to_vec()).collect();
    }
    if !policy.resumption {
        // The ticketer stays rustls' default, which never makes tickets.
        server.session_storage = Arc::new(NoServerSessionStorage {});
        server.send_tls13_tickets = 0;
    }
    Ok(server)
}

/// A certificate ready to serve: its chain and key, and the names SNI
/// matches against (the leaf's DNS subjectAltNames, lowercase).
struct Loaded {
    names: Vec<String>,
    key: Arc<CertifiedKey>,
}

fn load_certificate(config: &CertificateConfig) -> Result<Loaded, String> {
    let names = material::parse_chain(&config.chain_pem)
        .map_err(|e| format!("its chain does not parse: {e}"))?
        .leaf()
        .dns_names
        .iter()
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let chain = CertificateDer::pem_slice_iter(config.chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("its chain does not parse: {}", pem_problem(&e)))?;
    let der = load_key(&config.key)?;
    let signing = ring_provider::sign::any_supported_type(&der).map_err(|_| {
        format!(
            "{}: the key is not an RSA, ECDSA or Ed25519 private key rustls can use",
            describe(&config.key)
        )
    })?;
    let key = CertifiedKey::new(chain, signing);
    match key.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(format!(
                "{} does not belong to the chain's leaf certificate",
                describe(&config.key)
            ))
        }
        Err(e) => return Err(format!("its leaf certificate cannot be used: {e}")),
    }
    Ok(Loaded {
        names,
        key: Arc::new(key),
    })
}

/// Where a key is, for messages: never the key itself.
fn describe(key: &KeyRef) -> String {
    match key {
        KeyRef::File(path) => format!("private key file `{path}`"),
        KeyRef::Env(var) => format!("private key variable `{var}`"),
        KeyRef::Provider(id) => format!("private key `{id}` in the provider's store"),
    }
}

/// Reads the private key a [`KeyRef`] points at.
fn load_key(key: &KeyRef) -> Result<PrivateKeyDer<'static>, String> {
    let where_ = describe(key);
    let pem_bytes = match key {
        KeyRef::File(path) => {
            if !path.starts_with('/') {
                return Err(format!("{where_} is not an absolute path"));
            }
            let mut bytes = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_KEY_BYTES + 1).read_to_end(&mut bytes))
                .map_err(|e| format!("cannot read {where_}: {e}"))?;
            bytes
        }
        KeyRef::Env(var) => match std::env::var_os(var) {
            Some(value) => value.into_encoded_bytes(),
            None => return Err(format!("{where_} is not set")),
        },
        KeyRef::Provider(_) => {
            return Err(format!(
                "{where_} cannot be read by the embedded data plane: reference the key with \
                 `file` or `env` for listeners it serves"
            ))
        }
    };
    if pem_bytes.len() as u64 > MAX_KEY_BYTES {
        return Err(format!(
            "{where_} is larger than {MAX_KEY_BYTES} bytes; a PEM private key is a few KiB"
        ));
    }
    PrivateKeyDer::from_pem_slice(&pem_bytes).map_err(|e| format!("{where_}: {}", pem_problem(&e)))
}

/// A PEM error in words that quote nothing of the input.
fn pem_problem(error: &pem::Error) -> &'static str {
    match error {
        pem::Error::NoItemsFound => {
            "no PEM block of the expected type (a private key: `PRIVATE KEY`, `RSA PRIVATE KEY` \
             or `EC PRIVATE KEY`; a chain: `CERTIFICATE`)"
        }
        pem::Error::MissingSectionEnd { .. } => "a PEM block has no END line",
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a PEM block's base64 does not decode",
        pem::Error::SectionTooLarge => "a PEM block is too large",
        _ => "the PEM cannot be read",
    }
}

/// Whether `host` (lowercase, no trailing dot) is matched by the SAN
/// `pattern`: equal, or `*.rest` with exactly one non-empty label before
/// `rest`.
#[must_use]
pub fn name_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// Which of several certificates (given by their SAN lists, in policy
/// order) serves `server_name`: an exact match, else a wildcard match,
/// else the first.
#[must_use]
pub fn choose(names: &[&[String]], server_name: Option<&str>) -> usize {
    let Some(host) = server_name.map(|h| h.trim_end_matches('.').to_ascii_lowercase()) else {
        return 0;
    };
    let find = |exact: bool| {
        names.iter().position(|sans| {
            sans.iter().any(|p| {
                if exact {
                    *p == host
                } else {
                    p.starts_with("*.") && name_matches(p, &host)
                }
            })
        })
    };
    find(true).or_else(|| find(false)).unwrap_or(0)
}

/// Picks a listener's certificate by SNI.
struct SniResolver {
    certificates: Vec<Arc<Loaded>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let names: Vec<&[String]> = self
            .certificates
            .iter()
            .map(|c| c.names.as_slice())
            .collect();
        let index = choose(&names, client_hello.server_name());
        self.certificates.get(index).map(|c| c.key.clone())
    }
}

// By hand so that a config's Debug shows names only, not chains or keys.
impl fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.certificates.iter().map(|c| &c.names))
            .finish()
    }
}

#[cfg(test)]
mod tests;
