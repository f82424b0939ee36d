//! The `cluster:` section of the daemon config: replicas on etcd.
//!
//! ```yaml
//! cluster:
//!   replica: lbops-a            # this replica's name (default: the host name)
//!   prefix: /lbops/prod         # where the replicas of one repository keep their keys
//!   lease_ttl: 10s              # how long a silent leader keeps leading
//!   etcd:
//!     endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379, https://10.0.0.3:2379]
//!     ca_file: /etc/lbops/etcd-ca.pem
//!     cert_file: /etc/lbops/etcd-client.pem    # with key_file, when members require client certificates
//!     key_file: /etc/lbops/etcd-client-key.pem
//!     username: lbops                          # etcd's own authentication, when on
//!     password_file: /run/credentials/lbops.service/etcd-password
//! ```

use super::etcd::EtcdConfig;
use crate::source::SecretRef;
use crate::spec::units::Dur;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The checked section.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub replica: String,
    pub prefix: String,
    pub lease_ttl: Duration,
    pub etcd: EtcdConfig,
}

/// The section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    replica: Option<String>,
    #[serde(default = "default_prefix")]
    prefix: String,
    #[serde(default = "default_ttl")]
    lease_ttl: Dur,
    etcd: EtcdFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EtcdFile {
    endpoints: Vec<String>,
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    #[serde(default = "default_timeout")]
    timeout: Dur,
}

fn default_prefix() -> String {
    "/lbops".to_owned()
}

fn default_ttl() -> Dur {
    Dur(Duration::from_secs(10))
}

fn default_timeout() -> Dur {
    Dur(Duration::from_secs(2))
}

/// A problem: the field path and what to do.
pub type Problem = (Vec<&'static str>, String);

impl ClusterFile {
    /// Makes relative paths relative to the config file's directory.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        for path in [
            &mut self.etcd.ca_file,
            &mut self.etcd.cert_file,
            &mut self.etcd.key_file,
            &mut self.etcd.password_file,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    pub fn check(self, problems: &mut Vec<Problem>) -> Option<ClusterConfig> {
        let before = problems.len();
        let mut problem = |field: &'static str, what: String| {
            problems.push((vec!["cluster", field], what));
        };
        let replica = self.replica.unwrap_or_else(host_name);
        if replica.is_empty()
            || replica.len() > 63
            || !replica
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        {
            problem(
                "replica",
                format!("`{replica}` is not a replica name; use letters, digits, `-`, `.` or `_`, at most 63, unique per replica"),
            );
        }
        if !self.prefix.starts_with('/') || self.prefix.len() > 200 {
            problem(
                "prefix",
                format!(
                    "`{}` is not a key prefix; start it with `/`, e.g. `/lbops/prod`",
                    self.prefix
                ),
            );
        }
        let ttl = self.lease_ttl.0;
        if ttl < Duration::from_secs(2) || ttl > Duration::from_secs(300) || ttl.subsec_nanos() != 0
        {
            problem(
                "lease_ttl",
                "a lease is whole seconds from 2s to 300s (etcd counts in seconds); 10s is a good start".to_owned(),
            );
        }
        let etcd = self.etcd;
        if etcd.endpoints.is_empty() {
            problem(
                "etcd",
                "`endpoints` is empty; list every etcd member's client URL, e.g. `https://10.0.0.1:2379`".to_owned(),
            );
        }
        for endpoint in &etcd.endpoints {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                problem(
                    "etcd",
                    format!("endpoint `{endpoint}` is not an http:// or https:// URL"),
                );
            }
        }
        let client_cert = match (etcd.cert_file, etcd.key_file) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                problem(
                    "etcd",
                    "a client certificate needs both `cert_file` and `key_file`".to_owned(),
                );
                None
            }
        };
        let password = match (etcd.password_file, etcd.password_env) {
            (Some(file), None) => Some(SecretRef::File(file)),
            (None, Some(env)) => Some(SecretRef::Env(env)),
            (None, None) => None,
            (Some(_), Some(_)) => {
                problem(
                    "etcd",
                    "give `password_file` or `password_env`, not both".to_owned(),
                );
                None
            }
        };
        let user = match (etcd.username, password) {
            (Some(name), Some(password)) => Some((name, password)),
            (None, None) => None,
            _ => {
                problem(
                    "etcd",
                    "etcd authentication needs `username` and a password (`password_file` or `password_env`)".to_owned(),
                );
                None
            }
        };
        (problems.len() == before).then(|| ClusterConfig {
            replica,
            prefix: self.prefix.trim_end_matches('/').to_owned(),
            lease_ttl: ttl,
            etcd: EtcdConfig {
                endpoints: etcd.endpoints,
                ca_file: etcd.ca_file,
                client_cert,
                user,
                timeout: etcd.timeout.0,
            },
        })
    }
}

/// This machine's name, the default replica name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|n| n.trim().to_owned())
        .unwrap_or_default()
}
