//! Where a value of a YAML file is, as bytes of its text. The parser
//! gives every value's start (`line:column`); where it ends is read from
//! the text: a scalar to its closing quote or the end of its token, a
//! flow collection to its matching bracket, a block list's item to the
//! last line indented under its `-`. An edit is a few [`Splice`]s of
//! those ranges, and [`Tree::check`] reads the edited text back: every
//! value of the file must read as the edit meant it to, so a form these
//! rules would misread (an anchor, a scalar over several lines) is
//! refused rather than committed.

use super::EditError;
use crate::spec::limits::Limits;
use crate::spec::yaml::{self, Document, Node, Pos, Value};
use std::ops::Range;

/// A file's text, where its lines start, and its documents.
pub(super) struct Tree<'a> {
    text: &'a str,
    file: &'a str,
    starts: Vec<usize>,
    pub documents: Vec<Document>,
}

/// One step down from a document's root: a mapping's key, a list's index.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step<'s> {
    Key(&'s str),
    Index(usize),
}

/// Bytes `range` of the text are replaced `with` this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Splice {
    pub range: Range<usize>,
    pub with: String,
}

impl<'a> Tree<'a> {
    /// Parses `text`, the file `file`, with a repository's limits.
    pub fn parse(text: &'a str, file: &'a str) -> Result<Self, EditError> {
        let parsed = yaml::parse_with(text, &Limits::REPOSITORY);
        if let Some(fatal) = parsed.fatal {
            return Err(EditError::Form {
                file: file.to_owned(),
                line: fatal.pos.line,
                what: format!("the file does not parse ({})", fatal.message),
            });
        }
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Ok(Tree {
            text,
            file,
            starts,
            documents: parsed.documents,
        })
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The error for `what`, written at `line` in a form these edits do
    /// not make.
    pub fn form(&self, line: u32, what: impl Into<String>) -> EditError {
        EditError::Form {
            file: self.file.to_owned(),
            line,
            what: what.into(),
        }
    }

    /// The index of the document of resource `kind` `name`.
    pub fn resource(&self, kind: &str, name: &str) -> Result<usize, EditError> {
        self.documents
            .iter()
            .position(|d| {
                d.root.get("kind").and_then(Node::as_scalar) == Some(kind)
                    && d.root.get("name").and_then(Node::as_scalar) == Some(name)
            })
            .ok_or_else(|| self.form(1, format!("no `kind: {kind}` document named `{name}`")))
    }

    /// The value at `path` below document `doc`'s root.
    pub fn at(&self, doc: usize, path: &[Step<'_>]) -> Result<&Node, EditError> {
        let root = &self.documents[doc].root;
        at(root, path).ok_or_else(|| self.form(root.pos.line, format!("no `{}`", shown(path))))
    }

    /// The key node of `key` in mapping `map`.
    pub fn key<'n>(&self, map: &'n Node, key: &str) -> Result<&'n Node, EditError> {
        match &map.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_scalar() == Some(key))
                .map(|(k, _)| k),
            _ => None,
        }
        .ok_or_else(|| self.form(map.pos.line, format!("no `{key}`")))
    }

    /// The byte where `pos` (1-based line, column in characters) is.
    fn offset(&self, pos: Pos) -> Option<usize> {
        let line = usize::try_from(pos.line).ok()?.checked_sub(1)?;
        let start = *self.starts.get(line)?;
        let column = usize::try_from(pos.column).ok()?.checked_sub(1)?;
        let rest = &self.text[start..self.line_end(line)];
        rest.char_indices()
            .map(|(i, _)| i)
            .chain([rest.len()])
            .nth(column)
            .map(|i| start + i)
    }

    /// The byte where `node` starts.
    pub fn start(&self, node: &Node) -> Result<usize, EditError> {
        self.offset(node.pos)
            .ok_or_else(|| self.form(node.pos.line, "a value outside the text"))
    }

    /// The byte after line `line`'s last character (before its break).
    fn line_end(&self, line: usize) -> usize {
        self.starts
            .get(line + 1)
            .map_or(self.text.len(), |next| next - 1)
    }

    /// The line (0-based) that byte `at` is on.
    fn line_of(&self, at: usize) -> usize {
        self.starts.partition_point(|&s| s <= at) - 1
    }

    /// How many spaces line `line` starts with.
    fn indent(&self, line: usize) -> usize {
        let text = &self.text[self.starts[line]..self.line_end(line)];
        text.len() - text.trim_start_matches(' ').len()
    }

    /// Blank or only a comment.
    fn filler(&self, line: usize) -> bool {
        let text = self.text[self.starts[line]..self.line_end(line)].trim_start();
        text.is_empty() || text.starts_with('#')
    }

    /// How many bytes line `line` holds before `at`.
    pub fn column(&self, at: usize) -> usize {
        at - self.starts[self.line_of(at)]
    }

    /// The byte after the whole line that byte `at` is on, its line break
    /// included.
    pub fn after_line(&self, at: usize) -> usize {
        self.starts
            .get(self.line_of(at) + 1)
            .copied()
            .unwrap_or(self.text.len())
    }

    /// Whether `node` is a list written `[…]` or a mapping written `{…}`.
    pub fn is_flow(&self, node: &Node) -> bool {
        let first = self
            .offset(node.pos)
            .and_then(|at| self.text.as_bytes().get(at));
        matches!(
            (&node.value, first),
            (Value::Seq(_), Some(b'[')) | (Value::Map(_), Some(b'{'))
        )
    }

    /// Whether `node` is a list of `- ` items. (The parser places one at
    /// its first `-`, or, when the items are at their key's indentation,
    /// at its first item's value.)
    pub fn is_block_list(&self, node: &Node) -> bool {
        match &node.value {
            Value::Seq(items) => {
                !self.is_flow(node) && items.first().is_some_and(|i| self.block_item(i).is_ok())
            }
            _ => false,
        }
    }

    /// How many spaces come before the `-` of block-list item `item`.
    pub fn dash_indent(&self, item: &Node) -> Result<usize, EditError> {
        let start = self.block_item(item)?.start;
        let line = &self.text[start..];
        Ok(line.len() - line.trim_start_matches(' ').len())
    }

    /// The bytes of `node`: a scalar on one line, or a flow collection.
    pub fn extent(&self, node: &Node) -> Result<Range<usize>, EditError> {
        if self.is_flow(node) {
            self.flow(node)
        } else {
            self.scalar(node)
        }
    }

    /// The bytes of scalar `node`, quotes included; it must be written on
    /// one line, without an anchor, alias or tag.
    pub fn scalar(&self, node: &Node) -> Result<Range<usize>, EditError> {
        let start = self.start(node)?;
        let bytes = self.text.as_bytes();
        let end = self.line_end(self.line_of(start));
        let refuse = || {
            self.form(
                node.pos.line,
                "a value written over several lines, or with an anchor, alias or tag",
            )
        };
        if !matches!(node.value, Value::Scalar { .. }) {
            return Err(refuse());
        }
        match bytes.get(start) {
            Some(b'\'') => {
                let mut i = start + 1;
                while i < end {
                    if bytes[i] == b'\'' {
                        if bytes.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        return Ok(start..i + 1);
                    }
                    i += 1;
                }
                Err(refuse())
            }
            Some(b'"') => {
                let mut i = start + 1;
                while i < end {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => return Ok(start..i + 1),
                        _ => i += 1,
                    }
                }
                Err(refuse())
            }
            Some(b'&' | b'*' | b'!' | b'|' | b'>' | b'[' | b'{' | b'\n' | b'\r') | None => {
                Err(refuse())
            }
            Some(_) => {
                // A plain scalar ends at a flow indicator, a `: ` after
                // a key, a comment or the line's end (the values edited
                // here never hold one; `check` catches one that does).
                let mut i = start;
                while i < end
                    && !matches!(bytes[i], b',' | b']' | b'}')
                    && !(bytes[i] == b':'
                        && matches!(bytes.get(i + 1), None | Some(b' ' | b'\t' | b'\n' | b'\r')))
                    && !(i > start && bytes[i] == b'#' && bytes[i - 1].is_ascii_whitespace())
                {
                    i += 1;
                }
                let token = self.text[start..i].trim_end();
                Ok(start..start + token.len())
            }
        }
    }

    /// The bytes of flow collection `node`, from its `[`/`{` to the
    /// matching bracket, over lines if it is written so.
    pub fn flow(&self, node: &Node) -> Result<Range<usize>, EditError> {
        let start = self.start(node)?;
        let bytes = self.text.as_bytes();
        if !matches!(bytes.get(start), Some(b'[' | b'{')) {
            return Err(self.form(node.pos.line, "a value that is not `[…]` or `{…}`"));
        }
        let mut depth = 0usize;
        let mut i = start;
        while i < bytes.len() {
            let after_space_or_indicator = i == 0
                || matches!(
                    bytes[i - 1],
                    b' ' | b'\t' | b'\n' | b'[' | b'{' | b',' | b':'
                );
            match bytes[i] {
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(start..i + 1);
                    }
                }
                b'\'' if after_space_or_indicator => {
                    i += 1;
                    while i < bytes.len() && (bytes[i] != b'\'' || bytes.get(i + 1) == Some(&b'\''))
                    {
                        i += if bytes[i] == b'\'' { 2 } else { 1 };
                    }
                }
                b'"' if after_space_or_indicator => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                }
                b'#' if i > 0 && bytes[i - 1].is_ascii_whitespace() => {
                    while i < bytes.len() && bytes[i] != b'\n' {
                        i += 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        Err(self.form(node.pos.line, "a `[` or `{` that does not close"))
    }

    /// The whole lines of block-list item `item`: from the line of its
    /// `-` to the last line indented under that `-`, comments and blank
    /// lines after it excluded (they may be about what follows).
    pub fn block_item(&self, item: &Node) -> Result<Range<usize>, EditError> {
        let bytes = self.text.as_bytes();
        let mut dash = self.start(item)?;
        while dash > 0 && matches!(bytes[dash - 1], b' ' | b'\t' | b'\n' | b'\r') {
            dash -= 1;
        }
        let line = self.line_of(dash.saturating_sub(1));
        let first = self.starts[line];
        if dash == 0
            || bytes[dash - 1] != b'-'
            || !self.text[first..dash - 1]
                .trim_start_matches(' ')
                .is_empty()
        {
            return Err(self.form(
                item.pos.line,
                "a list item that is not `- …` on its own line",
            ));
        }
        let indent = dash - 1 - first;
        let mut last = line;
        for next in line + 1..self.starts.len() {
            if self.filler(next) {
                continue;
            }
            if self.indent(next) <= indent {
                break;
            }
            last = next;
        }
        Ok(first..self.after_line(self.starts[last]))
    }

    /// The text with `splices` made; they must not overlap.
    pub fn edited(&self, mut splices: Vec<Splice>) -> Result<String, EditError> {
        splices.sort_by_key(|s| s.range.start);
        if splices
            .windows(2)
            .any(|w| w[0].range.end > w[1].range.start)
        {
            let at = splices.first().map_or(0, |s| s.range.start);
            return Err(self.form(line_number(self.line_of(at)), "values that overlap"));
        }
        let mut out = String::with_capacity(self.text.len() + 64);
        let mut from = 0;
        for splice in &splices {
            out.push_str(&self.text[from..splice.range.start]);
            out.push_str(&splice.with);
            from = splice.range.end;
        }
        out.push_str(&self.text[from..]);
        Ok(out)
    }

    /// Refuses `edited` unless it reads back as `expected`, value for
    /// value, in every document of the file; `line` is where the edit is.
    pub fn check(&self, expected: &[Document], edited: &str, line: u32) -> Result<(), EditError> {
        let parsed = yaml::parse_with(edited, &Limits::REPOSITORY);
        let reads_back = parsed.fatal.is_none()
            && parsed.documents.len() == expected.len()
            && parsed
                .documents
                .iter()
                .zip(expected)
                .all(|(got, want)| same(&got.root, &want.root));
        if reads_back {
            Ok(())
        } else {
            Err(self.form(line, "the edited text would not read back as meant"))
        }
    }
}

/// A 0-based line index as editors number it.
fn line_number(line: usize) -> u32 {
    u32::try_from(line + 1).unwrap_or(u32::MAX)
}

/// The path as YAML keys read, e.g. `spec.targets[2]`.
fn shown(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The value at `path` below `node`.
pub(super) fn at<'n>(node: &'n Node, path: &[Step<'_>]) -> Option<&'n Node> {
    path.iter()
        .try_fold(node, |node, step| match (step, &node.value) {
            (Step::Key(key), _) => node.get(key),
            (Step::Index(i), Value::Seq(items)) => items.get(*i),
            _ => None,
        })
}

/// The value at `path` below `node`, to change.
pub(super) fn at_mut<'n>(node: &'n mut Node, path: &[Step<'_>]) -> Option<&'n mut Node> {
    path.iter()
        .try_fold(node, |node, step| match (step, &mut node.value) {
            (Step::Key(key), Value::Map(entries)) => entries
                .iter_mut()
                .find(|(k, _)| k.as_scalar() == Some(key))
                .map(|(_, v)| v),
            (Step::Index(i), Value::Seq(items)) => items.get_mut(*i),
            _ => None,
        })
}

/// Whether two values read the same, wherever they are written.
pub(super) fn same(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Scalar { text: x, quoted: p }, Value::Scalar { text: y, quoted: q }) => {
            x == y && p == q
        }
        (Value::Seq(x), Value::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k, v), (l, w))| same(k, l) && same(v, w))
        }
        _ => false,
    }
}

/// A scalar value as an edit writes it, and how it reads back.
pub(super) fn scalar(text: &str, quoted: bool) -> Node {
    Node {
        pos: Pos::default(),
        value: Value::Scalar {
            text: text.to_owned(),
            quoted,
        },
    }
}

/// `name` as a YAML scalar that reads back as that string: plain when it
/// starts with a letter and is no YAML keyword (so it cannot read as a
/// number, a bool or null), else single-quoted.
pub(super) fn string(name: &str) -> (String, Node) {
    let keyword = matches!(
        name.to_ascii_lowercase().as_str(),
        "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    );
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !keyword
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if plain {
        (name.to_owned(), scalar(name, false))
    } else {
        (
            format!("'{}'", name.replace('\'', "''")),
            scalar(name, true),
        )
    }
}

/// A mapping value with `entries` in order, as an edit writes it.
pub(super) fn map(entries: Vec<(&str, Node)>) -> Node {
    Node {
        pos: Pos::default(),
        value: Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (scalar(k, false), v))
                .collect(),
        ),
    }
}
