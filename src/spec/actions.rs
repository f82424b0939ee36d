//! The action catalogue: every task a role can allow, in one table.
//!
//! Actions name what engineers actually do, so that a role can be least
//! privilege ("may shift weights of web pools") rather than "may edit
//! pools". The README's action table is generated from [`CATALOGUE`]
//! (`lbops actions`), and a test keeps the two equal.

use crate::spec::kinds::Kind;

/// An action: a dotted name, the kind it applies to, and what it allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    pub name: &'static str,
    /// The kind of resource the action is about; `None` for repository-wide actions.
    pub kind: Option<Kind>,
    pub description: &'static str,
}

const fn action(name: &'static str, kind: Option<Kind>, description: &'static str) -> Action {
    Action {
        name,
        kind,
        description,
    }
}

const LB: Option<Kind> = Some(Kind::LoadBalancer);
const POOL: Option<Kind> = Some(Kind::Pool);
const CERT: Option<Kind> = Some(Kind::Certificate);
const ADDR: Option<Kind> = Some(Kind::AddressPool);

/// Every action, grouped by kind.
pub const CATALOGUE: &[Action] = &[
    action("loadbalancer.create", LB, "Add a new LoadBalancer."),
    action(
        "loadbalancer.delete",
        LB,
        "Remove a LoadBalancer and stop its listeners.",
    ),
    action(
        "loadbalancer.listeners.update",
        LB,
        "Add, remove or change listeners (protocol, port, idle timeout).",
    ),
    action(
        "loadbalancer.routes.update",
        LB,
        "Add, remove or change routes, their matches, priorities and actions, and default actions.",
    ),
    action(
        "loadbalancer.tls.update",
        LB,
        "Change a listener's TLS policy: certificates, minimum version, ciphers.",
    ),
    action(
        "loadbalancer.addresses.update",
        LB,
        "Change the addresses a LoadBalancer binds to or takes from an AddressPool.",
    ),
    action(
        "loadbalancer.labels.update",
        LB,
        "Change a LoadBalancer's labels.",
    ),
    action("pool.create", POOL, "Add a new Pool."),
    action("pool.delete", POOL, "Remove a Pool."),
    action(
        "pool.targets.update",
        POOL,
        "Add or remove targets and backup targets (drain, replace a host).",
    ),
    action(
        "pool.weights.update",
        POOL,
        "Change the weights of existing targets (shift traffic, canary).",
    ),
    action(
        "pool.health_check.update",
        POOL,
        "Change a Pool's health check.",
    ),
    action(
        "pool.algorithm.update",
        POOL,
        "Change a Pool's balancing algorithm.",
    ),
    action(
        "pool.settings.update",
        POOL,
        "Change draining timeout and slow start.",
    ),
    action("pool.labels.update", POOL, "Change a Pool's labels."),
    action("certificate.create", CERT, "Add a new Certificate."),
    action("certificate.delete", CERT, "Remove a Certificate."),
    action(
        "certificate.rotate",
        CERT,
        "Replace a Certificate's chain or private-key reference.",
    ),
    action(
        "certificate.labels.update",
        CERT,
        "Change a Certificate's labels.",
    ),
    action("addresspool.create", ADDR, "Add a new AddressPool."),
    action("addresspool.delete", ADDR, "Remove an AddressPool."),
    action("addresspool.update", ADDR, "Change an AddressPool's CIDRs."),
    action(
        "addresspool.labels.update",
        ADDR,
        "Change an AddressPool's labels.",
    ),
    action(
        "access.roles.update",
        Some(Kind::Role),
        "Create, change or delete Roles.",
    ),
    action(
        "access.users.update",
        Some(Kind::User),
        "Create, change or delete Users: emails, signing keys, roles, groups, disabling.",
    ),
    action(
        "access.groups.update",
        Some(Kind::Group),
        "Create, change or delete Groups.",
    ),
    action(
        "access.serviceaccounts.update",
        Some(Kind::ServiceAccount),
        "Create, change or delete ServiceAccounts (owner, roles, keys).",
    ),
    action(
        "access.tokens.issue",
        Some(Kind::ServiceAccount),
        "Add or replace a ServiceAccount token (its hash).",
    ),
    action(
        "access.tokens.revoke",
        Some(Kind::ServiceAccount),
        "Remove a ServiceAccount token.",
    ),
    action(
        "repo.force_push",
        None,
        "Accept a rewritten history (the trusted commit is no longer an ancestor).",
    ),
    action(
        "state.read",
        None,
        "Read balancer state, plans and drift through the daemon's API.",
    ),
    action(
        "audit.read",
        None,
        "Read the audit log through the daemon's API.",
    ),
];

/// Looks an action up by its exact name.
#[must_use]
pub fn find(name: &str) -> Option<&'static Action> {
    CATALOGUE.iter().find(|a| a.name == name)
}

/// Whether an action pattern (`pool.weights.update`, `pool.*`, `*`)
/// matches an action name. A `*` segment matches the rest of the name.
#[must_use]
pub fn pattern_matches(pattern: &str, action: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some("") => true,
        Some(prefix) if prefix.ends_with('.') => action.starts_with(prefix),
        Some(_) => false,
        None => pattern == action,
    }
}

/// The actions a pattern stands for; empty when it names none, which
/// `validate` reports as an unknown action.
#[must_use]
pub fn expand(pattern: &str) -> Vec<&'static Action> {
    CATALOGUE
        .iter()
        .filter(|a| pattern_matches(pattern, a.name))
        .collect()
}

/// The catalogue as the Markdown table the README carries.
#[must_use]
pub fn markdown_table() -> String {
    let mut out = String::from("| action | applies to | allows |\n|---|---|---|\n");
    for a in CATALOGUE {
        let kind = a.kind.map_or("repository", |k| k.as_str());
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            a.name, kind, a.description
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_dotted_lowercase() {
        let mut seen = std::collections::HashSet::new();
        for a in CATALOGUE {
            assert!(seen.insert(a.name), "{} twice", a.name);
            assert!(a.name.contains('.'));
            assert!(a
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'));
        }
    }

    #[test]
    fn patterns_match_by_whole_segments() {
        assert!(pattern_matches("*", "pool.weights.update"));
        assert!(pattern_matches("pool.*", "pool.weights.update"));
        assert!(pattern_matches(
            "pool.weights.update",
            "pool.weights.update"
        ));
        assert!(!pattern_matches(
            "pool.weights.update",
            "pool.targets.update"
        ));
        assert!(!pattern_matches("pool.*", "poolx.create"));
        assert!(
            !pattern_matches("pool*", "pool.create"),
            "a * must stand for whole segments"
        );
        assert!(!pattern_matches("pool.weights", "pool.weights.update"));
        assert_eq!(expand("access.tokens.*").len(), 2);
        assert!(expand("pool.weight.update").is_empty());
    }

    #[test]
    fn readme_table_matches_the_catalogue() {
        let readme = include_str!("../../README.md");
        let begin = "<!-- actions:begin -->\n";
        let end = "<!-- actions:end -->";
        let start = readme
            .find(begin)
            .expect("README has an actions:begin marker")
            + begin.len();
        let stop = readme.find(end).expect("README has an actions:end marker");
        assert_eq!(
            &readme[start..stop],
            markdown_table(),
            "the README's action table is out of date: run `cargo run -- actions` and paste its output between the markers"
        );
    }
}
