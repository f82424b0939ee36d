//! Real git repositories with real signed commits: keys made by
//! `ssh-keygen` and `gpg` (batch mode, a temporary GNUPGHOME), commits
//! made and signed by the `git` CLI, everything in temp dirs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// An SSH signing key (ed25519) in a temp dir.
pub struct SshKey {
    dir: tempfile::TempDir,
    /// The `ssh-ed25519 AAAA… comment` line a policy lists.
    pub public: String,
}

impl SshKey {
    pub fn new(comment: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(&key));
        let public = std::fs::read_to_string(key.with_extension("pub"))
            .unwrap()
            .trim()
            .to_owned();
        SshKey { dir, public }
    }

    pub fn private_key(&self) -> PathBuf {
        self.dir.path().join("id_ed25519")
    }
}

/// An OpenPGP key made by gpg in its own GNUPGHOME; its agent is stopped
/// when the key is dropped.
pub struct GpgKey {
    home: tempfile::TempDir,
    pub fingerprint: String,
    /// `gpg --export --armor`, as a policy lists it.
    pub public: String,
}

impl GpgKey {
    pub fn new(uid: &str) -> Self {
        let home = tempfile::Builder::new().prefix("gpg").tempdir().unwrap();
        let gpg = |args: &[&str]| {
            let out = Command::new("gpg")
                .env("GNUPGHOME", home.path())
                .args(["--batch", "--quiet", "--no-tty"])
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        gpg(&[
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "ed25519",
            "sign",
            "never",
        ]);
        let colons = gpg(&["--with-colons", "--fingerprint", uid]);
        let fingerprint = colons
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .unwrap()
            .to_owned();
        let public = gpg(&["--export", "--armor", &fingerprint]);
        GpgKey {
            home,
            fingerprint,
            public,
        }
    }
}

impl Drop for GpgKey {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "all"])
            .status();
    }
}

/// Who makes a commit and how it is signed.
pub struct Author<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub signing: Signing<'a>,
}

pub enum Signing<'a> {
    Unsigned,
    Ssh(&'a SshKey),
    Gpg(&'a GpgKey),
}

/// A repository in a temp dir, branch `main`, no global git config.
pub struct GitRepo {
    dir: tempfile::TempDir,
}

impl Default for GitRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl GitRepo {
    pub fn new() -> Self {
        let repo = GitRepo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "-q", "-b", "main"], &[]);
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, file: &str, text: &str) {
        let path = self.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.path().join(file)).unwrap();
    }

    /// Commits everything in the work tree as `author`; returns the id.
    pub fn commit(&self, author: &Author<'_>, message: &str) -> String {
        self.git(&["add", "-A"], &[]);
        let user = [
            format!("user.name={}", author.name),
            format!("user.email={}", author.email),
        ];
        let mut args: Vec<String> =
            vec!["-c".into(), user[0].clone(), "-c".into(), user[1].clone()];
        let mut env: Vec<(&str, &Path)> = Vec::new();
        match &author.signing {
            Signing::Unsigned => args.extend(["-c".into(), "commit.gpgsign=false".into()]),
            Signing::Ssh(key) => args.extend([
                "-c".into(),
                "gpg.format=ssh".into(),
                "-c".into(),
                format!("user.signingkey={}", key.private_key().display()),
                "-c".into(),
                "commit.gpgsign=true".into(),
            ]),
            Signing::Gpg(key) => {
                args.extend([
                    "-c".into(),
                    "gpg.format=openpgp".into(),
                    "-c".into(),
                    format!("user.signingkey={}", key.fingerprint),
                    "-c".into(),
                    "commit.gpgsign=true".into(),
                ]);
                env.push(("GNUPGHOME", key.home.path()));
            }
        }
        args.extend([
            "commit".into(),
            "-q".into(),
            "--allow-empty".into(),
            "-m".into(),
            message.into(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.git(&args, &env);
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"], &[])
    }

    /// Runs git in the repository with no global or system config.
    pub fn git(&self, args: &[&str], env: &[(&str, &Path)]) -> String {
        let mut command = Command::new("git");
        command
            .args(args)
            .current_dir(self.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        for (name, value) in env {
            command.env(name, value);
        }
        run(&mut command)
    }
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
