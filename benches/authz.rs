//! `changes` and authorization time on a large estate.
//!
//! `cargo bench --bench authz` (optionally `-- POOLS` for another size).
//! The policy has 100 roles (one admin, the rest shifting weights and
//! targets of one team's pools, some only `pool/pool-1*`), 20 groups of 5
//! roles, 1,000 users (in 2 groups each, some with direct roles, every
//! 50th disabled) and 10 service accounts; the estate has N pools of 10
//! targets. The candidate touches every 10th pool: a weight edit, a
//! target replaced, or a relabel to another team. Only `changes` and
//! `Authorizer::new` + authorizing every change are timed; each is the
//! median of 9 runs.

use lbops::authz::{authorize, changes, Authorizer, Change};
use lbops::identity::Principal;
use lbops::spec::kinds::pool::Target;
use lbops::spec::yaml::Spanned;
use lbops::spec::{self, Catalog, SourceFile};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const ROLES: usize = 100;
const GROUPS: usize = 20;
const USERS: usize = 1_000;
const ACCOUNTS: usize = 10;
const TEAMS: usize = 50;
const RUNS: usize = 9;

fn policy_and_estate(pools: usize) -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut text = String::new();
    for p in 0..pools {
        let _ = write!(
            text,
            "---\nkind: Pool\nname: pool-{p}\nlabels: {{team: team-{}}}\nspec:\n  targets:\n",
            p % TEAMS
        );
        for t in 0..10 {
            let _ = writeln!(
                text,
                "    - {{address: 10.{}.{}.{t}:8080, weight: {}}}",
                p / 256 % 256,
                p % 256,
                t + 1
            );
        }
        if (p + 1) % 500 == 0 {
            files.push(SourceFile::new(
                format!("pools-{p}.yaml"),
                std::mem::take(&mut text),
            ));
        }
    }
    text.push_str("---\nkind: Role\nname: role-0\nspec:\n  rules:\n    - {actions: [\"*\"], resources: [\"*\"]}\n");
    for r in 1..ROLES {
        let _ = write!(
            text,
            "---\nkind: Role\nname: role-{r}\nspec:\n  rules:\n    - actions: [pool.weights.update, pool.targets.update]\n      resources: [\"pool/*\"]\n      when: {{labels: {{team: team-{}}}}}\n",
            r % TEAMS
        );
        if r % 4 == 0 {
            text.push_str("    - {actions: [\"pool.*\"], resources: [\"pool/pool-1*\"]}\n");
        }
    }
    for g in 0..GROUPS {
        let roles: Vec<String> = (0..5)
            .map(|i| format!("role-{}", 1 + (g * 5 + i) % (ROLES - 1)))
            .collect();
        let _ = write!(
            text,
            "---\nkind: Group\nname: group-{g}\nspec:\n  roles: [{}]\n",
            roles.join(", ")
        );
    }
    for u in 0..USERS {
        let roles = match u {
            0 => "[role-0]".to_owned(),
            u if u % 3 == 0 => format!("[role-{}]", 1 + u % (ROLES - 1)),
            _ => "[]".to_owned(),
        };
        let _ = write!(
            text,
            "---\nkind: User\nname: user-{u}\nspec:\n  emails: [user{u}@example.test]\n  roles: {roles}\n  groups: [group-{}, group-{}]\n  disabled: {}\n",
            u % GROUPS,
            (u + 7) % GROUPS,
            u % 50 == 49
        );
    }
    for a in 0..ACCOUNTS {
        let _ = write!(
            text,
            "---\nkind: ServiceAccount\nname: bot-{a}\nspec:\n  owner: user-{}\n  roles: [role-{}]\n",
            a + 1,
            a + 1
        );
    }
    files.push(SourceFile::new("access.yaml", text));
    files
}

/// Every 10th pool touched: weights, a target, or the team label.
fn candidate(trusted: &Catalog) -> Catalog {
    let mut candidate = trusted.clone();
    for (i, pool) in candidate
        .pools
        .values_mut()
        .enumerate()
        .filter(|(i, _)| i % 10 == 0)
    {
        match i / 10 % 3 {
            0 => pool.spec.targets[0].weight = Spanned::unplaced(100),
            1 => {
                pool.spec.targets.pop();
                pool.spec.targets.push(Target {
                    address: Spanned::unplaced(
                        format!("10.255.{}.{}:8080", i / 256 % 256, i % 256)
                            .parse()
                            .unwrap(),
                    ),
                    weight: Spanned::unplaced(1),
                });
            }
            _ => {
                let team = pool.labels["team"]
                    .trim_start_matches("team-")
                    .parse::<usize>()
                    .unwrap();
                pool.labels
                    .insert("team".into(), format!("team-{}", (team + 1) % TEAMS));
            }
        }
    }
    candidate
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let pools: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let loaded = spec::load(&policy_and_estate(pools), &spec::Options::at(1_795_564_800));
    let trusted = match loaded {
        Ok(v) => v.catalog,
        Err(e) => panic!(
            "generated estate is invalid: {:?}",
            &e.diagnostics[..e.diagnostics.len().min(3)]
        ),
    };
    let candidate = candidate(&trusted);
    println!(
        "estate: {pools} pools, {} roles, {} groups, {} users, {} service accounts",
        trusted.roles.len(),
        trusted.groups.len(),
        trusted.users.len(),
        trusted.service_accounts.len()
    );

    let mut found: Vec<Change> = Vec::new();
    let runs = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            found = changes(&trusted, &candidate);
            start.elapsed()
        })
        .collect();
    let diff = median(runs);
    println!(
        "changes:            {:>10}  ({} changes, {:.2}µs per touched pool)",
        ms(diff),
        found.len(),
        diff.as_secs_f64() * 1e6 / (pools / 10) as f64
    );

    let principals = [
        ("admin user-0", Principal::User("user-0".parse().unwrap())),
        ("on-call user-1", Principal::User("user-1".parse().unwrap())),
        ("direct user-3", Principal::User("user-3".parse().unwrap())),
        (
            "disabled user-49",
            Principal::User("user-49".parse().unwrap()),
        ),
        (
            "serviceaccount bot-0",
            Principal::ServiceAccount("bot-0".parse().unwrap()),
        ),
    ];
    let mut allowed = vec![0; principals.len()];
    let runs = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let authorizer = Authorizer::new(&trusted, lbops::idp::Idp::Absent);
            for (i, (_, principal)) in principals.iter().enumerate() {
                allowed[i] = found
                    .iter()
                    .filter(|c| authorizer.authorize(principal, c).is_ok())
                    .count();
            }
            start.elapsed()
        })
        .collect();
    let judged = median(runs);
    let decisions = found.len() * principals.len();
    println!(
        "Authorizer::new + authorize: {:>10}  ({decisions} decisions, {:.2}µs each incl. new)",
        ms(judged),
        judged.as_secs_f64() * 1e6 / decisions as f64
    );
    let runs = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let _ = Authorizer::new(&trusted, lbops::idp::Idp::Absent);
            start.elapsed()
        })
        .collect();
    println!("  of which Authorizer::new:  {:>10}", ms(median(runs)));
    for ((name, _), allowed) in principals.iter().zip(&allowed) {
        println!("  {name:<22} allowed {allowed:>5} of {}", found.len());
    }
    let runs = (0..3)
        .map(|_| {
            let start = Instant::now();
            for c in &found {
                let _ = authorize(&trusted, lbops::idp::Idp::Absent, &principals[1].1, c);
            }
            start.elapsed()
        })
        .collect();
    println!(
        "free authorize (on-call, no index): {:>10} for {} changes",
        ms(median(runs)),
        found.len()
    );
}
