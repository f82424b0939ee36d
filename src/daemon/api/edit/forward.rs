//! A route's forward split ([`set_forward`]): the pools a route sends to
//! and their weights. When the pools stay the same, in the same order
//! (a canary shift), only the numbers change; otherwise the list is
//! written anew, in the style it had (`[…]` or `- …` items).

use super::targets::set_weight;
use super::tree::{at_mut, map, scalar, string, Splice, Step, Tree};
use super::EditError;
use crate::spec::kinds::loadbalancer::DEFAULT_FORWARD_WEIGHT;
use crate::spec::yaml::{Node, Pos, Value};

/// `text` (the file `file`) with route `route` of listener `listener`
/// (their indexes) of balancer `balancer` forwarding to `pools` (name,
/// weight), in that order. The route's action must be a `forward`.
pub fn set_forward(
    text: &str,
    file: &str,
    balancer: &str,
    listener: usize,
    route: usize,
    pools: &[(String, u32)],
) -> Result<String, EditError> {
    let tree = Tree::parse(text, file)?;
    let doc = tree.resource("LoadBalancer", balancer)?;
    let path = [
        Step::Key("spec"),
        Step::Key("listeners"),
        Step::Index(listener),
        Step::Key("routes"),
        Step::Index(route),
        Step::Key("action"),
        Step::Key("forward"),
        Step::Key("pools"),
    ];
    let list = tree.at(doc, &path)?;
    let Value::Seq(items) = &list.value else {
        return Err(tree.form(list.pos.line, "`forward.pools` that is not a list"));
    };
    let mut expected = tree.documents.clone();
    let same_pools = items.len() == pools.len()
        && items
            .iter()
            .zip(pools)
            .all(|(item, (name, _))| item.get("pool").and_then(Node::as_scalar) == Some(name));
    let mut splices = Vec::new();
    if same_pools {
        for (i, (item, (_, weight))) in items.iter().zip(pools).enumerate() {
            if let Some((splice, after)) = set_weight(&tree, item, *weight, DEFAULT_FORWARD_WEIGHT)?
            {
                splices.push(splice);
                let mut at = path.to_vec();
                at.push(Step::Index(i));
                if let Some(node) = at_mut(&mut expected[doc].root, &at) {
                    *node = after;
                }
            }
        }
    } else {
        let (written, nodes): (Vec<String>, Vec<Node>) = pools
            .iter()
            .map(|(name, weight)| {
                let (text, node) = string(name);
                let number = weight.to_string();
                (
                    format!("{{pool: {text}, weight: {number}}}"),
                    map(vec![("pool", node), ("weight", scalar(&number, false))]),
                )
            })
            .unzip();
        if tree.is_flow(list) {
            splices.push(Splice {
                range: tree.flow(list)?,
                with: format!("[{}]", written.join(", ")),
            });
        } else if tree.is_block_list(list) {
            let (Some(first), Some(last)) = (items.first(), items.last()) else {
                return Err(tree.form(list.pos.line, "an empty block list"));
            };
            let range = tree.block_item(first)?.start..tree.block_item(last)?.end;
            let dash = " ".repeat(tree.dash_indent(first)?);
            let mut with: String = written.iter().map(|w| format!("{dash}- {w}\n")).collect();
            if !tree.text()[..range.end].ends_with('\n') {
                with.pop();
            }
            splices.push(Splice { range, with });
        } else {
            return Err(tree.form(
                list.pos.line,
                "`forward.pools` with an anchor, alias or tag",
            ));
        }
        if let Some(node) = at_mut(&mut expected[doc].root, &path) {
            *node = Node {
                pos: Pos::default(),
                value: Value::Seq(nodes),
            };
        }
    }
    let edited = tree.edited(splices)?;
    tree.check(&expected, &edited, list.pos.line)?;
    Ok(edited)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "kind: LoadBalancer
name: edge
spec:
  addresses: [127.0.0.1]
  listeners:
    - name: http
      protocol: http
      port: 80
      routes:
        - name: api          # the API
          priority: 10
          match: {path: {prefix: /api}}
          action: {forward: {pools: [{pool: web-stable, weight: 90}, {pool: web-canary, weight: 10}]}}
        - name: www
          priority: 20
          action:
            forward:
              pools:
                - pool: web-stable
                  weight: 100
                # parked
                - {pool: web-canary}
      default_action: {forward: {pools: [{pool: web-stable}]}}
";

    fn pools(split: &[(&str, u32)]) -> Vec<(String, u32)> {
        split.iter().map(|(p, w)| ((*p).to_owned(), *w)).collect()
    }

    #[test]
    fn a_canary_shift_changes_only_the_numbers() {
        let edited = set_forward(
            FILE,
            "lb.yaml",
            "edge",
            0,
            0,
            &pools(&[("web-stable", 0), ("web-canary", 100)]),
        )
        .unwrap();
        assert_eq!(
            edited,
            FILE.replace(
                "[{pool: web-stable, weight: 90}, {pool: web-canary, weight: 10}]",
                "[{pool: web-stable, weight: 0}, {pool: web-canary, weight: 100}]"
            )
        );
        let edited = set_forward(
            FILE,
            "lb.yaml",
            "edge",
            0,
            1,
            &pools(&[("web-stable", 90), ("web-canary", 10)]),
        )
        .unwrap();
        assert_eq!(
            edited,
            FILE.replace("weight: 100\n", "weight: 90\n")
                .replace("{pool: web-canary}", "{pool: web-canary, weight: 10}")
        );
    }

    #[test]
    fn other_pools_rewrite_the_list_in_its_style() {
        let edited =
            set_forward(FILE, "lb.yaml", "edge", 0, 0, &pools(&[("web-canary", 1)])).unwrap();
        assert_eq!(
            edited,
            FILE.replace(
                "[{pool: web-stable, weight: 90}, {pool: web-canary, weight: 10}]",
                "[{pool: web-canary, weight: 1}]"
            )
        );
        let edited = set_forward(
            FILE,
            "lb.yaml",
            "edge",
            0,
            1,
            &pools(&[("web-canary", 100), ("web-stable", 0)]),
        )
        .unwrap();
        assert_eq!(
            edited,
            FILE.replace(
                "                - pool: web-stable
                  weight: 100
                # parked
                - {pool: web-canary}
",
                "                - {pool: web-canary, weight: 100}
                - {pool: web-stable, weight: 0}
"
            )
        );
    }

    #[test]
    fn a_name_yaml_would_read_as_something_else_is_quoted() {
        let edited = set_forward(
            FILE,
            "lb.yaml",
            "edge",
            0,
            0,
            &pools(&[("null", 1), ("9lives", 2)]),
        )
        .unwrap();
        assert!(
            edited.contains("[{pool: 'null', weight: 1}, {pool: '9lives', weight: 2}]"),
            "{edited}"
        );
    }

    #[test]
    fn a_route_that_is_not_a_forward_has_no_pools_to_set() {
        let text = FILE.replace(
            "action: {forward: {pools: [{pool: web-stable, weight: 90}, {pool: web-canary, weight: 10}]}}",
            "action: {redirect: {status: 301, to: 'https://{host}{path}'}}",
        );
        let error = set_forward(&text, "lb.yaml", "edge", 0, 0, &pools(&[("web-stable", 1)]))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("lb.yaml:"), "{error}");
    }
}
