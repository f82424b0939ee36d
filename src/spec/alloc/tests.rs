//! Inputs are written in a small text form to keep each case on a few lines:
//!
//! - pools: `"p=10.0.0.0/29,fd00::/64; q=10.1.0.0/30"` defines
//!   `addresspool/p` and `addresspool/q`;
//! - balancers: `"web: p p@10.0.0.5 192.0.2.1; idle:"` defines
//!   `loadbalancer/web` asking for one dynamic address from `p`, one pinned
//!   to 10.0.0.5, and the static 192.0.2.1, plus an empty `idle`;
//! - allocations print (and parse) as `"web: p@10.0.0.1 192.0.2.1"`.

use super::*;

use std::time::{Duration, Instant};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn lb_id(name: &str) -> String {
    format!("loadbalancer/{name}")
}

fn pool_id(name: &str) -> String {
    format!("addresspool/{name}")
}

fn items(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let items = text.split(';').map(str::trim).filter(|s| !s.is_empty());
    items.map(|item| item.split_once([':', '=']).unwrap())
}

fn pools(text: &str) -> Vec<AddressPoolDef> {
    let pool = |(name, list): (&str, &str)| {
        let cidrs = list.split_terminator(',').map(|c| c.parse().unwrap());
        let name = pool_id(name);
        AddressPoolDef {
            name,
            cidrs: cidrs.collect(),
        }
    };
    items(text).map(pool).collect()
}

fn entry(word: &str) -> AddressEntry {
    if let Ok(address) = word.parse() {
        return AddressEntry::Static(address);
    }
    let (pool, pinned) = match word.split_once('@') {
        Some((pool, pin)) => (pool_id(pool), Some(ip(pin))),
        None => (pool_id(word), None),
    };
    AddressEntry::FromPool { pool, pinned }
}

fn lbs(text: &str) -> Vec<BalancerAddresses> {
    let balancer = |(name, words): (&str, &str)| {
        let (balancer, entries) = (lb_id(name), words.split_whitespace().map(entry));
        BalancerAddresses {
            balancer,
            entries: entries.collect(),
        }
    };
    items(text).map(balancer).collect()
}

fn held(word: &str) -> Assigned {
    let (pool, address) = match word.split_once('@') {
        Some((pool, address)) => (Some(pool_id(pool)), ip(address)),
        None => (None, ip(word)),
    };
    Assigned { pool, address }
}

/// Parses the printed form of an allocation, see [`show`].
fn prev(text: &str) -> Allocation {
    let row = |(name, words): (&str, &str)| {
        let assigned: Vec<Assigned> = words.split_whitespace().map(held).collect();
        (lb_id(name), assigned)
    };
    items(text).map(row).collect()
}

fn show(allocation: &Allocation) -> String {
    let word = |a: &Assigned| match &a.pool {
        Some(pool) => format!("{}@{}", &pool["addresspool/".len()..], a.address),
        None => a.address.to_string(),
    };
    let row = |(id, assigned): (&str, &[Assigned])| {
        let words: Vec<String> = assigned.iter().map(word).collect();
        format!("{}: {}", &id["loadbalancer/".len()..], words.join(" "))
    };
    allocation.iter().map(row).collect::<Vec<_>>().join("; ")
}

fn none() -> Allocation {
    Allocation::new()
}

fn ok(pool_text: &str, lb_text: &str, previous: &Allocation) -> Allocation {
    let result = allocate(&pools(pool_text), &lbs(lb_text), previous);
    result.unwrap_or_else(|errors| panic!("unexpected errors: {errors:#?}"))
}

/// The printed result of a run that must succeed.
fn shown(pool_text: &str, lb_text: &str, previous: &Allocation) -> String {
    show(&ok(pool_text, lb_text, previous))
}

fn errs(pool_text: &str, lb_text: &str, previous: &Allocation) -> Vec<AllocError> {
    allocate(&pools(pool_text), &lbs(lb_text), previous).expect_err("expected errors")
}

fn reversed<T: Clone>(items: &[T]) -> Vec<T> {
    items.iter().rev().cloned().collect()
}

fn conflict(address: &str, first: &str, second: &str) -> AllocError {
    let (address, first, second) = (ip(address), lb_id(first), lb_id(second));
    AllocError::Conflict {
        address,
        first,
        second,
    }
}

fn exhausted(pool: &str, balancer: &str, wanted: usize, free: u128) -> AllocError {
    let (pool, balancer) = (pool_id(pool), lb_id(balancer));
    AllocError::Exhausted {
        pool,
        balancer,
        wanted,
        free,
    }
}

fn unknown(balancer: &str, pool: &str) -> AllocError {
    let (balancer, pool) = (lb_id(balancer), pool_id(pool));
    AllocError::UnknownPool { balancer, pool }
}

fn outside(balancer: &str, pool: &str, address: &str) -> AllocError {
    let (balancer, pool, address) = (lb_id(balancer), pool_id(pool), ip(address));
    AllocError::PinnedOutsidePool {
        balancer,
        pool,
        address,
    }
}

/// Checks that the message contains each `|`-separated part.
fn assert_mentions(error: &AllocError, parts: &str) {
    let message = error.to_string();
    for part in parts.split('|') {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
}

const P24: &str = "p=10.0.0.0/24";
const P29: &str = "p=10.0.0.0/29";
const P30: &str = "p=10.0.0.0/30";

// --- deterministic first allocation -------------------------------------

#[test]
fn first_allocation_takes_lowest_usable_addresses_in_id_order() {
    let result = ok(P29, "c: p; a: p; b: p", &none());
    assert_eq!(show(&result), "a: p@10.0.0.1; b: p@10.0.0.2; c: p@10.0.0.3");
    let expected = [held("p@10.0.0.1")];
    assert_eq!(result.get(&lb_id("a")), Some(&expected[..]));
}

#[test]
fn entries_keep_their_order_and_kind() {
    let pools = "p=10.0.0.0/24; q=fd00::/64";
    let result = shown(pools, "web: 192.0.2.10 p p@10.0.0.1 q p", &none());
    let expected = "web: 192.0.2.10 p@10.0.0.2 p@10.0.0.1 q@fd00::1 p@10.0.0.3";
    assert_eq!(result, expected);
}

#[test]
fn pool_cidrs_are_walked_in_sorted_order() {
    let pools = "p=fd00::/64,10.0.1.0/30,10.0.0.0/30";
    let result = shown(pools, "a: p p p p p", &none());
    let expected = "a: p@10.0.0.1 p@10.0.0.2 p@10.0.1.1 p@10.0.1.2 p@fd00::1";
    assert_eq!(result, expected);
}

// --- stability ------------------------------------------------------------

const MIXED_POOLS: &str = "p=10.0.1.0/29,10.0.0.0/29; q=fd00::/64; tiny=192.168.0.0/31";
const MIXED_LBS: &str = "web: p q; api: 10.0.0.1 p p; db: p@10.0.0.3 tiny; mail: q tiny";

#[test]
fn result_does_not_depend_on_input_order_and_reruns_change_nothing() {
    let (pools, balancers) = (pools(MIXED_POOLS), lbs(MIXED_LBS));
    let forward = allocate(&pools, &balancers, &none()).unwrap();
    let expected = "api: 10.0.0.1 p@10.0.0.2 p@10.0.0.4; db: p@10.0.0.3 tiny@192.168.0.0; \
                    mail: q@fd00::1 tiny@192.168.0.1; web: p@10.0.0.5 q@fd00::2";
    assert_eq!(show(&forward), expected);
    let backwards = allocate(&reversed(&pools), &reversed(&balancers), &none());
    assert_eq!(backwards.unwrap(), forward);
    for shift in 1..balancers.len() {
        let (mut rotated_pools, mut rotated) = (pools.clone(), balancers.clone());
        rotated_pools.rotate_left(shift % pools.len());
        rotated.rotate_left(shift);
        let result = allocate(&rotated_pools, &rotated, &none());
        assert_eq!(result.unwrap(), forward);
    }
    // A re-run, in any order, changes nothing.
    let again = allocate(&reversed(&pools), &reversed(&balancers), &forward);
    assert_eq!(again.unwrap(), forward);
    assert_eq!(allocate(&pools, &balancers, &forward).unwrap(), forward);
}

#[test]
fn new_balancer_never_moves_existing_ones() {
    let before = ok(P29, "a: p; c: p", &none());
    let after = shown(P29, "a: p; b: p; c: p", &before);
    assert_eq!(after, "a: p@10.0.0.1; b: p@10.0.0.3; c: p@10.0.0.2");
    // Twin: without the previous allocation "b" would have taken c's address.
    let fresh = shown(P29, "a: p; b: p; c: p", &none());
    assert_eq!(fresh, "a: p@10.0.0.1; b: p@10.0.0.2; c: p@10.0.0.3");
}

#[test]
fn removed_balancer_frees_its_addresses_and_nothing_else_moves() {
    let before = ok(P29, "a: p; b: p; c: p", &none());
    let after = ok(P29, "a: p; c: p", &before);
    assert_eq!(show(&after), "a: p@10.0.0.1; c: p@10.0.0.3");
    let later = shown(P29, "a: p; c: p; d: p", &after);
    assert_eq!(later, "a: p@10.0.0.1; c: p@10.0.0.3; d: p@10.0.0.2");
}

#[test]
fn fewer_addresses_keeps_the_lowest_in_previous_order() {
    let previous = prev("a: p@10.0.0.5 p@10.0.0.2 p@10.0.0.9");
    assert_eq!(shown(P24, "a: p p", &previous), "a: p@10.0.0.5 p@10.0.0.2");
    assert_eq!(shown(P24, "a: p", &previous), "a: p@10.0.0.2");
    assert_eq!(shown(P24, "a:", &previous), "a: ");
    // Twin: the same count keeps all of them in their order.
    assert_eq!(ok(P24, "a: p p p", &previous), previous);
}

#[test]
fn more_addresses_keeps_existing_and_adds_lowest_free() {
    let before = ok(P29, "a: p; b: p", &none());
    let after = shown(P29, "a: p p; b: p", &before);
    assert_eq!(after, "a: p@10.0.0.1 p@10.0.0.3; b: p@10.0.0.2");
}

#[test]
fn address_outside_a_changed_pool_is_reassigned_others_stay() {
    let previous = prev("a: p@10.0.0.1; b: p@10.0.1.1");
    let unchanged = ok("p=10.0.0.0/29,10.0.1.0/29", "a: p; b: p", &previous);
    assert_eq!(unchanged, previous);
    let changed = shown("p=10.0.2.0/29,10.0.1.0/29", "a: p; b: p", &previous);
    assert_eq!(changed, "a: p@10.0.1.2; b: p@10.0.1.1");
}

#[test]
fn address_that_became_a_network_address_is_reassigned() {
    let previous = prev("a: p@10.0.0.0");
    assert_eq!(shown("p=10.0.0.0/31", "a: p", &previous), "a: p@10.0.0.0");
    assert_eq!(shown(P30, "a: p", &previous), "a: p@10.0.0.1");
}

#[test]
fn address_from_another_pool_is_not_kept() {
    let (pools, previous) = ("p=10.0.0.0/29; q=10.0.0.0/29", prev("a: q@10.0.0.3"));
    assert_eq!(shown(pools, "a: p", &previous), "a: p@10.0.0.1");
    assert_eq!(shown(pools, "a: q", &previous), "a: q@10.0.0.3");
}

#[test]
fn unpinning_keeps_the_address_and_moving_a_pin_frees_the_old_one() {
    let before = ok(P29, "a: p@10.0.0.5", &none());
    assert_eq!(shown(P29, "a: p", &before), "a: p@10.0.0.5");
    let moved = shown(P29, "a: p@10.0.0.6; b: p@10.0.0.5", &before);
    assert_eq!(moved, "a: p@10.0.0.6; b: p@10.0.0.5");
}

#[test]
fn previous_address_now_claimed_by_its_own_static_is_not_doubled() {
    let result = shown(P29, "a: 10.0.0.3 p", &prev("a: p@10.0.0.3"));
    assert_eq!(result, "a: 10.0.0.3 p@10.0.0.1");
}

#[test]
fn corrupt_previous_with_a_shared_address_gives_it_to_the_first_id() {
    let previous = prev("b: p@10.0.0.4; a: p@10.0.0.4 p@10.0.0.4");
    let result = shown(P29, "a: p p; b: p", &previous);
    assert_eq!(result, "a: p@10.0.0.4 p@10.0.0.1; b: p@10.0.0.2");
}

/// Small deterministic generator so the churn test needs no extra crate.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005);
        self.0 = self.0.wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize % n
    }
}

fn in_pool(assigned: &[Assigned], pool: &str) -> Vec<IpAddr> {
    let from_pool = assigned.iter().filter(|a| a.pool.as_deref() == Some(pool));
    from_pool.map(|a| a.address).collect()
}

#[test]
fn random_churn_never_moves_an_address_it_promised_to_keep() {
    let pools = pools("p=10.0.0.0/24; q=fd00::/120,10.1.0.0/30");
    let (mut rng, mut demand, mut previous) = (Lcg(7), BTreeMap::new(), none());
    for round in 0..300 {
        let name = format!("l{}", rng.below(10));
        if rng.below(4) == 0 {
            demand.remove(&name);
        } else {
            demand.insert(name, "p ".repeat(rng.below(4)) + &"q ".repeat(rng.below(3)));
        }
        let text: String = demand.iter().map(|(n, w)| format!("{n}: {w};")).collect();
        let mut balancers = lbs(&text);
        if round % 2 == 1 {
            balancers.reverse();
        }
        let next = allocate(&pools, &balancers, &previous).unwrap();
        let mut seen = HashSet::new();
        for (balancer, assigned) in next.iter() {
            let unique = assigned.iter().all(|a| seen.insert(a.address));
            assert!(unique, "an address is handed out twice in round {round}");
            let old = previous.get(balancer).unwrap_or(&[]);
            for pool in [pool_id("p"), pool_id("q")] {
                let (old, new) = (in_pool(old, &pool), in_pool(assigned, &pool));
                let mut expected = old.clone();
                if new.len() < old.len() {
                    let mut lowest = old.clone();
                    lowest.sort();
                    expected.retain(|a| lowest[..new.len()].contains(a));
                }
                let message = format!("{balancer} moved in round {round}");
                assert_eq!(new[..expected.len()], expected[..], "{message}");
            }
        }
        previous = next;
    }
}

// --- reservations ---------------------------------------------------------

#[test]
fn static_or_pinned_address_inside_a_pool_is_never_handed_out() {
    let inside_pool = shown(P29, "a: p; z: 10.0.0.1", &none());
    assert_eq!(inside_pool, "a: p@10.0.0.2; z: 10.0.0.1");
    // Twin: a static outside every pool takes nothing from it.
    let outside_pool = shown(P29, "a: p; z: 192.0.2.1", &none());
    assert_eq!(outside_pool, "a: p@10.0.0.1; z: 192.0.2.1");
    // Reserved addresses count against the pool's capacity.
    let errors = errs(P30, "a: p p; z: 10.0.0.2", &none());
    assert_eq!(errors, [exhausted("p", "a", 2, 1)]);
    // Pinned addresses are reserved the same way.
    let result = shown(P29, "a: p; z: p@10.0.0.1", &none());
    assert_eq!(result, "a: p@10.0.0.2; z: p@10.0.0.1");
}

#[test]
fn overlapping_pools_never_share_an_address() {
    let result = shown("p=10.0.0.0/29; q=10.0.0.0/30", "a: p; b: q", &none());
    assert_eq!(result, "a: p@10.0.0.1; b: q@10.0.0.2");
}

#[test]
fn nested_cidrs_in_one_pool_are_walked_once() {
    let pools = "p=10.0.0.0/30,10.0.0.0/29,10.0.0.4/31";
    let result = shown(pools, "a: p p p p p p", &none());
    let expected = "a: p@10.0.0.1 p@10.0.0.2 p@10.0.0.3 p@10.0.0.4 p@10.0.0.5 p@10.0.0.6";
    assert_eq!(result, expected);
    let errors = errs(pools, "a: p p p p p p; b: p", &none());
    assert_eq!(errors, [exhausted("p", "b", 1, 0)]);
}

// --- conflicts ------------------------------------------------------------

#[test]
fn two_statics_on_one_address_conflict_and_name_both() {
    let balancers = lbs("zeta: 192.0.2.1; alpha: 192.0.2.1");
    let errors = allocate(&[], &balancers, &none()).unwrap_err();
    assert_eq!(errors, [conflict("192.0.2.1", "alpha", "zeta")]);
    let parts = "loadbalancer/alpha|loadbalancer/zeta|192.0.2.1|pick another address";
    assert_mentions(&errors[0], parts);
    let backwards = allocate(&[], &reversed(&balancers), &none());
    assert_eq!(backwards.unwrap_err(), errors);
    // Twin: different addresses are fine.
    assert!(allocate(&[], &lbs("zeta: 192.0.2.1; alpha: 192.0.2.2"), &none()).is_ok());
}

#[test]
fn static_and_pinned_on_one_address_conflict() {
    let errors = errs(P29, "a: p@10.0.0.4; b: 10.0.0.4", &none());
    assert_eq!(errors, [conflict("10.0.0.4", "a", "b")]);
    let errors = errs(P29, "a: p@10.0.0.4; b: p@10.0.0.4", &none());
    assert_eq!(errors, [conflict("10.0.0.4", "a", "b")]);
}

#[test]
fn one_balancer_repeating_a_static_conflicts_with_itself() {
    let errors = errs("", "a: 192.0.2.1 192.0.2.1", &none());
    assert_eq!(errors, [conflict("192.0.2.1", "a", "a")]);
    assert_mentions(&errors[0], "loadbalancer/a|192.0.2.1|more than once");
}

#[test]
fn explicit_claim_on_an_address_another_balancer_holds_conflicts() {
    let previous = ok(P29, "zeta: p", &none());
    assert_eq!(show(&previous), "zeta: p@10.0.0.1");
    for claim in ["10.0.0.1", "p@10.0.0.1"] {
        let errors = errs(P29, &format!("zeta: p; alpha: {claim}"), &previous);
        assert_eq!(errors, [conflict("10.0.0.1", "zeta", "alpha")]);
        let parts = "loadbalancer/zeta|loadbalancer/alpha|10.0.0.1";
        assert_mentions(&errors[0], parts);
    }
}

#[test]
fn explicit_claim_on_a_released_address_is_fine() {
    let previous = ok(P29, "zeta: p", &none());
    // The holder is gone.
    assert_eq!(shown(P29, "alpha: 10.0.0.1", &previous), "alpha: 10.0.0.1");
    // The holder no longer asks the pool for anything.
    let result = shown(P29, "alpha: 10.0.0.1; zeta: 192.0.2.1", &previous);
    assert_eq!(result, "alpha: 10.0.0.1; zeta: 192.0.2.1");
    // The held address left the pool, so the holder is reassigned.
    let result = shown("p=10.0.1.0/29", "alpha: 10.0.0.1; zeta: p", &previous);
    assert_eq!(result, "alpha: 10.0.0.1; zeta: p@10.0.1.1");
}

// --- bad references ---------------------------------------------------------

#[test]
fn unknown_pool_is_reported_for_dynamic_and_pinned_entries() {
    let errors = errs(P29, "a: gone; b: gone@10.0.0.1", &none());
    assert_eq!(errors, [unknown("a", "gone"), unknown("b", "gone")]);
    assert_mentions(&errors[0], "addresspool/gone|loadbalancer/a|define");
}

#[test]
fn pin_must_be_a_usable_address_of_the_pool() {
    for address in ["10.0.1.1", "10.0.0.0", "10.0.0.7", "fd00::1"] {
        let errors = errs(P29, &format!("a: p@{address}"), &none());
        assert_eq!(errors, [outside("a", "p", address)]);
        let parts = format!("{address}|addresspool/p|loadbalancer/a|remove the pin");
        assert_mentions(&errors[0], &parts);
    }
    // Twin: both ends of the usable range are fine.
    for address in ["10.0.0.1", "10.0.0.6"] {
        let result = shown(P29, &format!("a: p@{address}"), &none());
        assert_eq!(result, format!("a: p@{address}"));
    }
}

#[test]
fn duplicate_definitions_are_reported() {
    let (pools, balancers) = ("p=10.0.0.0/30; p=10.0.1.0/30", "a: p; a: 192.0.2.1; b: p");
    let (balancer, pool) = (lb_id("a"), pool_id("p"));
    let expected = [
        AllocError::DuplicateBalancer { balancer },
        AllocError::DuplicatePool { pool },
    ];
    let errors = errs(pools, balancers, &none());
    assert_eq!(errors, expected);
    assert_mentions(&errors[0], "loadbalancer/a|more than once");
    assert_mentions(&errors[1], "addresspool/p|more than once");
    // Twin: distinct names are fine.
    assert_eq!(
        shown("p=10.0.0.0/30; q=10.0.1.0/30", "a: q", &none()),
        "a: q@10.0.1.1"
    );
}

// --- exhaustion -------------------------------------------------------------

#[test]
fn slash_30_has_two_usable_addresses() {
    let fits = shown(P30, "a: p; b: p", &none());
    assert_eq!(fits, "a: p@10.0.0.1; b: p@10.0.0.2");
    let errors = errs(P30, "a: p; b: p; c: p", &none());
    assert_eq!(errors, [exhausted("p", "c", 1, 0)]);
    let parts = "addresspool/p|loadbalancer/c|add a CIDR|release addresses";
    assert_mentions(&errors[0], parts);
}

#[test]
fn exhaustion_reports_what_was_free_for_each_balancer() {
    let errors = errs(P30, "a: p p p; b: p", &none());
    let expected = [exhausted("p", "a", 3, 2), exhausted("p", "b", 1, 0)];
    assert_eq!(errors, expected);
    assert_eq!(errs("p=", "b: p", &none()), [exhausted("p", "b", 1, 0)]);
}

#[test]
fn slash_31_32_127_and_128_use_every_address() {
    let result = shown("p=10.0.0.0/31; q=10.0.9.9/32", "a: p p q", &none());
    assert_eq!(result, "a: p@10.0.0.0 p@10.0.0.1 q@10.0.9.9");
    let errors = errs("q=10.0.9.9/32", "a: q q", &none());
    assert_eq!(errors, [exhausted("q", "a", 2, 1)]);
    // Likewise IPv6 /127 and /128, while /126 skips its first address.
    let pools = "p=fd00::/127; q=fd00::8/128; r=fd00::/126";
    let result = shown(pools, "a: p p q r", &none());
    assert_eq!(result, "a: p@fd00:: p@fd00::1 q@fd00::8 r@fd00::2");
    let errors = errs("p=fd00::/127", "a: p p p", &none());
    assert_eq!(errors, [exhausted("p", "a", 3, 2)]);
}

#[test]
fn ipv6_slash_64_is_allocated_lazily_from_1() {
    let pools = pools("p=2001:db8::/64; all=::/0");
    let text: Vec<String> = (0..20_000).map(|n| format!("{n:05}: p all")).collect();
    let balancers = lbs(&text.join(";"));
    let started = Instant::now();
    let first = allocate(&pools, &balancers, &none()).unwrap();
    let again = allocate(&pools, &reversed(&balancers), &first).unwrap();
    let grown = [balancers, lbs("new: p")].concat();
    let later = allocate(&pools, &grown, &again).unwrap();
    // Generous: only a walk over the network, or a quadratic rescan of the
    // used addresses, would come anywhere near it.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert_eq!(first, again);
    let shown = show(&later);
    assert!(shown.starts_with("00000: p@2001:db8::1 all@::1; 00001: p@2001:db8::2 all@::2;"));
    assert!(shown.ends_with("19999: p@2001:db8::4e20 all@::4e20; new: p@2001:db8::4e21"));
}

// --- reporting --------------------------------------------------------------

#[test]
fn every_error_is_reported_in_a_stable_order() {
    let pools = pools(P30);
    let text = "a: 192.0.2.1; b: 192.0.2.1; c: gone; d: p@10.0.5.5; e: p p p; f: 192.0.2.9; f: p";
    let balancers = lbs(text);
    let errors = allocate(&pools, &balancers, &none()).unwrap_err();
    let duplicate = AllocError::DuplicateBalancer {
        balancer: lb_id("f"),
    };
    let expected = [
        conflict("192.0.2.1", "a", "b"),
        unknown("c", "gone"),
        outside("d", "p", "10.0.5.5"),
        exhausted("p", "e", 3, 2),
        duplicate,
    ];
    assert_eq!(errors, expected);
    let backwards = allocate(&reversed(&pools), &reversed(&balancers), &none());
    assert_eq!(backwards.unwrap_err(), errors);
}

// --- Allocation API ---------------------------------------------------------

#[test]
fn allocation_accessors() {
    assert!(none().is_empty());
    assert_eq!(Allocation::new(), Allocation::default());
    let result = ok(P29, "b: p; a: p", &none());
    assert_eq!((result.is_empty(), result.len()), (false, 2));
    let ids: Vec<&str> = result.iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["loadbalancer/a", "loadbalancer/b"]);
    assert_eq!(result.get("loadbalancer/missing"), None);
    let rebuilt = result.iter().map(|(id, a)| (id.to_owned(), a.to_vec()));
    assert_eq!(rebuilt.collect::<Allocation>(), result);
    assert_eq!(prev(&show(&result)), result);
    let idle = ok("", "idle:", &none());
    assert_eq!(idle.get(&lb_id("idle")), Some(&[][..]));
}
