//! A PATCH operation's `path` (RFC 7644 §3.5.2): `attr`, `attr.sub`,
//! `attr[filter]` or `attr[filter].sub`, optionally behind the resource's
//! core schema URN. A path into an extension lbops does not keep, or to
//! an attribute it does not keep, is [`Target::Ignored`].

use super::error::ScimError;
use super::filter::{strip_urn, ValueFilter};
use super::schema::{Attr, Origin, ResourceSchema, Type};

/// The longest path read, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An attribute lbops keeps.
    Attr {
        attr: &'static Attr,
        filter: Option<ValueFilter>,
        sub: Option<&'static Attr>,
    },
    /// One it drops, by the name the client used.
    Ignored(String),
}

pub fn parse(path: &str, schema: &ResourceSchema) -> Result<Target, ScimError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(ScimError::InvalidPath(format!(
            "the path is {} bytes; lbops reads paths of at most {MAX_PATH_BYTES}",
            path.len()
        )));
    }
    let path = path.trim();
    let Some(local) = strip_urn(path, schema) else {
        return Ok(Target::Ignored(path.to_owned()));
    };
    let (name, filter, sub) = match local.split_once('[') {
        Some((name, rest)) => {
            let (inside, after) = rest.split_once(']').ok_or_else(|| {
                ScimError::InvalidPath(format!("`{path}` opens `[` and never closes it"))
            })?;
            let sub = match after {
                "" => None,
                _ => Some(after.strip_prefix('.').ok_or_else(|| {
                    ScimError::InvalidPath(format!(
                        "`{path}`: after `]` comes nothing or `.` and a sub-attribute"
                    ))
                })?),
            };
            (name, Some(inside), sub)
        }
        None => match local.split_once('.') {
            Some((name, sub)) => (name, None, Some(sub)),
            None => (local, None, None),
        },
    };
    if ["id", "meta", "schemas"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
    {
        return Err(ScimError::Mutability(format!(
            "`{name}` is lbops' to set; leave it out of the PATCH"
        )));
    }
    let Some(attr) = schema.attr(name) else {
        return Ok(Target::Ignored(path.to_owned()));
    };
    if attr.origin == Origin::Computed {
        return Err(ScimError::Mutability(format!(
            "\"{}\" is read-only: lbops works it out{}",
            attr.name,
            if attr.name == "groups" {
                "; change a Group's members instead"
            } else {
                ""
            }
        )));
    }
    let filter = match filter {
        Some(text) => {
            if !attr.multi || !matches!(attr.ty, Type::Complex(_)) {
                return Err(ScimError::InvalidPath(format!(
                    "`{path}`: only a multi-valued attribute with sub-attributes takes a `[filter]`"
                )));
            }
            Some(ValueFilter::parse(text, attr)?)
        }
        None => None,
    };
    let sub = match sub {
        Some(sub) => {
            let found = attr.sub(sub).ok_or_else(|| {
                ScimError::InvalidPath(format!("\"{}\" has no sub-attribute `{sub}`", attr.name))
            })?;
            if found.origin == Origin::Computed {
                return Ok(Target::Ignored(path.to_owned()));
            }
            Some(found)
        }
        None => None,
    };
    Ok(Target::Attr { attr, filter, sub })
}
