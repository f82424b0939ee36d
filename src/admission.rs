//! Admission: the one answer to "may this head be applied?" (pure).
//!
//! The daemon, `lbops authorize` and `lbops validate --config` all ask it,
//! so that a pull-request check can never say "allowed" for a commit the
//! daemon then refuses. A judged range is admitted when every change is
//! allowed *and* every balancer can run where it is placed; the catalog to
//! apply keeps the addresses balancers held before.

use crate::judge::{Judged, Judgement, Ruling};
use crate::provider::aws::AwsConfig;
use crate::spec::alloc::Allocation;
use crate::spec::{self, Catalog, Invalid};

/// Where balancers run: the part of the daemon config admission needs.
/// Every balancer `aws` does not place runs on the embedded data plane.
#[derive(Clone, Copy, Debug, Default)]
pub struct Placement<'a> {
    pub aws: Option<&'a AwsConfig>,
}

impl Placement<'_> {
    /// Every balancer on the embedded data plane.
    pub const EMBEDDED: Placement<'static> = Placement { aws: None };

    /// Whether the providers can run `catalog`: the diagnostics of what
    /// they cannot, at the file:line that asks for it.
    ///
    /// # Errors
    ///
    /// When a provider cannot run something the catalog asks for.
    pub fn check(&self, catalog: &Catalog) -> Result<(), Invalid> {
        let refused = crate::provider::refusals(catalog, self.aws);
        if refused.is_empty() {
            Ok(())
        } else {
            Err(Invalid {
                diagnostics: refused,
            })
        }
    }
}

/// What a judged head comes to.
#[derive(Clone, Debug)]
pub enum Admission {
    /// Apply this catalog (boxed: a catalog is large, a rejection is not).
    Apply(Box<Catalog>),
    /// Apply nothing; the judgement says why.
    Reject,
}

/// Admits or rejects a judged head: accepted by the judge, runnable where
/// it is placed, and with the addresses `previous` gave its balancers
/// (where they still claim from the same pools). A provider refusal turns
/// the judgement's outcome into `Invalid`, at the lines the provider cannot
/// run.
#[must_use]
pub fn admit(
    judged: Judged,
    placement: &Placement<'_>,
    previous: &Allocation,
) -> (Judgement, Admission) {
    let Judged {
        mut judgement,
        head,
    } = judged;
    let admission = match (&judgement.ruling, head) {
        (Ruling::Accepted, Some(mut catalog)) => match placement.check(&catalog) {
            Ok(()) => {
                keep_addresses(&mut catalog, previous);
                Admission::Apply(Box::new(catalog))
            }
            Err(invalid) => {
                judgement.ruling = Ruling::Invalid { invalid };
                Admission::Reject
            }
        },
        _ => Admission::Reject,
    };
    (judgement, admission)
}

/// Gives balancers the pool addresses they held before, where they still
/// claim from those pools; on a conflict the catalog keeps the allocation
/// it was validated with.
pub fn keep_addresses(catalog: &mut Catalog, previous: &Allocation) {
    if let Err(errors) = spec::reallocate(catalog, previous) {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        tracing::warn!(
            ?errors,
            "cannot keep the previous addresses; allocating afresh"
        );
    }
}
