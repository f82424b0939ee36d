#!/usr/bin/env bash
# Regenerates the signed-commit fixtures of src/identity/tests.rs with the
# real tools (ssh-keygen, gpg 2.2, git). Private keys live only in a
# temporary directory that is deleted on exit: ONLY public keys and commit
# objects are written here. Run from anywhere:  src/identity/testdata/make.sh
set -euo pipefail

out="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
export GIT_CONFIG_NOSYSTEM=1 HOME="$work"
export GIT_AUTHOR_DATE='2025-06-01T12:00:00Z' GIT_COMMITTER_DATE='2025-06-01T12:00:00Z'

rm -f "$out"/*.pub "$out"/*.asc "$out"/*.commit "$out"/*.sshsig

# --- keys --------------------------------------------------------------
ssh_key() { # name type [bits]
  ssh-keygen -q -t "$2" ${3:+-b "$3"} -N '' -C "$1@example.test" -f "$work/$1"
  cp "$work/$1.pub" "$out/$1.pub"
}
ssh_key alice ed25519
ssh_key carol rsa 3072
ssh_key dave ecdsa 256
ssh_key mallory ed25519
ssh_key forge ed25519
ssh_key boot ed25519

gpg_quiet() { gpg --batch --quiet --pinentry-mode loopback --passphrase '' "$@" 2>/dev/null; }
gpg_fpr() { gpg --batch --with-colons --fingerprint "$1" | awk -F: '$1=="fpr"{print $10}' | sed -n "${2:-1}p"; }
gpg_quiet --quick-gen-key 'Bob <bob@example.test>' ed25519 sign never
bob="$(gpg_fpr bob@example.test)"
gpg_quiet --quick-add-key "$bob" ed25519 sign never
bob_sub="$(gpg_fpr bob@example.test 2)"
gpg_quiet --quick-gen-key 'Erin <erin@example.test>' rsa3072 sign never
erin="$(gpg_fpr erin@example.test)"
# A key that expired long ago: made and used with a faked clock.
gpg_quiet --faked-system-time 20200101T000000 --quick-gen-key 'Olga <olga@example.test>' ed25519 sign 30d
olga="$(gpg_fpr olga@example.test)"
# A key its owner revoked.
gpg_quiet --quick-gen-key 'Rita <rita@example.test>' ed25519 sign never
rita="$(gpg_fpr rita@example.test)"
gpg --armor --export bob@example.test >"$out/bob.asc"
gpg --armor --export erin@example.test >"$out/erin.asc"
gpg --armor --export olga@example.test >"$out/olga.asc"

# --- commits -----------------------------------------------------------
git init -q -b main "$work/repo"
cd "$work/repo"
n=0
# commit NAME AUTHOR_EMAIL COMMITTER_EMAIL [git -c options...]
commit() {
  local name="$1" author="$2" committer="$3"; shift 3
  n=$((n + 1))
  echo "change $n" >"file-$n"
  git add "file-$n"
  GIT_AUTHOR_NAME=A GIT_AUTHOR_EMAIL="$author" GIT_COMMITTER_NAME=C GIT_COMMITTER_EMAIL="$committer" \
    git "$@" commit -q -m "$name"
  git cat-file commit HEAD >"$out/$name.commit"
}
ssh_sign() { echo -c gpg.format=ssh -c user.signingkey="$work/$1" -c commit.gpgsign=true; }
gpg_sign() { echo -c gpg.format=openpgp -c gpg.program=gpg -c user.signingkey="$1" -c commit.gpgsign=true; }

commit ssh-alice alice@example.test alice@example.test $(ssh_sign alice)
commit ssh-carol-rsa carol@example.test carol@example.test $(ssh_sign carol)
commit ssh-dave-ecdsa dave@example.test dave@example.test $(ssh_sign dave)
commit ssh-mallory-as-alice alice@example.test alice@example.test $(ssh_sign mallory)
commit ssh-alice-as-bob bob@example.test alice@example.test $(ssh_sign alice)
commit ssh-alice-committer-work alice@example.test alice@work.test $(ssh_sign alice)
commit ssh-alice-committer-eve alice@example.test eve@elsewhere.test $(ssh_sign alice)
commit ssh-forge alice@example.test noreply@forge.test $(ssh_sign forge)
commit ssh-boot someone@anywhere.test someone@anywhere.test $(ssh_sign boot)
commit gpg-bob bob@example.test bob@example.test $(gpg_sign "$bob!")
commit gpg-bob-subkey bob@example.test bob@example.test $(gpg_sign "$bob_sub!")
commit gpg-erin-rsa erin@example.test erin@example.test $(gpg_sign "$erin")
printf 'digest-algo SHA1\n' >"$GNUPGHOME/gpg.conf"
commit gpg-erin-sha1 erin@example.test erin@example.test $(gpg_sign "$erin")
rm "$GNUPGHOME/gpg.conf"
printf '#!/bin/sh\nexec gpg --faked-system-time 20200102T000000 "$@"\n' >"$work/oldgpg"
chmod +x "$work/oldgpg"
commit gpg-olga-expired olga@example.test olga@example.test $(gpg_sign "$olga") -c gpg.program="$work/oldgpg"
commit gpg-rita-revoked rita@example.test rita@example.test $(gpg_sign "$rita")
commit unsigned alice@example.test alice@example.test

# Rita's key as published after she revoked it (the commit above predates that).
gpg_quiet --gen-revoke --output "$work/rita.rev" "$rita" <<<$'y\n0\n\ny\n' || true
if [ ! -s "$work/rita.rev" ]; then
  cp "$GNUPGHOME/openpgp-revocs.d/$rita.rev" "$work/rita.rev"
  sed -i 's/^:-----BEGIN/-----BEGIN/' "$work/rita.rev"
fi
gpg_quiet --import "$work/rita.rev"
gpg --armor --export rita@example.test >"$out/rita-revoked.asc"

# An SSH signature by Alice over her commit's payload, but in the `file`
# namespace: a signature made for another purpose must not count for git.
git cat-file commit "$(git log --format=%H --grep='^ssh-alice$')" | sed '/^gpgsig /,/^ -----END SSH SIGNATURE-----$/d' >"$work/payload"
ssh-keygen -q -Y sign -n file -f "$work/alice" "$work/payload"
cp "$work/payload.sig" "$out/alice-namespace-file.sshsig"

# Never let a private key in.
if grep -l 'PRIVATE KEY' "$out"/* | grep -v make.sh; then echo 'private key in testdata!' >&2; exit 1; fi
echo "fixtures written to $out"
