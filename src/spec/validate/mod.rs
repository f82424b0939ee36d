//! Checks that span fields and documents: references, conflicts, key
//! material, secrets. Each pushes [`Diagnostic`]s; none stops at the first.

mod access;
pub(crate) mod balancers;
mod freeze;

use super::diagnostic::{Code, Diagnostic};
use super::kinds::{Kind, Resource, ResourceId};
use super::material;
use super::units::Name;
use super::yaml::{Pos, Spanned};
use super::{Catalog, Options, SourceFile};
use std::collections::{BTreeMap, BTreeSet};

/// Runs every cross-document check, resolving `chain_file`s on the way.
///
/// `broken` names documents that exist but failed to decode (already
/// reported): references to them are not reported again as dangling.
pub(super) fn catalog(
    catalog: &mut Catalog,
    broken: BTreeSet<ResourceId>,
    files: &[SourceFile],
    options: &Options,
) -> Vec<Diagnostic> {
    let mut out = Sink {
        diagnostics: Vec::new(),
        broken,
        suggestions_left: MAX_SUGGESTIONS,
    };
    balancers::check(catalog, files, options, &mut out);
    access::check(catalog, &mut out);
    freeze::check(catalog, &mut out);
    out.diagnostics
}

/// Where checks put what they find, and what they should keep quiet about.
pub(super) struct Sink {
    diagnostics: Vec<Diagnostic>,
    broken: BTreeSet<ResourceId>,
    /// How many more dangling references may get a "did you mean".
    suggestions_left: usize,
}

/// Dangling references that get a "did you mean": each suggestion compares
/// the name with every resource of its kind, so without a bound a tree of
/// N broken references to a kind of N resources would cost N² — a stall
/// anyone who can push could cause. A person fixes the first few anyway.
const MAX_SUGGESTIONS: usize = 100;

/// Finds private keys and tokens anywhere in a file, without echoing them.
pub(super) fn secrets(file: &SourceFile) -> Vec<Diagnostic> {
    material::scan(&file.text)
        .into_iter()
        .map(|finding| {
            let code = if finding.kind.is_private_key() {
                Code::PrivateKeyInRepo
            } else {
                Code::SecretInRepo
            };
            let pos = Pos::new(to_u32(finding.line), to_u32(finding.column));
            Diagnostic::error(
                &file.path,
                pos,
                code,
                format!(
                    "this file contains {}; secrets must never be committed",
                    finding.kind.describe()
                ),
            )
            .hint(finding.kind.hint())
        })
        .collect()
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Reports problems about one resource: every diagnostic names the file,
/// the kind and the name.
pub(super) struct Reporter<'a> {
    file: &'a str,
    kind: Kind,
    name: &'a str,
    out: &'a mut Sink,
}

impl<'a> Reporter<'a> {
    fn new<S>(kind: Kind, resource: &'a Resource<S>, out: &'a mut Sink) -> Self {
        Self {
            file: &resource.origin.file,
            kind,
            name: resource.name.as_str(),
            out,
        }
    }

    fn error(&mut self, pos: Pos, code: Code, message: impl Into<String>, hint: impl Into<String>) {
        self.out.diagnostics.push(
            Diagnostic::error(self.file, pos, code, message)
                .about(self.kind, self.name)
                .hint(hint),
        );
    }

    fn warning(
        &mut self,
        pos: Pos,
        code: Code,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.out.diagnostics.push(
            Diagnostic::warning(self.file, pos, code, message)
                .about(self.kind, self.name)
                .hint(hint),
        );
    }

    /// Reports `reference` unless `target` holds a resource of that name.
    fn reference<S>(
        &mut self,
        what: Kind,
        reference: &Spanned<Name>,
        target: &BTreeMap<Name, Resource<S>>,
    ) {
        if target.contains_key(reference.value.as_str())
            || self
                .out
                .broken
                .contains(&ResourceId::new(what, reference.value.clone()))
        {
            return;
        }
        let mut message = format!("{} `{}` does not exist", what.id_prefix(), reference.value);
        if self.out.suggestions_left > 0 {
            self.out.suggestions_left -= 1;
            let known: Vec<&str> = target.keys().map(Name::as_str).collect();
            if let Some(s) = super::yaml::de::closest(reference.value.as_str(), &known) {
                message.push_str(&format!("; did you mean `{s}`?"));
            }
        }
        let hint = format!(
            "define a {} named `{}` (kind: {what}, name: {}) or fix the name",
            what, reference.value, reference.value
        );
        self.error(reference.pos, Code::DanglingReference, message, hint);
    }

    /// Reports names that appear twice in one list.
    fn unique_names<'n>(&mut self, what: &str, names: impl IntoIterator<Item = &'n Spanned<Name>>) {
        let mut seen: BTreeMap<&str, Pos> = BTreeMap::new();
        for name in names {
            if let Some(first) = repeat_of(&mut seen, name.value.as_str(), name.pos) {
                self.error(
                    name.pos,
                    Code::InvalidValue,
                    format!(
                        "{what} `{}` is listed twice (first at line {})",
                        name.value, first.line
                    ),
                    format!("give each {what} its own name"),
                );
            }
        }
    }
}

/// The earlier value seen under `key`, if any; otherwise remembers `value`.
/// Uniqueness checks report the repeat and name the first.
fn repeat_of<K: Ord, V: Copy>(seen: &mut BTreeMap<K, V>, key: K, value: V) -> Option<V> {
    match seen.entry(key) {
        std::collections::btree_map::Entry::Occupied(first) => Some(*first.get()),
        std::collections::btree_map::Entry::Vacant(slot) => {
            slot.insert(value);
            None
        }
    }
}
