//! PATCH (RFC 7644 §3.5.2) over a resource's kept attributes, in the
//! shapes identity providers send:
//!
//! * Okta: `{"op":"replace","value":{"active":false}}` (no path),
//!   `{"op":"remove","path":"members[value eq \"…\"]"}`;
//! * Microsoft Entra: `{"op":"Replace","path":"active","value":"False"}`
//!   (capitalised op, boolean as a string),
//!   `{"op":"Remove","path":"members","value":[{"value":"…"}]}` (remove
//!   by value), `{"op":"Add","path":"emails[type eq \"work\"].value",
//!   "value":"…"}` (adds a work email when there is none);
//! * both: `{"op":"add","path":"members","value":[{"value":"…"}]}`.
//!
//! A function of values: the attributes before, the body, and the
//! attributes after (or why not); the caller checks what needs the whole
//! directory (a member is a User, a userName is unique).

use super::attrs::{self, same_item, too_many, value_of, Attrs, Ignored};
use super::error::ScimError;
use super::filter::ValueFilter;
use super::path::{self, Target};
use super::schema::{Attr, Mutability, ResourceSchema};
use serde_json::Value;

/// The most operations one PATCH carries.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

impl Op {
    fn parse(text: &str) -> Result<Op, ScimError> {
        match text.to_ascii_lowercase().as_str() {
            "add" => Ok(Op::Add),
            "replace" => Ok(Op::Replace),
            "remove" => Ok(Op::Remove),
            _ => Err(ScimError::InvalidSyntax(
                "a PATCH operation's \"op\" is \"add\", \"replace\" or \"remove\"".to_owned(),
            )),
        }
    }
}

/// The member of `object` named `name` in any case.
fn field<'a>(object: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// Applies a PatchOp body to `attrs`, all operations or none.
pub fn apply(
    schema: &ResourceSchema,
    attrs: &Attrs,
    body: &Value,
    ignored: &mut Ignored,
) -> Result<Attrs, ScimError> {
    let syntax = || {
        ScimError::InvalidSyntax(format!(
            "a PATCH body is {{\"schemas\": [\"{}\"], \"Operations\": [{{\"op\": …, \"path\": …, \"value\": …}}]}}",
            super::schema::PATCH_OP
        ))
    };
    let Value::Object(body) = body else {
        return Err(syntax());
    };
    let Some(Value::Array(operations)) = field(body, "Operations") else {
        return Err(syntax());
    };
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::TooLarge(format!(
            "a PATCH carries at most {MAX_OPERATIONS} operations; send several"
        )));
    }
    let mut next = attrs.clone();
    for operation in operations {
        let Value::Object(operation) = operation else {
            return Err(syntax());
        };
        let op = match field(operation, "op") {
            Some(Value::String(op)) => Op::parse(op)?,
            _ => return Err(syntax()),
        };
        let value = field(operation, "value").filter(|v| !v.is_null());
        match field(operation, "path") {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                let target = path::parse(text, schema)?;
                one(&mut next, op, target, value, ignored)?;
            }
            Some(Value::String(_)) | None => {
                no_path(schema, &mut next, op, value, ignored)?;
            }
            Some(_) => {
                return Err(ScimError::InvalidPath(
                    "a PATCH operation's \"path\" is a string".to_owned(),
                ))
            }
        }
    }
    attrs::required(schema, &next)?;
    Ok(next)
}

/// An `add` or `replace` without a path: each member of the value object
/// is a path and its value.
fn no_path(
    schema: &ResourceSchema,
    attrs: &mut Attrs,
    op: Op,
    value: Option<&Value>,
    ignored: &mut Ignored,
) -> Result<(), ScimError> {
    if op == Op::Remove {
        return Err(ScimError::NoTarget(
            "\"remove\" needs a \"path\" naming what to remove".to_owned(),
        ));
    }
    let Some(Value::Object(members)) = value else {
        return Err(ScimError::InvalidValue(
            "an \"add\" or \"replace\" without a \"path\" takes an object of attributes as \"value\""
                .to_owned(),
        ));
    };
    for (name, value) in members {
        if ["schemas", "id", "meta"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        let target = path::parse(name, schema)?;
        one(attrs, op, target, Some(value), ignored)?;
    }
    Ok(())
}

fn needed(op: Op, value: Option<&Value>) -> Result<&Value, ScimError> {
    value.ok_or_else(|| {
        ScimError::InvalidValue(format!(
            "\"{}\" needs a \"value\"",
            if op == Op::Add { "add" } else { "replace" }
        ))
    })
}

fn one(
    attrs: &mut Attrs,
    op: Op,
    target: Target,
    value: Option<&Value>,
    ignored: &mut Ignored,
) -> Result<(), ScimError> {
    let (attr, filter, sub) = match target {
        Target::Ignored(name) => {
            ignored.push(&name);
            return Ok(());
        }
        Target::Attr { attr, filter, sub } => (attr, filter, sub),
    };
    if attr.mutability == Mutability::ReadOnly {
        return Err(ScimError::Mutability(format!(
            "\"{}\" is read-only",
            attr.name
        )));
    }
    if let Some(sub) = sub.filter(|s| s.mutability == Mutability::Immutable && op != Op::Add) {
        return Err(ScimError::Mutability(format!(
            "\"{}.{}\" cannot change; remove the value and add another",
            attr.name, sub.name
        )));
    }
    match (filter, sub) {
        (None, None) => whole(attrs, attr, op, value, ignored),
        (None, Some(sub)) => {
            if attr.multi {
                return Err(ScimError::InvalidPath(format!(
                    "\"{}\" holds several values: name which with a filter, e.g. `{}[type eq \"work\"].{}`",
                    attr.name, attr.name, sub.name
                )));
            }
            let mut object = match attrs.remove(attr.name) {
                Some(Value::Object(object)) => object,
                _ => Attrs::new(),
            };
            match op {
                Op::Remove => {
                    object.remove(sub.name);
                }
                Op::Add | Op::Replace => match value_of(sub, needed(op, value)?, ignored)? {
                    Some(v) => {
                        object.insert(sub.name.to_owned(), v);
                    }
                    None => {
                        object.remove(sub.name);
                    }
                },
            }
            if !object.is_empty() {
                attrs.insert(attr.name.to_owned(), Value::Object(object));
            }
            Ok(())
        }
        (Some(filter), sub) => filtered(attrs, attr, &filter, sub, op, value, ignored),
    }
}

/// An operation on a whole attribute.
fn whole(
    attrs: &mut Attrs,
    attr: &'static Attr,
    op: Op,
    value: Option<&Value>,
    ignored: &mut Ignored,
) -> Result<(), ScimError> {
    match op {
        Op::Remove => {
            match (value, attr.multi) {
                // Entra removes members by value: `"path": "members",
                // "value": [{"value": "…"}]`.
                (Some(value), true) => {
                    let gone = match value_of(attr, value, ignored)? {
                        Some(Value::Array(gone)) => gone,
                        _ => Vec::new(),
                    };
                    if let Some(Value::Array(items)) = attrs.get_mut(attr.name) {
                        items.retain(|item| !gone.iter().any(|g| same_item(attr, item, g)));
                        if items.is_empty() {
                            attrs.remove(attr.name);
                        }
                    }
                }
                _ => {
                    attrs.remove(attr.name);
                }
            }
            Ok(())
        }
        Op::Add | Op::Replace => {
            let Some(new) = value_of(attr, needed(op, value)?, ignored)? else {
                if op == Op::Replace {
                    attrs.remove(attr.name);
                }
                return Ok(());
            };
            let merged = match (attrs.remove(attr.name), new, op) {
                (Some(Value::Array(mut items)), Value::Array(added), Op::Add) => {
                    for item in added {
                        if !items.iter().any(|i| same_item(attr, i, &item)) {
                            items.push(item);
                        }
                    }
                    if items.len() > attr.max_values {
                        return Err(too_many(attr));
                    }
                    Value::Array(items)
                }
                // A complex attribute's sub-attributes not given stay
                // (RFC 7644 §3.5.2.1 and §3.5.2.3).
                (Some(Value::Object(mut object)), Value::Object(given), _) if !attr.multi => {
                    object.extend(given);
                    Value::Object(object)
                }
                (_, new, _) => new,
            };
            attrs.insert(attr.name.to_owned(), merged);
            Ok(())
        }
    }
}

/// An operation on the values of a multi-valued attribute that pass a
/// filter (and on one sub-attribute of them, with `sub`).
fn filtered(
    attrs: &mut Attrs,
    attr: &'static Attr,
    filter: &ValueFilter,
    sub: Option<&'static Attr>,
    op: Op,
    value: Option<&Value>,
    ignored: &mut Ignored,
) -> Result<(), ScimError> {
    let mut items = match attrs.remove(attr.name) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    match (op, sub) {
        (Op::Remove, None) => items.retain(|item| !filter.matches(item)),
        (Op::Remove, Some(sub)) => {
            for item in items.iter_mut().filter(|item| filter.matches(item)) {
                if let Value::Object(object) = item {
                    object.remove(sub.name);
                }
            }
            items.retain(|item| item.as_object().is_some_and(|o| !o.is_empty()));
        }
        (Op::Add | Op::Replace, _) => {
            let given = needed(op, value)?;
            // What to merge into each passing value.
            let patch: Attrs = match sub {
                Some(sub) => match value_of(sub, given, ignored)? {
                    Some(v) => [(sub.name.to_owned(), v)].into_iter().collect(),
                    None => Attrs::new(),
                },
                None => match single_item(attr, given, ignored)? {
                    Some(Value::Object(object)) => object,
                    _ => Attrs::new(),
                },
            };
            let mut passed = false;
            for item in items.iter_mut().filter(|item| filter.matches(item)) {
                passed = true;
                if let Value::Object(object) = item {
                    object.extend(patch.clone());
                }
            }
            if !passed && !patch.is_empty() {
                let mut seed = filter.seed();
                seed.extend(patch);
                if let Some(item) = single_item(attr, &Value::Object(seed), ignored)? {
                    items.push(item);
                }
            }
            if items.len() > attr.max_values {
                return Err(too_many(attr));
            }
        }
    }
    if !items.is_empty() {
        attrs.insert(attr.name.to_owned(), Value::Array(items));
    }
    Ok(())
}

/// One value of a multi-valued attribute, checked.
fn single_item(
    attr: &'static Attr,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<Option<Value>, ScimError> {
    if value.is_array() {
        return Err(ScimError::InvalidValue(format!(
            "a filtered path names values of \"{}\": give one object, not an array",
            attr.name
        )));
    }
    Ok(match value_of(attr, value, ignored)? {
        Some(Value::Array(mut items)) => items.pop(),
        other => other,
    })
}
