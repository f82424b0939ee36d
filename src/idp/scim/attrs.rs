//! Turning what a client sent into the attributes lbops keeps: names in
//! their canonical case, values of the declared type (an identity
//! provider's `"False"` is `false`), strings bounded and free of control
//! characters, counts bounded, unknown and read-only attributes dropped
//! (and named, for the audit record), computed ones left to lbops.
//!
//! Only the schema's shape is followed: complex attributes hold simple
//! sub-attributes only, so nothing here recurses deeper than two levels,
//! whatever a client sends.

use super::error::ScimError;
use super::schema::{Attr, Mutability, Origin, ResourceSchema, Type, MAX_STRING_BYTES};
use serde_json::{Map, Value};

/// A resource's attributes as kept: canonical names, checked values.
pub type Attrs = Map<String, Value>;

/// The most attribute names an audit record lists as dropped.
pub const MAX_IGNORED_NAMES: usize = 20;

/// Names of attributes a call sent that lbops dropped; bounded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ignored(Vec<String>);

impl Ignored {
    pub fn push(&mut self, name: &str) {
        if self.0.len() < MAX_IGNORED_NAMES && !self.0.iter().any(|n| n == name) {
            let mut name = name.to_owned();
            truncate(&mut name, 128);
            self.0.push(name);
        }
    }

    #[must_use]
    pub fn names(&self) -> &[String] {
        &self.0
    }
}

fn truncate(text: &mut String, bytes: usize) {
    if text.len() > bytes {
        let mut end = bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}

/// Names every request body may carry that are no attributes of the
/// resource's schema, and are not kept.
fn framing(name: &str) -> bool {
    ["schemas", "id", "meta"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// A whole resource from a POST or PUT body: its attributes as kept.
pub fn resource(
    schema: &ResourceSchema,
    body: &Value,
    ignored: &mut Ignored,
) -> Result<Attrs, ScimError> {
    let Value::Object(fields) = body else {
        return Err(ScimError::InvalidSyntax(format!(
            "a {} is a JSON object with \"schemas\": [\"{}\"]",
            schema.name, schema.schema
        )));
    };
    let mut attrs = Attrs::new();
    for (name, value) in fields {
        if framing(name) {
            continue;
        }
        let Some(attr) = schema.attr(name) else {
            ignored.push(name);
            continue;
        };
        if attr.mutability == Mutability::ReadOnly {
            // RFC 7643 §7: read-only values a client sends are ignored.
            continue;
        }
        if let Some(value) = value_of(attr, value, ignored)? {
            attrs.insert(attr.name.to_owned(), value);
        }
    }
    required(schema, &attrs)?;
    Ok(attrs)
}

/// Fails when a required attribute has no value.
pub fn required(schema: &ResourceSchema, attrs: &Attrs) -> Result<(), ScimError> {
    match schema
        .attributes
        .iter()
        .find(|a| a.required && !attrs.contains_key(a.name))
    {
        Some(missing) => Err(ScimError::InvalidValue(format!(
            "a {} needs \"{}\"; give it a non-empty string",
            schema.name, missing.name
        ))),
        None => Ok(()),
    }
}

/// One attribute's value as kept, or `None` when it is unassigned
/// (`null`, `[]`, `{}`). A multi-valued attribute given a single value
/// holds that one value.
pub fn value_of(
    attr: &Attr,
    value: &Value,
    ignored: &mut Ignored,
) -> Result<Option<Value>, ScimError> {
    if !attr.multi {
        return single(attr, value, ignored);
    }
    let items: &[Value] = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        one => std::slice::from_ref(one),
    };
    if items.len() > attr.max_values {
        return Err(too_many(attr));
    }
    let mut kept: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        if let Some(item) = single(attr, item, ignored)? {
            if !kept.iter().any(|k| same_item(attr, k, &item)) {
                kept.push(item);
            }
        }
    }
    Ok((!kept.is_empty()).then_some(Value::Array(kept)))
}

/// The error for more values than `attr` keeps.
#[must_use]
pub fn too_many(attr: &Attr) -> ScimError {
    ScimError::TooLarge(format!(
        "\"{}\" holds at most {} values in lbops; send fewer",
        attr.name, attr.max_values
    ))
}

/// Whether two values of a multi-valued attribute are the same value:
/// members by their `value` (the id), anything else whole.
#[must_use]
pub fn same_item(attr: &Attr, a: &Value, b: &Value) -> bool {
    match (attr.name, a.get("value"), b.get("value")) {
        ("members", Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn single(attr: &Attr, value: &Value, ignored: &mut Ignored) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    let wrong = |expected: &str| {
        ScimError::InvalidValue(format!(
            "\"{}\" is {expected}, not {}",
            attr.name,
            kind_of(value)
        ))
    };
    match attr.ty {
        Type::String | Type::Reference => match value {
            Value::String(text) => string(attr, text).map(|t| Some(Value::String(t))),
            _ => Err(wrong("a string")),
        },
        Type::Boolean => match value {
            Value::Bool(b) => Ok(Some(Value::Bool(*b))),
            // Microsoft Entra sends "True" and "False".
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            _ => Err(wrong("a boolean (true or false)")),
        },
        Type::Integer => match value {
            Value::Number(n) if n.is_i64() => Ok(Some(value.clone())),
            _ => Err(wrong("an integer")),
        },
        Type::Complex(_) => {
            let Value::Object(fields) = value else {
                return Err(wrong("an object"));
            };
            let mut kept = Attrs::new();
            for (name, sub_value) in fields {
                let Some(sub) = attr.sub(name) else {
                    ignored.push(&format!("{}.{name}", attr.name));
                    continue;
                };
                if sub.origin == Origin::Computed {
                    continue;
                }
                if let Some(v) = single(sub, sub_value, ignored)? {
                    kept.insert(sub.name.to_owned(), v);
                }
            }
            if attr.name == "members" && !kept.contains_key("value") {
                return Err(ScimError::InvalidValue(
                    "a member needs \"value\": the id of a User of this directory".to_owned(),
                ));
            }
            Ok((!kept.is_empty()).then_some(Value::Object(kept)))
        }
    }
}

fn string(attr: &Attr, text: &str) -> Result<String, ScimError> {
    if text.len() > MAX_STRING_BYTES {
        return Err(ScimError::TooLarge(format!(
            "\"{}\" is {} bytes; lbops keeps strings of at most {MAX_STRING_BYTES}",
            attr.name,
            text.len()
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(ScimError::InvalidValue(format!(
            "\"{}\" holds a control character; send printable text",
            attr.name
        )));
    }
    Ok(text.to_owned())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
