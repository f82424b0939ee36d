//! The text of one commit's note: one block per status context, sorted,
//! readable in `git log --notes=lbops` and parsed back here.
//!
//! ```text
//! lbops/validate: success — 16 resources, all valid
//!   details: http://127.0.0.1:8712/commits/<sha>
//! lbops/authorize: failure — user/bob may not pool.weights.update on pool/db
//! ```
//!
//! A block is a header line `<context>: <state>[ — <description>]` and
//! the indented lines under it (`  details: <url>`). Contexts sort by
//! instance (none first), then in the order of [`StatusContext::ALL`]. Lines
//! lbops does not recognise are kept, after the status blocks, in their
//! order; blocks of other contexts (other daemons' instances) are kept
//! as they are.

use crate::report::{ContextName, Status, StatusContext, StatusState, MAX_DESCRIPTION};

/// Separates the state from the description on a header line.
const DASH: &str = " — ";
/// Starts the line under a header that holds the status' link.
const DETAILS: &str = "  details: ";

/// One status as a note holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteEntry {
    /// The full context name: `lbops/validate`, `lbops/staging/validate`.
    pub context: String,
    pub state: StatusState,
    /// One line, at most [`MAX_DESCRIPTION`] characters.
    pub description: String,
    /// The daemon's page for the commit.
    pub target_url: Option<String>,
}

impl NoteEntry {
    /// The entry `names` writes for `status`, made safe for the line
    /// format: no line breaks or control characters anywhere, the
    /// description cut to [`MAX_DESCRIPTION`] characters.
    #[must_use]
    pub fn from_status(names: &ContextName, status: &Status) -> Self {
        NoteEntry {
            context: names
                .of(status.context)
                .chars()
                .map(|c| {
                    if c.is_whitespace() || c.is_control() {
                        '-'
                    } else {
                        c
                    }
                })
                .collect(),
            state: status.state,
            description: clip(&one_line(&status.description)),
            target_url: status
                .target_url
                .as_deref()
                .map(|url| one_line(url).replace(' ', "%20"))
                .filter(|url| !url.is_empty()),
        }
    }

    fn header(&self) -> String {
        let state = self.state.as_str();
        match self.description.is_empty() {
            true => format!("{}: {state}", self.context),
            false => format!("{}: {state}{DASH}{}", self.context, self.description),
        }
    }
}

/// A parsed note.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NoteText {
    statuses: Vec<StatusBlock>,
    /// Lines that are not lbops statuses, kept verbatim.
    other: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct StatusBlock {
    entry: NoteEntry,
    /// Indented lines under the header other than `details:`, kept.
    extra: Vec<String>,
}

impl NoteText {
    /// Reads a note; never fails: what is not a status is kept as is.
    #[must_use]
    pub(crate) fn parse(text: &str) -> Self {
        let mut note = NoteText::default();
        // Whether indented lines belong to the last status block.
        let mut in_status = false;
        for line in text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            let indented = line.starts_with([' ', '\t']);
            if let (true, Some(block)) = (indented && in_status, note.statuses.last_mut()) {
                match line.strip_prefix(DETAILS) {
                    Some(url) if block.entry.target_url.is_none() => {
                        block.entry.target_url = Some(url.trim().to_owned());
                    }
                    _ => block.extra.push(line.to_owned()),
                }
                continue;
            }
            match (indented, parse_header(line)) {
                (false, Some(entry)) => {
                    note.statuses.push(StatusBlock {
                        entry,
                        extra: Vec::new(),
                    });
                    in_status = true;
                }
                _ => {
                    note.other.push(line.to_owned());
                    in_status = false;
                }
            }
        }
        note
    }

    /// Sets the status of `entry.context`, replacing every block of that
    /// context and nothing else.
    pub(crate) fn set(&mut self, entry: NoteEntry) {
        self.remove(&entry.context);
        self.statuses.push(StatusBlock {
            entry,
            extra: Vec::new(),
        });
    }

    /// Drops every block of `context`.
    pub(crate) fn remove(&mut self, context: &str) {
        self.statuses.retain(|b| b.entry.context != context);
    }

    /// The (first) status of `context`.
    #[must_use]
    pub(crate) fn get(&self, context: &str) -> Option<&NoteEntry> {
        self.statuses
            .iter()
            .map(|b| &b.entry)
            .find(|e| e.context == context)
    }

    /// Every status, in the order the note shows them.
    #[must_use]
    pub(crate) fn entries(&self) -> Vec<NoteEntry> {
        self.sorted().into_iter().map(|b| b.entry.clone()).collect()
    }

    /// The note's text: status blocks sorted by context, then the other
    /// lines; empty when there is nothing.
    #[must_use]
    pub(crate) fn render(&self) -> String {
        let mut text = String::new();
        for block in self.sorted() {
            text.push_str(&block.entry.header());
            text.push('\n');
            if let Some(url) = &block.entry.target_url {
                text.push_str(DETAILS);
                text.push_str(url);
                text.push('\n');
            }
            for line in &block.extra {
                text.push_str(line);
                text.push('\n');
            }
        }
        for line in &self.other {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    fn sorted(&self) -> Vec<&StatusBlock> {
        let mut blocks: Vec<&StatusBlock> = self.statuses.iter().collect();
        // Stable: two blocks of one context (a hand edit) keep their order.
        blocks.sort_by(|a, b| sort_key(&a.entry.context).cmp(&sort_key(&b.entry.context)));
        blocks
    }
}

/// `lbops/<instance>/<context>` sorts by instance (none first), then by
/// the flow's order of contexts, unknown contexts last by name.
fn sort_key(context: &str) -> (Option<&str>, usize, &str) {
    let name = context.strip_prefix("lbops/").unwrap_or(context);
    let (instance, kind) = match name.rsplit_once('/') {
        Some((instance, kind)) => (Some(instance), kind),
        None => (None, name),
    };
    let rank = StatusContext::ALL
        .iter()
        .position(|c| c.as_str() == kind)
        .unwrap_or(StatusContext::ALL.len());
    (instance, rank, kind)
}

/// `lbops/…: <state>[ — <description>]`, or `None` for any other line.
fn parse_header(line: &str) -> Option<NoteEntry> {
    let (context, rest) = line.split_once(": ")?;
    if !context.starts_with("lbops/") || context.contains(char::is_whitespace) {
        return None;
    }
    let (state, description) = match rest.split_once(DASH) {
        Some((state, description)) => (state, description),
        None => (rest, ""),
    };
    let state = [
        StatusState::Pending,
        StatusState::Success,
        StatusState::Failure,
        StatusState::Error,
    ]
    .into_iter()
    .find(|s| s.as_str() == state)?;
    Some(NoteEntry {
        context: context.to_owned(),
        state,
        description: description.to_owned(),
        target_url: None,
    })
}

/// `text` on one line: every run of whitespace or control characters
/// (newlines, tabs, escapes, Unicode line separators) becomes one space.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// At most [`MAX_DESCRIPTION`] characters, ending in `…` when cut.
fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_DESCRIPTION {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(MAX_DESCRIPTION - 1).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests;
