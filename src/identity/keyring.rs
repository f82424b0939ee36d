//! The verification keys of a trusted policy (or of the daemon's bootstrap
//! trust), parsed once, and the rules that turn a verified signature into a
//! [`Principal`].

use super::error::{shown, BootstrapKeyError, DisabledReason, KeyStatusSource, NoIdentity};
use super::openpgp::{self, PgpKey};
use super::{ssh, CommitEvidence, Principal, Verified};
use crate::spec::kinds::access::SigningKey;
use crate::spec::material::{parse_openpgp_public_key, parse_ssh_key, KeyFormat};
use crate::spec::units::canonical_email;
use crate::spec::yaml::Spanned;
use crate::spec::Catalog;
use std::collections::HashMap;

/// Parsed verification keys and who they identify, built once per trusted
/// policy and then shared by every [`Keyring::identify`] call.
pub struct Keyring {
    /// SSH keys by `SHA256:` fingerprint.
    ssh: HashMap<String, Listed<ssh_key::PublicKey>>,
    pgp: Vec<Listed<PgpKey>>,
    /// Every signing-capable OpenPGP key or subkey, by its fingerprint and by
    /// its key id: `(index into pgp, index into its signers)`.
    pgp_by_fingerprint: HashMap<String, Vec<(usize, usize)>>,
    pgp_by_key_id: HashMap<[u8; 8], Vec<(usize, usize)>>,
}

struct Listed<K> {
    key: K,
    /// Who the policy lists the key for; more than one principal means the
    /// key is ambiguous and identifies nobody.
    holders: Vec<Holder>,
}

#[derive(Clone)]
struct Holder {
    principal: Principal,
    /// In [`canonical_email`] form.
    emails: Vec<String>,
    cannot_act: Option<DisabledReason>,
    revoked: bool,
    expires: Option<i64>,
}

impl<K> Listed<K> {
    fn add(&mut self, holder: Holder) {
        match self
            .holders
            .iter_mut()
            .find(|h| h.principal == holder.principal)
        {
            // Listed twice for the same principal: the stricter entry wins.
            Some(h) => {
                h.revoked |= holder.revoked;
                h.expires = match (h.expires, holder.expires) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            None => self.holders.push(holder),
        }
    }
}

/// The well-formed emails, canonical; validation refuses the others, and
/// an address that is not well-formed can match no commit.
fn canonical(emails: &[Spanned<String>]) -> Vec<String> {
    emails
        .iter()
        .filter_map(|e| canonical_email(&e.value).ok())
        .collect()
}

impl Keyring {
    fn empty() -> Keyring {
        Keyring {
            ssh: HashMap::new(),
            pgp: Vec::new(),
            pgp_by_fingerprint: HashMap::new(),
            pgp_by_key_id: HashMap::new(),
        }
    }

    /// Every usable key of the policy's Users and ServiceAccounts, read by
    /// the parsers validation uses, so both name a key by one fingerprint.
    ///
    /// Keys that do not parse are skipped: validation reports them, and a
    /// key that cannot be read can verify nothing.
    #[must_use]
    pub fn from_policy(policy: &Catalog) -> Keyring {
        let mut ring = Keyring::empty();
        for user in policy.users.values() {
            let holder = Holder {
                principal: Principal::User(user.name.clone()),
                emails: canonical(&user.spec.emails),
                cannot_act: user.spec.disabled.then_some(DisabledReason::UserDisabled),
                revoked: false,
                expires: None,
            };
            ring.add_keys(&user.spec.signing_keys, &holder);
        }
        for account in policy.service_accounts.values() {
            let owner = &account.spec.owner.value;
            let cannot_act = DisabledReason::of_owner(policy, owner);
            let emails = canonical(&account.spec.emails);
            let holder = Holder {
                principal: Principal::ServiceAccount(account.name.clone()),
                emails,
                cannot_act,
                revoked: false,
                expires: None,
            };
            ring.add_keys(&account.spec.signing_keys, &holder);
        }
        ring
    }

    /// Keys from the daemon config's bootstrap trust (SSH lines or armored
    /// OpenPGP blocks); a commit signed by one identifies
    /// [`Principal::BootstrapAdmin`], whatever its email.
    pub fn bootstrap(admin_keys: &[String]) -> Result<Keyring, BootstrapKeyError> {
        let mut ring = Keyring::empty();
        for (i, text) in admin_keys.iter().enumerate() {
            let index = i + 1;
            let unparseable = |error| BootstrapKeyError::Unparseable { index, error };
            let unusable = |problem| BootstrapKeyError::Unusable { index, problem };
            if text.contains("-----BEGIN PGP") {
                let info = parse_openpgp_public_key(text).map_err(unparseable)?;
                let holder = holder_bootstrap(&info.fingerprint);
                let key = openpgp::load_key(text, info.fingerprint).ok_or(unusable(
                    "none of its keys may sign, or its self-signatures do not verify",
                ))?;
                ring.add_pgp(key, holder);
            } else {
                let parsed = parse_ssh_key(text).map_err(unparseable)?;
                let holder = holder_bootstrap(&parsed.info.fingerprint);
                let key = parsed
                    .key
                    .ok_or(unusable("its algorithm cannot verify signatures here"))?;
                ring.add_ssh(key, parsed.info.fingerprint, holder);
            }
        }
        Ok(ring)
    }

    /// How many distinct keys the ring holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ssh.len() + self.pgp.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add_keys(&mut self, keys: &[Spanned<SigningKey>], holder: &Holder) {
        for key in keys {
            let key = &key.value;
            let holder = Holder {
                revoked: key.revoked,
                expires: key.expires.map(|t| t.unix()),
                ..holder.clone()
            };
            match (&key.ssh, &key.openpgp) {
                (Some(line), None) => {
                    if let Ok(parsed) = parse_ssh_key(&line.value) {
                        if let Some(k) = parsed.key {
                            self.add_ssh(k, parsed.info.fingerprint, holder);
                        }
                    }
                }
                (None, Some(armored)) => {
                    let info = parse_openpgp_public_key(&armored.value);
                    if let Some(k) = info
                        .ok()
                        .and_then(|info| openpgp::load_key(&armored.value, info.fingerprint))
                    {
                        self.add_pgp(k, holder);
                    }
                }
                _ => {}
            }
        }
    }

    fn add_ssh(&mut self, key: ssh_key::PublicKey, fingerprint: String, holder: Holder) {
        self.ssh
            .entry(fingerprint)
            .or_insert_with(|| Listed {
                key,
                holders: Vec::new(),
            })
            .add(holder);
    }

    fn add_pgp(&mut self, key: PgpKey, holder: Holder) {
        if let Some(listed) = self
            .pgp
            .iter_mut()
            .find(|l| l.key.fingerprint == key.fingerprint)
        {
            listed.add(holder);
            return;
        }
        let index = self.pgp.len();
        for (s, signer) in key.signers.iter().enumerate() {
            self.pgp_by_fingerprint
                .entry(signer.fingerprint.clone())
                .or_default()
                .push((index, s));
            self.pgp_by_key_id
                .entry(signer.key_id)
                .or_default()
                .push((index, s));
        }
        self.pgp.push(Listed {
            key,
            holders: vec![holder],
        });
    }

    /// Who signed `commit`, judged at `now_unix` (the time the commit
    /// arrives, not its date: commit dates are chosen by the signer, so a
    /// key that has expired or was revoked could otherwise still sign
    /// "in the past").
    pub fn identify(&self, commit: &CommitEvidence, now_unix: i64) -> Result<Verified, NoIdentity> {
        let id = || commit.id.clone();
        let Some(signature) = &commit.signature else {
            return Err(NoIdentity::Unsigned { commit: id() });
        };
        let unreadable = |problem| NoIdentity::UnreadableSignature {
            commit: id(),
            problem,
        };
        let text = signature.trim_ascii_start();
        if text.starts_with(b"-----BEGIN SSH SIGNATURE-----") {
            self.identify_ssh(commit, signature, now_unix)
        } else if text.starts_with(b"-----BEGIN PGP SIGNATURE-----") {
            self.identify_openpgp(commit, signature, now_unix)
        } else if text.starts_with(b"-----BEGIN SIGNED MESSAGE-----") {
            Err(unreadable("X.509 (gpgsm) signatures are not supported"))
        } else {
            Err(unreadable("it is neither an SSH nor an OpenPGP signature"))
        }
    }

    fn identify_ssh(
        &self,
        commit: &CommitEvidence,
        signature: &[u8],
        now: i64,
    ) -> Result<Verified, NoIdentity> {
        let parsed = ssh::parse(signature).map_err(|r| match r {
            ssh::Refusal::Unreadable(problem) => NoIdentity::UnreadableSignature {
                commit: commit.id.clone(),
                problem,
            },
            ssh::Refusal::WrongNamespace(namespace) => NoIdentity::WrongNamespace {
                commit: commit.id.clone(),
                namespace: shown(&namespace),
            },
            ssh::Refusal::Weak(algorithm) => NoIdentity::WeakAlgorithm {
                commit: commit.id.clone(),
                algorithm,
            },
        })?;
        let fingerprint = parsed.fingerprint;
        let Some(listed) = self.ssh.get(&fingerprint) else {
            return Err(NoIdentity::UnknownKey {
                commit: commit.id.clone(),
                fingerprint,
            });
        };
        let holder = one_holder(commit, &fingerprint, &listed.holders)?;
        if !ssh::verify(&listed.key, &parsed.sig, &commit.signed_data) {
            return Err(NoIdentity::BadSignature {
                commit: commit.id.clone(),
                fingerprint,
            });
        }
        self.admit_key(commit, holder, KeyFormat::Ssh, fingerprint, now)
    }

    fn identify_openpgp(
        &self,
        commit: &CommitEvidence,
        signature: &[u8],
        now: i64,
    ) -> Result<Verified, NoIdentity> {
        let parsed = openpgp::parse(signature).map_err(|r| match r {
            openpgp::Refusal::Unreadable(problem) => NoIdentity::UnreadableSignature {
                commit: commit.id.clone(),
                problem,
            },
            openpgp::Refusal::Weak(algorithm) => NoIdentity::WeakAlgorithm {
                commit: commit.id.clone(),
                algorithm,
            },
        })?;
        let issuer = parsed.issuer();
        let mut candidates: Vec<(usize, usize)> = Vec::new();
        if parsed.issuer_fingerprints.is_empty() {
            for id in &parsed.issuer_key_ids {
                candidates.extend(self.pgp_by_key_id.get(id).into_iter().flatten());
            }
        } else {
            for fp in &parsed.issuer_fingerprints {
                candidates.extend(self.pgp_by_fingerprint.get(fp).into_iter().flatten());
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        if candidates.is_empty() {
            return Err(NoIdentity::UnknownKey {
                commit: commit.id.clone(),
                fingerprint: issuer,
            });
        }
        // Distinct listed keys that share a key id (or a subkey) are all
        // tried; if more than one verifies, none is picked.
        let verified: Vec<(usize, usize)> = candidates
            .into_iter()
            .filter(|&(k, s)| {
                let signer = &self.pgp[k].key.signers[s];
                signer.is_issuer_of(&parsed) && signer.verifies(&parsed, &commit.signed_data)
            })
            .collect();
        let (k, s) = match verified.as_slice() {
            [] => {
                return Err(NoIdentity::BadSignature {
                    commit: commit.id.clone(),
                    fingerprint: issuer,
                })
            }
            [one] => *one,
            many => {
                let holders: Vec<Holder> = many
                    .iter()
                    .flat_map(|&(k, _)| self.pgp[k].holders.iter().cloned())
                    .collect();
                one_holder(commit, &issuer, &holders)?;
                many[0]
            }
        };
        let listed = &self.pgp[k];
        let signer = &listed.key.signers[s];
        let fingerprint = listed.key.fingerprint.clone();
        let holder = one_holder(commit, &fingerprint, &listed.holders)?;
        if signer.revoked {
            return Err(NoIdentity::KeyRevoked {
                commit: commit.id.clone(),
                fingerprint,
                key_owner: holder.principal.clone(),
                status_from: KeyStatusSource::OpenPgpKey,
            });
        }
        if let Some(expired_at) = signer.expires_at.filter(|&t| t <= now) {
            return Err(NoIdentity::KeyExpired {
                commit: commit.id.clone(),
                fingerprint,
                key_owner: holder.principal.clone(),
                expired_at,
                status_from: KeyStatusSource::OpenPgpKey,
            });
        }
        self.admit_key(commit, holder, KeyFormat::OpenPgp, fingerprint, now)
    }

    /// The rules after a signature verified with a listed key: the key's
    /// status in the policy, then whether its holder may act, then emails.
    fn admit_key(
        &self,
        commit: &CommitEvidence,
        holder: &Holder,
        key_format: KeyFormat,
        fingerprint: String,
        now: i64,
    ) -> Result<Verified, NoIdentity> {
        let commit_id = || commit.id.clone();
        let owner = || holder.principal.clone();
        if holder.revoked {
            return Err(NoIdentity::KeyRevoked {
                commit: commit_id(),
                fingerprint,
                key_owner: owner(),
                status_from: KeyStatusSource::Policy,
            });
        }
        if let Some(expired_at) = holder.expires.filter(|&t| t <= now) {
            return Err(NoIdentity::KeyExpired {
                commit: commit_id(),
                fingerprint,
                key_owner: owner(),
                expired_at,
                status_from: KeyStatusSource::Policy,
            });
        }
        if let Some(reason) = &holder.cannot_act {
            return Err(NoIdentity::Disabled {
                commit: commit_id(),
                key_owner: owner(),
                why: reason.clone(),
            });
        }
        // The author must be the principal who signed, and the committer
        // that principal too: a signature vouches for nobody else's name.
        let has =
            |email: &str| canonical_email(email).is_ok_and(|email| holder.emails.contains(&email));
        let ok = || {
            Ok(Verified {
                principal: owner(),
                key_format,
                fingerprint: fingerprint.clone(),
            })
        };
        match &holder.principal {
            Principal::BootstrapAdmin { .. } => ok(),
            Principal::User(_) | Principal::ServiceAccount(_) => {
                if !has(&commit.author_email) {
                    return Err(NoIdentity::KeyOfAnotherPrincipal {
                        commit: commit_id(),
                        fingerprint: fingerprint.clone(),
                        key_owner: owner(),
                        author_email: shown(&commit.author_email),
                    });
                }
                if !has(&commit.committer_email) {
                    return Err(NoIdentity::CommitterNotAllowed {
                        commit: commit_id(),
                        principal: owner(),
                        committer_email: shown(&commit.committer_email),
                    });
                }
                ok()
            }
        }
    }
}

fn holder_bootstrap(fingerprint: &str) -> Holder {
    Holder {
        principal: Principal::BootstrapAdmin {
            fingerprint: fingerprint.to_owned(),
        },
        emails: Vec::new(),
        cannot_act: None,
        revoked: false,
        expires: None,
    }
}

/// The one principal a key is listed for, or [`NoIdentity::AmbiguousKey`].
fn one_holder<'h>(
    commit: &CommitEvidence,
    fingerprint: &str,
    holders: &'h [Holder],
) -> Result<&'h Holder, NoIdentity> {
    let mut principals: Vec<Principal> = holders.iter().map(|h| h.principal.clone()).collect();
    principals.sort();
    principals.dedup();
    match (holders.first(), principals.len()) {
        (Some(h), 1) => Ok(h),
        _ => Err(NoIdentity::AmbiguousKey {
            commit: commit.id.clone(),
            fingerprint: fingerprint.to_owned(),
            holders: principals,
        }),
    }
}
