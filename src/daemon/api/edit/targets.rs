//! A pool's targets: deregister one ([`remove_target`]), set weights
//! ([`set_target_weights`]; a drain is weight 0). A target is named by
//! its place in the catalog (which list, which item), which the parser's
//! tree of the same text holds in the same order.

use super::tree::{at_mut, scalar, Splice, Step, Tree};
use super::EditError;
use crate::spec::kinds::pool::DEFAULT_TARGET_WEIGHT;
use crate::spec::yaml::{Node, Value};

/// Which list of a pool a target is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetList {
    Primary,
    Backup,
}

impl TargetList {
    /// Its key under `spec:`.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            TargetList::Primary => "targets",
            TargetList::Backup => "backup_targets",
        }
    }
}

/// Where a target is: its list and its index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetAt {
    pub list: TargetList,
    pub index: usize,
}

impl TargetAt {
    fn path(self) -> [Step<'static>; 3] {
        [
            Step::Key("spec"),
            Step::Key(self.list.key()),
            Step::Index(self.index),
        ]
    }
}

/// `text` (the file `file`) without the target at `target` of pool
/// `pool`: its item goes, with its separator in a `[…]` or its lines
/// in a block list (comments above it stay); a block list left empty
/// becomes `[]`.
pub fn remove_target(
    text: &str,
    file: &str,
    pool: &str,
    target: TargetAt,
) -> Result<String, EditError> {
    let tree = Tree::parse(text, file)?;
    let doc = tree.resource("Pool", pool)?;
    let [spec, key, _] = target.path();
    let list = tree.at(doc, &[spec, key])?;
    let item = tree.at(doc, &target.path())?;
    let Value::Seq(items) = &list.value else {
        return Err(tree.form(list.pos.line, "a target list that is not a list"));
    };
    let (i, n) = (target.index, items.len());
    let mut splices = Vec::new();
    if tree.is_flow(list) {
        let cut = if n == 1 {
            tree.extent(item)?
        } else if i + 1 < n {
            tree.extent(item)?.start..tree.extent(&items[i + 1])?.start
        } else {
            tree.extent(&items[i - 1])?.end..tree.extent(item)?.end
        };
        splices.push(Splice {
            range: cut,
            with: String::new(),
        });
    } else if tree.is_block_list(list) {
        splices.push(Splice {
            range: tree.block_item(item)?,
            with: String::new(),
        });
        if n == 1 {
            // A key with nothing under it reads as null, not as a list.
            let spec_map = tree.at(doc, &[spec])?;
            let written = tree.scalar(tree.key(spec_map, target.list.key())?)?;
            let colon = tree.text()[written.end..]
                .find(|c: char| c != ' ')
                .map(|i| written.end + i)
                .filter(|&at| tree.text().as_bytes()[at] == b':')
                .ok_or_else(|| tree.form(list.pos.line, "a key without `:` after it"))?;
            splices.push(Splice {
                range: colon + 1..colon + 1,
                with: " []".to_owned(),
            });
        }
    } else {
        return Err(tree.form(list.pos.line, "a target list with an anchor, alias or tag"));
    }
    let edited = tree.edited(splices)?;
    let mut expected = tree.documents.clone();
    if let Some(Node {
        value: Value::Seq(items),
        ..
    }) = at_mut(&mut expected[doc].root, &[spec, key])
    {
        items.remove(i);
    }
    tree.check(&expected, &edited, item.pos.line)?;
    Ok(edited)
}

/// `text` (the file `file`) with each target of `weights` in pool `pool`
/// given its weight: the number is replaced where it is written, or
/// `weight: N` added to an item that had the default. A weight the
/// target already has changes nothing.
pub fn set_target_weights(
    text: &str,
    file: &str,
    pool: &str,
    weights: &[(TargetAt, u32)],
) -> Result<String, EditError> {
    let tree = Tree::parse(text, file)?;
    let doc = tree.resource("Pool", pool)?;
    let mut expected = tree.documents.clone();
    let mut splices = Vec::new();
    let mut line = tree.documents[doc].root.pos.line;
    for &(target, weight) in weights {
        let path = target.path();
        let item = tree.at(doc, &path)?;
        line = item.pos.line;
        if let Some((splice, after)) = set_weight(&tree, item, weight, DEFAULT_TARGET_WEIGHT)? {
            splices.push(splice);
            if let Some(node) = at_mut(&mut expected[doc].root, &path) {
                *node = after;
            }
        }
    }
    let edited = tree.edited(splices)?;
    tree.check(&expected, &edited, line)?;
    Ok(edited)
}

/// The splice that gives list item `item` (a mapping) weight `weight`,
/// and the item as it then reads; `None` when it reads so already (an
/// item without `weight` has `default`).
pub(super) fn set_weight(
    tree: &Tree<'_>,
    item: &Node,
    weight: u32,
    default: u32,
) -> Result<Option<(Splice, Node)>, EditError> {
    let Value::Map(entries) = &item.value else {
        return Err(tree.form(item.pos.line, "a list item that is not a mapping"));
    };
    let number = weight.to_string();
    let mut after = entries.clone();
    let written = entries
        .iter()
        .position(|(k, _)| k.as_scalar() == Some("weight"));
    let splice = match written {
        Some(i) => {
            let value = &entries[i].1;
            if value.as_scalar() == Some(number.as_str()) {
                return Ok(None);
            }
            after[i].1 = scalar(&number, false);
            Splice {
                range: tree.scalar(value)?,
                with: number,
            }
        }
        None if weight == default => return Ok(None),
        None if tree.is_flow(item) => {
            // Before the closing `}`, after the last value.
            let range = tree.flow(item)?;
            let inside = tree.text()[range.start..range.end - 1].trim_end();
            let at = range.start + inside.len();
            let separator = if inside.ends_with(',') { " " } else { ", " };
            after.push((scalar("weight", false), scalar(&number, false)));
            Splice {
                range: at..at,
                with: format!("{separator}weight: {number}"),
            }
        }
        None => {
            // One more line at the column of the item's keys, after its
            // last line.
            let indent = tree.column(tree.start(item)?);
            let end = tree.block_item(item)?.end;
            let mut with = String::new();
            if !tree.text()[..end].ends_with('\n') {
                with.push('\n');
            }
            with.push_str(&format!("{}weight: {number}\n", " ".repeat(indent)));
            after.push((scalar("weight", false), scalar(&number, false)));
            Splice {
                range: end..end,
                with,
            }
        }
    };
    Ok(Some((
        splice,
        Node {
            pos: item.pos,
            value: Value::Map(after),
        },
    )))
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
    - address: '[::1]:8080'
      weight: 5   # v6
    - address: 10.0.0.4:80
  backup_targets: [{address: '10.0.9.1:80'}, {address: '10.0.9.2:80', weight: 2}]
  health_check:
    probe: {http: {path: /healthz}}
---
kind: Pool
name: db
spec:
  targets: [{address: '10.0.1.1:5432', weight: 1}, {address: '10.0.1.2:5432'}]
  backup_targets:
  - {address: '10.0.1.9:5432'}   # the only backup
";

    fn at(list: TargetList, index: usize) -> TargetAt {
        TargetAt { list, index }
    }
    use TargetList::{Backup, Primary};

    fn removed(pool: &str, target: TargetAt) -> String {
        remove_target(FILE, "pools.yaml", pool, target).unwrap()
    }

    #[test]
    fn a_block_item_goes_with_its_lines_and_the_comment_above_the_next_stays() {
        assert_eq!(
            removed("web", at(Primary, 1)),
            FILE.replace("    - {address: '10.0.0.2:80', weight: 10}\n", "")
        );
        assert_eq!(
            removed("web", at(Primary, 0)),
            FILE.replace(
                "    - {address: '10.0.0.1:80', weight: 90}   # stable\n",
                ""
            )
        );
    }

    #[test]
    fn an_item_of_block_keys_goes_with_every_line_of_it() {
        assert_eq!(
            removed("web", at(Primary, 2)),
            FILE.replace("    - address: '[::1]:8080'\n      weight: 5   # v6\n", "")
        );
        assert_eq!(
            removed("web", at(Primary, 3)),
            FILE.replace("    - address: 10.0.0.4:80\n", "")
        );
    }

    #[test]
    fn a_flow_element_goes_with_one_separator() {
        assert_eq!(
            removed("web", at(Backup, 0)),
            FILE.replace("[{address: '10.0.9.1:80'}, {address", "[{address")
        );
        assert_eq!(
            removed("web", at(Backup, 1)),
            FILE.replace(
                "'10.0.9.1:80'}, {address: '10.0.9.2:80', weight: 2}]",
                "'10.0.9.1:80'}]"
            )
        );
        assert_eq!(
            removed("db", at(Primary, 1)),
            FILE.replace("weight: 1}, {address: '10.0.1.2:5432'}]", "weight: 1}]")
        );
    }

    #[test]
    fn the_last_item_of_a_block_list_leaves_an_empty_list() {
        assert_eq!(
            removed("db", at(Backup, 0)),
            FILE.replace(
                "  backup_targets:\n  - {address: '10.0.1.9:5432'}   # the only backup\n",
                "  backup_targets: []\n"
            )
        );
        let only = "kind: Pool\nname: a\nspec:\n  targets: [{address: 'a:1'}]\n";
        assert_eq!(
            remove_target(only, "a.yaml", "a", at(Primary, 0)).unwrap(),
            "kind: Pool\nname: a\nspec:\n  targets: []\n"
        );
    }

    #[test]
    fn the_last_line_of_a_file_without_a_final_line_break() {
        let text = "kind: Pool\nname: a\nspec:\n  targets:\n  - address: a:1\n  - address: b:1\n    weight: 2";
        assert_eq!(
            remove_target(text, "a.yaml", "a", at(Primary, 1)).unwrap(),
            "kind: Pool\nname: a\nspec:\n  targets:\n  - address: a:1\n"
        );
        assert_eq!(
            set_target_weights(text, "a.yaml", "a", &[(at(Primary, 1), 0)]).unwrap(),
            text.replace("weight: 2", "weight: 0")
        );
        assert_eq!(
            set_target_weights(text, "a.yaml", "a", &[(at(Primary, 0), 0)]).unwrap(),
            text.replace("- address: a:1\n", "- address: a:1\n    weight: 0\n")
        );
    }

    #[test]
    fn a_weight_is_replaced_where_it_is_written_and_nothing_else_moves() {
        let edited = set_target_weights(
            FILE,
            "pools.yaml",
            "web",
            &[(at(Primary, 0), 0), (at(Primary, 2), 7)],
        )
        .unwrap();
        assert_eq!(
            edited,
            FILE.replace("weight: 90}   # stable", "weight: 0}   # stable")
                .replace("weight: 5   # v6", "weight: 7   # v6")
        );
    }

    #[test]
    fn a_weight_left_to_its_default_is_added_in_the_item_s_style() {
        let edited = set_target_weights(
            FILE,
            "pools.yaml",
            "web",
            &[(at(Primary, 3), 0), (at(Backup, 0), 3)],
        )
        .unwrap();
        assert_eq!(
            edited,
            FILE.replace(
                "    - address: 10.0.0.4:80\n",
                "    - address: 10.0.0.4:80\n      weight: 0\n"
            )
            .replace(
                "{address: '10.0.9.1:80'}",
                "{address: '10.0.9.1:80', weight: 3}"
            )
        );
    }

    #[test]
    fn a_weight_it_already_has_changes_no_byte() {
        let same = set_target_weights(
            FILE,
            "pools.yaml",
            "web",
            &[(at(Primary, 1), 10), (at(Primary, 3), 1)],
        )
        .unwrap();
        assert_eq!(same, FILE);
    }

    #[test]
    fn anchors_and_values_over_lines_are_refused_with_their_line() {
        let anchored =
            "kind: Pool\nname: a\nspec:\n  targets: &t [{address: 'a:1', weight: &w 2}]\n";
        assert!(matches!(
            remove_target(anchored, "a.yaml", "a", at(Primary, 0)),
            Err(EditError::Form { line: 4, .. })
        ));
        assert!(matches!(
            set_target_weights(anchored, "a.yaml", "a", &[(at(Primary, 0), 0)]),
            Err(EditError::Form { line: 4, .. })
        ));
        let error = set_target_weights(anchored, "a.yaml", "a", &[(at(Primary, 0), 0)])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("a.yaml:4: "), "{error}");
    }
}
