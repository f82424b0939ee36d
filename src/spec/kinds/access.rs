//! The access kinds: `Role`, `User`, `Group`, `ServiceAccount`.

use crate::spec::units::{Name, Timestamp};
use crate::spec::yaml::Spanned;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    #[serde(default)]
    pub description: Option<String>,
    pub rules: Vec<Rule>,
}

/// Allows `actions` on the resources matching `resources` (and `when`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Action names or patterns from the action catalogue: `pool.weights.update`, `pool.*`, `*`.
    pub actions: Vec<Spanned<String>>,
    /// Resource patterns `kind/name`, `*` in a name matching any run: `pool/*`, `loadbalancer/web-*`.
    pub resources: Vec<Spanned<String>>,
    pub when: Option<Condition>,
    /// The changes this rule covers need more than their author's
    /// signature: that many distinct principals who hold the permission
    /// must have signed for them (see [`Approvals`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvals: Option<Approvals>,
}

/// A k-of-n rule: the changes a rule covers are applied only when
/// `principals` different people (or ServiceAccounts) who hold the
/// permission have signed for them — the author's signed commit, and
/// signed approvals (`Lbops-Approves: <tree id>`) by the others. The
/// strictest rule of the trusted policy that covers a change sets the
/// number, whoever the author is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    /// How many distinct principals, the author included, must sign: 2 is
    /// the two-person rule (the author and one approver). At least 2, at
    /// most 9.
    pub principals: Spanned<u32>,
}

impl Approvals {
    /// The fewest principals a rule may ask for: 1 is what every change
    /// already needs (its author).
    pub const MIN: u32 = 2;
    /// The most: beyond this a rule asks for a committee, not a review.
    pub const MAX: u32 = 9;
}

/// Extra conditions: on the resource, its labels, checked before AND
/// after the change, so that relabelling cannot move a resource into
/// scope; on the person, their identity provider groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Identity provider groups (display names, any case) the person must
    /// be in at the time of the commit or call, e.g. `[sre-oncall]`; a
    /// ServiceAccount counts as its owner. They only narrow the rule: no
    /// IdP group grants a role. Without an identity provider pushing
    /// groups (SCIM), a rule with `idp_groups` allows nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idp_groups: Vec<Spanned<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    /// Commit author emails that are this person.
    pub emails: Vec<Spanned<String>>,
    #[serde(default)]
    pub signing_keys: Vec<Spanned<SigningKey>>,
    #[serde(default)]
    pub roles: Vec<Spanned<Name>>,
    #[serde(default)]
    pub groups: Vec<Spanned<Name>>,
    /// A deprovisioned user keeps the record (for the audit trail) but no permissions.
    #[serde(default)]
    pub disabled: bool,
}

/// A public key that signs commits: exactly one of `ssh` or `openpgp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningKey {
    /// An OpenSSH public key line: `ssh-ed25519 AAAA… comment`.
    pub ssh: Option<Spanned<String>>,
    /// An ASCII-armored OpenPGP public key block.
    pub openpgp: Option<Spanned<String>>,
    /// Signatures made after this time are not accepted.
    pub expires: Option<Timestamp>,
    /// A revoked key identifies nobody.
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    #[serde(default)]
    pub description: Option<String>,
    pub roles: Vec<Spanned<Name>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountSpec {
    /// The User answerable for this account.
    pub owner: Spanned<Name>,
    #[serde(default)]
    pub roles: Vec<Spanned<Name>>,
    /// Commit emails this account signs as (e.g. a forge's web-commit bot).
    #[serde(default)]
    pub emails: Vec<Spanned<String>>,
    #[serde(default)]
    pub signing_keys: Vec<Spanned<SigningKey>>,
    #[serde(default)]
    pub tokens: Vec<Token>,
}

/// An API token, stored only as a hash. `lbops token create` prints the
/// entry to add.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub name: Spanned<Name>,
    /// The token's public id (12 of `[a-z0-9]`, the part after `lbops_`):
    /// what logs, audit records and pages name it by, and how the daemon
    /// finds this entry for a presented token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Spanned<String>>,
    /// `sha256:<64 hex>` or an argon2 PHC string; never the token itself.
    pub hash: Spanned<String>,
    pub expires: Spanned<Timestamp>,
    /// When it was created (as `lbops token create` wrote it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<Spanned<Timestamp>>,
    /// Actions (or patterns) this token may use. They only narrow the
    /// account's roles: a call needs both.
    #[serde(default)]
    pub scopes: Vec<Spanned<String>>,
    /// Resources (`kind/name` patterns, e.g. `pool/web-*`) this token may
    /// touch; none listed means whatever the account's roles allow.
    #[serde(default)]
    pub resources: Vec<Spanned<String>>,
}
