//! From YAML documents to typed resources: the envelope (`kind`, `name`,
//! `labels`, `spec`) by hand, the spec through serde.

use super::diagnostic::{Code, Diagnostic};
use super::kinds::{AnySpec, Kind, Labels, ResourceId};
use super::units::Name;
use super::yaml::de::{self, DeError, DeErrorKind};
use super::yaml::{Document, Node, Value};
use serde::de::DeserializeOwned;

/// The fields of the envelope every document has.
const ENVELOPE_FIELDS: &[&str] = &["kind", "name", "labels", "spec"];

/// A document whose envelope and spec both decoded.
pub(crate) struct Decoded {
    pub kind: Kind,
    pub name: Name,
    pub labels: Labels,
    pub spec: AnySpec,
}

/// A document that did not decode: what is wrong, and which resource it
/// was meant to be when its `kind` and `name` could be read.
pub(crate) struct Failed {
    pub id: Option<ResourceId>,
    pub diagnostics: Vec<Diagnostic>,
}

impl From<Vec<Diagnostic>> for Failed {
    fn from(diagnostics: Vec<Diagnostic>) -> Self {
        Self {
            id: None,
            diagnostics,
        }
    }
}

/// Decodes one document, or says everything that is wrong with it.
pub(crate) fn document(file: &str, doc: &Document) -> Result<Decoded, Failed> {
    let root = &doc.root;
    let Value::Map(entries) = &root.value else {
        return Err(Failed::from(vec![Diagnostic::error(
            file,
            root.pos,
            Code::BadDocument,
            format!(
                "a document must be a mapping with `kind`, `name` and `spec`, found {}",
                root.describe()
            ),
        )
        .hint(
            "start the document with `kind: Pool` (or another kind), then `name:` and `spec:`",
        )]));
    };
    let mut errors = Vec::new();
    for (key, _) in entries {
        let k = key.as_scalar().unwrap_or_default();
        if !ENVELOPE_FIELDS.contains(&k) {
            let err = DeError {
                pos: Some(key.pos),
                kind: DeErrorKind::UnknownField {
                    field: k.to_owned(),
                    expected: ENVELOPE_FIELDS,
                },
            };
            errors.push(from_de_error(file, &err).hint(
                "a document has only `kind`, `name`, `labels` and `spec`; settings go under `spec`",
            ));
        }
    }

    let kind = match root.get("kind") {
        None => {
            errors.push(missing(
                file,
                root,
                "kind",
                "add `kind:` with one of the kinds that `lbops schema` lists",
            ));
            None
        }
        Some(node) => match node.as_scalar().and_then(Kind::parse) {
            Some(kind) => Some(kind),
            None => {
                let given = node.as_scalar().unwrap_or_default();
                let names = Kind::names();
                let mut message = format!("unknown kind `{given}`");
                if let Some(s) = de::closest(given, &names) {
                    message.push_str(&format!("; did you mean `{s}`?"));
                }
                errors.push(
                    Diagnostic::error(file, node.pos, Code::UnknownKind, message)
                        .hint(format!("kind must be one of: {}", names.join(", "))),
                );
                None
            }
        },
    };

    let name = match root.get("name") {
        None => {
            errors.push(missing(
                file,
                root,
                "name",
                "add `name:` — lowercase letters, digits and `-`",
            ));
            None
        }
        Some(node) => match node.as_scalar().map(str::parse::<Name>) {
            Some(Ok(name)) if !node.is_null() => Some(name),
            Some(Err(message)) => {
                errors.push(Diagnostic::error(
                    file,
                    node.pos,
                    Code::InvalidValue,
                    message,
                ));
                None
            }
            _ => {
                errors.push(Diagnostic::error(
                    file,
                    node.pos,
                    Code::WrongType,
                    format!("expected a name, found {}", node.describe()),
                ));
                None
            }
        },
    };

    let labels = match root.get("labels") {
        None => Some(Labels::new()),
        Some(node) => match de::from_node::<Labels>(node) {
            Ok(labels) => Some(labels),
            Err(errs) => {
                errors.extend(errs.iter().map(|e| from_de_error(file, e)));
                None
            }
        },
    };

    let spec = match (kind, root.get("spec")) {
        (_, None) => {
            errors.push(missing(
                file,
                root,
                "spec",
                "add `spec:` with this kind's settings (see `lbops schema KIND`)",
            ));
            None
        }
        (None, Some(_)) => None,
        (Some(kind), Some(node)) => match spec(kind, node) {
            Ok(spec) => Some(spec),
            Err(errs) => {
                errors.extend(errs.iter().map(|e| from_de_error(file, e)));
                None
            }
        },
    };

    match (kind, name, labels, spec) {
        (Some(kind), Some(name), Some(labels), Some(spec)) if errors.is_empty() => Ok(Decoded {
            kind,
            name,
            labels,
            spec,
        }),
        (kind, name, ..) => {
            let id = kind
                .zip(name)
                .map(|(kind, name)| ResourceId::new(kind, name));
            if let Some(id) = &id {
                for e in &mut errors {
                    e.kind = Some(id.kind);
                    e.name = Some(id.name.to_string());
                }
            }
            Err(Failed {
                id,
                diagnostics: errors,
            })
        }
    }
}

fn spec(kind: Kind, node: &Node) -> Result<AnySpec, Vec<DeError>> {
    fn of<S: DeserializeOwned>(
        node: &Node,
        wrap: fn(S) -> AnySpec,
    ) -> Result<AnySpec, Vec<DeError>> {
        de::from_node::<S>(node).map(wrap)
    }
    match kind {
        Kind::LoadBalancer => of(node, AnySpec::LoadBalancer),
        Kind::Pool => of(node, AnySpec::Pool),
        Kind::Certificate => of(node, AnySpec::Certificate),
        Kind::AddressPool => of(node, AnySpec::AddressPool),
        Kind::Role => of(node, AnySpec::Role),
        Kind::User => of(node, AnySpec::User),
        Kind::Group => of(node, AnySpec::Group),
        Kind::ServiceAccount => of(node, AnySpec::ServiceAccount),
        Kind::Freeze => of(node, AnySpec::Freeze),
    }
}

fn missing(file: &str, at: &Node, field: &str, hint: &str) -> Diagnostic {
    Diagnostic::error(
        file,
        at.pos,
        Code::MissingField,
        format!("missing field `{field}`"),
    )
    .hint(hint)
}

/// Turns a deserialization error into what the user sees.
pub(crate) fn from_de_error(file: &str, err: &DeError) -> Diagnostic {
    let pos = err.pos.unwrap_or_default();
    let (code, hint) = match &err.kind {
        DeErrorKind::UnknownField { expected, .. } => (
            Code::UnknownField,
            match err.suggestion() {
                Some(s) => format!("rename it to `{s}`, or remove it"),
                None if expected.is_empty() => "remove it".to_owned(),
                None => format!("remove it; valid fields here: {}", expected.join(", ")),
            },
        ),
        DeErrorKind::MissingField { field } => (
            Code::MissingField,
            format!("add `{field}:` here; `lbops schema` shows what it takes"),
        ),
        DeErrorKind::InvalidType { .. } => (
            Code::WrongType,
            "fix the value's type; `lbops schema` shows what each field takes".to_owned(),
        ),
        DeErrorKind::UnknownVariant { expected, .. } => (
            Code::InvalidValue,
            format!("use one of: {}", expected.join(", ")),
        ),
        DeErrorKind::InvalidValue { .. } => (Code::InvalidValue, String::new()),
    };
    Diagnostic::error(file, pos, code, err.to_string()).hint(hint)
}
