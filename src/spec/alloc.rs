//! Stable address allocation for load balancers, as a pure function.
//!
//! An address that moves breaks DNS records and firewall rules, so
//! [`allocate`] is built around one promise: once a balancer holds an address
//! from a pool, it keeps it until the balancer is removed, stops asking that
//! pool for that many addresses, or the pool no longer covers the address.
//!
//! Order of work:
//! 1. explicit claims (static addresses and pinned pool addresses) are
//!    reserved, in balancer-id order, so conflicts are reported against the
//!    lexicographically first claimant;
//! 2. addresses from the previous allocation are kept where the promise says
//!    so; a kept address that somebody else claims explicitly is a conflict
//!    rather than a silent move;
//! 3. remaining requests get the lowest free usable address of their pool,
//!    balancers in id order, entries in order.
//!
//! Every step sorts its input first, so the result never depends on the order
//! of the `pools` or `balancers` slices.

use std::collections::{btree_map, hash_map, BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::cidr::Cidr;

/// One address a balancer asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressEntry {
    /// An address the user wrote literally.
    Static(IpAddr),
    /// One address from the named pool, optionally pinned to a specific one.
    FromPool {
        /// Pool id, e.g. `"addresspool/public"`.
        pool: String,
        /// The exact address wanted; it must be a usable address of the pool.
        pinned: Option<IpAddr>,
    },
}

/// The ordered address entries of one balancer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BalancerAddresses {
    /// Resource id, e.g. `"loadbalancer/web"`.
    pub balancer: String,
    /// Requested addresses; the allocation lists results in the same order.
    pub entries: Vec<AddressEntry>,
}

/// A named set of networks that addresses are handed out from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddressPoolDef {
    /// Resource id, e.g. `"addresspool/public"`.
    pub name: String,
    /// Networks of the pool; walked in sorted order when allocating.
    pub cidrs: Vec<Cidr>,
}

/// One address held by a balancer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Assigned {
    /// The pool the address came from; `None` for a static address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// The address itself.
    pub address: IpAddr,
}

/// What each balancer holds, keyed by balancer id, each list in entry order.
///
/// Serializes as a map from balancer id to its list, in id order, so the
/// daemon can persist it and diff it deterministically.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Allocation {
    balancers: BTreeMap<String, Vec<Assigned>>,
}

impl Allocation {
    /// An allocation in which no balancer holds anything.
    #[must_use]
    pub fn new() -> Allocation {
        Allocation::default()
    }

    /// The addresses of `balancer`, in entry order.
    #[must_use]
    pub fn get(&self, balancer: &str) -> Option<&[Assigned]> {
        self.balancers.get(balancer).map(Vec::as_slice)
    }

    /// All balancers and their addresses, in balancer-id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Assigned])> {
        self.balancers
            .iter()
            .map(|(balancer, addresses)| (balancer.as_str(), addresses.as_slice()))
    }

    /// Number of balancers listed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.balancers.len()
    }

    /// Whether no balancer is listed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.balancers.is_empty()
    }
}

impl FromIterator<(String, Vec<Assigned>)> for Allocation {
    fn from_iter<I: IntoIterator<Item = (String, Vec<Assigned>)>>(iter: I) -> Allocation {
        Allocation {
            balancers: iter.into_iter().collect(),
        }
    }
}

/// Why an allocation could not be made. [`allocate`] reports every problem
/// at once, sorted, so the user can fix them in one pass.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
pub enum AllocError {
    /// Two claims on one address: both explicit, or `first` held it from the
    /// previous allocation and `second` now claims it explicitly.
    #[error("{}", conflict_message(.address, .first, .second))]
    Conflict {
        /// The contested address.
        address: IpAddr,
        /// The earlier claimant (the previous holder, if there is one).
        first: String,
        /// The later claimant; may equal `first` for a repeated entry.
        second: String,
    },
    /// A balancer refers to a pool that does not exist.
    #[error("{balancer} asks for an address from {pool}, but no such pool is defined; define {pool} or refer to an existing pool")]
    UnknownPool {
        /// The balancer with the dangling reference.
        balancer: String,
        /// The missing pool.
        pool: String,
    },
    /// A pinned address is not one the pool can hand out.
    #[error("{balancer} pins {address} from {pool}, but that is not a usable address of {pool} (network and broadcast addresses don't count); pin an address inside one of the pool's CIDRs or remove the pin")]
    PinnedOutsidePool {
        /// The pinning balancer.
        balancer: String,
        /// The pool named by the entry.
        pool: String,
        /// The pinned address.
        address: IpAddr,
    },
    /// The pool has fewer free addresses than a balancer needs.
    #[error("{pool} has only {free} free address(es) but {balancer} needs {wanted} more; add a CIDR to {pool} or release addresses held by other balancers")]
    Exhausted {
        /// The exhausted pool.
        pool: String,
        /// The balancer that went short.
        balancer: String,
        /// New addresses the balancer needed from the pool.
        wanted: usize,
        /// Free addresses that were left for it.
        free: u128,
    },
    /// Two balancers share an id; none of them is allocated.
    #[error("{balancer} is defined more than once; keep a single definition")]
    DuplicateBalancer {
        /// The repeated id.
        balancer: String,
    },
    /// Two pools share a name; their CIDRs are merged so that allocation can
    /// still be checked, but the definition must be fixed.
    #[error("{pool} is defined more than once; keep a single definition")]
    DuplicatePool {
        /// The repeated name.
        pool: String,
    },
}

fn conflict_message(address: &IpAddr, first: &str, second: &str) -> String {
    if first == second {
        format!("{first} claims address {address} more than once; remove the repeated entry")
    } else {
        format!(
            "address {address} is claimed by both {first} and {second}; \
             pick another address for one of them or remove one of the claims"
        )
    }
}

/// Computes which addresses each balancer holds.
///
/// `previous` is the last successful result; pass [`Allocation::new`] the
/// first time.
///
/// # Errors
///
/// Every problem found, sorted and without duplicates, instead of a partial
/// result, so a bad change never moves anything.
#[must_use = "the allocation (or its errors) is the whole point of the call"]
pub fn allocate(
    pools: &[AddressPoolDef],
    balancers: &[BalancerAddresses],
    previous: &Allocation,
) -> Result<Allocation, Vec<AllocError>> {
    let mut planner = Planner::new(pools, balancers);
    planner.claim_explicit();
    planner.keep_previous(previous);
    let allocation = planner.assign_remaining();
    let mut errors = planner.errors;
    errors.sort();
    errors.dedup();
    if errors.is_empty() {
        Ok(allocation)
    } else {
        Err(errors)
    }
}

struct Planner<'a> {
    /// Pool name -> its CIDRs, sorted with nested ones dropped so a walk never
    /// visits an address twice.
    pools: BTreeMap<&'a str, Vec<Cidr>>,
    /// Sorted by id, duplicated ids removed.
    balancers: Vec<&'a BalancerAddresses>,
    errors: Vec<AllocError>,
    /// Explicitly claimed address -> first claimant in id order.
    claims: HashMap<IpAddr, &'a str>,
    /// Everything that must not be handed out anew. One set for all pools, so
    /// overlapping pools can never give one address to two balancers.
    used: BTreeSet<IpAddr>,
    /// (balancer, pool) -> previous addresses kept, in previous order.
    kept: HashMap<(&'a str, &'a str), Vec<IpAddr>>,
}

impl<'a> Planner<'a> {
    fn new(pool_defs: &'a [AddressPoolDef], balancer_list: &'a [BalancerAddresses]) -> Self {
        let mut errors = Vec::new();

        let mut pools: BTreeMap<&'a str, Vec<Cidr>> = BTreeMap::new();
        for def in pool_defs {
            match pools.entry(def.name.as_str()) {
                btree_map::Entry::Occupied(mut merged) => {
                    errors.push(AllocError::DuplicatePool {
                        pool: def.name.clone(),
                    });
                    merged.get_mut().extend(&def.cidrs);
                }
                btree_map::Entry::Vacant(slot) => {
                    slot.insert(def.cidrs.clone());
                }
            }
        }
        for cidrs in pools.values_mut() {
            normalize(cidrs);
        }

        let mut sorted: Vec<&'a BalancerAddresses> = balancer_list.iter().collect();
        sorted.sort_by(|a, b| a.balancer.cmp(&b.balancer));
        let mut balancers = Vec::with_capacity(sorted.len());
        for group in sorted.chunk_by(|a, b| a.balancer == b.balancer) {
            match group {
                [only] => balancers.push(*only),
                [first, ..] => errors.push(AllocError::DuplicateBalancer {
                    balancer: first.balancer.clone(),
                }),
                [] => {}
            }
        }

        Planner {
            pools,
            balancers,
            errors,
            claims: HashMap::new(),
            used: BTreeSet::new(),
            kept: HashMap::new(),
        }
    }

    /// Reserves static and pinned addresses and reports clashes between them.
    fn claim_explicit(&mut self) {
        for &balancer in &self.balancers {
            for entry in &balancer.entries {
                let address = match entry {
                    AddressEntry::Static(address) => *address,
                    AddressEntry::FromPool { pool, pinned } => {
                        let Some(cidrs) = self.pools.get(pool.as_str()) else {
                            self.errors.push(AllocError::UnknownPool {
                                balancer: balancer.balancer.clone(),
                                pool: pool.clone(),
                            });
                            continue;
                        };
                        let Some(address) = *pinned else { continue };
                        if !usable_in(cidrs, address) {
                            self.errors.push(AllocError::PinnedOutsidePool {
                                balancer: balancer.balancer.clone(),
                                pool: pool.clone(),
                                address,
                            });
                            continue;
                        }
                        address
                    }
                };
                match self.claims.entry(address) {
                    hash_map::Entry::Occupied(first) => self.errors.push(AllocError::Conflict {
                        address,
                        first: (*first.get()).to_owned(),
                        second: balancer.balancer.clone(),
                    }),
                    hash_map::Entry::Vacant(slot) => {
                        slot.insert(&balancer.balancer);
                    }
                }
                self.used.insert(address);
            }
        }
    }

    /// Decides which previously held addresses each balancer keeps.
    fn keep_previous(&mut self, previous: &Allocation) {
        // Guards against a corrupt previous allocation listing one address
        // under two balancers: the first in id order keeps it.
        let mut already_kept: HashSet<IpAddr> = HashSet::new();
        for &balancer in &self.balancers {
            let Some(held) = previous.get(&balancer.balancer) else {
                continue;
            };
            let own_claims: HashSet<IpAddr> = balancer
                .entries
                .iter()
                .filter_map(explicit_address)
                .collect();
            for (pool, wanted) in dynamic_demand(balancer) {
                let Some(cidrs) = self.pools.get(pool) else {
                    continue;
                };
                let mut seen = HashSet::new();
                // An address the balancer now claims explicitly itself is
                // still its own, just no longer through a dynamic entry.
                let mut keep: Vec<IpAddr> = held
                    .iter()
                    .filter(|a| a.pool.as_deref() == Some(pool))
                    .map(|a| a.address)
                    .filter(|&address| {
                        seen.insert(address)
                            && !own_claims.contains(&address)
                            && !already_kept.contains(&address)
                            && usable_in(cidrs, address)
                    })
                    .collect();
                if keep.len() > wanted {
                    let mut lowest = keep.clone();
                    lowest.sort_unstable();
                    lowest.truncate(wanted);
                    let lowest: HashSet<IpAddr> = lowest.into_iter().collect();
                    keep.retain(|address| lowest.contains(address));
                }
                for &address in &keep {
                    already_kept.insert(address);
                    self.used.insert(address);
                    if let Some(&claimant) = self.claims.get(&address) {
                        self.errors.push(AllocError::Conflict {
                            address,
                            first: balancer.balancer.clone(),
                            second: claimant.to_owned(),
                        });
                    }
                }
                self.kept.insert((balancer.balancer.as_str(), pool), keep);
            }
        }
    }

    /// Fills every entry, handing out lowest free addresses where nothing is
    /// kept, and reports pools that run dry.
    fn assign_remaining(&mut self) -> Allocation {
        let mut cursors: HashMap<&str, Cursor> = HashMap::new();
        let mut result = BTreeMap::new();
        for &balancer in &self.balancers {
            let mut next_kept: HashMap<&str, usize> = HashMap::new();
            // pool -> (new addresses wanted, new addresses given)
            let mut tally: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
            let mut assigned = Vec::with_capacity(balancer.entries.len());
            for entry in &balancer.entries {
                let (pool, pinned) = match entry {
                    AddressEntry::Static(address) => {
                        assigned.push(Assigned {
                            pool: None,
                            address: *address,
                        });
                        continue;
                    }
                    AddressEntry::FromPool { pool, pinned } => (pool.as_str(), *pinned),
                };
                let Some(cidrs) = self.pools.get(pool) else {
                    continue;
                };
                let address = if let Some(address) = pinned {
                    Some(address)
                } else {
                    let index = next_kept.entry(pool).or_insert(0);
                    let kept = self.kept.get(&(balancer.balancer.as_str(), pool));
                    if let Some(&address) = kept.and_then(|k| k.get(*index)) {
                        *index += 1;
                        Some(address)
                    } else {
                        let (wanted, given) = tally.entry(pool).or_default();
                        *wanted += 1;
                        let fresh = cursors
                            .entry(pool)
                            .or_default()
                            .next_free(cidrs, &self.used);
                        if let Some(address) = fresh {
                            self.used.insert(address);
                            *given += 1;
                        }
                        fresh
                    }
                };
                if let Some(address) = address {
                    assigned.push(Assigned {
                        pool: Some(pool.to_owned()),
                        address,
                    });
                }
            }
            for (pool, (wanted, given)) in tally {
                // The walk only fails once the pool is drained, and nobody else
                // drew addresses during this balancer's turn, so what it got is
                // what was free for it.
                if given < wanted {
                    self.errors.push(AllocError::Exhausted {
                        pool: pool.to_owned(),
                        balancer: balancer.balancer.clone(),
                        wanted,
                        free: given as u128,
                    });
                }
            }
            result.insert(balancer.balancer.clone(), assigned);
        }
        Allocation { balancers: result }
    }
}

/// Where the lowest-free walk of one pool stands. Within one run addresses
/// are only ever taken, never freed, so the lowest free address only moves
/// up and the walk can resume where it stopped instead of rescanning.
#[derive(Default)]
struct Cursor {
    cidr: usize,
    from: Option<IpAddr>,
}

impl Cursor {
    fn next_free(&mut self, cidrs: &[Cidr], used: &BTreeSet<IpAddr>) -> Option<IpAddr> {
        while let Some(cidr) = cidrs.get(self.cidr) {
            let from = self.from.unwrap_or_else(|| cidr.first_usable());
            if let Some(address) = cidr.lowest_free_from(from, used) {
                self.from = Some(address);
                return Some(address);
            }
            self.cidr += 1;
            self.from = None;
        }
        None
    }
}

/// Sorts and drops networks nested in an earlier one. Sorting puts a network
/// right before the ones it contains, so comparing with the last kept one is
/// enough.
fn normalize(cidrs: &mut Vec<Cidr>) {
    cidrs.sort_unstable();
    let mut kept: Vec<Cidr> = Vec::with_capacity(cidrs.len());
    for cidr in cidrs.drain(..) {
        if !kept.last().is_some_and(|last| last.overlaps(&cidr)) {
            kept.push(cidr);
        }
    }
    *cidrs = kept;
}

fn usable_in(cidrs: &[Cidr], address: IpAddr) -> bool {
    cidrs.iter().any(|cidr| cidr.is_usable(address))
}

fn explicit_address(entry: &AddressEntry) -> Option<IpAddr> {
    match entry {
        AddressEntry::Static(address) => Some(*address),
        AddressEntry::FromPool { pinned, .. } => *pinned,
    }
}

/// Unpinned entries per pool: how many addresses the balancer wants the
/// allocator to choose.
fn dynamic_demand(balancer: &BalancerAddresses) -> BTreeMap<&str, usize> {
    let mut demand = BTreeMap::new();
    for entry in &balancer.entries {
        if let AddressEntry::FromPool { pool, pinned: None } = entry {
            *demand.entry(pool.as_str()).or_insert(0) += 1;
        }
    }
    demand
}

#[cfg(test)]
mod tests;
