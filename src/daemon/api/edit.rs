//! The semantic edits a write makes to a resource's YAML, as text: only
//! the lines the edit is about change; comments, order, quoting and
//! every other byte of the file stay as they were, so the commit's diff
//! is what a person would have written.
//!
//! Adding a target reads the file's lines ([`add_target`]); the other
//! edits start from where the parser says a value is ([`tree`](self)'s
//! ranges) and read their result back before it is committed:
//! [`remove_target`], [`set_target_weights`] (drain is weight 0),
//! [`set_forward`].

mod forward;
mod targets;
mod tree;

pub use forward::set_forward;
pub use targets::{remove_target, set_target_weights, TargetAt, TargetList};

/// Why an edit could not be made as text (the caller answers 422).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{file}:{line}: the document has no `spec:` block to edit")]
    NoSpec { file: String, line: u32 },
    #[error("{file}:{line}: `spec.targets` is written in a form the API does not edit yet (write it as a block list or a one-line `[…]`)")]
    Unsupported { file: String, line: u32 },
    /// What an edit would change is written in a way it does not edit
    /// safely (an anchor, a value over several lines…).
    #[error("{file}:{line}: {what}: the API does not edit this form; make the change in git, or write the list as `- …` items or a one-line `[…]` without anchors")]
    Form {
        file: String,
        line: u32,
        what: String,
    },
}

/// Where a line starts and what it holds.
struct Line<'a> {
    start: usize,
    text: &'a str,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for piece in text.split_inclusive('\n') {
        out.push(Line {
            start,
            text: piece.trim_end_matches(['\n', '\r']),
        });
        start += piece.len();
    }
    out
}

fn indent(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}

/// Blank or a comment: no part of the structure.
fn filler(text: &str) -> bool {
    let t = text.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// The value after `key:` on a line indented `at`, if the line is that key.
fn key_value<'a>(text: &'a str, at: usize, key: &str) -> Option<&'a str> {
    if indent(text) != at {
        return None;
    }
    let rest = text[at..].strip_prefix(key)?.strip_prefix(':')?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then(|| rest.trim())
}

/// The YAML flow mapping of one target, quoted so that an IPv6 address
/// or a name reads back as a string.
#[must_use]
pub fn target_item(address: &str, weight: u32) -> String {
    format!(
        "{{address: '{}', weight: {weight}}}",
        address.replace('\'', "''")
    )
}

/// `text` with a target added at the end of `spec.targets` of the
/// document that starts on line `doc_line` (1-based) of `file`.
///
/// A block list gets one more item at its siblings' indentation, in the
/// style of the last one (a flow mapping `- {…}` or block keys); a
/// one-line flow list gets one more element; a missing `targets:` key is
/// added at the top of `spec:`.
pub fn add_target(
    text: &str,
    file: &str,
    doc_line: u32,
    address: &str,
    weight: u32,
) -> Result<String, EditError> {
    let all = lines(text);
    let first = (doc_line.max(1) - 1) as usize;
    // The document: up to the next `---` or the end.
    let end = all
        .iter()
        .enumerate()
        .skip(first + 1)
        .find(|(_, l)| l.text.starts_with("---"))
        .map_or(all.len(), |(i, _)| i);
    let doc = &all[first.min(end)..end];
    let no_spec = || EditError::NoSpec {
        file: file.to_owned(),
        line: doc_line,
    };
    let spec = doc
        .iter()
        .position(|l| key_value(l.text, 0, "spec").is_some_and(str::is_empty))
        .ok_or_else(no_spec)?;
    // The indentation of spec's keys: its first structural line.
    let Some(key_indent) = doc[spec + 1..]
        .iter()
        .find(|l| !filler(l.text))
        .map(|l| indent(l.text))
        .filter(|&i| i > 0)
    else {
        return Err(no_spec());
    };
    let body_end = doc[spec + 1..]
        .iter()
        .position(|l| !filler(l.text) && indent(l.text) < key_indent)
        .map_or(doc.len(), |i| spec + 1 + i);
    let item = target_item(address, weight);
    let unsupported = |at: usize| EditError::Unsupported {
        file: file.to_owned(),
        line: doc_line + u32::try_from(at).unwrap_or(u32::MAX),
    };
    let Some(at) =
        (spec + 1..body_end).find(|&i| key_value(doc[i].text, key_indent, "targets").is_some())
    else {
        // No `targets:` yet: the first key of spec.
        let insert = doc[spec + 1].start;
        let added = format!("{}targets: [{item}]\n", " ".repeat(key_indent));
        return Ok(splice(text, insert, insert, &added));
    };
    let value = key_value(doc[at].text, key_indent, "targets").unwrap_or_default();
    let value = strip_comment(value);
    if !value.is_empty() {
        // A one-line flow list: `[…]`.
        if !(value.starts_with('[') && value.ends_with(']')) {
            return Err(unsupported(at));
        }
        let line = doc[at].text;
        let close = doc[at].start + line.rfind(']').ok_or_else(|| unsupported(at))?;
        let inner = value[1..value.len() - 1].trim();
        let added = if inner.is_empty() {
            item
        } else {
            format!(", {item}")
        };
        return Ok(splice(text, close, close, &added));
    }
    // A block list: items at one indentation, up to the next line less
    // indented than they are (or at spec's keys, for `- ` at key level).
    let items: Vec<usize> = (at + 1..body_end)
        .take_while(|&i| {
            filler(doc[i].text)
                || indent(doc[i].text) > key_indent
                || doc[i].text.trim_start().starts_with("- ") && indent(doc[i].text) == key_indent
        })
        .filter(|&i| !filler(doc[i].text))
        .collect();
    let Some(&first_item) = items.first() else {
        return Err(unsupported(at));
    };
    let dash = indent(doc[first_item].text);
    if !doc[first_item].text[dash..].starts_with('-') {
        return Err(unsupported(at));
    }
    let last = *items.last().unwrap_or(&first_item);
    let insert = all.get(first + last + 1).map_or(text.len(), |l| l.start);
    let mut added = String::new();
    if insert == text.len() && !text.ends_with('\n') {
        added.push('\n');
    }
    added.push_str(&format!("{}- {item}\n", " ".repeat(dash)));
    Ok(splice(text, insert, insert, &added))
}

/// A plain scalar or flow value without its trailing `# comment`.
fn strip_comment(value: &str) -> &str {
    match value.find(" #") {
        Some(i) => value[..i].trim_end(),
        None => value,
    }
}

fn splice(text: &str, from: usize, to: usize, with: &str) -> String {
    let mut out = String::with_capacity(text.len() + with.len());
    out.push_str(&text[..from]);
    out.push_str(with);
    out.push_str(&text[to..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# pools of team web
kind: Pool
name: web
labels: {team: web}
spec:
  targets:
    - {address: '10.0.0.1:80', weight: 90}   # stable
    # the canary
    - {address: '10.0.0.2:80', weight: 10}
  health_check:
    probe: {http: {path: /healthz}}
---
kind: Pool
name: db
spec:
  targets: [{address: '10.0.1.1:5432', weight: 1}]
";

    #[test]
    fn a_block_list_gets_one_line_at_its_items_indentation_and_nothing_else_moves() {
        let edited = add_target(FILE, "pools.yaml", 1, "10.0.0.7:8080", 1).unwrap();
        let expected = FILE.replace(
            "    - {address: '10.0.0.2:80', weight: 10}\n",
            "    - {address: '10.0.0.2:80', weight: 10}\n    - {address: '10.0.0.7:8080', weight: 1}\n",
        );
        assert_eq!(edited, expected);
    }

    #[test]
    fn a_one_line_flow_list_gets_one_more_element() {
        let edited = add_target(FILE, "pools.yaml", 13, "[::1]:5432", 2).unwrap();
        assert_eq!(
            edited,
            FILE.replace(
                "weight: 1}]",
                "weight: 1}, {address: '[::1]:5432', weight: 2}]"
            )
        );
    }

    #[test]
    fn items_at_the_keys_indentation_and_a_file_without_a_final_newline() {
        let text =
            "kind: Pool\nname: a\nspec:\n  targets:\n  - address: 10.0.0.1:80\n    weight: 1";
        let edited = add_target(text, "a.yaml", 1, "10.0.0.2:80", 3).unwrap();
        assert_eq!(
            edited,
            format!("{text}\n  - {{address: '10.0.0.2:80', weight: 3}}\n")
        );
    }

    #[test]
    fn an_empty_list_or_no_list_gets_the_first_target() {
        let text = "kind: Pool\nname: a\nspec:\n  targets: []\n";
        assert_eq!(
            add_target(text, "a.yaml", 1, "10.0.0.2:80", 1).unwrap(),
            "kind: Pool\nname: a\nspec:\n  targets: [{address: '10.0.0.2:80', weight: 1}]\n"
        );
        let text = "kind: Pool\nname: a\nspec:\n  algorithm: round_robin\n";
        assert_eq!(
            add_target(text, "a.yaml", 1, "10.0.0.2:80", 1).unwrap(),
            "kind: Pool\nname: a\nspec:\n  targets: [{address: '10.0.0.2:80', weight: 1}]\n  algorithm: round_robin\n"
        );
    }

    #[test]
    fn a_form_it_cannot_edit_is_refused_with_its_line() {
        let text = "kind: Pool\nname: a\nspec:\n  targets: !!seq\n";
        assert_eq!(
            add_target(text, "a.yaml", 1, "10.0.0.2:80", 1),
            Err(EditError::Unsupported {
                file: "a.yaml".into(),
                line: 4
            })
        );
    }
}
