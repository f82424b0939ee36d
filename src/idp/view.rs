//! The directory as the rest of lbops reads it: one immutable value per
//! change (share it in an `Arc`), with lookups by email. It says what
//! the identity provider said, and when: a deactivated or deleted person
//! stays known as such, with the change that made them so, so that later
//! checks can refuse what they did after it.

use super::scim::{Kind, Stamp, Store};
use std::collections::HashMap;

/// Where a person stands with the identity provider. Ordered from least
/// to most access: where two Users answer to one email, the lesser wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Standing {
    /// Deleted by the identity provider.
    Deleted,
    /// `active: false`.
    Deactivated,
    Active,
}

/// One person, as the identity provider pushed them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpUser {
    /// The SCIM id lbops gave them.
    pub id: String,
    pub user_name: String,
    pub external_id: Option<String>,
    pub emails: Vec<String>,
    pub standing: Standing,
    /// When the standing last changed, and by which change of the
    /// directory (its sequence number, also in the `scim_call` audit
    /// record): creation, deactivation, reactivation or deletion.
    pub changed: Stamp,
    groups: Vec<usize>,
}

/// One group, with its members' SCIM ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpGroup {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<String>,
}

/// The directory after one change; see the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryView {
    seq: u64,
    users: Vec<IdpUser>,
    groups: Vec<IdpGroup>,
    /// A userName or email in lower case → the Users answering to it.
    by_key: HashMap<String, Vec<usize>>,
}

impl DirectoryView {
    /// The view of `store`.
    #[must_use]
    pub fn of(store: &Store) -> DirectoryView {
        let groups: Vec<IdpGroup> = store
            .all(Kind::Group)
            .values()
            .map(|g| IdpGroup {
                id: g.id.clone(),
                display_name: g.name(Kind::Group).to_owned(),
                external_id: g.external_id().map(str::to_owned),
                members: g.values("members").map(str::to_owned).collect(),
            })
            .collect();
        let group_index: HashMap<&str, usize> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.as_str(), i))
            .collect();
        let live = store.all(Kind::User).values().map(|u| IdpUser {
            id: u.id.clone(),
            user_name: u.name(Kind::User).to_owned(),
            external_id: u.external_id().map(str::to_owned),
            emails: u.values("emails").map(str::to_owned).collect(),
            standing: if u.active() {
                Standing::Active
            } else {
                Standing::Deactivated
            },
            changed: u.standing,
            groups: store
                .groups_of(&u.id)
                .filter_map(|g| group_index.get(g.id.as_str()).copied())
                .collect(),
        });
        let deleted = store.tombstones().map(|t| IdpUser {
            id: t.id.clone(),
            user_name: t.user_name.clone(),
            external_id: t.external_id.clone(),
            emails: t.emails.clone(),
            standing: Standing::Deleted,
            changed: t.deleted,
            groups: Vec::new(),
        });
        let users: Vec<IdpUser> = live.chain(deleted).collect();
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, user) in users.iter().enumerate() {
            let mut keys: Vec<String> = std::iter::once(&user.user_name)
                .chain(&user.emails)
                .map(|k| k.to_lowercase())
                .collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                by_key.entry(key).or_default().push(i);
            }
        }
        DirectoryView {
            seq: store.seq(),
            users,
            groups,
            by_key,
        }
    }

    /// The sequence number of the last change it holds (0: none).
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The person whose userName or one of whose emails is `email`, in
    /// any case. A User the directory holds wins over one it deleted;
    /// among several it holds, the one with the least access (a
    /// deactivated one over an active one); among deleted ones, the last
    /// deleted.
    #[must_use]
    pub fn user_by_email(&self, email: &str) -> Option<&IdpUser> {
        let candidates = self.by_key.get(&email.to_lowercase())?;
        let users = candidates.iter().map(|&i| &self.users[i]);
        users
            .clone()
            .filter(|u| u.standing != Standing::Deleted)
            .min_by_key(|u| (u.standing, u.changed.seq))
            .or_else(|| users.max_by_key(|u| u.changed.seq))
    }

    /// The Groups `user` is a member of.
    pub fn groups_of<'a>(&'a self, user: &'a IdpUser) -> impl Iterator<Item = &'a IdpGroup> + 'a {
        user.groups.iter().map(|&i| &self.groups[i])
    }

    /// Every person, the deleted ones after those the directory holds.
    pub fn users(&self) -> impl Iterator<Item = &IdpUser> {
        self.users.iter()
    }

    pub fn groups(&self) -> impl Iterator<Item = &IdpGroup> {
        self.groups.iter()
    }
}
