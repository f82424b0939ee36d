//! YAML with a position on every value.
//!
//! `saphyr-parser` gives a stream of events, each with its span; we fold them
//! into a small tree of [`Node`]s that remember where they started, and
//! [`de`] deserializes typed specs from that tree so that every error — a
//! syntax error, a misspelled field, a wrong type, a dangling reference found
//! later — can name the exact `line:column` of the value it is about.

pub(crate) mod de;
mod spanned;

#[cfg(test)]
mod tests;

use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;
use std::fmt;

pub use spanned::Spanned;

/// A position in a YAML text; both numbers start at 1, as editors show them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    #[must_use]
    pub const fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One YAML value and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// The shape of a [`Node`]. Scalars keep their source text; what they mean
/// (null, bool, number, string) is decided by whoever asks for a type.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar { text: String, quoted: bool },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A plain scalar that YAML 1.2's core schema reads as null.
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, quoted: false } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The scalar text, if this node is a scalar.
    #[must_use]
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Looks a key up in a mapping node.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_scalar() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// What a user would call this node's type, for error messages.
    #[must_use]
    pub fn describe(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "nothing (null)",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A document that could not be read as YAML at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// The most nodes that aliases may expand a file into; bounds the
/// "billion laughs" blow-up of nested aliases to a fixed amount of memory.
pub const MAX_EXPANDED_NODES: usize = 1_000_000;

/// One `---` document of a file, with the position where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub pos: Pos,
    pub root: Node,
}

/// What a file held: the documents read, and the problems met.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// Every document completed before a fatal error, if any.
    pub documents: Vec<Document>,
    /// Duplicate keys: the first value is kept, each repeat reported.
    pub duplicate_keys: Vec<SyntaxError>,
    /// The error that stopped reading the file.
    pub fatal: Option<SyntaxError>,
}

/// Parses every document of a YAML stream into position-carrying trees.
///
/// Empty documents (only comments, or a stray `---`) are skipped. A syntax
/// error stops reading, but the documents before it are kept, so that one
/// broken document does not hide the rest of the repository's resources.
#[must_use]
pub fn parse(text: &str) -> Parsed {
    let mut builder = Builder::default();
    let mut fatal = None;
    for event in Parser::new_from_str(text) {
        let step = event
            .map_err(|e| SyntaxError {
                pos: Pos::new(to_u32(e.marker().line()), to_u32(e.marker().col() + 1)),
                message: format!("YAML syntax error: {}", e.info()),
            })
            .and_then(|(event, span)| {
                let pos = Pos::new(to_u32(span.start.line()), to_u32(span.start.col() + 1));
                builder.on_event(event, pos)
            });
        if let Err(e) = step {
            fatal = Some(e);
            break;
        }
    }
    Parsed {
        documents: builder.documents,
        duplicate_keys: builder.duplicates,
        fatal,
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

enum Open {
    Seq(Pos, usize, Vec<Node>),
    /// The pending key, and whether it repeats an earlier one (its value is then dropped).
    Map(Pos, usize, Vec<(Node, Node)>, Option<(Node, bool)>),
}

#[derive(Default)]
struct Builder {
    documents: Vec<Document>,
    stack: Vec<Open>,
    doc_pos: Pos,
    anchors: HashMap<usize, Node>,
    expanded: usize,
    duplicates: Vec<SyntaxError>,
}

impl Builder {
    fn on_event(&mut self, event: Event<'_>, pos: Pos) -> Result<(), SyntaxError> {
        match event {
            Event::DocumentStart(_) => {
                self.doc_pos = pos;
                self.anchors.clear();
            }
            Event::Scalar(text, style, anchor, tag) => {
                let forced_string = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let quoted = forced_string || !matches!(style, ScalarStyle::Plain);
                let node = Node {
                    pos,
                    value: Value::Scalar {
                        text: text.into_owned(),
                        quoted,
                    },
                };
                self.finish(node, anchor)?;
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::Seq(pos, anchor, Vec::new())),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map(pos, anchor, Vec::new(), None))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Open::Seq(pos, anchor, items)) => (
                        Node {
                            pos,
                            value: Value::Seq(items),
                        },
                        anchor,
                    ),
                    Some(Open::Map(pos, anchor, entries, _)) => (
                        Node {
                            pos,
                            value: Value::Map(entries),
                        },
                        anchor,
                    ),
                    None => return Ok(()),
                };
                self.finish(node, anchor)?;
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| SyntaxError {
                    pos,
                    message: "this alias names no anchor defined before it".into(),
                })?;
                self.expanded += count_nodes(&node);
                if self.expanded > MAX_EXPANDED_NODES {
                    return Err(SyntaxError {
                        pos,
                        message: format!(
                            "aliases expand this file beyond {MAX_EXPANDED_NODES} values; write the values out instead of nesting aliases"
                        ),
                    });
                }
                self.finish(node, 0)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if !node.is_null() {
                    self.documents.push(Document {
                        pos: self.doc_pos,
                        root: node,
                    });
                }
            }
            Some(Open::Seq(_, _, items)) => items.push(node),
            Some(Open::Map(_, _, entries, pending)) => match pending.take() {
                None => {
                    if let Some(key) = node.as_scalar() {
                        if let Some((first, _)) =
                            entries.iter().find(|(k, _)| k.as_scalar() == Some(key))
                        {
                            self.duplicates.push(SyntaxError {
                                pos: node.pos,
                                message: format!(
                                    "duplicate key `{key}` (first at line {}); keep one of them",
                                    first.pos.line
                                ),
                            });
                            *pending = Some((node, true));
                            return Ok(());
                        }
                    }
                    *pending = Some((node, false));
                }
                Some((_, true)) => {}
                Some((key, false)) => entries.push((key, node)),
            },
        }
        Ok(())
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Scalar { .. } => 0,
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
    }
}
