//! Commit-signature verification time through `Keyring::identify`.
//!
//! `cargo bench --bench identity` (optionally `-- 2000` for another number
//! of users and commits). Needs `ssh-keygen` and `gpg` on PATH: at start it
//! makes, in a temporary directory, one SSH ed25519 key per user, one gpg
//! ed25519 and one gpg rsa3072 key, and signs N distinct commit-like
//! payloads with each kind (SSH: each by its own user's key, the
//! `ssh-keygen -Y sign -n git` that git runs; OpenPGP: `gpg --detach-sign
//! --armor` as git runs it). The policy has N Users; user-0 also lists the
//! gpg ed25519 key, user-1 the gpg RSA key. Prints one line per kind.

use lbops::identity::{CommitEvidence, Keyring, Principal};
use lbops::spec::{self, SourceFile};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;

const MAKE: &str = r#"
set -euo pipefail
n="$1"
export GNUPGHOME="$PWD/gnupg"
mkdir -m 700 "$GNUPGHOME"
seq 0 $((n - 1)) | xargs -P 4 -I{} ssh-keygen -q -t ed25519 -N '' -C 'user-{}@example.test' -f key-{}
for i in $(seq 0 $((n - 1))); do
  printf 'tree %040d\nauthor User %s <user-%s@example.test> 1748779200 +0000\ncommitter User %s <user-%s@example.test> 1748779200 +0000\n\nchange %s\n' \
    "$i" "$i" "$i" "$i" "$i" "$i" >"ssh-$i"
  printf 'tree %040d\nauthor Bob <user-0@example.test> 1748779200 +0000\ncommitter Bob <user-0@example.test> 1748779200 +0000\n\nchange %s\n' \
    "$i" "$i" >"ed-$i"
  printf 'tree %040d\nauthor Erin <user-1@example.test> 1748779200 +0000\ncommitter Erin <user-1@example.test> 1748779200 +0000\n\nchange %s\n' \
    "$i" "$i" >"rsa-$i"
done
seq 0 $((n - 1)) | xargs -P 4 -I{} ssh-keygen -q -Y sign -n git -f key-{} ssh-{}
gpg() { command gpg --batch --quiet --yes --pinentry-mode loopback --passphrase '' "$@"; }
gpg --quick-gen-key 'Bob <user-0@example.test>' ed25519 sign never 2>/dev/null
gpg --quick-gen-key 'Erin <user-1@example.test>' rsa3072 sign never 2>/dev/null
gpg --armor --export user-0@example.test >bob.asc
gpg --armor --export user-1@example.test >erin.asc
seq 0 $((n - 1)) | xargs -P 4 -I{} gpg --batch --quiet --yes --pinentry-mode loopback --passphrase '' -u user-0@example.test --detach-sign --armor ed-{}
seq 0 $((n - 1)) | xargs -P 4 -I{} gpg --batch --quiet --yes --pinentry-mode loopback --passphrase '' -u user-1@example.test --detach-sign --armor rsa-{}
rm -f key-*[0-9]   # private keys are not needed any more
"#;

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn indented(armored: &str) -> String {
    armored.lines().fold(String::new(), |mut s, l| {
        let _ = writeln!(s, "        {l}");
        s
    })
}

fn policy(dir: &Path, users: usize) -> String {
    let mut text = String::new();
    for i in 0..users {
        let _ = write!(
            text,
            "---\nkind: User\nname: user-{i}\nspec:\n  emails: [user-{i}@example.test]\n  signing_keys:\n    - ssh: {}\n",
            read(dir, &format!("key-{i}.pub")).trim()
        );
        let pgp = match i {
            0 => Some("bob.asc"),
            1 => Some("erin.asc"),
            _ => None,
        };
        if let Some(file) = pgp {
            let _ = write!(text, "    - openpgp: |\n{}", indented(&read(dir, file)));
        }
    }
    text
}

fn evidence(dir: &Path, payload: &str, sig: &str, email: &str) -> CommitEvidence {
    CommitEvidence {
        id: payload.to_owned(),
        author_email: email.to_owned(),
        committer_email: email.to_owned(),
        signature: Some(read(dir, sig).into_bytes()),
        signed_data: read(dir, payload).into_bytes(),
    }
}

fn run(ring: &Keyring, commits: &[(CommitEvidence, usize)]) -> Duration {
    let start = Instant::now();
    for (commit, user) in commits {
        match ring.identify(commit, NOW) {
            Ok(v) if v.principal == Principal::User(format!("user-{user}").parse().unwrap()) => {}
            other => panic!("{}: unexpected {other:?}", commit.id),
        }
    }
    start.elapsed()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000);
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = tmp.path();
    let start = Instant::now();
    let status = Command::new("bash")
        .args(["-c", MAKE, "make", &n.to_string()])
        .current_dir(dir)
        .status()
        .expect("bash");
    assert!(status.success(), "making keys and signatures failed");
    println!(
        "made {n} SSH keys and 3×{n} signatures with ssh-keygen/gpg in {:.1}s",
        start.elapsed().as_secs_f64()
    );

    let text = policy(dir, n);
    let start = Instant::now();
    let catalog = match spec::load(
        &[SourceFile::new("users.yaml", text)],
        &spec::Options::at(NOW),
    ) {
        Ok(v) => v.catalog,
        Err(e) => panic!("{:?}", &e.diagnostics[..e.diagnostics.len().min(3)]),
    };
    let loaded = start.elapsed();
    let start = Instant::now();
    let ring = Keyring::from_policy(&catalog);
    let built = start.elapsed();
    println!(
        "policy of {} users: spec::load {:.0}ms, Keyring::from_policy {:.1}ms ({} keys)",
        catalog.users.len(),
        loaded.as_secs_f64() * 1e3,
        built.as_secs_f64() * 1e3,
        ring.len()
    );

    let kinds: [(&str, Vec<(CommitEvidence, usize)>); 3] = [
        (
            "ssh ed25519",
            (0..n)
                .map(|i| {
                    let email = format!("user-{i}@example.test");
                    (
                        evidence(dir, &format!("ssh-{i}"), &format!("ssh-{i}.sig"), &email),
                        i,
                    )
                })
                .collect(),
        ),
        (
            "openpgp ed25519",
            (0..n)
                .map(|i| {
                    (
                        evidence(
                            dir,
                            &format!("ed-{i}"),
                            &format!("ed-{i}.asc"),
                            "user-0@example.test",
                        ),
                        0,
                    )
                })
                .collect(),
        ),
        (
            "openpgp rsa3072",
            (0..n)
                .map(|i| {
                    (
                        evidence(
                            dir,
                            &format!("rsa-{i}"),
                            &format!("rsa-{i}.asc"),
                            "user-1@example.test",
                        ),
                        1,
                    )
                })
                .collect(),
        ),
    ];
    println!(
        "{:>16} {:>8} {:>10} {:>12}",
        "signatures", "commits", "total", "per commit"
    );
    for (name, commits) in &kinds {
        run(&ring, &commits[..commits.len().min(10)]); // warm up
        let elapsed = run(&ring, commits);
        println!(
            "{name:>16} {:>8} {:>8.1}ms {:>10.1}µs",
            commits.len(),
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e6 / commits.len() as f64
        );
    }
}
