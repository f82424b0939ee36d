//! The repository format: from `(path, text)` pairs to a typed, validated
//! [`Catalog`].
//!
//! Pure: this module reads nothing but the texts it is given, so the same
//! code validates a working directory (`lbops validate`) and a tree read
//! from git objects (the daemon). "Now" is a parameter too, for certificate
//! expiry.

pub mod actions;
pub mod alloc;
pub mod api_commit;
pub mod cidr;
mod decode;
mod diagnostic;
pub mod kinds;
pub mod limits;
pub mod material;
pub mod paths;
pub mod units;
mod validate;
pub mod yaml;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

pub use diagnostic::{Code, Diagnostic, Severity};
pub use kinds::{Kind, Origin, Resource, ResourceId};
pub use limits::{Exceeded, Limits, TreeBudget};

use kinds::access::{GroupSpec, RoleSpec, ServiceAccountSpec, UserSpec};
use kinds::addresspool::AddressPoolSpec;
use kinds::certificate::CertificateSpec;
use kinds::freeze::FreezeSpec;
use kinds::loadbalancer::LoadBalancerSpec;
use kinds::pool::PoolSpec;
use kinds::AnySpec;
use std::collections::BTreeMap;
use std::sync::Arc;
use units::Name;

/// One file of a repository: its path as the user should see it, and its
/// text — or, when a reader refused to read it, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
    /// Set when the reader left the file unread because it went past a
    /// [`Limits`] bound; `text` is then empty, and `load` reports it.
    pub refused: Option<Exceeded>,
}

impl SourceFile {
    #[must_use]
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
            refused: None,
        }
    }

    /// A file a reader did not read, and why: never skipped in silence,
    /// since what is not read is not scanned for secrets either.
    #[must_use]
    pub fn refused(path: impl Into<String>, why: Exceeded) -> Self {
        Self {
            path: path.into(),
            text: String::new(),
            refused: Some(why),
        }
    }

    /// Whether lbops reads this file as resources (others are only scanned for secrets).
    #[must_use]
    pub fn is_yaml(&self) -> bool {
        self.path.ends_with(".yaml") || self.path.ends_with(".yml")
    }
}

/// How many days before a certificate expires `validate` starts warning.
pub const DEFAULT_EXPIRY_WARNING_DAYS: i64 = 14;

/// What validation depends on besides the files.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The time certificates are checked against, in Unix seconds.
    pub now: i64,
    pub expiry_warning_days: i64,
    /// How much of the files `load` reads.
    pub limits: Limits,
}

impl Options {
    #[must_use]
    pub fn at(now: i64) -> Self {
        Self {
            now,
            expiry_warning_days: DEFAULT_EXPIRY_WARNING_DAYS,
            limits: Limits::REPOSITORY,
        }
    }
}

/// Every resource of a repository, by kind and name, references resolved
/// and checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    pub load_balancers: BTreeMap<Name, Resource<LoadBalancerSpec>>,
    pub pools: BTreeMap<Name, Resource<PoolSpec>>,
    /// Each certificate's `chain` holds the PEM text, read from `chain_file` when given so.
    pub certificates: BTreeMap<Name, Resource<CertificateSpec>>,
    pub address_pools: BTreeMap<Name, Resource<AddressPoolSpec>>,
    pub roles: BTreeMap<Name, Resource<RoleSpec>>,
    pub users: BTreeMap<Name, Resource<UserSpec>>,
    pub groups: BTreeMap<Name, Resource<GroupSpec>>,
    pub service_accounts: BTreeMap<Name, Resource<ServiceAccountSpec>>,
    /// Change freezes: judged from the trusted catalog only.
    pub freezes: BTreeMap<Name, Resource<FreezeSpec>>,
    /// The addresses each balancer holds, as [`alloc::allocate`] gave them
    /// starting from no previous allocation; the daemon re-runs it with its
    /// persisted one.
    pub allocation: alloc::Allocation,
}

impl Catalog {
    /// The number of resources of all kinds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.load_balancers.len()
            + self.pools.len()
            + self.certificates.len()
            + self.address_pools.len()
            + self.roles.len()
            + self.users.len()
            + self.groups.len()
            + self.service_accounts.len()
            + self.freezes.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where a resource is defined, if it exists.
    #[must_use]
    pub fn origin(&self, kind: Kind, name: &str) -> Option<&Origin> {
        match kind {
            Kind::LoadBalancer => self.load_balancers.get(name).map(|r| &r.origin),
            Kind::Pool => self.pools.get(name).map(|r| &r.origin),
            Kind::Certificate => self.certificates.get(name).map(|r| &r.origin),
            Kind::AddressPool => self.address_pools.get(name).map(|r| &r.origin),
            Kind::Role => self.roles.get(name).map(|r| &r.origin),
            Kind::User => self.users.get(name).map(|r| &r.origin),
            Kind::Group => self.groups.get(name).map(|r| &r.origin),
            Kind::ServiceAccount => self.service_accounts.get(name).map(|r| &r.origin),
            Kind::Freeze => self.freezes.get(name).map(|r| &r.origin),
        }
    }

    fn insert(&mut self, name: Name, labels: kinds::Labels, spec: AnySpec, origin: Origin) {
        fn put<S>(
            map: &mut BTreeMap<Name, Resource<S>>,
            name: Name,
            labels: kinds::Labels,
            spec: S,
            origin: Origin,
        ) {
            map.insert(
                name.clone(),
                Resource {
                    name,
                    labels,
                    spec,
                    origin,
                },
            );
        }
        match spec {
            AnySpec::LoadBalancer(s) => put(&mut self.load_balancers, name, labels, s, origin),
            AnySpec::Pool(s) => put(&mut self.pools, name, labels, s, origin),
            AnySpec::Certificate(s) => put(&mut self.certificates, name, labels, s, origin),
            AnySpec::AddressPool(s) => put(&mut self.address_pools, name, labels, s, origin),
            AnySpec::Role(s) => put(&mut self.roles, name, labels, s, origin),
            AnySpec::User(s) => put(&mut self.users, name, labels, s, origin),
            AnySpec::Group(s) => put(&mut self.groups, name, labels, s, origin),
            AnySpec::ServiceAccount(s) => put(&mut self.service_accounts, name, labels, s, origin),
            AnySpec::Freeze(s) => put(&mut self.freezes, name, labels, s, origin),
        }
    }
}

/// A repository that validated: its catalog, and warnings that do not
/// block it (a certificate about to expire).
#[derive(Clone, Debug)]
pub struct Validated {
    pub catalog: Catalog,
    pub warnings: Vec<Diagnostic>,
}

/// A repository that did not validate: every problem found, errors and
/// warnings, sorted by file and position.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Invalid {
    pub diagnostics: Vec<Diagnostic>,
}

/// The error for a file, or a value in it, past one of the [`Limits`].
fn too_large(file: &str, pos: yaml::Pos, why: &Exceeded) -> Diagnostic {
    let hint = match why {
        Exceeded::FileBytes { .. } | Exceeded::TreeBytes { .. } | Exceeded::Files { .. } => {
            why.hint().to_owned()
        }
        _ => format!("{}; the rest of this file was not read", why.hint()),
    };
    Diagnostic::error(file, pos, Code::TooLarge, why.to_string()).hint(hint)
}

/// Allocates `catalog`'s pool addresses again, keeping every address
/// `previous` gave a balancer that still claims from that pool, so that
/// allocations stay stable across commits and restarts (`load` allocates
/// from nothing). On an error the catalog keeps its own allocation.
pub fn reallocate(
    catalog: &mut Catalog,
    previous: &alloc::Allocation,
) -> Result<(), Vec<alloc::AllocError>> {
    let (pools, balancers) = validate::balancers::address_claims(catalog);
    catalog.allocation = alloc::allocate(&pools, &balancers, previous)?;
    Ok(())
}

/// Parses and validates a repository given as `(path, text)` pairs.
///
/// All problems are reported at once, sorted by file and position; none
/// echoes anything that looks like a secret. Files are held to
/// `options.limits`, in the order given: a file a reader refused, or one
/// past a bound here, is an error and is not read further.
pub fn load(files: &[SourceFile], options: &Options) -> Result<Validated, Invalid> {
    let mut diagnostics = Vec::new();
    let mut catalog = Catalog::default();
    let mut broken = std::collections::BTreeSet::new();
    let mut budget = TreeBudget::new(&options.limits);

    for file in files {
        // Asked for every file, a refused one too, so that the count of
        // files is the reader's.
        let admitted = budget.admit(file.text.len() as u64);
        let admitted = match &file.refused {
            Some(why) => Err(why.clone()),
            None => admitted,
        };
        if let Err(why) = admitted {
            let last = matches!(why, Exceeded::Files { .. });
            diagnostics.push(too_large(&file.path, yaml::Pos::new(1, 1), &why));
            if last {
                break;
            }
            continue;
        }
        diagnostics.extend(validate::secrets(file));
        if !file.is_yaml() {
            continue;
        }
        let parsed = yaml::parse_with(&file.text, &options.limits);
        for e in parsed.duplicate_keys {
            diagnostics.push(
                Diagnostic::error(&file.path, e.pos, Code::YamlSyntax, e.message).hint(
                    "a key may appear once per mapping; the first value is used until you fix it",
                ),
            );
        }
        match parsed.fatal {
            Some(yaml::SyntaxError {
                pos,
                exceeded: Some(why),
                ..
            }) => diagnostics.push(too_large(&file.path, pos, &why)),
            Some(e) => diagnostics.push(
                Diagnostic::error(&file.path, e.pos, Code::YamlSyntax, e.message)
                    .hint("fix the YAML syntax here; the rest of this file was not read"),
            ),
            None => {}
        }
        let documents = parsed.documents;
        let path: Arc<str> = Arc::from(file.path.as_str());
        for doc in &documents {
            let decoded = match decode::document(&file.path, doc) {
                Ok(decoded) => decoded,
                Err(failed) => {
                    broken.extend(failed.id);
                    diagnostics.extend(failed.diagnostics);
                    continue;
                }
            };
            let origin = Origin {
                file: path.clone(),
                pos: doc.root.pos,
            };
            if let Some(first) = catalog.origin(decoded.kind, decoded.name.as_str()) {
                diagnostics.push(
                    Diagnostic::error(
                        &file.path,
                        doc.root.get("name").map_or(doc.root.pos, |n| n.pos),
                        Code::DuplicateResource,
                        format!(
                            "{}/{} is defined twice: here and at {first}",
                            decoded.kind.id_prefix(),
                            decoded.name
                        ),
                    )
                    .about(decoded.kind, decoded.name.as_str())
                    .hint("rename one of them, or delete the copy"),
                );
                continue;
            }
            catalog.insert(decoded.name, decoded.labels, decoded.spec, origin);
        }
    }

    diagnostics.extend(validate::catalog(&mut catalog, broken, files, options));
    diagnostic::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        Err(Invalid { diagnostics })
    } else {
        Ok(Validated {
            catalog,
            warnings: diagnostics,
        })
    }
}
