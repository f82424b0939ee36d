//! The four changes a client asks for — create, replace, patch, delete —
//! as functions of the store: each checks what needs the whole directory
//! (a userName is unique, a member is a User, the limits) and answers
//! with the [`Delta`] to apply and a [`Change`] that says what it does,
//! for the audit record. Nothing here writes.

use super::attrs::{self, Attrs, Ignored};
use super::error::ScimError;
use super::patch;
use super::schema::MAX_MEMBERS;
use super::store::{Delta, Kind, Put, Resource, Stamp, Store, Tombstone, MAX_GROUPS, MAX_USERS};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

/// The most member ids a [`Change`] lists each way (the counts are whole).
pub const MAX_LISTED_MEMBERS: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Replaced,
    Patched,
    Deleted,
}

/// What one call changed, for the audit record and the log: names and
/// ids, never values beyond `active`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub resource_type: Kind,
    pub id: String,
    pub action: Action,
    /// `userName` or `displayName`.
    pub name: String,
    /// The attributes whose values changed (none: the call changed nothing).
    pub attributes: Vec<String>,
    /// For a User whose `active` changed: what it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members_removed: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub members_added_count: usize,
    #[serde(skip_serializing_if = "is_zero")]
    pub members_removed_count: usize,
    /// Groups a deleted User was taken out of.
    #[serde(skip_serializing_if = "is_zero")]
    pub left_groups: usize,
    /// Attributes the call sent that lbops does not keep.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
    /// The directory's sequence number after the change (0: no change).
    pub seq: u64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A change worked out: apply `delta`, record `change`.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub delta: Delta,
    pub change: Change,
}

impl Planned {
    /// The resource as it is after the change (`None` once deleted).
    #[must_use]
    pub fn after(&self) -> Option<&Resource> {
        self.delta.puts.first().and_then(|p| p.after.as_ref())
    }
}

/// An `If-Match` a client sent: the version it expects the resource at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition<'a> {
    None,
    IfMatch(&'a str),
}

impl Store {
    /// POST: a new resource with the id `id` (made by the caller).
    pub fn create(
        &self,
        kind: Kind,
        id: String,
        body: &Value,
        at: i64,
    ) -> Result<Planned, ScimError> {
        let limit = match kind {
            Kind::User => MAX_USERS,
            Kind::Group => MAX_GROUPS,
        };
        if self.all(kind).len() >= limit {
            return Err(ScimError::TooLarge(format!(
                "the directory holds {limit} {kind:?}s, lbops' limit; delete some first"
            )));
        }
        let mut ignored = Ignored::default();
        let attrs = attrs::resource(kind.schema(), body, &mut ignored)?;
        let stamp = self.next(at);
        let resource = Resource {
            id: id.clone(),
            attrs,
            created: stamp,
            modified: stamp,
            standing: stamp,
        };
        self.fits(kind, &resource)?;
        Ok(self.planned(kind, Action::Created, None, Some(resource), stamp, ignored))
    }

    /// PUT: every attribute as given (read-only ones stay lbops').
    pub fn replace(
        &self,
        kind: Kind,
        id: &str,
        body: &Value,
        at: i64,
        precondition: Precondition<'_>,
    ) -> Result<Planned, ScimError> {
        let before = self.existing(kind, id, precondition)?;
        let mut ignored = Ignored::default();
        let attrs = attrs::resource(kind.schema(), body, &mut ignored)?;
        self.updated(kind, Action::Replaced, before, attrs, at, ignored)
    }

    /// PATCH: the operations of a PatchOp body, all or none.
    pub fn patch(
        &self,
        kind: Kind,
        id: &str,
        body: &Value,
        at: i64,
        precondition: Precondition<'_>,
    ) -> Result<Planned, ScimError> {
        let before = self.existing(kind, id, precondition)?;
        let mut ignored = Ignored::default();
        let attrs = patch::apply(kind.schema(), &before.attrs, body, &mut ignored)?;
        self.updated(kind, Action::Patched, before, attrs, at, ignored)
    }

    /// DELETE; a deleted User leaves its Groups and is remembered as
    /// deleted.
    pub fn delete(
        &self,
        kind: Kind,
        id: &str,
        at: i64,
        precondition: Precondition<'_>,
    ) -> Result<Planned, ScimError> {
        let before = self.existing(kind, id, precondition)?.clone();
        let stamp = self.next(at);
        let mut planned = self.planned(
            kind,
            Action::Deleted,
            Some(before.clone()),
            None,
            stamp,
            Ignored::default(),
        );
        if kind == Kind::User {
            for group in self.groups_of(id) {
                let mut after = group.clone();
                if let Some(Value::Array(members)) = after.attrs.get_mut("members") {
                    members.retain(|m| m.get("value").and_then(Value::as_str) != Some(id));
                    if members.is_empty() {
                        after.attrs.remove("members");
                    }
                }
                after.modified = stamp;
                planned.delta.puts.push(Put {
                    kind: Kind::Group,
                    id: group.id.clone(),
                    before: Some(group.clone()),
                    after: Some(after),
                });
                planned.change.left_groups += 1;
            }
            planned.delta.tombstone = Some(Tombstone {
                id: id.to_owned(),
                user_name: before.name(kind).to_owned(),
                emails: before.values("emails").map(str::to_owned).collect(),
                external_id: before.external_id().map(str::to_owned),
                deleted: stamp,
            });
        }
        Ok(planned)
    }

    fn next(&self, at: i64) -> Stamp {
        Stamp {
            seq: self.seq() + 1,
            at,
        }
    }

    fn existing(
        &self,
        kind: Kind,
        id: &str,
        precondition: Precondition<'_>,
    ) -> Result<&Resource, ScimError> {
        let resource = self.get(kind, id).ok_or_else(|| {
            ScimError::NotFound(format!(
                "no {kind:?} has the id {id:?}; list {} to find it",
                kind.schema().endpoint
            ))
        })?;
        match precondition {
            Precondition::IfMatch(want)
                if want.trim() != "*"
                    && !want.split(',').any(|v| v.trim() == resource.version()) =>
            {
                Err(ScimError::PreconditionFailed(format!(
                    "the {kind:?} is at version {}, not {want}; read it again and retry",
                    resource.version()
                )))
            }
            _ => Ok(resource),
        }
    }

    fn updated(
        &self,
        kind: Kind,
        action: Action,
        before: &Resource,
        attrs: Attrs,
        at: i64,
        ignored: Ignored,
    ) -> Result<Planned, ScimError> {
        if attrs == before.attrs {
            let mut planned = self.planned(
                kind,
                action,
                Some(before.clone()),
                Some(before.clone()),
                Stamp { seq: 0, at },
                ignored,
            );
            planned.delta.puts.clear();
            return Ok(planned);
        }
        let stamp = self.next(at);
        let after = Resource {
            id: before.id.clone(),
            standing: if before.active() == Resource::active_of(&attrs) {
                before.standing
            } else {
                stamp
            },
            attrs,
            created: before.created,
            modified: stamp,
        };
        self.fits(kind, &after)?;
        Ok(self.planned(
            kind,
            action,
            Some(before.clone()),
            Some(after),
            stamp,
            ignored,
        ))
    }

    /// What needs the whole directory: a userName held once, members
    /// that are Users of it.
    fn fits(&self, kind: Kind, resource: &Resource) -> Result<(), ScimError> {
        match kind {
            Kind::User => match self.user_named(resource.name(kind)) {
                Some(other) if other.id != resource.id => Err(ScimError::Uniqueness(format!(
                    "the userName {:?} is another User's ({}); userNames are unique in any case",
                    resource.name(kind),
                    other.id
                ))),
                _ => Ok(()),
            },
            Kind::Group => {
                let mut seen = 0usize;
                for member in resource.values("members") {
                    seen += 1;
                    if self.get(Kind::User, member).is_none() {
                        let why = if self.get(Kind::Group, member).is_some() {
                            "is a Group: lbops keeps no nested groups; add its Users instead"
                        } else {
                            "is no User of this directory; create the User first"
                        };
                        let shown: String = member.chars().take(64).collect();
                        return Err(ScimError::InvalidValue(format!(
                            "the member {shown:?} {why}"
                        )));
                    }
                }
                if seen > MAX_MEMBERS {
                    return Err(ScimError::TooLarge(format!(
                        "a Group holds at most {MAX_MEMBERS} members in lbops"
                    )));
                }
                Ok(())
            }
        }
    }

    fn planned(
        &self,
        kind: Kind,
        action: Action,
        before: Option<Resource>,
        after: Option<Resource>,
        stamp: Stamp,
        ignored: Ignored,
    ) -> Planned {
        let named = after.as_ref().or(before.as_ref());
        let id = named.map(|r| r.id.clone()).unwrap_or_default();
        let name = named.map(|r| r.name(kind).to_owned()).unwrap_or_default();
        let empty = Attrs::new();
        let (old, new) = (
            before.as_ref().map_or(&empty, |r| &r.attrs),
            after.as_ref().map_or(&empty, |r| &r.attrs),
        );
        let attributes: Vec<String> = old
            .keys()
            .chain(new.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|k| old.get(*k) != new.get(*k))
            .cloned()
            .collect();
        let active = match (kind, &before, &after) {
            (Kind::User, Some(b), Some(a)) if b.active() != a.active() => Some(a.active()),
            (Kind::User, None, Some(a)) => Some(a.active()),
            (Kind::User, Some(_), None) => Some(false),
            _ => None,
        };
        let ids = |r: &Option<Resource>| -> BTreeSet<String> {
            r.as_ref()
                .map(|r| r.values("members").map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let (was, is) = (ids(&before), ids(&after));
        let added: Vec<&String> = is.difference(&was).collect();
        let removed: Vec<&String> = was.difference(&is).collect();
        let listed = |all: &[&String]| {
            all.iter()
                .take(MAX_LISTED_MEMBERS)
                .map(|s| (*s).clone())
                .collect()
        };
        Planned {
            change: Change {
                resource_type: kind,
                id: id.clone(),
                action,
                name,
                attributes,
                active,
                members_added: listed(&added),
                members_removed: listed(&removed),
                members_added_count: added.len(),
                members_removed_count: removed.len(),
                left_groups: 0,
                ignored: ignored.names().to_vec(),
                seq: stamp.seq,
            },
            delta: Delta {
                stamp,
                puts: vec![Put {
                    kind,
                    id,
                    before,
                    after,
                }],
                tombstone: None,
            },
        }
    }
}

impl Resource {
    fn active_of(attrs: &Attrs) -> bool {
        attrs.get("active") != Some(&Value::Bool(false))
    }
}
