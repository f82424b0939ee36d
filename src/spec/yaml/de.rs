//! A serde `Deserializer` over [`Node`] trees.
//!
//! Two things set it apart from a plain YAML deserializer:
//! - every error carries the position of the value it is about, and
//! - unknown fields do not stop deserialization: they are collected (with a
//!   "did you mean" suggestion) and skipped, so one run reports all of them.

use super::{Node, Pos, Value};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use std::cell::RefCell;
use std::fmt;

/// Why a value could not become the type asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeErrorKind {
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    MissingField {
        field: &'static str,
    },
    InvalidType {
        expected: String,
        found: String,
    },
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    InvalidValue {
        message: String,
    },
}

/// A deserialization error at a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeError {
    /// Filled in by the innermost node that saw the error.
    pub pos: Option<Pos>,
    pub kind: DeErrorKind,
}

impl DeError {
    fn at(mut self, pos: Pos) -> Self {
        self.pos.get_or_insert(pos);
        self
    }

    fn invalid_type(node: &Node, expected: &str) -> Self {
        Self {
            pos: Some(node.pos),
            kind: DeErrorKind::InvalidType {
                expected: expected.to_owned(),
                found: describe_found(node),
            },
        }
    }

    /// The closest valid name to a misspelled field or variant, if any is close.
    #[must_use]
    pub fn suggestion(&self) -> Option<&'static str> {
        let (given, expected) = match &self.kind {
            DeErrorKind::UnknownField { field, expected } => (field, expected),
            DeErrorKind::UnknownVariant { variant, expected } => (variant, expected),
            _ => return None,
        };
        closest(given, expected)
    }
}

/// The candidate closest to `given`, when it is close enough to be a typo.
///
/// An edit distance is at least the difference in length, so candidates
/// whose length is too far off are passed over without computing it: the
/// distance costs the product of the two lengths in time and memory, and
/// `given` is whatever a user wrote, possibly megabytes long.
#[must_use]
pub fn closest<'c>(given: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let longest = candidates.iter().map(|c| c.len()).max().unwrap_or(0);
    // Counting characters is linear; stop once no candidate can be close.
    let given_chars = given.chars().take(2 * longest + 3).count();
    candidates
        .iter()
        .filter_map(|c| {
            let allowed = 2.max(c.len() / 3);
            if given_chars.abs_diff(c.chars().count()) > allowed {
                return None;
            }
            let d = strsim::damerau_levenshtein(given, c);
            (d <= allowed).then_some((d, *c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn one_of(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DeErrorKind::UnknownField { field, expected } => {
                write!(f, "unknown field `{field}`")?;
                match self.suggestion() {
                    Some(s) => write!(f, "; did you mean `{s}`?"),
                    None if expected.is_empty() => write!(f, "; this mapping takes no fields"),
                    None => write!(f, "; expected one of {}", one_of(expected)),
                }
            }
            DeErrorKind::MissingField { field } => write!(f, "missing field `{field}`"),
            DeErrorKind::InvalidType { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            DeErrorKind::UnknownVariant { variant, expected } => {
                write!(f, "unknown value `{variant}`")?;
                match self.suggestion() {
                    Some(s) => write!(f, "; did you mean `{s}`?"),
                    None => write!(f, "; expected one of {}", one_of(expected)),
                }
            }
            DeErrorKind::InvalidValue { message } => f.write_str(message),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            pos: None,
            kind: DeErrorKind::InvalidValue {
                message: msg.to_string(),
            },
        }
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self {
            pos: None,
            kind: DeErrorKind::InvalidType {
                expected: exp.to_string(),
                found: describe_unexpected(&unexp),
            },
        }
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::custom(format_args!(
            "{} is not valid here: expected {exp}",
            describe_unexpected(&unexp)
        ))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self {
            pos: None,
            kind: DeErrorKind::UnknownVariant {
                variant: redact(variant),
                expected,
            },
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self {
            pos: None,
            kind: DeErrorKind::UnknownField {
                field: redact(field),
                expected,
            },
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self {
            pos: None,
            kind: DeErrorKind::MissingField { field },
        }
    }
}

use crate::spec::diagnostic::shown as redact;

fn describe_unexpected(unexp: &de::Unexpected<'_>) -> String {
    match unexp {
        de::Unexpected::Str(s) => format!("`{}`", redact(s)),
        de::Unexpected::Unsigned(n) => format!("`{n}`"),
        de::Unexpected::Signed(n) => format!("`{n}`"),
        de::Unexpected::Float(n) => format!("`{n}`"),
        de::Unexpected::Bool(b) => format!("`{b}`"),
        other => other.to_string(),
    }
}

fn describe_found(node: &Node) -> String {
    match &node.value {
        _ if node.is_null() => "nothing (null)".to_owned(),
        Value::Scalar { text, quoted } => {
            let what = if *quoted { "a quoted string" } else { "" };
            if what.is_empty() {
                format!("`{}`", redact(text))
            } else {
                format!("{what} `{}`", redact(text))
            }
        }
        Value::Seq(_) => "a list".to_owned(),
        Value::Map(_) => "a mapping".to_owned(),
    }
}

/// Deserializes `T` from a node, returning every error found: the unknown
/// fields collected on the way plus the error that stopped it, if any.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, Vec<DeError>> {
    let collected = RefCell::new(Vec::new());
    let result = T::deserialize(NodeDe {
        node,
        collected: &collected,
    });
    let mut errors = collected.into_inner();
    match result {
        Ok(value) if errors.is_empty() => Ok(value),
        Ok(_) => Err(errors),
        Err(e) => {
            errors.push(e.at(node.pos));
            Err(errors)
        }
    }
}

/// The struct name that asks the deserializer for a value's position; see
/// [`super::Spanned`].
pub(super) const SPANNED: &str = "$lbops::Spanned";
pub(super) const SPANNED_FIELDS: &[&str] = &["$line", "$column", "$value"];

#[derive(Clone, Copy)]
struct NodeDe<'a> {
    node: &'a Node,
    collected: &'a RefCell<Vec<DeError>>,
}

impl<'a> NodeDe<'a> {
    fn child(&self, node: &'a Node) -> Self {
        Self {
            node,
            collected: self.collected,
        }
    }

    fn scalar(&self, expected: &str) -> Result<(&'a str, bool), DeError> {
        match &self.node.value {
            Value::Scalar { text, quoted } => Ok((text, *quoted)),
            _ => Err(DeError::invalid_type(self.node, expected)),
        }
    }

    fn integer(&self, expected: &str) -> Result<i128, DeError> {
        match self.scalar(expected)? {
            (text, false) => {
                parse_int(text).ok_or_else(|| DeError::invalid_type(self.node, expected))
            }
            _ => Err(DeError::invalid_type(self.node, expected)),
        }
    }
}

fn parse_int(text: &str) -> Option<i128> {
    let text = text.replace('_', "");
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i128::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i128::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if negative { -value } else { value })
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" => Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Some(f64::NAN),
        _ if text.bytes().any(|b| b.is_ascii_digit()) => text.parse().ok(),
        _ => None,
    }
}

macro_rules! deserialize_integer {
    ($($method:ident => $visit:ident as $ty:ty, $expected:literal;)*) => {$(
        fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
            let n = self.integer($expected)?;
            let n = <$ty>::try_from(n).map_err(|_| DeError {
                pos: Some(self.node.pos),
                kind: DeErrorKind::InvalidValue { message: format!("`{n}` is out of range: expected {}", $expected) },
            })?;
            visitor.$visit(n).map_err(|e: DeError| e.at(self.node.pos))
        }
    )*};
}

impl<'a> de::Deserializer<'a> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        let pos = self.node.pos;
        let result = match &self.node.value {
            Value::Seq(_) => return self.deserialize_seq(visitor),
            Value::Map(_) => return self.deserialize_map(visitor),
            _ if self.node.is_null() => visitor.visit_unit(),
            Value::Scalar {
                text,
                quoted: false,
            } => match text.as_str() {
                "true" | "True" | "TRUE" => visitor.visit_bool(true),
                "false" | "False" | "FALSE" => visitor.visit_bool(false),
                t => match (parse_int(t), parse_float(t)) {
                    (Some(n), _) if n >= 0 => {
                        visitor.visit_u64(u64::try_from(n).unwrap_or(u64::MAX))
                    }
                    (Some(n), _) => visitor.visit_i64(i64::try_from(n).unwrap_or(i64::MIN)),
                    (None, Some(f)) => visitor.visit_f64(f),
                    (None, None) => visitor.visit_str(t),
                },
            },
            Value::Scalar { text, .. } => visitor.visit_str(text),
        };
        result.map_err(|e: DeError| e.at(pos))
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar("`true` or `false`")? {
            ("true" | "True" | "TRUE", false) => visitor.visit_bool(true),
            ("false" | "False" | "FALSE", false) => visitor.visit_bool(false),
            _ => Err(DeError::invalid_type(self.node, "`true` or `false`")),
        }
    }

    deserialize_integer! {
        deserialize_u8 => visit_u8 as u8, "a whole number from 0 to 255";
        deserialize_u16 => visit_u16 as u16, "a whole number from 0 to 65535";
        deserialize_u32 => visit_u32 as u32, "a whole number from 0 to 4294967295";
        deserialize_u64 => visit_u64 as u64, "a whole number, 0 or more";
        deserialize_i8 => visit_i8 as i8, "a whole number from -128 to 127";
        deserialize_i16 => visit_i16 as i16, "a whole number from -32768 to 32767";
        deserialize_i32 => visit_i32 as i32, "a whole number";
        deserialize_i64 => visit_i64 as i64, "a whole number";
    }

    fn deserialize_f32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.scalar("a number")? {
            (text, false) => match parse_float(text) {
                Some(f) => visitor
                    .visit_f64(f)
                    .map_err(|e: DeError| e.at(self.node.pos)),
                None => Err(DeError::invalid_type(self.node, "a number")),
            },
            _ => Err(DeError::invalid_type(self.node, "a number")),
        }
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    /// Any non-null scalar reads as a string, so `min_version: 1.2` and
    /// `value: 1` work without quotes, as users expect.
    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            return Err(DeError::invalid_type(self.node, "a string"));
        }
        let (text, _) = self.scalar("a string")?;
        visitor
            .visit_str(text)
            .map_err(|e: DeError| e.at(self.node.pos))
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            visitor.visit_unit()
        } else {
            Err(DeError::invalid_type(self.node, "nothing (null)"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Seq(items) => visitor
                .visit_seq(SeqDe {
                    de: self,
                    items: items.iter(),
                })
                .map_err(|e: DeError| e.at(self.node.pos)),
            _ => Err(DeError::invalid_type(self.node, "a list")),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        match &self.node.value {
            Value::Map(entries) => visitor
                .visit_map(EntriesDe {
                    de: self,
                    entries: entries.iter().map(|(k, v)| (k, v)),
                    value: None,
                })
                .map_err(|e: DeError| e.at(self.node.pos)),
            _ if self.node.is_null() => visitor
                .visit_map(EntriesDe {
                    de: self,
                    entries: std::iter::empty(),
                    value: None,
                })
                .map_err(|e: DeError| e.at(self.node.pos)),
            _ => Err(DeError::invalid_type(self.node, "a mapping")),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if name == SPANNED {
            return visitor.visit_map(SpannedDe { de: self, next: 0 });
        }
        let Value::Map(entries) = &self.node.value else {
            return Err(DeError::invalid_type(self.node, "a mapping"));
        };
        // Unknown keys are reported here and skipped, so that the derived
        // visitor (which would stop at the first one) never sees them.
        let mut known = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            match key.as_scalar() {
                Some(k) if fields.contains(&k) => known.push((key, value)),
                Some(k) => self.collected.borrow_mut().push(DeError {
                    pos: Some(key.pos),
                    kind: DeErrorKind::UnknownField {
                        field: redact(k),
                        expected: fields,
                    },
                }),
                None => self
                    .collected
                    .borrow_mut()
                    .push(DeError::invalid_type(key, "a field name")),
            }
        }
        visitor
            .visit_map(EntriesDe {
                de: self,
                entries: known.into_iter(),
                value: None,
            })
            .map_err(|e: DeError| e.at(self.node.pos))
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let (tag, value) = match &self.node.value {
            Value::Scalar { .. } if !self.node.is_null() => (self.node, None),
            Value::Map(entries) if entries.len() == 1 => (&entries[0].0, Some(&entries[0].1)),
            _ => {
                return Err(DeError::invalid_type(
                    self.node,
                    &format!(
                        "one of {} (a name, or a mapping with exactly one of them as its key)",
                        one_of(variants)
                    ),
                ))
            }
        };
        visitor
            .visit_enum(EnumDe {
                de: self,
                tag,
                value,
            })
            .map_err(|e: DeError| e.at(self.node.pos))
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct SeqDe<'a> {
    de: NodeDe<'a>,
    items: std::slice::Iter<'a, Node>,
}

impl<'a> de::SeqAccess<'a> for SeqDe<'a> {
    type Error = DeError;

    fn next_element_seed<T: de::DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(self.de.child(node))
                .map(Some)
                .map_err(|e: DeError| e.at(node.pos)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// Walks mapping entries; a struct's entries arrive already filtered to its
/// known fields.
struct EntriesDe<'a, I> {
    de: NodeDe<'a>,
    entries: I,
    value: Option<&'a Node>,
}

impl<'a, I: Iterator<Item = (&'a Node, &'a Node)>> de::MapAccess<'a> for EntriesDe<'a, I> {
    type Error = DeError;

    fn next_key_seed<K: de::DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(self.de.child(key))
                    .map(Some)
                    .map_err(|e: DeError| e.at(key.pos))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'a>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DeError> {
        let node = self.value.take().unwrap_or(self.de.node);
        seed.deserialize(self.de.child(node))
            .map_err(|e: DeError| e.at(node.pos))
    }
}

/// Hands a [`super::Spanned`] its position, then the value itself.
struct SpannedDe<'a> {
    de: NodeDe<'a>,
    next: usize,
}

impl<'a> de::MapAccess<'a> for SpannedDe<'a> {
    type Error = DeError;

    fn next_key_seed<K: de::DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match SPANNED_FIELDS.get(self.next) {
            Some(field) => seed.deserialize(field.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'a>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DeError> {
        let pos = self.de.node.pos;
        self.next += 1;
        match self.next {
            1 => seed.deserialize(pos.line.into_deserializer()),
            2 => seed.deserialize(pos.column.into_deserializer()),
            _ => seed.deserialize(self.de),
        }
    }
}

struct EnumDe<'a> {
    de: NodeDe<'a>,
    tag: &'a Node,
    value: Option<&'a Node>,
}

impl<'a> de::EnumAccess<'a> for EnumDe<'a> {
    type Error = DeError;
    type Variant = VariantDe<'a>;

    fn variant_seed<V: de::DeserializeSeed<'a>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantDe<'a>), DeError> {
        let variant = seed
            .deserialize(self.de.child(self.tag))
            .map_err(|e: DeError| e.at(self.tag.pos))?;
        Ok((
            variant,
            VariantDe {
                de: self.de,
                tag: self.tag,
                value: self.value,
            },
        ))
    }
}

struct VariantDe<'a> {
    de: NodeDe<'a>,
    tag: &'a Node,
    value: Option<&'a Node>,
}

impl<'a> VariantDe<'a> {
    fn value(&self, expected: &str) -> Result<NodeDe<'a>, DeError> {
        match self.value {
            Some(node) => Ok(self.de.child(node)),
            None => Err(DeError {
                pos: Some(self.tag.pos),
                kind: DeErrorKind::InvalidType {
                    expected: expected.to_owned(),
                    found: format!(
                        "only the name `{}`",
                        self.tag.as_scalar().unwrap_or_default()
                    ),
                },
            }),
        }
    }
}

impl<'a> de::VariantAccess<'a> for VariantDe<'a> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.value {
            None => Ok(()),
            Some(node) if node.is_null() => Ok(()),
            Some(node) => Err(DeError::invalid_type(
                node,
                "nothing: this option takes no settings",
            )),
        }
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'a>>(
        self,
        seed: T,
    ) -> Result<T::Value, DeError> {
        let de = self.value("a value under the name")?;
        seed.deserialize(de)
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        let de = self.value("a list under the name")?;
        de::Deserializer::deserialize_seq(de, visitor)
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let de = self.value("a mapping of settings under the name")?;
        de::Deserializer::deserialize_struct(de, "", fields, visitor)
    }
}
