//! Checks on the access kinds: Role, User, Group, ServiceAccount.

use super::{Reporter, Sink};
use crate::spec::actions;
use crate::spec::diagnostic::Code;
use crate::spec::kinds::access::SigningKey;
use crate::spec::kinds::{Kind, Resource};
use crate::spec::material::{self, KeyFormat};
use crate::spec::units::canonical_email;
use crate::spec::yaml::{Pos, Spanned};
use crate::spec::Catalog;
use std::collections::BTreeMap;

pub(super) fn check(catalog: &Catalog, out: &mut Sink) {
    for role in catalog.roles.values() {
        let mut r = Reporter::new(Kind::Role, role, out);
        for rule in &role.spec.rules {
            for action in &rule.actions {
                action_pattern(&mut r, action);
            }
            for pattern in &rule.resources {
                resource_pattern(&mut r, pattern);
            }
            for group in rule.when.iter().flat_map(|w| &w.idp_groups) {
                idp_group(&mut r, group);
            }
            if let Some(approvals) = &rule.approvals {
                approvals_count(&mut r, &approvals.principals);
            }
        }
    }
    for group in catalog.groups.values() {
        let mut r = Reporter::new(Kind::Group, group, out);
        for role in &group.spec.roles {
            r.reference(Kind::Role, role, &catalog.roles);
        }
    }

    // Emails and keys must each identify one principal across Users and
    // ServiceAccounts: the first definition (in file order) is named.
    let mut emails = Claims::default();
    let mut keys = Claims::default();
    // Token ids name one token across every account: the daemon finds a
    // presented token's entry by its id.
    let mut token_ids: BTreeMap<String, (String, Pos)> = BTreeMap::new();
    for user in catalog.users.values() {
        let mut r = Reporter::new(Kind::User, user, out);
        if user.spec.emails.is_empty() {
            r.error(
                user.origin.pos,
                Code::MissingField,
                "a User needs at least one email",
                "add the email this person commits with under `emails:`",
            );
        }
        for role in &user.spec.roles {
            r.reference(Kind::Role, role, &catalog.roles);
        }
        for group in &user.spec.groups {
            r.reference(Kind::Group, group, &catalog.groups);
        }
        principal(
            &mut r,
            user,
            &user.spec.emails,
            &user.spec.signing_keys,
            &mut emails,
            &mut keys,
        );
    }
    for account in catalog.service_accounts.values() {
        let mut r = Reporter::new(Kind::ServiceAccount, account, out);
        r.reference(Kind::User, &account.spec.owner, &catalog.users);
        if catalog
            .users
            .get(account.spec.owner.value.as_str())
            .is_some_and(|u| u.spec.disabled)
        {
            r.error(
                account.spec.owner.pos,
                Code::InvalidOwner,
                format!("owner `{}` is disabled", account.spec.owner.value),
                "hand the account to an active User, or delete it",
            );
        }
        for role in &account.spec.roles {
            r.reference(Kind::Role, role, &catalog.roles);
        }
        principal(
            &mut r,
            account,
            &account.spec.emails,
            &account.spec.signing_keys,
            &mut emails,
            &mut keys,
        );
        r.unique_names("token", account.spec.tokens.iter().map(|t| &t.name));
        for token in &account.spec.tokens {
            if let Err(e) = material::parse_token_hash(&token.hash.value) {
                r.error(token.hash.pos, Code::BadTokenHash, format!("token `{}`: {e}", token.name), "store `sha256:<hex of the token's SHA-256>` or an argon2id PHC string, never the token");
            }
            for scope in &token.scopes {
                action_pattern(&mut r, scope);
            }
            for pattern in &token.resources {
                resource_pattern(&mut r, pattern);
            }
            if let Some(id) = &token.id {
                let holder = format!("serviceaccount/{} token `{}`", account.name, token.name);
                if let Err(e) = material::api_token::TokenId::parse(&id.value) {
                    r.error(
                        id.pos,
                        Code::BadTokenId,
                        format!("token `{}`: {e}", token.name),
                        "copy the `id:` line `lbops token create` printed with the token",
                    );
                } else if let Some((first, at)) = token_ids.get(&id.value) {
                    r.error(
                        id.pos,
                        Code::BadTokenId,
                        format!(
                            "token id `{}` is also {first}'s (line {})",
                            id.value, at.line
                        ),
                        "every token has its own id: create a new token with `lbops token create`",
                    );
                } else {
                    token_ids.insert(id.value.clone(), (holder, id.pos));
                }
            }
        }
    }
}

/// Which principal first claimed an email or a key, and where.
#[derive(Default)]
struct Claims(BTreeMap<String, (String, Pos)>);

impl Claims {
    /// Records a claim; returns the earlier holder when someone else has it.
    fn claim(&mut self, value: String, holder: &str, pos: Pos) -> Option<(String, Pos)> {
        match self.0.get(&value) {
            Some((first, at)) if first != holder => Some((first.clone(), *at)),
            Some(_) => None,
            None => {
                self.0.insert(value, (holder.to_owned(), pos));
                None
            }
        }
    }
}

fn principal<S>(
    r: &mut Reporter<'_>,
    resource: &Resource<S>,
    emails: &[Spanned<String>],
    signing_keys: &[Spanned<SigningKey>],
    email_claims: &mut Claims,
    key_claims: &mut Claims,
) {
    let holder = format!("{}/{}", r.kind.id_prefix(), resource.name);
    for email in emails {
        let canonical = match canonical_email(&email.value) {
            Ok(canonical) => canonical,
            Err(problem) => {
                r.error(
                    email.pos,
                    Code::InvalidValue,
                    problem,
                    "write the address this person commits with, exactly, e.g. `alice@example.test`",
                );
                continue;
            }
        };
        if let Some((first, at)) = email_claims.claim(canonical, &holder, email.pos) {
            r.error(
                email.pos,
                Code::DuplicateEmail,
                format!(
                    "email `{}` also belongs to {first} (line {})",
                    email.value, at.line
                ),
                "an email identifies one principal; remove it from one of them",
            );
        }
    }
    for key in signing_keys {
        let parsed = match (&key.value.ssh, &key.value.openpgp) {
            (Some(ssh), None) => {
                material::parse_ssh_public_key(&ssh.value).map_err(|e| (ssh.pos, e.to_string()))
            }
            (None, Some(pgp)) => {
                material::parse_openpgp_public_key(&pgp.value).map_err(|e| (pgp.pos, e.to_string()))
            }
            _ => {
                r.error(key.pos, Code::BadSigningKey, "a signing key needs exactly one of `ssh` or `openpgp`", "write `- ssh: ssh-ed25519 AAAA…` or `- openpgp: |` with the armored public key");
                continue;
            }
        };
        match parsed {
            Err((pos, message)) => r.error(
                pos,
                Code::BadSigningKey,
                format!("signing key does not parse: {message}"),
                "paste the PUBLIC key: `ssh-keygen -y -f KEY` or `gpg --export --armor EMAIL`",
            ),
            Ok(info) => {
                let format = match info.format {
                    KeyFormat::Ssh => "ssh",
                    KeyFormat::OpenPgp => "openpgp",
                };
                if let Some((first, at)) =
                    key_claims.claim(format!("{format}:{}", info.fingerprint), &holder, key.pos)
                {
                    r.error(
                        key.pos,
                        Code::DuplicateSigningKey,
                        format!("signing key {} is also listed for {first} (line {})", info.fingerprint, at.line),
                        "a key identifies one principal; a shared key (such as a forge's web-commit key) belongs to a ServiceAccount with narrow roles",
                    );
                }
            }
        }
    }
}

fn action_pattern(r: &mut Reporter<'_>, pattern: &Spanned<String>) {
    if !actions::expand(&pattern.value).is_empty() {
        return;
    }
    let names: Vec<&str> = actions::CATALOGUE.iter().map(|a| a.name).collect();
    let mut message = format!("unknown action `{}`", pattern.value);
    if let Some(s) = crate::spec::yaml::de::closest(&pattern.value, &names) {
        message.push_str(&format!("; did you mean `{s}`?"));
    }
    r.error(pattern.pos, Code::UnknownAction, message, "use an action from the README's action table (`lbops actions`), or a pattern such as `pool.*`");
}

pub(super) fn resource_pattern(r: &mut Reporter<'_>, pattern: &Spanned<String>) {
    let text = pattern.value.as_str();
    if !crate::spec::kinds::is_resource_pattern(text) {
        let prefixes: Vec<&str> = Kind::ALL.iter().map(|k| k.id_prefix()).collect();
        r.error(
            pattern.pos,
            Code::BadResourcePattern,
            format!("`{text}` is not a resource pattern"),
            format!("write `KIND/NAME` where KIND is one of {} or `*`, and NAME may use `*`, e.g. `pool/web-*`", prefixes.join(", ")),
        );
    }
}

/// A rule's approvals ask for 2 to 9 principals: 1 is the author alone,
/// which every change needs anyway, so writing it would look like a
/// safeguard that is not one.
fn approvals_count(r: &mut Reporter<'_>, principals: &Spanned<u32>) {
    use crate::spec::kinds::access::Approvals;
    let n = principals.value;
    if (Approvals::MIN..=Approvals::MAX).contains(&n) {
        return;
    }
    let hint = if n < Approvals::MIN {
        "write `approvals: {principals: 2}` for the two-person rule (the author and one approver), or remove `approvals:` if the author alone may make these changes"
    } else {
        "ask for fewer principals; at most 9 can be required"
    };
    r.error(
        principals.pos,
        Code::InvalidValue,
        format!(
            "`approvals.principals` is {n}; it counts the author and the approvers, from {} to {}",
            Approvals::MIN,
            Approvals::MAX
        ),
        hint,
    );
}

/// An IdP group is named as the identity provider names it; a blank
/// name would match no group, so the rule would silently allow nothing.
fn idp_group(r: &mut Reporter<'_>, group: &Spanned<String>) {
    if group.value.trim().is_empty() || group.value.trim() != group.value {
        r.error(
            group.pos,
            Code::InvalidValue,
            format!("`{}` is not an identity provider group name", group.value),
            "write the group's display name as the identity provider pushes it over SCIM, without surrounding spaces, e.g. `sre-oncall`",
        );
    }
}
