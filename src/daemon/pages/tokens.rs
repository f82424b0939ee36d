//! What the tokens page lists: every API token of the trusted policy, its
//! use as the daemon counted it, and what about it needs someone's look
//! (expired, expiring soon, unused). An owner who cannot answer for an
//! account needs no flag: such a policy does not validate, so it is never
//! the trusted one.
//! A pure function of the policy, the counts and "now", so the flags are
//! tested at fixed times; the page ([`render::tokens`](super::render::tokens))
//! only draws the rows.
//!
//! Neither a hash nor a secret is read here: a row holds the entry's id,
//! name, scopes, resources and dates, nothing else of it.

use crate::daemon::api::usage::{TokenUsage, Use};
use crate::idp::{user_standing, Idp};
use crate::spec::material::api_token::TokenId;
use crate::spec::units::Name;
use crate::spec::Catalog;

const DAY: i64 = 24 * 60 * 60;

/// A token not used for this long (or never, and created this long ago)
/// is flagged: a credential nobody uses is one to revoke.
pub const UNUSED_AFTER: i64 = 30 * DAY;

/// A token expiring within this long is flagged, so that it is replaced
/// before a pipeline fails on it.
pub const EXPIRING_WITHIN: i64 = 14 * DAY;

/// What about a token needs a look, most urgent first (the order rows are
/// sorted by).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flag {
    /// The identity provider deprovisioned the account's owner: every
    /// call with it is refused until they are re-activated. The
    /// `headline` says when and by which SCIM event.
    OwnerDeprovisioned { headline: String },
    /// Its expiry has passed: every call with it is refused.
    Expired { at: i64 },
    /// It expires within [`EXPIRING_WITHIN`].
    Expiring { at: i64 },
    /// Not used for [`UNUSED_AFTER`]: last used at `last`, or never
    /// (since the daemon counted) and created over that long ago.
    Unused { last: Option<i64> },
}

/// One token of the policy, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub account: Name,
    pub owner: Name,
    pub name: Name,
    /// `None` for an entry without an id, which no call can present.
    pub id: Option<String>,
    pub scopes: Vec<String>,
    pub resources: Vec<String>,
    pub expires: i64,
    pub created: Option<i64>,
    pub used: Use,
    /// Most urgent first; empty when nothing needs a look.
    pub flags: Vec<Flag>,
}

/// The flags of a token that expires at `expires`, was created at
/// `created` and last used at `last`, as of `now`.
#[must_use]
pub fn flags(expires: i64, created: Option<i64>, last: Option<i64>, now: i64) -> Vec<Flag> {
    if expires <= now {
        // Whether it is also unused no longer matters: it cannot be used.
        return vec![Flag::Expired { at: expires }];
    }
    let mut flags = Vec::new();
    if expires - now <= EXPIRING_WITHIN {
        flags.push(Flag::Expiring { at: expires });
    }
    let unused = match (last, created) {
        (Some(last), _) => now - last >= UNUSED_AFTER,
        (None, Some(created)) => now - created >= UNUSED_AFTER,
        // Neither used nor dated: nothing says how long it has been idle.
        (None, None) => false,
    };
    if unused {
        flags.push(Flag::Unused { last });
    }
    flags
}

/// Every token of `policy` with its use in `usage`, as of `now`: flagged
/// ones first (most urgent flag first), then by account and name.
#[must_use]
pub fn rows(policy: &Catalog, idp: Idp<'_>, usage: &TokenUsage, now: i64) -> Vec<TokenRow> {
    let mut rows: Vec<TokenRow> = policy
        .service_accounts
        .values()
        .flat_map(|account| {
            let owner = &account.spec.owner.value;
            account.spec.tokens.iter().map(move |token| {
                let id = token.id.as_ref().map(|id| id.value.clone());
                let used = id
                    .as_deref()
                    .and_then(|id| TokenId::parse(id).ok())
                    .map(|id| usage.of(&id))
                    .unwrap_or_default();
                let expires = token.expires.value.unix();
                let created = token.created.as_ref().map(|c| c.value.unix());
                let deprovisioned = user_standing(idp, policy, owner.as_str()).err().map(|d| {
                    Flag::OwnerDeprovisioned {
                        headline: d.headline(),
                    }
                });
                let flags = deprovisioned
                    .into_iter()
                    .chain(flags(expires, created, used.last.map(|(at, _)| at), now))
                    .collect();
                TokenRow {
                    account: account.name.clone(),
                    owner: owner.clone(),
                    name: token.name.value.clone(),
                    id,
                    scopes: token.scopes.iter().map(|s| s.value.clone()).collect(),
                    resources: token.resources.iter().map(|r| r.value.clone()).collect(),
                    expires,
                    created,
                    used,
                    flags,
                }
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.flags.is_empty(), a.flags.first(), &a.account, &a.name).cmp(&(
            b.flags.is_empty(),
            b.flags.first(),
            &b.account,
            &b.name,
        ))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{load, Options, SourceFile};
    use std::net::SocketAddr;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn expired_expiring_and_unused_are_flagged_at_their_edges() {
        let fresh = Some(NOW - DAY);
        // Expired at or before now; nothing else is said of it.
        assert_eq!(flags(NOW, None, None, NOW), [Flag::Expired { at: NOW }]);
        assert_eq!(
            flags(NOW - 1, Some(NOW - 400 * DAY), None, NOW),
            [Flag::Expired { at: NOW - 1 }]
        );
        // Expiring within 14 days, not a second later.
        let soon = NOW + EXPIRING_WITHIN;
        assert_eq!(flags(soon, fresh, None, NOW), [Flag::Expiring { at: soon }]);
        assert_eq!(flags(soon + 1, fresh, None, NOW), []);
        // Used 30 days ago: unused; a second less: not.
        let last = NOW - UNUSED_AFTER;
        let far = NOW + 400 * DAY;
        assert_eq!(
            flags(far, fresh, Some(last), NOW),
            [Flag::Unused { last: Some(last) }]
        );
        assert_eq!(flags(far, fresh, Some(last + 1), NOW), []);
        // Never used: unused once created 30 days ago, and never without a date.
        assert_eq!(
            flags(far, Some(NOW - UNUSED_AFTER), None, NOW),
            [Flag::Unused { last: None }]
        );
        assert_eq!(flags(far, Some(NOW - UNUSED_AFTER + 1), None, NOW), []);
        assert_eq!(flags(far, None, None, NOW), []);
        // Both: expiring first.
        assert_eq!(
            flags(soon, Some(NOW - 100 * DAY), None, NOW),
            [Flag::Expiring { at: soon }, Flag::Unused { last: None }]
        );
    }

    fn entry(name: &str, id: &str, expires: &str, created: &str) -> String {
        format!(
            "    - {{name: {name}, id: {id}, hash: 'sha256:{}', expires: {expires}, created: {created}, \
             scopes: [pool.targets.update], resources: ['pool/web']}}\n",
            "ab".repeat(32)
        )
    }

    fn policy() -> Catalog {
        let text = format!(
            "kind: User
name: alice
spec: {{emails: [alice@example.test]}}
---
kind: ServiceAccount
name: deploy-bot
spec:
  owner: alice
  tokens:
{}{}{}{}",
            entry("busy", "aaaaaaaaaaaa", "2027-12-01", "2026-12-01"),
            entry("idle", "bbbbbbbbbbbb", "2027-12-01", "2026-12-01"),
            entry("ending", "cccccccccccc", "2027-01-20", "2027-01-01"),
            entry("gone", "dddddddddddd", "2027-01-01", "2026-12-01"),
        );
        load(&[SourceFile::new("access.yaml", text)], &Options::at(NOW))
            .unwrap_or_else(|e| panic!("{:#?}", e.diagnostics))
            .catalog
    }

    #[test]
    fn rows_list_every_token_with_its_use_flagged_ones_first() {
        // 2027-01-15: gone has expired, ending expires within 14 days.
        let now = 1_799_971_200;
        let usage = TokenUsage::default();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let busy = TokenId::parse("aaaaaaaaaaaa").unwrap();
        usage.record(Some(&busy), false, now - DAY, peer);
        usage.record(Some(&busy), true, now - 60, peer);
        let rows = rows(&policy(), Idp::Absent, &usage, now);
        let order: Vec<(&str, Vec<&Flag>)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.flags.iter().collect()))
            .collect();
        assert_eq!(
            order,
            [
                ("gone", vec![&Flag::Expired { at: 1_798_761_600 }]),
                ("ending", vec![&Flag::Expiring { at: 1_800_403_200 }]),
                ("idle", vec![&Flag::Unused { last: None }]),
                ("busy", vec![]),
            ]
        );
        let busy = rows.iter().find(|r| r.name.as_str() == "busy").unwrap();
        assert_eq!(
            busy.used,
            Use {
                last: Some((now - 60, peer)),
                calls: 2,
                refused: 1
            }
        );
        assert_eq!(busy.account.as_str(), "deploy-bot");
        assert_eq!(busy.owner.as_str(), "alice");
        assert_eq!(busy.id.as_deref(), Some("aaaaaaaaaaaa"));
        assert_eq!(busy.scopes, ["pool.targets.update"]);
        assert_eq!(busy.resources, ["pool/web"]);
        assert_eq!(busy.created, Some(1_796_083_200));
    }
}
