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

use super::diagnostic;
use super::limits::{Exceeded, Limits};
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
///
/// `Drop`, `Clone` and `PartialEq` are derived, and so recurse once per
/// level: fine because [`parse_with`] never builds a tree deeper than
/// [`Limits::depth`] (64 levels by default, a few KiB of stack), whatever
/// the input. Code that builds `Node`s another way must keep to that too.
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

/// Why a document could not be read: YAML that is malformed, or one that
/// went past one of the [`Limits`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub pos: Pos,
    /// What is wrong, and for a limit also what to do.
    pub message: String,
    /// The bound reading stopped at, when that is why.
    pub exceeded: Option<Exceeded>,
}

impl SyntaxError {
    fn malformed(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            pos,
            message: message.into(),
            exceeded: None,
        }
    }

    fn exceeded(pos: Pos, exceeded: Exceeded) -> Self {
        Self {
            pos,
            message: format!("{exceeded}; {}", exceeded.hint()),
            exceeded: Some(exceeded),
        }
    }
}

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

/// Parses a document lbops exchanges with itself or its operator (the
/// data plane's config and state, the daemon's config) within
/// [`Limits::CATALOG_DOCUMENT`]. A repository's files go through
/// `spec::load`, which holds them to the tighter [`Limits::REPOSITORY`].
#[must_use]
pub fn parse(text: &str) -> Parsed {
    parse_with(text, &Limits::CATALOG_DOCUMENT)
}

/// Parses every document of a YAML stream into position-carrying trees,
/// within `limits`.
///
/// Empty documents (only comments, or a stray `---`) are skipped. A syntax
/// error stops reading, but the documents before it are kept, so that one
/// broken document does not hide the rest of the repository's resources.
/// So does a limit, checked as each event arrives and before the work it
/// guards: the text's size before any parsing; a list's or mapping's depth
/// before it is opened, and an alias's depth where it lands before it is
/// copied, so that no tree deeper than `limits.depth` ever exists; values
/// and keys as they are added. The parser is then not asked for more:
/// saphyr-parser never recurses (its states, indents and simple keys live
/// in heap stacks), but those stacks grow with the depth it has read, and
/// its scanner reads ahead through unresolved flow collections up to its
/// own cap of 255 levels — so reading stops at the first error.
///
/// Linear in the text: every event costs O(1) besides the values an alias
/// copies, which the limits count.
#[must_use]
pub fn parse_with(text: &str, limits: &Limits) -> Parsed {
    let size = text.len() as u64;
    if size > limits.file_bytes {
        return Parsed {
            documents: Vec::new(),
            duplicate_keys: Vec::new(),
            fatal: Some(SyntaxError::exceeded(
                Pos::new(1, 1),
                Exceeded::FileBytes {
                    size,
                    limit: limits.file_bytes,
                },
            )),
        };
    }
    let mut builder = Builder::new(limits);
    let mut fatal = None;
    for event in Parser::new_from_str(text) {
        let step = event
            .map_err(|e| {
                let pos = Pos::new(to_u32(e.marker().line()), to_u32(e.marker().col() + 1));
                // saphyr's scanner looks ahead through unresolved flow
                // collections (`[[[[…`) and stops by itself at 255 levels,
                // before the builder sees the level that passes the limit.
                if e.info() == SAPHYR_FLOW_DEPTH {
                    let limit = limits.depth.min(SAPHYR_MAX_FLOW_DEPTH);
                    SyntaxError::exceeded(pos, Exceeded::Depth { limit })
                } else {
                    SyntaxError::malformed(pos, format!("YAML syntax error: {}", e.info()))
                }
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

/// What saphyr-parser says past its own cap on nested flow collections.
const SAPHYR_FLOW_DEPTH: &str = "recursion limit exceeded";
const SAPHYR_MAX_FLOW_DEPTH: usize = 255;

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What a complete value costs where an alias copies it: how many values
/// it holds (itself included), and how many levels of lists and mappings
/// it opens (0 for a scalar).
#[derive(Clone, Copy, Debug)]
struct Shape {
    nodes: usize,
    height: usize,
}

impl Shape {
    const SCALAR: Self = Self {
        nodes: 1,
        height: 0,
    };
}

/// A list or mapping being read.
struct Open {
    pos: Pos,
    anchor: usize,
    /// Values in it so far, itself included.
    nodes: usize,
    /// The most levels any value in it opens.
    below: usize,
    body: Body,
}

enum Body {
    Seq(Vec<Node>),
    Map {
        entries: Vec<(Node, Node)>,
        /// The pending key, and whether it repeats an earlier one (its
        /// value is then dropped).
        pending: Option<(Node, bool)>,
        /// The line of each scalar key's first occurrence, so that a
        /// repeat is found in O(1), not by scanning the keys before it.
        first: HashMap<String, u32>,
    },
}

struct Builder {
    limits: Limits,
    documents: Vec<Document>,
    stack: Vec<Open>,
    doc_pos: Pos,
    anchors: HashMap<usize, (Node, Shape)>,
    /// Values built so far, copies for anchors and aliases included.
    nodes: usize,
    /// Values copied by aliases so far.
    expanded: usize,
    duplicates: Vec<SyntaxError>,
}

impl Builder {
    fn new(limits: &Limits) -> Self {
        Self {
            limits: *limits,
            documents: Vec::new(),
            stack: Vec::new(),
            doc_pos: Pos::default(),
            anchors: HashMap::new(),
            nodes: 0,
            expanded: 0,
            duplicates: Vec::new(),
        }
    }

    /// Counts `n` more values built, refusing past the limit.
    fn build(&mut self, n: usize, pos: Pos) -> Result<(), SyntaxError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.nodes {
            return Err(SyntaxError::exceeded(
                pos,
                Exceeded::Nodes {
                    limit: self.limits.nodes,
                },
            ));
        }
        Ok(())
    }

    /// Refuses a value that would reach `levels` below the open ones.
    fn nest(&self, levels: usize, pos: Pos) -> Result<(), SyntaxError> {
        if self.stack.len().saturating_add(levels) > self.limits.depth {
            return Err(SyntaxError::exceeded(
                pos,
                Exceeded::Depth {
                    limit: self.limits.depth,
                },
            ));
        }
        Ok(())
    }

    fn open(&mut self, pos: Pos, anchor: usize, body: Body) -> Result<(), SyntaxError> {
        self.nest(1, pos)?;
        self.build(1, pos)?;
        self.stack.push(Open {
            pos,
            anchor,
            nodes: 1,
            below: 0,
            body,
        });
        Ok(())
    }

    fn on_event(&mut self, event: Event<'_>, pos: Pos) -> Result<(), SyntaxError> {
        match event {
            Event::DocumentStart(_) => {
                self.doc_pos = pos;
                self.anchors.clear();
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.build(1, pos)?;
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
                self.finish(node, Shape::SCALAR, anchor, pos)?;
            }
            Event::SequenceStart(anchor, _) => self.open(pos, anchor, Body::Seq(Vec::new()))?,
            Event::MappingStart(anchor, _) => self.open(
                pos,
                anchor,
                Body::Map {
                    entries: Vec::new(),
                    pending: None,
                    first: HashMap::new(),
                },
            )?,
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else {
                    return Ok(());
                };
                let value = match open.body {
                    Body::Seq(items) => Value::Seq(items),
                    Body::Map { entries, .. } => Value::Map(entries),
                };
                let shape = Shape {
                    nodes: open.nodes,
                    height: open.below + 1,
                };
                let node = Node {
                    pos: open.pos,
                    value,
                };
                self.finish(node, shape, open.anchor, pos)?;
            }
            Event::Alias(id) => {
                let Some((node, shape)) = self.anchors.get(&id) else {
                    return Err(SyntaxError::malformed(
                        pos,
                        "this alias names no anchor defined before it",
                    ));
                };
                let (node, shape) = (node.clone(), *shape);
                // Checked before the copy is made: where the alias lands
                // plus the levels the anchored value opens.
                self.nest(shape.height, pos)?;
                self.expanded = self.expanded.saturating_add(shape.nodes);
                if self.expanded > self.limits.alias_nodes {
                    return Err(SyntaxError::exceeded(
                        pos,
                        Exceeded::AliasNodes {
                            limit: self.limits.alias_nodes,
                        },
                    ));
                }
                self.build(shape.nodes, pos)?;
                self.finish(node, shape, 0, pos)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    /// Puts a complete value where it belongs: into the open list or
    /// mapping, or as a document.
    fn finish(
        &mut self,
        node: Node,
        shape: Shape,
        anchor: usize,
        pos: Pos,
    ) -> Result<(), SyntaxError> {
        if anchor != 0 {
            // The anchor keeps a copy of its own: count it. Anchor copies
            // nest at most `depth` deep, so they cost at most `depth`
            // times the file's values even before this count bounds them.
            self.build(shape.nodes, pos)?;
            self.anchors.insert(anchor, (node.clone(), shape));
        }
        let keys = self.limits.keys;
        let Some(open) = self.stack.last_mut() else {
            if !node.is_null() {
                self.documents.push(Document {
                    pos: self.doc_pos,
                    root: node,
                });
            }
            return Ok(());
        };
        open.nodes = open.nodes.saturating_add(shape.nodes);
        open.below = open.below.max(shape.height);
        match &mut open.body {
            Body::Seq(items) => items.push(node),
            Body::Map {
                entries,
                pending,
                first,
            } => match pending.take() {
                None => {
                    let repeated = match node.as_scalar() {
                        Some(key) => match first.get(key) {
                            Some(&line) => {
                                self.duplicates.push(SyntaxError::malformed(
                                    node.pos,
                                    format!(
                                        "duplicate key `{}` (first at line {line}); keep one of them",
                                        diagnostic::shown(key)
                                    ),
                                ));
                                true
                            }
                            None => false,
                        },
                        None => false,
                    };
                    if !repeated {
                        if entries.len() >= keys {
                            return Err(SyntaxError::exceeded(
                                node.pos,
                                Exceeded::Keys { limit: keys },
                            ));
                        }
                        if let Some(key) = node.as_scalar() {
                            first.insert(key.to_owned(), node.pos.line);
                        }
                    }
                    *pending = Some((node, repeated));
                }
                Some((_, true)) => {}
                Some((key, false)) => entries.push((key, node)),
            },
        }
        Ok(())
    }
}
