//! Everything `lbops demo` prepares on disk before the daemon starts: the
//! example repository as a fresh git repository, alice's demo signing key,
//! a certificate whose private key exists, and the daemon config.

use anyhow::{bail, Context};
use lbops::support::clock::{Clock, SystemClock};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A file of `examples/repo`, as text compiled into the binary.
macro_rules! example {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/repo/",
            $path
        ))
    };
}

/// `examples/repo`, embedded at build time so the demo runs from anywhere.
/// `tests/demo.rs` checks that this list names every file there.
const EXAMPLE: &[(&str, &str)] = &[
    (".lbopsignore", example!(".lbopsignore")),
    ("access/groups.yaml", example!("access/groups.yaml")),
    ("access/roles.yaml", example!("access/roles.yaml")),
    (
        "access/service-accounts.yaml",
        example!("access/service-accounts.yaml"),
    ),
    ("access/users.yaml", example!("access/users.yaml")),
    (
        "addresspools/loopback.yaml",
        example!("addresspools/loopback.yaml"),
    ),
    ("balancers/db.yaml", example!("balancers/db.yaml")),
    ("balancers/web.yaml", example!("balancers/web.yaml")),
    (
        CERT_CHAIN,
        example!("certificates/wildcard-example-test.pem"),
    ),
    (
        CERT_DOC,
        example!("certificates/wildcard-example-test.yaml"),
    ),
    (
        "drafts/next-balancer.yaml",
        example!("drafts/next-balancer.yaml"),
    ),
    ("pools/db.yaml", example!("pools/db.yaml")),
    ("pools/web.yaml", example!("pools/web.yaml")),
];

const USERS: &str = "access/users.yaml";
const CERT_CHAIN: &str = "certificates/wildcard-example-test.pem";
const CERT_DOC: &str = "certificates/wildcard-example-test.yaml";
/// The key reference the example commits, which exists on no dev machine.
const EXAMPLE_KEY_FILE: &str = "/etc/lbops/keys/wildcard-example-test.key";
pub const ALICE_EMAIL: &str = "alice@example.test";

/// Where everything of one demo lives.
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn repo(&self) -> PathBuf {
        self.dir.join("repo")
    }
    pub fn keys(&self) -> PathBuf {
        self.dir.join("keys")
    }
    pub fn alice_key(&self) -> PathBuf {
        self.keys().join("alice")
    }
    pub fn tls_key(&self) -> PathBuf {
        self.keys().join("wildcard-example-test.key")
    }
    /// The demo CA's certificate (public), for `curl --cacert`.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("demo-ca.pem")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("lbops.yaml")
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
}

/// Creates `dir` (or takes it if empty) and returns its absolute layout.
pub fn prepare_dir(dir: &Path) -> anyhow::Result<Layout> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} already exists and is not empty; remove it (`rm -rf {}`) or pass \
                     `--dir` a new directory",
                    dir.display(),
                    super::sh(&dir.display().to_string())
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let layout = Layout { dir };
    create_private_dir(&layout.keys())?;
    Ok(layout)
}

/// Writes the example repository, with alice's key and the certificate
/// replaced by the demo's, into `layout.repo()` (not yet a git repository).
pub fn write_repo(
    layout: &Layout,
    alice_public: &str,
    tls: &DemoCertificate,
) -> anyhow::Result<()> {
    let repo = layout.repo();
    for (path, text) in EXAMPLE {
        let text = match *path {
            USERS => with_alice_key(text, alice_public)?,
            CERT_CHAIN => tls.chain_pem.clone(),
            CERT_DOC => with_key_file(text, &layout.tls_key())?,
            _ => (*text).to_owned(),
        };
        let file = repo.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(())
}

/// Replaces the example's SSH key of alice with the demo's.
fn with_alice_key(users: &str, public: &str) -> anyhow::Result<String> {
    let mut replaced = false;
    let lines: Vec<String> = users
        .lines()
        .map(|line| match line.split_once("- ssh: ") {
            Some((indent, key)) if !replaced && key.trim_end().ends_with(ALICE_EMAIL) => {
                replaced = true;
                format!("{indent}- ssh: {public}")
            }
            _ => line.to_owned(),
        })
        .collect();
    if !replaced {
        bail!("{USERS} of the example has no SSH key line for {ALICE_EMAIL} to replace");
    }
    Ok(lines.join("\n") + "\n")
}

/// Points the example certificate's private key at the demo's key file.
fn with_key_file(doc: &str, key: &Path) -> anyhow::Result<String> {
    let from = format!("file: {EXAMPLE_KEY_FILE}");
    if !doc.contains(&from) {
        bail!("{CERT_DOC} of the example does not reference {EXAMPLE_KEY_FILE}");
    }
    let quoted = key.display().to_string().replace('\'', "''");
    Ok(doc.replace(&from, &format!("file: '{quoted}'")))
}

/// Makes alice's demo SSH signing key; returns its public line.
pub fn alice_key(layout: &Layout) -> anyhow::Result<String> {
    let key = layout.alice_key();
    let mut keygen = Command::new("ssh-keygen");
    keygen
        .args(["-q", "-t", "ed25519", "-N", "", "-C", ALICE_EMAIL, "-f"])
        .arg(&key);
    run(&mut keygen, "ssh-keygen (openssh-client)")?;
    let public = std::fs::read_to_string(key.with_extension("pub"))
        .with_context(|| format!("cannot read {}.pub", key.display()))?;
    Ok(public.trim().to_owned())
}

/// A certificate for `*.example.test` signed by a demo CA.
pub struct DemoCertificate {
    /// The leaf, then the CA: what the repository commits.
    pub chain_pem: String,
}

/// Makes a demo CA and a `*.example.test` leaf (ECDSA P-256, valid for a
/// year); writes the leaf's key (0600) and the CA certificate.
pub fn certificate(layout: &Layout) -> anyhow::Result<DemoCertificate> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let now = time::OffsetDateTime::from(SystemClock.now());
    let validity = |params: &mut CertificateParams| {
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(365);
    };
    let mut ca = CertificateParams::new(Vec::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "lbops demo CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;

    let key = KeyPair::generate()?;
    let mut leaf =
        CertificateParams::new(vec!["*.example.test".to_owned(), "example.test".to_owned()])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "*.example.test");
    validity(&mut leaf);
    let leaf = leaf.signed_by(&key, &ca)?;
    write_private(&layout.tls_key(), key.serialize_pem().as_bytes())?;
    let ca_pem = ca.pem();
    std::fs::write(layout.ca(), &ca_pem)
        .with_context(|| format!("cannot write {}", layout.ca().display()))?;
    Ok(DemoCertificate {
        chain_pem: format!("{}{ca_pem}", leaf.pem()),
    })
}

/// Makes `layout.repo()` a git repository on `main` whose local config
/// signs every commit as alice, and commits the example; returns the id.
pub fn init_and_commit(layout: &Layout, alice_public: &str) -> anyhow::Result<String> {
    let repo = layout.repo();
    let allowed = layout.keys().join("allowed_signers");
    std::fs::write(&allowed, format!("{ALICE_EMAIL} {alice_public}\n"))
        .with_context(|| format!("cannot write {}", allowed.display()))?;
    git(&repo, &["init", "-q"])?;
    git(&repo, &["symbolic-ref", "HEAD", "refs/heads/main"])?;
    let key = layout.alice_key().display().to_string();
    let allowed = allowed.display().to_string();
    for (name, value) in [
        ("user.name", "Alice (lbops demo)"),
        ("user.email", ALICE_EMAIL),
        ("gpg.format", "ssh"),
        ("user.signingkey", &key),
        ("commit.gpgsign", "true"),
        ("gpg.ssh.allowedSignersFile", &allowed),
    ] {
        git(&repo, &["config", "--local", name, value])?;
    }
    git(&repo, &["add", "-A"])?;
    git(
        &repo,
        &[
            "commit",
            "-q",
            "-m",
            "The example estate, from lbops' examples/repo\n\nalice's key and the TLS \
             certificate are the demo's own; the private keys live outside the repository.",
        ],
    )?;
    git(&repo, &["rev-parse", "HEAD"])
}

/// The daemon config: the demo repository read in place, its first commit
/// trusted as is, a quick poll, pools kept as git says.
///
/// No filesystem watch: the daemon's watcher takes the inotify *open*
/// events of its own reads of `.git` for changes, so with `watch: true`
/// it reconciles in a loop and keeps a core busy. A one-second poll picks
/// a commit up as quickly as anyone types `curl`.
pub fn write_config(layout: &Layout, first: &str) -> anyhow::Result<()> {
    let quote = |p: PathBuf| format!("'{}'", p.display().to_string().replace('\'', "''"));
    let text = format!(
        "# Written by `lbops demo`.
repository: {{path: {repo}, branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {first}}}
drift: {{kinds: {{Pool: revert}}}}
state_dir: {state}
log: {{format: text}}
",
        repo = quote(layout.repo()),
        state = quote(layout.state()),
    );
    std::fs::write(layout.config(), text)
        .with_context(|| format!("cannot write {}", layout.config().display()))
}

/// Runs git in `repo`; returns its trimmed stdout.
pub fn git(repo: &Path, args: &[&str]) -> anyhow::Result<String> {
    let mut command = Command::new("git");
    command.arg("-C").arg(repo).args(args);
    run(&mut command, "git")
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = command.output().with_context(|| {
        format!("cannot run {what}; lbops demo needs git and ssh-keygen on PATH")
    })?;
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Writes a file only this user may read, created with that mode.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
