//! The action catalogue: every task a role can allow, in one table.
//!
//! Actions name what engineers actually do, so that a role can be least
//! privilege ("may shift weights of web pools") rather than "may edit
//! pools". The README's action table is generated from [`CATALOGUE`]
//! (`lbops actions`), and a test keeps the two equal.
//!
//! Code names an action by its constant ([`POOL_WEIGHTS_UPDATE`]), so a
//! misspelt action does not compile; [`find`] and [`expand`] are for the
//! names people write (role rules, token scopes, the command line).

use crate::spec::kinds::Kind;

/// An action: a dotted name, the kind it applies to, and what it allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Action {
    pub name: &'static str,
    /// The kind of resource the action is about; `None` for repository-wide actions.
    pub kind: Option<Kind>,
    pub description: &'static str,
}

/// Declares each action as a `pub const` named after it
/// (`pool.weights.update` is [`POOL_WEIGHTS_UPDATE`]) and [`CATALOGUE`]
/// as all of them in the order given, so no action can be left out of the
/// catalogue. Each constant's documentation is its description.
macro_rules! catalogue {
    ($($constant:ident = $name:literal, $kind:expr, $description:literal;)*) => {
        $(
            #[doc = concat!("`", $name, "`: ", $description)]
            pub const $constant: Action = Action {
                name: $name,
                kind: $kind,
                description: $description,
            };
        )*

        /// Every action, grouped by kind.
        pub const CATALOGUE: &[Action] = &[$($constant),*];

        /// Each constant's identifier, in catalogue order, for the test
        /// that it spells the action's name.
        #[cfg(test)]
        const IDENTIFIERS: &[&str] = &[$(stringify!($constant)),*];
    };
}

const LB: Option<Kind> = Some(Kind::LoadBalancer);
const POOL: Option<Kind> = Some(Kind::Pool);
const CERT: Option<Kind> = Some(Kind::Certificate);
const ADDR: Option<Kind> = Some(Kind::AddressPool);
const ROLE: Option<Kind> = Some(Kind::Role);
const USER: Option<Kind> = Some(Kind::User);
const GROUP: Option<Kind> = Some(Kind::Group);
const ACCOUNT: Option<Kind> = Some(Kind::ServiceAccount);
const FREEZE: Option<Kind> = Some(Kind::Freeze);
/// Repository-wide: about no kind of resource.
const REPO: Option<Kind> = None;

catalogue! {
    LOADBALANCER_CREATE = "loadbalancer.create", LB,
        "Add a new LoadBalancer.";
    LOADBALANCER_DELETE = "loadbalancer.delete", LB,
        "Remove a LoadBalancer and stop its listeners.";
    LOADBALANCER_LISTENERS_UPDATE = "loadbalancer.listeners.update", LB,
        "Add, remove or change listeners (protocol, port, idle timeout).";
    LOADBALANCER_ROUTES_UPDATE = "loadbalancer.routes.update", LB,
        "Add, remove or change routes, their matches, priorities, actions and retries, and default actions.";
    LOADBALANCER_TLS_UPDATE = "loadbalancer.tls.update", LB,
        "Change a listener's TLS policy: certificates, minimum version, ciphers, session resumption.";
    LOADBALANCER_ADDRESSES_UPDATE = "loadbalancer.addresses.update", LB,
        "Change the addresses a LoadBalancer binds to or takes from an AddressPool.";
    LOADBALANCER_LABELS_UPDATE = "loadbalancer.labels.update", LB,
        "Change a LoadBalancer's labels.";
    POOL_CREATE = "pool.create", POOL,
        "Add a new Pool.";
    POOL_DELETE = "pool.delete", POOL,
        "Remove a Pool.";
    POOL_TARGETS_UPDATE = "pool.targets.update", POOL,
        "Add or remove targets and backup targets (drain, replace a host).";
    POOL_WEIGHTS_UPDATE = "pool.weights.update", POOL,
        "Change the weights of existing targets (shift traffic, canary).";
    POOL_HEALTH_CHECK_UPDATE = "pool.health_check.update", POOL,
        "Change a Pool's health check.";
    POOL_ALGORITHM_UPDATE = "pool.algorithm.update", POOL,
        "Change a Pool's balancing algorithm.";
    POOL_SETTINGS_UPDATE = "pool.settings.update", POOL,
        "Change draining timeout and slow start.";
    POOL_LABELS_UPDATE = "pool.labels.update", POOL,
        "Change a Pool's labels.";
    CERTIFICATE_CREATE = "certificate.create", CERT,
        "Add a new Certificate.";
    CERTIFICATE_DELETE = "certificate.delete", CERT,
        "Remove a Certificate.";
    CERTIFICATE_ROTATE = "certificate.rotate", CERT,
        "Replace a Certificate's chain or private-key reference.";
    CERTIFICATE_LABELS_UPDATE = "certificate.labels.update", CERT,
        "Change a Certificate's labels.";
    ADDRESSPOOL_CREATE = "addresspool.create", ADDR,
        "Add a new AddressPool.";
    ADDRESSPOOL_DELETE = "addresspool.delete", ADDR,
        "Remove an AddressPool.";
    ADDRESSPOOL_UPDATE = "addresspool.update", ADDR,
        "Change an AddressPool's CIDRs.";
    ADDRESSPOOL_LABELS_UPDATE = "addresspool.labels.update", ADDR,
        "Change an AddressPool's labels.";
    ACCESS_ROLES_UPDATE = "access.roles.update", ROLE,
        "Create, change or delete Roles.";
    ACCESS_USERS_UPDATE = "access.users.update", USER,
        "Create, change or delete Users: emails, signing keys, roles, groups, disabling.";
    ACCESS_GROUPS_UPDATE = "access.groups.update", GROUP,
        "Create, change or delete Groups.";
    ACCESS_SERVICEACCOUNTS_UPDATE = "access.serviceaccounts.update", ACCOUNT,
        "Create, change or delete ServiceAccounts (owner, roles, keys).";
    ACCESS_TOKENS_ISSUE = "access.tokens.issue", ACCOUNT,
        "Add or replace a ServiceAccount token (its hash).";
    ACCESS_TOKENS_REVOKE = "access.tokens.revoke", ACCOUNT,
        "Remove a ServiceAccount token.";
    FREEZE_CREATE = "freeze.create", FREEZE,
        "Add a new Freeze (it binds from the commit after the one that adds it).";
    FREEZE_UPDATE = "freeze.update", FREEZE,
        "Change a Freeze's windows, time zone or scope.";
    FREEZE_DELETE = "freeze.delete", FREEZE,
        "Remove a Freeze (lift it for good).";
    FREEZE_LABELS_UPDATE = "freeze.labels.update", FREEZE,
        "Change a Freeze's labels.";
    FREEZE_BREAK_GLASS = "freeze.break_glass", FREEZE,
        "Make a change that a Freeze in force covers, in a commit whose message has a `Lbops-Break-Glass: <reason>` line; it raises an alert and an audit record.";
    REPO_FORCE_PUSH = "repo.force_push", REPO,
        "Accept a rewritten history (the trusted commit is no longer an ancestor).";
    STATE_READ = "state.read", REPO,
        "Read balancer state, plans and drift through the daemon's API.";
    AUDIT_READ = "audit.read", REPO,
        "Read the audit log through the daemon's API.";
}

/// Looks an action up by its exact name, as a person wrote it; code
/// uses the constants.
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
    fn each_constant_is_named_after_its_action() {
        assert_eq!(IDENTIFIERS.len(), CATALOGUE.len());
        for (identifier, action) in IDENTIFIERS.iter().zip(CATALOGUE) {
            assert_eq!(
                *identifier,
                action.name.to_ascii_uppercase().replace('.', "_"),
                "the constant for `{}`",
                action.name
            );
        }
        assert_eq!(find("pool.weights.update"), Some(&POOL_WEIGHTS_UPDATE));
        assert_eq!(find("pool.weight.update"), None);
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
