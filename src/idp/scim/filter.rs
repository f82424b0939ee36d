//! The filters lbops understands: `attribute eq value`, joined with
//! `and` — what Okta and Microsoft Entra send (`userName eq "…"`,
//! `externalId eq "…"`, `displayName eq "…"`, `members eq "…"`) — both in
//! `?filter=` and inside a PATCH path's brackets (`members[value eq
//! "…"]`). Anything else is refused with `invalidFilter` rather than
//! half understood. The parser is a loop over tokens: no recursion, so
//! the input's shape cannot grow the stack; its length and term count
//! are bounded.

use super::attrs::Attrs;
use super::error::ScimError;
use super::schema::{Attr, Origin, ResourceSchema, Type};
use serde_json::Value;

/// The longest filter read, in bytes.
pub const MAX_FILTER_BYTES: usize = 1024;
/// The most `eq` terms one filter joins.
pub const MAX_TERMS: usize = 10;

const SUPPORTED: &str = "lbops understands `attribute eq \"value\"` (or `eq true`/`eq false`) \
                         joined with `and`, e.g. `userName eq \"alice@example.com\"`";

/// A value compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal {
    Str(String),
    Bool(bool),
}

impl Literal {
    /// Whether `value` equals this literal under `attr`'s case rule.
    #[must_use]
    pub fn matches(&self, attr: &Attr, value: &Value) -> bool {
        match (self, value) {
            (Literal::Str(want), Value::String(got)) => attr.same(want, got),
            (Literal::Bool(want), Value::Bool(got)) => want == got,
            _ => false,
        }
    }

    /// The JSON value a new item gets from this literal.
    #[must_use]
    pub fn to_value(&self) -> Value {
        match self {
            Literal::Str(s) => Value::String(s.clone()),
            Literal::Bool(b) => Value::Bool(*b),
        }
    }
}

/// One `path eq value`, its path not yet resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub path: String,
    pub value: Literal,
}

/// The terms of `text`, all of which must hold.
pub fn terms(text: &str) -> Result<Vec<Term>, ScimError> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(ScimError::InvalidFilter(format!(
            "the filter is {} bytes; lbops reads filters of at most {MAX_FILTER_BYTES}",
            text.len()
        )));
    }
    let mut rest = text.trim_start();
    let mut terms = Vec::new();
    loop {
        let (path, after) = word(rest, |c| c.is_ascii_alphanumeric() || "_$:.-".contains(c));
        if path.is_empty() {
            return Err(unsupported(rest));
        }
        let (op, after) = word(after.trim_start(), |c| c.is_ascii_alphabetic());
        if !op.eq_ignore_ascii_case("eq") {
            return Err(if op.is_empty() {
                unsupported(after.trim_start())
            } else {
                ScimError::InvalidFilter(format!(
                    "the operator `{op}` is not supported; {SUPPORTED}"
                ))
            });
        }
        let (value, after) = literal(after.trim_start())?;
        terms.push(Term {
            path: path.to_owned(),
            value,
        });
        if terms.len() > MAX_TERMS {
            return Err(ScimError::InvalidFilter(format!(
                "the filter joins more than {MAX_TERMS} terms; send fewer"
            )));
        }
        rest = after.trim_start();
        if rest.is_empty() {
            return Ok(terms);
        }
        let (joiner, after) = word(rest, |c| c.is_ascii_alphabetic());
        if !joiner.eq_ignore_ascii_case("and") {
            return Err(unsupported(rest));
        }
        rest = after.trim_start();
    }
}

fn unsupported(at: &str) -> ScimError {
    let shown: String = at.chars().take(20).collect();
    ScimError::InvalidFilter(format!(
        "cannot read the filter at `{shown}`; {SUPPORTED} (no `or`, `not`, parentheses or other operators)"
    ))
}

/// The longest prefix of `text` whose characters satisfy `keep`, and the rest.
fn word(text: &str, keep: impl Fn(char) -> bool) -> (&str, &str) {
    let end = text.find(|c: char| !keep(c)).unwrap_or(text.len());
    text.split_at(end)
}

/// A JSON string, `true` or `false` at the start of `text`, and the rest.
fn literal(text: &str) -> Result<(Literal, &str), ScimError> {
    if let Some(body) = text.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    let quoted = &text[..i + 2];
                    let value: String = serde_json::from_str(quoted).map_err(|_| {
                        ScimError::InvalidFilter(
                            "a filter's string is a JSON string: escape `\"` and `\\` with `\\`"
                                .to_owned(),
                        )
                    })?;
                    return Ok((Literal::Str(value), &text[i + 2..]));
                }
                (false, _) => {}
            }
        }
        return Err(ScimError::InvalidFilter(
            "a filter's string has no closing `\"`".to_owned(),
        ));
    }
    let (word, rest) = word(text, |c| c.is_ascii_alphabetic());
    match word.to_ascii_lowercase().as_str() {
        "true" => Ok((Literal::Bool(true), rest)),
        "false" => Ok((Literal::Bool(false), rest)),
        _ => Err(ScimError::InvalidFilter(format!(
            "compare with a quoted string, true or false; {SUPPORTED}"
        ))),
    }
}

/// Where a resolved term looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Id,
    /// A simple attribute, or a sub-attribute (`leaf`) of a complex one.
    Attr {
        attr: &'static Attr,
        leaf: &'static Attr,
    },
}

/// A `?filter=` resolved against a resource type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    terms: Vec<(Place, Literal)>,
}

impl Filter {
    /// Reads `text` as a filter over `schema`'s attributes.
    pub fn parse(text: &str, schema: &ResourceSchema) -> Result<Filter, ScimError> {
        let terms = terms(text)?
            .into_iter()
            .map(|term| Ok((place(&term.path, schema)?, term.value)))
            .collect::<Result<_, ScimError>>()?;
        Ok(Filter { terms })
    }

    /// Whether the resource `id` with `attrs` passes.
    #[must_use]
    pub fn matches(&self, id: &str, attrs: &Attrs) -> bool {
        self.terms.iter().all(|(place, literal)| match place {
            Place::Id => *literal == Literal::Str(id.to_owned()),
            Place::Attr { attr, leaf } => {
                let Some(value) = attrs.get(attr.name) else {
                    return false;
                };
                let leaf_value = |v: &Value| -> bool {
                    match attr.ty {
                        Type::Complex(_) => {
                            v.get(leaf.name).is_some_and(|x| literal.matches(leaf, x))
                        }
                        _ => literal.matches(leaf, v),
                    }
                };
                match value {
                    Value::Array(items) => items.iter().any(leaf_value),
                    one => leaf_value(one),
                }
            }
        })
    }

    /// The `userName`/`displayName` (any case) this filter pins down, if
    /// one of its terms is `NAMING eq "…"`: a lookup instead of a scan.
    #[must_use]
    pub fn naming(&self, schema: &ResourceSchema) -> Option<&str> {
        self.terms
            .iter()
            .find_map(|(place, literal)| match (place, literal) {
                (Place::Attr { attr, .. }, Literal::Str(value))
                    if attr.name == schema.naming() && attr.unique =>
                {
                    Some(value.as_str())
                }
                _ => None,
            })
    }
}

/// The urn-prefixed or plain `attr` or `attr.sub` of a filter or path,
/// in `schema`: `None` for an extension's attribute.
pub(crate) fn strip_urn<'a>(path: &'a str, schema: &ResourceSchema) -> Option<&'a str> {
    if !path
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
    {
        return Some(path);
    }
    let prefix = schema.schema.len() + 1;
    match (
        path.get(..schema.schema.len()),
        path.get(schema.schema.len()..prefix),
    ) {
        (Some(urn), Some(":")) if urn.eq_ignore_ascii_case(schema.schema) => Some(&path[prefix..]),
        _ => None,
    }
}

fn place(path: &str, schema: &ResourceSchema) -> Result<Place, ScimError> {
    let unknown = || {
        ScimError::InvalidFilter(format!(
            "a {} has no attribute `{path}` to filter on; use one of {}",
            schema.name,
            filterable(schema)
        ))
    };
    let local = strip_urn(path, schema).ok_or_else(unknown)?;
    if local.eq_ignore_ascii_case("id") {
        return Ok(Place::Id);
    }
    let (name, sub) = match local.split_once('.') {
        Some((name, sub)) => (name, Some(sub)),
        None => (local, None),
    };
    let attr = schema.attr(name).ok_or_else(unknown)?;
    if attr.origin == Origin::Computed {
        return Err(unknown());
    }
    let leaf = match (attr.ty, sub) {
        (Type::Complex(_), Some(sub)) => attr.sub(sub).ok_or_else(unknown)?,
        (Type::Complex(_), None) if attr.multi => attr.sub("value").ok_or_else(unknown)?,
        (Type::Complex(_), None) | (_, Some(_)) => return Err(unknown()),
        (_, None) => attr,
    };
    if leaf.origin == Origin::Computed || matches!(leaf.ty, Type::Complex(_)) {
        return Err(unknown());
    }
    Ok(Place::Attr { attr, leaf })
}

fn filterable(schema: &ResourceSchema) -> String {
    let mut names = vec!["id".to_owned(), "externalId".to_owned()];
    for attr in schema.attributes {
        match attr.ty {
            _ if attr.origin == Origin::Computed => {}
            Type::Complex(subs) => names.extend(
                subs.iter()
                    .filter(|s| s.origin == Origin::Stored)
                    .map(|s| format!("{}.{}", attr.name, s.name)),
            ),
            _ => names.push(attr.name.to_owned()),
        }
    }
    names.join(", ")
}

/// A PATCH path's bracketed filter over the sub-attributes of `attr`,
/// e.g. `value eq "2819c223"` in `members[value eq "2819c223"]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueFilter {
    terms: Vec<(&'static Attr, Literal)>,
}

impl ValueFilter {
    pub fn parse(text: &str, attr: &Attr) -> Result<ValueFilter, ScimError> {
        let terms = terms(text)?
            .into_iter()
            .map(|term| {
                let sub = attr
                    .sub(&term.path)
                    .filter(|s| !matches!(s.ty, Type::Complex(_)))
                    .ok_or_else(|| {
                        ScimError::InvalidPath(format!(
                            "\"{}\" has no sub-attribute `{}`; its sub-attributes are {}",
                            attr.name,
                            term.path,
                            attr.subs()
                                .iter()
                                .map(|s| s.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })?;
                Ok((sub, term.value))
            })
            .collect::<Result<_, ScimError>>()?;
        Ok(ValueFilter { terms })
    }

    /// Whether one value (an object) of the multi-valued attribute passes.
    #[must_use]
    pub fn matches(&self, item: &Value) -> bool {
        self.terms.iter().all(|(sub, literal)| {
            item.get(sub.name)
                .is_some_and(|value| literal.matches(sub, value))
        })
    }

    /// The value a new item starts from when none passes: what the terms
    /// say (`emails[type eq "work"].value` with no work email adds one).
    #[must_use]
    pub fn seed(&self) -> Attrs {
        self.terms
            .iter()
            .map(|(sub, literal)| (sub.name.to_owned(), literal.to_value()))
            .collect()
    }
}
