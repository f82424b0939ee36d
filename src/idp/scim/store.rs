//! The directory the identity provider pushed: Users and Groups with
//! their kept attributes and when each changed, the Users it deleted (so
//! that a deleted person stays known as deleted), and a sequence number
//! that every change takes the next of. Changes are [`Delta`]s: worked
//! out from the store as it is (see `ops`), then applied, and undone
//! when they could not be kept on disk.
//!
//! Its file form is [`Store::to_json`] / [`Store::from_json`]; reading
//! checks everything a change would have checked, and a file that fails
//! is damaged, never silently trimmed.

use super::attrs::{self, Attrs, Ignored};
use super::schema::{ResourceSchema, GROUP, USER};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// The most Users a directory holds.
pub const MAX_USERS: usize = 100_000;
/// The most Groups a directory holds.
pub const MAX_GROUPS: usize = 10_000;
/// How many deleted Users are remembered (the oldest are forgotten).
pub const MAX_TOMBSTONES: usize = 10_000;
/// The file format written; another one is refused.
pub const FORMAT: u32 = 1;

/// A change's place in the directory's history: its sequence number
/// and when it was made (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub seq: u64,
    pub at: i64,
}

/// Which resource type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Kind {
    User,
    Group,
}

impl Kind {
    #[must_use]
    pub fn schema(self) -> &'static ResourceSchema {
        match self {
            Kind::User => &USER,
            Kind::Group => &GROUP,
        }
    }
}

/// A User or Group as kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    pub id: String,
    pub attrs: Attrs,
    pub created: Stamp,
    pub modified: Stamp,
    /// For a User, when `active` last changed (its creation, at first);
    /// for a Group, its creation.
    pub standing: Stamp,
}

impl Resource {
    /// `userName` or `displayName`.
    #[must_use]
    pub fn name(&self, kind: Kind) -> &str {
        self.attrs
            .get(kind.schema().naming())
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Whether a User may act: unless the identity provider said
    /// `active: false`.
    #[must_use]
    pub fn active(&self) -> bool {
        self.attrs.get("active") != Some(&Value::Bool(false))
    }

    /// The values of a multi-valued attribute's `value` sub-attribute.
    pub fn values<'a>(&'a self, attr: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.attrs
            .get(attr)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|item| item.get("value").and_then(Value::as_str))
    }

    #[must_use]
    pub fn external_id(&self) -> Option<&str> {
        self.attrs.get("externalId").and_then(Value::as_str)
    }

    /// The ETag of this version (`meta.version`).
    #[must_use]
    pub fn version(&self) -> String {
        format!("W/\"{}\"", self.modified.seq)
    }
}

/// A User the identity provider deleted, as it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tombstone {
    pub id: String,
    pub user_name: String,
    pub emails: Vec<String>,
    pub external_id: Option<String>,
    pub deleted: Stamp,
}

/// One resource's before and after in a [`Delta`].
#[derive(Clone, Debug, PartialEq)]
pub struct Put {
    pub kind: Kind,
    pub id: String,
    pub before: Option<Resource>,
    pub after: Option<Resource>,
}

/// What one call changes; empty when it changes nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Delta {
    pub stamp: Stamp,
    pub puts: Vec<Put>,
    pub tombstone: Option<Tombstone>,
}

impl Delta {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Store {
    seq: u64,
    users: BTreeMap<String, Resource>,
    groups: BTreeMap<String, Resource>,
    tombstones: VecDeque<Tombstone>,
    /// userName in lower case → the User's id.
    user_names: HashMap<String, String>,
    /// A User's id → the ids of the Groups it is a member of.
    member_of: HashMap<String, BTreeSet<String>>,
}

impl Store {
    /// The sequence number of the last change (0: none yet).
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The Users or the Groups, by id.
    #[must_use]
    pub fn all(&self, kind: Kind) -> &BTreeMap<String, Resource> {
        match kind {
            Kind::User => &self.users,
            Kind::Group => &self.groups,
        }
    }

    #[must_use]
    pub fn get(&self, kind: Kind, id: &str) -> Option<&Resource> {
        self.all(kind).get(id)
    }

    /// The User whose userName is `name`, in any case.
    #[must_use]
    pub fn user_named(&self, name: &str) -> Option<&Resource> {
        self.user_names
            .get(&name.to_lowercase())
            .and_then(|id| self.users.get(id))
    }

    /// The ids of the Groups the User `id` is a member of.
    pub fn groups_of<'a>(&'a self, id: &str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.member_of
            .get(id)
            .into_iter()
            .flatten()
            .filter_map(|group| self.groups.get(group))
    }

    /// Deleted Users, oldest first.
    pub fn tombstones(&self) -> impl Iterator<Item = &Tombstone> {
        self.tombstones.iter()
    }

    /// Makes `delta` so.
    pub fn apply(&mut self, delta: &Delta) {
        if delta.is_empty() {
            return;
        }
        for put in &delta.puts {
            self.set(put.kind, &put.id, put.after.clone());
        }
        if let Some(tombstone) = &delta.tombstone {
            self.tombstones.push_back(tombstone.clone());
            while self.tombstones.len() > MAX_TOMBSTONES {
                self.tombstones.pop_front();
            }
        }
        self.seq = delta.stamp.seq;
    }

    /// Takes back `delta`, the last change applied (one that could not
    /// be kept). A tombstone forgotten to make room for its own stays
    /// forgotten.
    pub fn undo(&mut self, delta: &Delta) {
        if delta.is_empty() {
            return;
        }
        for put in delta.puts.iter().rev() {
            self.set(put.kind, &put.id, put.before.clone());
        }
        if delta.tombstone.is_some() {
            self.tombstones.pop_back();
        }
        self.seq = delta.stamp.seq - 1;
    }

    fn set(&mut self, kind: Kind, id: &str, resource: Option<Resource>) {
        let old = match (kind, resource) {
            (Kind::User, Some(r)) => self.users.insert(id.to_owned(), r),
            (Kind::User, None) => self.users.remove(id),
            (Kind::Group, Some(r)) => self.groups.insert(id.to_owned(), r),
            (Kind::Group, None) => self.groups.remove(id),
        };
        match kind {
            Kind::User => {
                if let Some(old) = old {
                    self.user_names.remove(&old.name(kind).to_lowercase());
                }
                if let Some(new) = self.users.get(id) {
                    self.user_names
                        .insert(new.name(kind).to_lowercase(), id.to_owned());
                }
            }
            Kind::Group => {
                if let Some(old) = old {
                    for member in old.values("members") {
                        if let Some(groups) = self.member_of.get_mut(member) {
                            groups.remove(id);
                            if groups.is_empty() {
                                self.member_of.remove(member);
                            }
                        }
                    }
                }
                if let Some(new) = self.groups.get(id) {
                    for member in new.values("members") {
                        self.member_of
                            .entry(member.to_owned())
                            .or_default()
                            .insert(id.to_owned());
                    }
                }
            }
        }
    }

    /// The file form.
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Out<'a> {
            format: u32,
            seq: u64,
            users: Vec<&'a Resource>,
            groups: Vec<&'a Resource>,
            deleted: &'a VecDeque<Tombstone>,
        }
        serde_json::to_vec(&Out {
            format: FORMAT,
            seq: self.seq,
            users: self.users.values().collect(),
            groups: self.groups.values().collect(),
            deleted: &self.tombstones,
        })
        .unwrap_or_default()
    }

    /// Reads the file form, checking it as a change would have been
    /// checked; the error says what is wrong.
    pub fn from_json(bytes: &[u8]) -> Result<Store, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct In {
            format: u32,
            seq: u64,
            users: Vec<Resource>,
            groups: Vec<Resource>,
            #[serde(default)]
            deleted: VecDeque<Tombstone>,
        }
        let file: In = serde_json::from_slice(bytes).map_err(|e| format!("not its JSON: {e}"))?;
        if file.format != FORMAT {
            return Err(format!(
                "format {} is not the format {FORMAT} this lbops reads",
                file.format
            ));
        }
        if file.users.len() > MAX_USERS || file.groups.len() > MAX_GROUPS {
            return Err(format!(
                "{} Users and {} Groups, over the limits of {MAX_USERS} and {MAX_GROUPS}",
                file.users.len(),
                file.groups.len()
            ));
        }
        let mut store = Store {
            seq: file.seq,
            tombstones: file.deleted,
            ..Store::default()
        };
        for (kind, resources) in [(Kind::User, file.users), (Kind::Group, file.groups)] {
            for resource in resources {
                check(kind, &resource, file.seq)?;
                if store.get(Kind::User, &resource.id).is_some()
                    || store.get(Kind::Group, &resource.id).is_some()
                {
                    return Err(format!("the id {} is used twice", resource.id));
                }
                if kind == Kind::User && store.user_named(resource.name(kind)).is_some() {
                    return Err(format!(
                        "the userName {:?} is held by two Users",
                        resource.name(kind)
                    ));
                }
                if let Some(missing) = resource
                    .values("members")
                    .find(|m| store.get(Kind::User, m).is_none())
                {
                    return Err(format!(
                        "Group {} has the member {missing}, who is no User",
                        resource.id
                    ));
                }
                let id = resource.id.clone();
                store.set(kind, &id, Some(resource));
            }
        }
        Ok(store)
    }
}

/// A kept resource is what checking its attributes again keeps.
fn check(kind: Kind, resource: &Resource, seq: u64) -> Result<(), String> {
    let damaged = |why: String| format!("{:?} {}: {why}", kind, resource.id);
    if resource.id.is_empty() || resource.id.len() > 128 {
        return Err(damaged("its id is empty or too long".to_owned()));
    }
    let again = attrs::resource(
        kind.schema(),
        &Value::Object(resource.attrs.clone()),
        &mut Ignored::default(),
    )
    .map_err(|e| damaged(e.to_string()))?;
    if again != resource.attrs {
        return Err(damaged(
            "its attributes are not as lbops keeps them".to_owned(),
        ));
    }
    if [resource.created, resource.modified, resource.standing]
        .iter()
        .any(|stamp| stamp.seq > seq)
    {
        return Err(damaged(format!(
            "it changed after the directory's last change ({seq})"
        )));
    }
    Ok(())
}
