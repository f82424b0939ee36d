//! `decide` over hand-made histories: identities are given, states are
//! catalogs from inline YAML, so every attribution rule is shown without
//! git. The end-to-end twins with real signed commits live in
//! `tests/authorize.rs`.

use super::*;
use crate::identity::{NoIdentity, Principal, Verified};
use crate::spec::material::KeyFormat;
use crate::spec::units::Name;
use crate::spec::{load, Options, SourceFile};

const NOW: i64 = 1_800_000_000;

/// The access policy the tests share: alice is an SRE admin, bob on the
/// web on-call rotation. Its placeholders (comments) stay empty here: these
/// tests judge identities they make up, not signing keys.
const POLICY: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/policy.yaml"
));

fn pool(name: &str, team: &str, weight: u32) -> String {
    format!(
        "---\nkind: Pool\nname: {name}\nlabels: {{team: {team}}}\nspec:\n  targets:\n    - {{address: 127.0.0.1:9001, weight: {weight}}}\n    - {{address: 127.0.0.1:9002}}\n"
    )
}

/// A state: the policy plus the given pools, with extra YAML appended.
fn state(pools: &[(&str, &str, u32)], extra: &str) -> Result<Catalog, Invalid> {
    let mut text = POLICY.to_owned();
    for (name, team, weight) in pools {
        text.push_str(&pool(name, team, *weight));
    }
    text.push_str(extra);
    load(&[SourceFile::new("all.yaml", text)], &Options::at(NOW)).map(|v| v.catalog)
}

fn valid(pools: &[(&str, &str, u32)], extra: &str) -> Catalog {
    state(pools, extra).expect("test state validates")
}

fn id(n: u8) -> CommitId {
    CommitId::parse(&format!("{n:02x}").repeat(20)).unwrap()
}

fn user(name: &str) -> Result<Identity, NoIdentity> {
    Ok(Identity::Signed(Verified {
        principal: Principal::User(name.parse::<Name>().unwrap()),
        key_format: KeyFormat::Ssh,
        fingerprint: format!("SHA256:{name}"),
    }))
}

/// Builds a candidate from `(id, parents, author, state)` rows, oldest first.
struct History {
    trusted: (CommitId, Catalog),
    commits: Vec<CandidateCommit>,
    states: HashMap<CommitId, Result<Catalog, Invalid>>,
    /// The judging time.
    now: i64,
}

impl History {
    fn from(trusted: Catalog) -> Self {
        let mut states = HashMap::new();
        states.insert(id(0), Ok(trusted.clone()));
        History {
            trusted: (id(0), trusted),
            commits: Vec::new(),
            states,
            now: NOW,
        }
    }

    fn outside(mut self, n: u8, state: Catalog) -> Self {
        self.states.insert(id(n), Ok(state));
        self
    }

    fn commit(
        mut self,
        n: u8,
        parents: &[u8],
        identity: Result<Identity, NoIdentity>,
        state: Result<Catalog, Invalid>,
    ) -> Self {
        self.states.insert(id(n), state);
        self.commits.push(CandidateCommit {
            info: CommitInfo {
                id: id(n),
                parents: parents.iter().map(|p| id(*p)).collect(),
                author_email: "someone@example.test".into(),
                committer_email: "someone@example.test".into(),
                summary: format!("commit {n}"),
                time: NOW,
                signature: None,
                signed_data: Vec::new(),
            },
            identity,
        });
        self
    }

    /// Judges as of `now` instead of [`NOW`].
    fn at(mut self, now: i64) -> Self {
        self.now = now;
        self
    }

    /// Gives the last commit this message, in the bytes its signature covers.
    fn message(mut self, text: &str) -> Self {
        let last = self.commits.last_mut().expect("a commit to give a message");
        last.info.signed_data = format!("tree 0\nauthor a\n\n{text}\n").into_bytes();
        self
    }

    /// Gives the last commit this tree and message, as signed.
    fn tree(mut self, tree: &str, text: &str) -> Self {
        let last = self.commits.last_mut().expect("a commit to give a tree");
        last.info.signed_data = format!("tree {tree}\nauthor a\n\n{text}\n").into_bytes();
        self
    }

    fn judge_candidate(self, rewritten: bool) -> Judgement {
        let head = self.commits.last().map_or(self.trusted.0, |c| c.info.id);
        let candidate = Candidate {
            head,
            commits: self.commits,
            states: self.states,
            rewritten: rewritten.then_some(self.trusted.0),
            now: self.now,
        };
        judge_candidate(
            &self.trusted.1,
            &self.trusted.1,
            crate::idp::Idp::Absent,
            &candidate,
        )
    }
}

fn denied_in(judgement: &Judgement) -> Vec<(CommitId, &'static str, String)> {
    judgement
        .commits
        .iter()
        .flat_map(|c| {
            c.changes
                .iter()
                .filter(|j| !j.verdict.is_allowed())
                .map(|j| {
                    let resource = j.change.resource.as_ref().map(ToString::to_string);
                    (c.id, j.change.action.name, resource.unwrap_or_default())
                })
        })
        .collect()
}

#[test]
fn an_on_call_weight_shift_in_scope_is_accepted() {
    let trusted = valid(&[("web", "web", 1), ("db", "data", 1)], "");
    let judgement = History::from(trusted)
        .commit(
            1,
            &[0],
            user("bob"),
            state(&[("web", "web", 5), ("db", "data", 1)], ""),
        )
        .judge_candidate(false);
    assert!(judgement.accepted(), "{judgement}");
    let change = &judgement.commits[0].changes[0];
    assert_eq!(change.change.action.name, "pool.weights.update");
    assert!(change.charged_because.is_none());
}

#[test]
fn the_same_shift_out_of_scope_refuses_everything_and_names_the_commit() {
    let trusted = valid(&[("web", "web", 1), ("db", "data", 1)], "");
    let judgement = History::from(trusted)
        .commit(
            1,
            &[0],
            user("bob"),
            state(&[("web", "web", 5), ("db", "data", 1)], ""),
        )
        .commit(
            2,
            &[1],
            user("bob"),
            state(&[("web", "web", 5), ("db", "data", 9)], ""),
        )
        .judge_candidate(false);
    assert!(matches!(judgement.ruling, Ruling::Refused { denials: 1 }));
    assert_eq!(
        denied_in(&judgement),
        [(id(2), "pool.weights.update", "pool/db".to_owned())]
    );
    let text = judgement.to_string();
    assert!(
        text.contains("refused") && text.contains(&id(2).short()),
        "{text}"
    );
}

#[test]
fn an_unverified_commit_may_change_nothing_but_may_touch_other_files() {
    let trusted = valid(&[("web", "web", 1)], "");
    let unsigned = || Err(NoIdentity::Unsigned { commit: "c".into() });
    let harmless = History::from(trusted.clone())
        .commit(1, &[0], unsigned(), Ok(trusted.clone()))
        .judge_candidate(false);
    assert!(harmless.accepted(), "{harmless}");
    let judgement = History::from(trusted)
        .commit(1, &[0], unsigned(), state(&[("web", "web", 2)], ""))
        .judge_candidate(false);
    assert!(!judgement.accepted());
    assert!(matches!(
        judgement.commits[0].changes[0].verdict,
        Verdict::Unverified { .. }
    ));
}

#[test]
fn a_grant_in_the_same_push_cannot_be_used_before_it_is_applied() {
    let trusted = valid(&[("db", "data", 1)], "");
    let granted = POLICY.replacen("# BOB_EXTRA", "roles: [sre-admin]", 1);
    assert_ne!(granted, POLICY);
    let granted_state = |weight| {
        let text = format!("{granted}{}", pool("db", "data", weight));
        load(&[SourceFile::new("all.yaml", text)], &Options::at(NOW)).map(|v| v.catalog)
    };
    let judgement = History::from(trusted)
        .commit(1, &[0], user("alice"), granted_state(1))
        .commit(2, &[1], user("bob"), granted_state(7))
        .judge_candidate(false);
    assert_eq!(
        denied_in(&judgement),
        [(id(2), "pool.weights.update", "pool/db".to_owned())],
        "{judgement}"
    );
    assert!(judgement.commits[0].changes[0].verdict.is_allowed());
}

#[test]
fn a_merge_answers_for_an_old_value_it_brings_back() {
    // Trusted commit 0 set web's weight to 5 (its parent 9 had 1). A branch
    // from 9 changes nothing about web; bob's merge takes the old weight 1.
    let before = valid(&[("web", "web", 1), ("db", "data", 1)], "");
    let trusted = valid(&[("web", "web", 5), ("db", "data", 1)], "");
    let judgement = History::from(trusted)
        .outside(9, before.clone())
        .commit(1, &[9], user("alice"), Ok(before.clone()))
        .commit(2, &[0, 1], user("carol-less"), Ok(before))
        .judge_candidate(false);
    let charged = &judgement.commits[1].changes;
    assert_eq!(charged.len(), 1, "{judgement}");
    assert_eq!(charged[0].change.action.name, "pool.weights.update");
    assert!(charged[0].charged_because.unwrap().contains("merge"));
}

#[test]
fn stale_labels_on_an_old_branch_point_do_not_put_a_pool_in_scope() {
    // The pool was team=web at 9; the trusted commit 0 moved it to team=data.
    // Bob edits weights on a branch from 9 (in scope there); alice merges.
    let old = valid(&[("shop", "web", 1)], "");
    let trusted = valid(&[("shop", "data", 1)], "");
    let judgement = History::from(trusted)
        .outside(9, old)
        .commit(1, &[9], user("bob"), state(&[("shop", "web", 4)], ""))
        .commit(2, &[0, 1], user("alice"), state(&[("shop", "data", 4)], ""))
        .judge_candidate(false);
    assert_eq!(
        denied_in(&judgement),
        [(id(1), "pool.weights.update", "pool/shop".to_owned())],
        "{judgement}"
    );
}

#[test]
fn rewritten_history_needs_force_push_signed_for_this_very_move() {
    let trusted = valid(&[("web", "web", 5)], "");
    let base = valid(&[("web", "web", 1)], "");
    let trailer = format!("rewrite\n\nLbops-Force-Push: {}", id(0));
    let rewrite = |who: &str, message: &str| {
        History::from(trusted.clone())
            .outside(9, base.clone())
            .commit(1, &[9], user(who), state(&[("web", "web", 2)], ""))
            .message(message)
            .judge_candidate(true)
    };
    let by_admin = rewrite("alice", &trailer);
    assert!(by_admin.accepted(), "{by_admin}");
    let by_oncall = rewrite("bob", &trailer);
    assert_eq!(
        denied_in(&by_oncall),
        [(id(1), "repo.force_push", String::new())],
        "{by_oncall}"
    );
    // An admin's signature on a commit that does not name the trusted
    // commit it replaces (an old trusted head pushed again, a stale branch)
    // authorizes no rewrite.
    let old_signature = rewrite("alice", "rewrite");
    assert_eq!(
        denied_in(&old_signature),
        [(id(1), "repo.force_push", String::new())],
        "{old_signature}"
    );
    let text = old_signature.to_string();
    assert!(
        text.contains(&format!("Lbops-Force-Push: {}", id(0))),
        "{text}"
    );
    let other_commit = rewrite("alice", &format!("rewrite\n\nLbops-Force-Push: {}", id(7)));
    assert!(!other_commit.accepted(), "{other_commit}");
}

#[test]
fn the_commit_signed_for_a_rewrite_answers_for_undoing_the_trusted_one() {
    // alice (admin) signs the rewrite; bob's in-scope commit on top is the
    // head. Undoing trusted commit 0's pool `api` is alice's to answer for.
    let trusted = valid(&[("web", "web", 1), ("api", "data", 1)], "");
    let base = valid(&[("web", "web", 1)], "");
    let judgement = History::from(trusted)
        .outside(9, base)
        .commit(1, &[9], user("alice"), state(&[("web", "web", 1)], ""))
        .message(&format!("rewrite\n\nLbops-Force-Push: {}", id(0)))
        .commit(2, &[1], user("bob"), state(&[("web", "web", 3)], ""))
        .judge_candidate(true);
    assert!(judgement.accepted(), "{judgement}");
    let alice: Vec<&str> = judgement.commits[0]
        .changes
        .iter()
        .map(|c| c.change.action.name)
        .collect();
    assert_eq!(alice, ["pool.delete", "repo.force_push"], "{judgement}");
}

#[test]
fn moving_the_branch_back_is_refused() {
    let trusted = valid(&[("web", "web", 5)], "");
    let mut history = History::from(trusted).outside(9, valid(&[("web", "web", 1)], ""));
    history.trusted.0 = id(0);
    let candidate = Candidate {
        head: id(9),
        commits: Vec::new(),
        states: history.states,
        rewritten: Some(id(0)),
        now: NOW,
    };
    let judgement = judge_candidate(
        &history.trusted.1,
        &history.trusted.1,
        crate::idp::Idp::Absent,
        &candidate,
    );
    assert!(matches!(judgement.ruling, Ruling::Rewound));
    assert!(judgement.to_string().contains("git revert"));
}

#[test]
fn a_broken_commit_shares_the_blame_for_the_fix_that_follows() {
    let trusted = valid(&[("web", "web", 1)], "");
    let broken = state(&[("web", "web", 3)], "---\nkind: Pool\nname: web\n");
    assert!(broken.is_err());
    let unsigned = Err(NoIdentity::Unsigned { commit: "c".into() });
    let judgement = History::from(trusted)
        .commit(1, &[0], unsigned, broken)
        .commit(2, &[1], user("bob"), state(&[("web", "web", 3)], ""))
        .judge_candidate(false);
    assert!(judgement.commits[0].invalid.is_some());
    assert_eq!(
        denied_in(&judgement),
        [(id(1), "pool.weights.update", "pool/web".to_owned())],
        "{judgement}"
    );
}

#[test]
fn an_invalid_head_applies_nothing() {
    let trusted = valid(&[("web", "web", 1)], "");
    let judgement = History::from(trusted)
        .commit(
            1,
            &[0],
            user("alice"),
            state(&[("web", "web", 0)], "---\nkind: Nope\n"),
        )
        .judge_candidate(false);
    assert!(matches!(judgement.ruling, Ruling::Invalid { .. }));
}

#[test]
fn a_denied_change_reverted_in_the_same_range_blocks_nothing() {
    let trusted = valid(&[("db", "data", 1)], "");
    let judgement = History::from(trusted)
        .commit(1, &[0], user("bob"), state(&[("db", "data", 5)], ""))
        .commit(2, &[1], user("alice"), state(&[("db", "data", 1)], ""))
        .judge_candidate(false);
    assert!(judgement.accepted(), "{judgement}");
    // A partial revert still leaves bob's edit in what would be applied.
    let trusted = valid(&[("db", "data", 1)], "");
    let partial = History::from(trusted)
        .commit(1, &[0], user("bob"), state(&[("db", "data", 5)], ""))
        .commit(2, &[1], user("alice"), state(&[("db", "data", 3)], ""))
        .judge_candidate(false);
    assert_eq!(
        denied_in(&partial),
        [(id(1), "pool.weights.update", "pool/db".to_owned())]
    );
}

/// A pool `web` of team web with both targets' weights given.
fn web_weights(first: u32, second: u32) -> Catalog {
    let text = format!(
        "{POLICY}---\nkind: Pool\nname: web\nlabels: {{team: web}}\nspec:\n  targets:\n    - {{address: 127.0.0.1:9001, weight: {first}}}\n    - {{address: 127.0.0.1:9002, weight: {second}}}\n"
    );
    load(&[SourceFile::new("all.yaml", text)], &Options::at(NOW))
        .expect("test state validates")
        .catalog
}

#[test]
fn an_unsigned_merge_cannot_roll_back_a_value_under_cover_of_a_signed_edit() {
    // 9 → trusted 0 set the first weight to 5. Bob (allowed) edits only the
    // second weight on top of 0; an unsigned merge of bob's commit with 9
    // keeps 9's pool, so the head undoes 0's weight and bob's own edit.
    // Bob's commit touched the same aspect (pool.weights.update on
    // pool/web), but the value the head holds is not one he wrote.
    let old = web_weights(1, 1);
    let trusted = web_weights(5, 1);
    let unsigned = || Err(NoIdentity::Unsigned { commit: "m".into() });
    let judgement = History::from(trusted)
        .outside(9, old.clone())
        .commit(1, &[0], user("bob"), Ok(web_weights(5, 3)))
        .commit(2, &[1, 9], unsigned(), Ok(old))
        .judge_candidate(false);
    assert_eq!(
        denied_in(&judgement),
        [(id(2), "pool.weights.update", "pool/web".to_owned())],
        "{judgement}"
    );
    let merge = &judgement.commits[1].changes[0];
    assert!(matches!(merge.verdict, Verdict::Unverified { .. }));
    assert!(merge.charged_because.unwrap().contains("merge"));
}

#[test]
fn a_merge_that_keeps_the_signed_value_is_covered_by_it() {
    // The same shape, but the merge keeps bob's pool: the value applied is
    // the one bob wrote, so the unsigned merge answers for nothing.
    let old = web_weights(1, 1);
    let trusted = web_weights(5, 1);
    let unsigned = || Err(NoIdentity::Unsigned { commit: "m".into() });
    let judgement = History::from(trusted)
        .outside(9, old)
        .commit(1, &[0], user("bob"), Ok(web_weights(5, 3)))
        .commit(2, &[1, 9], unsigned(), Ok(web_weights(5, 3)))
        .judge_candidate(false);
    assert!(judgement.accepted(), "{judgement}");
    assert!(judgement.commits[1].changes.is_empty(), "{judgement}");
}

// --- commits written by the API -----------------------------------------

/// deploy-bot, owned by alice, on the web on-call role; its tokens are
/// carried by the identities below, as identity read them from the
/// trusted policy.
const DEPLOY_BOT: &str =
    "---\nkind: ServiceAccount\nname: deploy-bot\nspec:\n  owner: alice\n  roles: [web-oncall]\n";

fn token(scopes: &[&str], resources: &[&str]) -> Result<Identity, NoIdentity> {
    let account: Name = "deploy-bot".parse().unwrap();
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    Ok(Identity::Api(crate::identity::ApiVerified {
        principal: Principal::ServiceAccount(account.clone()),
        via: crate::identity::ApiVia::Token(crate::identity::TokenCaller {
            account,
            id: crate::spec::material::api_token::TokenId::parse("aaaaaaaaaaaa").unwrap(),
            name: "ci".parse().unwrap(),
            scopes: strings(scopes),
            resources: strings(resources),
        }),
        request: crate::spec::api_commit::RequestId::parse("req-1").unwrap(),
        fingerprint: "SHA256:daemon".into(),
    }))
}

/// Trusted: web and canary (both team web) and db (team data), weight 1.
fn api_estate() -> Catalog {
    valid(
        &[("web", "web", 1), ("canary", "web", 1), ("db", "data", 1)],
        DEPLOY_BOT,
    )
}

fn shifted(web: u32, canary: u32, db: u32) -> Result<Catalog, Invalid> {
    state(
        &[
            ("web", "web", web),
            ("canary", "web", canary),
            ("db", "data", db),
        ],
        DEPLOY_BOT,
    )
}

#[test]
fn an_api_commit_within_its_token_is_accepted() {
    let judgement = History::from(api_estate())
        .commit(
            1,
            &[0],
            token(&["pool.weights.update"], &["pool/web"]),
            shifted(5, 1, 1),
        )
        .judge_candidate(false);
    assert!(judgement.accepted(), "{judgement}");
    let json = serde_json::to_value(&judgement).unwrap();
    assert_eq!(json["commits"][0]["identity"]["Ok"]["by"], "api");
    assert_eq!(json["commits"][0]["identity"]["Ok"]["via"]["kind"], "token");
    assert!(
        judgement.to_string().contains("API token aaaaaaaaaaaa"),
        "{judgement}"
    );
}

#[test]
fn a_token_s_scopes_narrow_its_account_s_roles() {
    // The account may shift weights of team-web pools; the token only
    // swaps targets.
    let judgement = History::from(api_estate())
        .commit(
            1,
            &[0],
            token(&["pool.targets.update"], &[]),
            shifted(5, 1, 1),
        )
        .judge_candidate(false);
    assert_eq!(
        denied_in(&judgement),
        [(id(1), "pool.weights.update", "pool/web".to_owned())]
    );
    let Verdict::Denied { denied, .. } = &judgement.commits[0].changes[0].verdict else {
        panic!("{judgement}");
    };
    assert!(matches!(*denied.why, crate::authz::Why::TokenScopes { .. }));
}

#[test]
fn a_token_s_resources_narrow_its_account_s_roles() {
    let judgement = History::from(api_estate())
        .commit(1, &[0], token(&[], &["pool/web"]), shifted(1, 5, 1))
        .judge_candidate(false);
    assert_eq!(
        denied_in(&judgement),
        [(id(1), "pool.weights.update", "pool/canary".to_owned())]
    );
    let Verdict::Denied { denied, .. } = &judgement.commits[0].changes[0].verdict else {
        panic!("{judgement}");
    };
    assert!(matches!(
        *denied.why,
        crate::authz::Why::TokenResources { .. }
    ));
}

#[test]
fn a_token_never_widens_its_account_s_roles() {
    // No scopes and no resources: whatever the account may do, and the
    // account may not touch team-data pools.
    let judgement = History::from(api_estate())
        .commit(1, &[0], token(&[], &[]), shifted(1, 1, 5))
        .judge_candidate(false);
    assert_eq!(
        denied_in(&judgement),
        [(id(1), "pool.weights.update", "pool/db".to_owned())]
    );
}

#[test]
fn an_api_commit_whose_token_expired_or_was_removed_may_change_nothing() {
    let reasons = [
        NoIdentity::ApiTokenExpired {
            commit: "c".into(),
            account: "deploy-bot".parse().unwrap(),
            token: "aaaaaaaaaaaa".into(),
            expired_at: NOW - 1,
        },
        NoIdentity::ApiTokenUnknown {
            commit: "c".into(),
            account: "deploy-bot".parse().unwrap(),
            token: "aaaaaaaaaaaa".into(),
        },
    ];
    for reason in reasons {
        let judgement = History::from(api_estate())
            .commit(1, &[0], Err(reason.clone()), shifted(5, 1, 1))
            .judge_candidate(false);
        assert!(!judgement.accepted());
        assert!(matches!(
            &judgement.commits[0].changes[0].verdict,
            Verdict::Unverified { reason: r } if *r == reason
        ));
    }
}

#[test]
fn a_person_s_commit_with_api_trailers_is_judged_as_the_person() {
    // bob may shift team-web weights, which the token's resources would
    // not allow: its trailers neither help nor hinder him, since only the
    // API key's signature makes a commit the token's (see identity).
    let judgement = History::from(api_estate())
        .commit(1, &[0], user("bob"), shifted(1, 5, 1))
        .message("Shift canary\n\nLbops-Service-Account: deploy-bot\nLbops-Token: aaaaaaaaaaaa\nLbops-Request: r1")
        .judge_candidate(false);
    assert!(judgement.accepted(), "{judgement}");
}

#[test]
fn a_token_narrowed_earlier_in_the_push_binds_at_once() {
    let with_token = |scopes: &str| {
        format!(
            "{DEPLOY_BOT}  tokens:\n    - {{name: ci, id: aaaaaaaaaaaa, hash: 'sha256:{}', expires: 2099-01-01, scopes: [{scopes}]}}\n",
            "00".repeat(32)
        )
    };
    let pools = [("web", "web", 1), ("canary", "web", 1), ("db", "data", 1)];
    let trusted = valid(&pools, &with_token("pool.weights.update"));
    let narrowed = state(&pools, &with_token("pool.targets.update"));
    let shifted = state(
        &[("web", "web", 5), ("canary", "web", 1), ("db", "data", 1)],
        &with_token("pool.targets.update"),
    );
    let judgement = History::from(trusted)
        .commit(1, &[0], user("alice"), narrowed)
        .commit(2, &[1], token(&["pool.weights.update"], &[]), shifted)
        .judge_candidate(false);
    assert_eq!(
        denied_in(&judgement),
        [(id(2), "pool.weights.update", "pool/web".to_owned())]
    );
    assert!(matches!(
        &judgement.commits[1].changes[0].verdict,
        Verdict::Denied { revoked_in: Some(by), .. } if *by == id(1)
    ));
}

/// A freeze over `NOW` (2027-01-15T08:00Z) of every pool and every freeze.
const FREEZE: &str = "---\nkind: Freeze\nname: holiday\nspec:\n  time_zone: UTC\n  windows:\n    - absolute: {name: new-year, from: '2027-01-10T00:00:00Z', until: '2027-01-20T00:00:00Z'}\n  scope: {resources: ['pool/*', 'freeze/*']}\n";

/// After the freeze is over.
const LATER: i64 = 1_800_000_000 + 10 * 86_400;

fn frozen_history(author: &str, message: Option<&str>) -> History {
    let trusted = valid(&[("web", "web", 1)], FREEZE);
    let history =
        History::from(trusted).commit(1, &[0], user(author), state(&[("web", "web", 5)], FREEZE));
    match message {
        Some(text) => history.message(text),
        None => history,
    }
}

#[test]
fn a_change_in_a_freeze_is_refused_with_the_window_and_until_when() {
    let judgement = frozen_history("bob", None).judge_candidate(false);
    assert!(
        matches!(judgement.ruling, Ruling::Refused { denials: 1 }),
        "{judgement}"
    );
    let summary = judgement.summary();
    assert!(
        summary.starts_with("frozen by freeze/holiday (window new-year) until 2027-01-20T00:00:00Z: pool.weights.update on pool/web by user/bob"),
        "{summary}"
    );
    let text = judgement.to_string();
    assert!(text.contains("FROZEN"), "{text}");
    assert!(text.contains("Lbops-Break-Glass: <reason>"), "{text}");
}

#[test]
fn the_same_change_after_the_freeze_is_accepted() {
    let judgement = frozen_history("bob", None).at(LATER).judge_candidate(false);
    assert!(judgement.accepted(), "{judgement}");
}

#[test]
fn a_break_glass_by_someone_who_holds_it_is_accepted_and_named() {
    let judgement = frozen_history(
        "alice",
        Some("shift\n\nLbops-Break-Glass: INC-1 checkout down"),
    )
    .judge_candidate(false);
    assert!(judgement.accepted(), "{judgement}");
    let glasses = judgement.break_glasses();
    assert_eq!(glasses.len(), 1);
    let (commit, change, glass) = glasses[0];
    assert_eq!(commit.id, id(1));
    assert_eq!(change.action.name, "pool.weights.update");
    assert_eq!(glass.reason, "INC-1 checkout down");
    assert_eq!(glass.freezes[0].freeze.to_string(), "freeze/holiday");
    assert!(judgement.to_string().contains("BREAK-GLASS"));
}

#[test]
fn a_break_glass_without_the_permission_is_refused_naming_it() {
    let judgement = frozen_history(
        "bob",
        Some("shift\n\nLbops-Break-Glass: INC-1 checkout down"),
    )
    .judge_candidate(false);
    assert!(
        matches!(judgement.ruling, Ruling::Refused { denials: 1 }),
        "{judgement}"
    );
    let Verdict::Frozen {
        glass: Some(GlassRefused::Denied { denied, .. }),
        ..
    } = &judgement.commits[0].changes[0].verdict
    else {
        panic!("{judgement}");
    };
    assert_eq!(denied.action.name, "freeze.break_glass");
    let reason = judgement.commits[0].changes[0].verdict.reason();
    assert!(
        reason.contains("user/bob may not freeze.break_glass on freeze/holiday"),
        "{reason}"
    );
}

#[test]
fn a_break_glass_without_a_reason_does_not_count() {
    let judgement =
        frozen_history("alice", Some("shift\n\nLbops-Break-Glass: ")).judge_candidate(false);
    assert!(
        matches!(judgement.ruling, Ruling::Refused { .. }),
        "{judgement}"
    );
    assert!(judgement.to_string().contains("its reason is empty"));
}

#[test]
fn deleting_the_freeze_in_the_same_push_lifts_nothing() {
    let trusted = valid(&[("web", "web", 1)], FREEZE);
    let judgement = History::from(trusted)
        .commit(1, &[0], user("alice"), state(&[("web", "web", 5)], ""))
        .judge_candidate(false);
    assert!(
        matches!(judgement.ruling, Ruling::Refused { denials: 2 }),
        "{judgement}"
    );
    let actions: Vec<&str> = judgement.commits[0]
        .changes
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Frozen { .. }))
        .map(|c| c.change.action.name)
        .collect();
    assert_eq!(actions, ["pool.weights.update", "freeze.delete"]);
}

/// Deleting a pool needs two principals; carol holds that and nothing else.
const GUARD: &str = "---\nkind: Role\nname: pool-guard\nspec:\n  rules: [{actions: [pool.delete], resources: ['pool/*'], approvals: {principals: 2}}]\n---\nkind: User\nname: carol\nspec: {emails: [carol@example.test], roles: [pool-guard]}\n";

/// The tree of the state without `db`, and another one.
const TREE: &str = "1111111111111111111111111111111111111111";
const OTHER_TREE: &str = "2222222222222222222222222222222222222222";

/// alice deletes `db` in commit 1 (tree [`TREE`]); each of `approvals`
/// — (signer, tree it approves) — is an empty commit on top.
fn deletion(approvals: &[(&str, &str)]) -> Judgement {
    let trusted = valid(&[("web", "web", 1), ("db", "data", 1)], GUARD);
    let deleted = || state(&[("web", "web", 1)], GUARD);
    let mut history = History::from(trusted)
        .commit(1, &[0], user("alice"), deleted())
        .tree(TREE, "drop db");
    for (n, (signer, tree)) in (2u8..).zip(approvals) {
        history = history
            .commit(n, &[n - 1], user(signer), deleted())
            .tree(TREE, &format!("approve\n\nLbops-Approves: {tree}"));
    }
    history.judge_candidate(false)
}

fn unapproved(judgement: &Judgement) -> &Unapproved<CommitId> {
    match &judgement.commits[0].changes[0].verdict {
        Verdict::Unapproved { unapproved } => unapproved,
        _ => panic!("{judgement}"),
    }
}

#[test]
fn a_deletion_needing_two_principals_is_refused_with_the_author_alone() {
    let judgement = deletion(&[]);
    assert!(
        matches!(judgement.ruling, Ruling::Refused { denials: 1 }),
        "{judgement}"
    );
    assert_eq!(unapproved(&judgement).missing, 1);
    let summary = judgement.summary();
    assert!(
        summary
            .starts_with("needs 1 more approval from: carol: pool.delete on pool/db by user/alice"),
        "{summary}"
    );
    assert!(judgement.to_string().contains("UNAPPROVED"));
}

#[test]
fn a_second_principal_s_approval_of_the_head_tree_lets_it_through() {
    let judgement = deletion(&[("carol", TREE)]);
    assert!(judgement.accepted(), "{judgement}");
    let Verdict::Allowed {
        approved: Some(approved),
        ..
    } = &judgement.commits[0].changes[0].verdict
    else {
        panic!("{judgement}");
    };
    assert_eq!(
        approved.approvers,
        [(id(2), Principal::User("carol".parse().unwrap()))]
    );
    assert!(judgement.to_string().contains("approved by user/carol"));
}

#[test]
fn the_author_s_own_approval_does_not_count() {
    let judgement = deletion(&[("alice", TREE)]);
    assert!(!judgement.accepted(), "{judgement}");
    let reason = judgement.commits[0].changes[0].verdict.reason();
    assert!(reason.contains("alice wrote the change"), "{reason}");
}

#[test]
fn an_approval_of_another_tree_does_not_count() {
    let judgement = deletion(&[("carol", OTHER_TREE)]);
    assert!(!judgement.accepted(), "{judgement}");
    let reason = judgement.commits[0].changes[0].verdict.reason();
    assert!(
        reason.contains(&format!(
            "it approves tree {OTHER_TREE}, and this head's tree is {TREE}"
        )),
        "{reason}"
    );
}

#[test]
fn an_approval_by_someone_without_the_permission_does_not_count() {
    // bob is on web on-call: he may not delete pools.
    let judgement = deletion(&[("bob", TREE)]);
    assert!(!judgement.accepted(), "{judgement}");
    let reason = judgement.commits[0].changes[0].verdict.reason();
    assert!(
        reason.contains("user/bob may not pool.delete on pool/db"),
        "{reason}"
    );
    assert_eq!(unapproved(&judgement).missing, 1);
}

#[test]
fn an_unsigned_approval_does_not_count() {
    let trusted = valid(&[("web", "web", 1), ("db", "data", 1)], GUARD);
    let deleted = || state(&[("web", "web", 1)], GUARD);
    let judgement = History::from(trusted)
        .commit(1, &[0], user("alice"), deleted())
        .tree(TREE, "drop db")
        .commit(
            2,
            &[1],
            Err(NoIdentity::Unsigned {
                commit: id(2).to_string(),
            }),
            deleted(),
        )
        .tree(TREE, &format!("approve\n\nLbops-Approves: {TREE}"))
        .judge_candidate(false);
    assert!(!judgement.accepted(), "{judgement}");
    let reason = judgement.commits[0].changes[0].verdict.reason();
    assert!(
        reason.contains("its signature proves nobody (unsigned)"),
        "{reason}"
    );
}

#[test]
fn a_change_no_rule_asks_approvals_for_needs_only_its_author() {
    let trusted = valid(&[("web", "web", 1)], GUARD);
    let judgement = History::from(trusted)
        .commit(1, &[0], user("bob"), state(&[("web", "web", 5)], GUARD))
        .judge_candidate(false);
    assert!(judgement.accepted(), "{judgement}");
}
