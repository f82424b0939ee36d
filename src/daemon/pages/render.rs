//! The daemon's pages, as pure functions of what they show: the index of
//! recent commits and the page of one commit (the page each status links
//! to), in `lbops authorize`'s wording; and the API tokens of the trusted
//! policy with their use.

use super::html::{badge, day, esc, href_segment, page, utc};
use super::tokens::{Flag, TokenRow};
use crate::daemon::journal::{ApplyResult, CommitRecord, StatusRecord};
use crate::judge::{Identity, JudgedCommit, Judgement, Ruling, Verdict};
use crate::provider::embedded::FleetStatus;
use crate::report::StatusContext;
use crate::spec::material::KeyFormat;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The index: recent commits (newest first, as given) with their
/// statuses, judgements and drift, and the data-plane nodes.
#[must_use]
pub fn index(records: &[CommitRecord], nodes: &FleetStatus, replicas: Option<&str>) -> String {
    let mut body = String::from("<h1>Recent commits</h1>\n");
    if records.is_empty() {
        body.push_str("<p class=\"muted\">No commit judged yet.</p>\n");
        body.push_str(replicas.unwrap_or_default());
        body.push_str(&nodes_table(nodes));
        return page("lbops", &body);
    }
    body.push_str(
        "<table class=\"commits\">\n<thead><tr><th>Commit</th><th>Ref</th><th>Change</th>\
         <th>Decision</th><th>Statuses</th><th>Drift</th><th>Updated</th></tr></thead>\n<tbody>\n",
    );
    for record in records {
        let change = match record.headline() {
            Some((summary, author)) => format!(
                "{}<br><span class=\"who\">{}</span>",
                esc(summary),
                esc(author)
            ),
            None => "<span class=\"muted\">—</span>".to_owned(),
        };
        let _ = writeln!(
            body,
            "<tr id=\"c-{sha}\"><td><a href=\"/commits/{sha}\"><code>{short}</code></a></td>\
             <td><code>{git_ref}</code></td><td>{change}</td><td>{judgement}</td>\
             <td>{statuses}</td><td>{drift}</td><td class=\"muted\">{at}</td></tr>",
            sha = href_segment(&record.commit.to_string()),
            short = esc(&record.commit.short()),
            git_ref = esc(&record.git_ref),
            judgement = outcome_badge(record.judgement.as_ref()),
            statuses = statuses(&record.statuses),
            drift = drift(record.drift.as_deref()),
            at = esc(&utc(record.at)),
        );
    }
    body.push_str("</tbody>\n</table>\n");
    body.push_str(replicas.unwrap_or_default());
    body.push_str(&nodes_table(nodes));
    page("lbops", &body)
}

/// The data-plane nodes: each one's state, config version, epoch, last
/// answer and last error.
fn nodes_table(status: &FleetStatus) -> String {
    let mut body = format!(
        "<h2>Data-plane nodes</h2>\n<p class=\"muted\">A change counts once {} of {} node(s) applied it.</p>\n",
        status.min_nodes,
        status.nodes.len()
    );
    if let Some(fenced) = &status.fenced {
        let _ = writeln!(
            body,
            "<p>{} {} accepted epoch {}, newer than this daemon's {}: another leader drives the nodes.</p>",
            badge("failure", "fenced"),
            esc(&fenced.node),
            fenced.highest,
            fenced.ours
        );
    }
    body.push_str(
        "<table class=\"nodes\">\n<thead><tr><th>Node</th><th>State</th><th>Config version</th>\
         <th>Epoch</th><th>Last answer</th><th>Last error</th></tr></thead>\n<tbody>\n",
    );
    for node in &status.nodes {
        let state = match (&node.behind, node.reachable, node.differs) {
            (Some(_), false, _) => badge("failure", "down, behind"),
            (Some(_), true, _) => badge("error", "behind"),
            (None, false, _) if node.last_contact.is_none() => badge("pending", "not asked yet"),
            (None, false, _) => badge("failure", "down"),
            (None, true, true) => badge("error", "differs (drift)"),
            (None, true, false) => badge("success", "in step"),
        };
        let number = |n: Option<u64>| n.map_or_else(|| "—".to_owned(), |n| n.to_string());
        let _ = writeln!(
            body,
            "<tr><td><code>{name}</code><br><span class=\"muted\">{url}</span></td><td>{state}</td>\
             <td>{version}</td><td>{epoch}</td><td class=\"muted\">{contact}</td><td>{error}</td></tr>",
            name = esc(&node.name),
            url = esc(&node.url),
            version = number(node.version),
            epoch = number(node.epoch),
            contact = node.last_contact.map_or_else(|| "—".to_owned(), |t| esc(&utc(t)).to_string()),
            error = esc(node.behind.as_deref().or(node.last_error.as_deref()).unwrap_or("")),
        );
    }
    body.push_str("</tbody>\n</table>\n");
    body
}

/// One commit: who, what changed, allowed or denied per change and why,
/// the plan and its result, the statuses and drift.
#[must_use]
pub fn commit(record: &CommitRecord) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Commit <code>{}</code>",
        esc(&record.commit.short())
    );
    if let Some((summary, _)) = record.headline() {
        let _ = write!(body, " {}", esc(summary));
    }
    body.push_str("</h1>\n<dl>\n");
    let _ = writeln!(
        body,
        "<dt>Commit</dt><dd><code>{}</code></dd>",
        esc(&record.commit.to_string())
    );
    let _ = writeln!(
        body,
        "<dt>Ref</dt><dd><code>{}</code></dd>",
        esc(&record.git_ref)
    );
    let _ = writeln!(body, "<dt>Updated</dt><dd>{}</dd>", esc(&utc(record.at)));
    let _ = writeln!(
        body,
        "<dt>Decision</dt><dd>{} {}</dd>",
        outcome_badge(record.judgement.as_ref()),
        record
            .judgement
            .as_ref()
            .map_or_else(String::new, |d| esc(&outcome_sentence(d)).to_string())
    );
    body.push_str("</dl>\n");

    match &record.judgement {
        Some(judgement) => decision_section(&mut body, judgement),
        None => body.push_str(
            "<h2>Decision</h2>\n<p class=\"muted\">This commit was not judged here \
             (for example, it was trusted as is by the daemon config).</p>\n",
        ),
    }

    body.push_str("<h2>Plan</h2>\n");
    let refused = record.judgement.as_ref().is_some_and(|d| !d.accepted());
    if record.plan.is_empty() && refused {
        body.push_str("<p class=\"muted\">None: nothing of a refused commit is applied.</p>\n");
    } else if record.plan.is_empty() {
        body.push_str("<p class=\"muted\">No steps.</p>\n");
    } else {
        body.push_str("<ol class=\"plan\">\n");
        for step in &record.plan {
            let _ = writeln!(body, "<li><code>{}</code></li>", esc(step));
        }
        body.push_str("</ol>\n");
    }
    body.push_str("<h2>Result</h2>\n");
    body.push_str(&apply(record.apply.as_ref()));
    body.push_str(&super::estate::render::changed_elements(record));

    body.push_str("<h2>Statuses</h2>\n");
    if record.statuses.is_empty() {
        body.push_str("<p class=\"muted\">None yet.</p>\n");
    } else {
        body.push_str(&statuses(&record.statuses));
    }
    body.push_str("<h2>Drift</h2>\n");
    let _ = writeln!(body, "<p>{}</p>", drift(record.drift.as_deref()));

    if let Some(judgement) = &record.judgement {
        let _ = writeln!(
            body,
            "<details><summary>As <code>lbops authorize</code> prints it</summary>\
             <pre>{}</pre></details>",
            esc(&judgement.to_string())
        );
    }
    page(&format!("lbops: commit {}", record.commit.short()), &body)
}

/// The page for a commit the daemon does not remember.
#[must_use]
pub fn not_found(commit: &str) -> String {
    page(
        "lbops: unknown commit",
        &format!(
            "<h1>Unknown commit</h1>\n<p>The daemon remembers no commit <code>{}</code> \
             (it keeps the last {} it judged, in memory; the audit log has the rest).</p>\n\
             <p><a href=\"/\">All recent commits</a></p>\n",
            esc(commit),
            crate::daemon::journal::REMEMBERED
        ),
    )
}

/// The tokens page: every API token of the trusted `commit`'s policy,
/// flagged ones first, with its use since `since` (when the daemon began
/// counting), as of `now`. `None`: no commit is trusted yet.
#[must_use]
pub fn tokens(rows: &[TokenRow], commit: Option<&str>, now: i64, since: i64) -> String {
    let mut body = String::from("<h1>API tokens</h1>\n");
    let Some(commit) = commit else {
        body.push_str(
            "<p class=\"muted\">No commit is trusted yet, so there is no policy to list tokens of.</p>\n",
        );
        return page("lbops: API tokens", &body);
    };
    let flagged = rows.iter().filter(|r| !r.flags.is_empty()).count();
    let _ = writeln!(
        body,
        "<p>The ServiceAccounts' tokens in the policy of the trusted commit \
         <a href=\"/commits/{sha}\"><code>{short}</code></a>: {} token(s), {flagged} flagged. \
         Use is counted since {since}; flagged are tokens expired, expiring within {} days, \
         or unused for {} days (or never used and created that long ago). Revoke a token \
         by removing its entry from git.</p>",
        rows.len(),
        super::tokens::EXPIRING_WITHIN / 86_400,
        super::tokens::UNUSED_AFTER / 86_400,
        sha = href_segment(commit),
        short = esc(commit.get(..12).unwrap_or(commit)),
        since = esc(&utc(since)),
    );
    if rows.is_empty() {
        body.push_str("<p class=\"muted\">No ServiceAccount has a token.</p>\n");
        return page("lbops: API tokens", &body);
    }
    body.push_str(
        "<table class=\"tokens\">\n<thead><tr><th>Flags</th><th>ServiceAccount</th><th>Owner</th>\
         <th>Token</th><th>Scopes</th><th>Resources</th><th>Expires</th><th>Created</th>\
         <th>Last used</th><th>Calls</th><th>Refused</th></tr></thead>\n<tbody>\n",
    );
    for row in rows {
        let flags = match row.flags.is_empty() {
            true => "<span class=\"muted\">—</span>".to_owned(),
            false => row
                .flags
                .iter()
                .map(|f| flag(f, now, row.created.is_some_and(|c| c < since)))
                .collect::<Vec<_>>()
                .join(" "),
        };
        let id = row.id.as_deref().map_or_else(
            || "<span class=\"muted\">no id: no call can present it</span>".to_owned(),
            |id| format!("<code>{}</code>", esc(id)),
        );
        let list = |items: &[String], none: &str| match items.is_empty() {
            true => format!("<span class=\"muted\">{}</span>", esc(none)),
            false => items
                .iter()
                .map(|i| format!("<code>{}</code>", esc(i)))
                .collect::<Vec<_>>()
                .join(" "),
        };
        let last = row.used.last.map_or_else(
            || "<span class=\"muted\">never</span>".to_owned(),
            |(at, peer)| {
                format!(
                    "<span class=\"nowrap\">{}</span><br><span class=\"who\">from {}</span>",
                    esc(&utc(at)),
                    esc(&peer.to_string())
                )
            },
        );
        let _ = writeln!(
            body,
            "<tr id=\"token-{anchor}\"><td>{flags}</td><td>{account}</td><td>{owner}</td>\
             <td>{name}<br>{id}</td><td>{scopes}</td><td>{resources}</td><td>{expires}</td>\
             <td>{created}</td><td>{last}</td><td>{calls}</td><td>{refused}</td></tr>",
            anchor = href_segment(&format!("{}-{}", row.account, row.name)),
            account = esc(row.account.as_str()),
            owner = esc(row.owner.as_str()),
            name = esc(row.name.as_str()),
            scopes = list(&row.scopes, "any its roles allow"),
            resources = list(&row.resources, "any its roles allow"),
            expires = dated(row.expires),
            created = row
                .created
                .map_or_else(|| "<span class=\"muted\">unknown</span>".to_owned(), dated),
            calls = row.used.calls,
            refused = row.used.refused,
        );
    }
    body.push_str("</tbody>\n</table>\n");
    page("lbops: API tokens", &body)
}

/// The day, with the time in its tooltip.
fn dated(unix: i64) -> String {
    format!(
        "<span class=\"nowrap\" title=\"{}\">{}</span>",
        esc(&utc(unix)),
        esc(&day(unix))
    )
}

/// A flag as a badge that says how long. Use is counted since the daemon
/// started: a token created before that and not seen since is not said
/// to be "never used".
fn flag(flag: &Flag, now: i64, created_before_start: bool) -> String {
    let days = |seconds: i64| seconds.div_euclid(86_400);
    match flag {
        Flag::OwnerDeprovisioned { headline } => badge("failure", &format!("owner {headline}")),
        Flag::Expired { at } => badge("failure", &format!("expired {} day(s) ago", days(now - at))),
        Flag::Expiring { at } => badge("error", &format!("expires in {} day(s)", days(at - now))),
        Flag::Unused { last: Some(last) } => {
            badge("stale", &format!("unused for {} days", days(now - last)))
        }
        Flag::Unused { last: None } if created_before_start => {
            badge("stale", "not used since the daemon started")
        }
        Flag::Unused { last: None } => badge("stale", "never used"),
    }
}

/// The outcome, as a colored badge.
fn outcome_badge(judgement: Option<&Judgement>) -> String {
    match judgement.map(|d| &d.ruling) {
        None => badge("unjudged", "no decision"),
        Some(Ruling::Accepted) => badge("accepted", "accepted"),
        Some(Ruling::Refused { denials }) => {
            badge("refused", &format!("refused: {denials} denied"))
        }
        Some(Ruling::Invalid { .. }) => badge("invalid", "invalid"),
        Some(Ruling::Rewound) => badge("rewound", "rewound"),
    }
}

/// The outcome as `lbops authorize` says it: the last line of its report.
fn outcome_sentence(judgement: &Judgement) -> String {
    judgement
        .to_string()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

fn decision_section(body: &mut String, judgement: &Judgement) {
    body.push_str("<h2>Who and what</h2>\n");
    if judgement.rewritten {
        let _ = writeln!(
            body,
            "<p>{} History rewritten: the trusted commit is not an ancestor of <code>{}</code>.</p>",
            badge("failure", "rewritten"),
            esc(&judgement.head.short())
        );
    }
    if let Ruling::Invalid { invalid } = &judgement.ruling {
        body.push_str("<ul class=\"diagnostics\">\n");
        for d in &invalid.diagnostics {
            let _ = writeln!(body, "<li><pre>{}</pre></li>", esc(&d.to_string()));
        }
        body.push_str("</ul>\n");
    }
    if judgement.commits.is_empty() {
        body.push_str("<p class=\"muted\">No commits were judged.</p>\n");
    }
    for commit in &judgement.commits {
        commit_section(body, commit);
    }
}

fn commit_section(body: &mut String, commit: &JudgedCommit) {
    let _ = writeln!(
        body,
        "<section class=\"commit\">\n<h3><code>{}</code> {}</h3>",
        esc(&commit.id.short()),
        esc(&commit.summary)
    );
    let who = match &commit.identity {
        Ok(Identity::Signed(verified)) => format!(
            "<strong>{}</strong> — signature verified with the {} key <code>{}</code>; author {}",
            esc(&verified.principal.to_string()),
            match verified.key_format {
                KeyFormat::Ssh => "SSH",
                KeyFormat::OpenPgp => "OpenPGP",
            },
            esc(&verified.fingerprint),
            esc(&commit.author_email)
        ),
        Ok(Identity::Claimed { principal }) => format!(
            "<strong>{}</strong> — {} signature checks are off in the daemon config; author {}",
            esc(&principal.to_string()),
            badge("failure", "NOT VERIFIED"),
            esc(&commit.author_email)
        ),
        Ok(Identity::Api(api)) => format!(
            "<strong>{}</strong> — {} (request <code>{}</code>), signed with the daemon's API key <code>{}</code>",
            esc(&api.principal.to_string()),
            esc(&api.via.to_string()),
            esc(api.request.as_str()),
            esc(&api.fingerprint)
        ),
        Err(reason) => format!(
            "{} none for {}: {}",
            badge("failure", "no verified author"),
            esc(&commit.author_email),
            esc(&reason.to_string())
        ),
    };
    let _ = writeln!(body, "<p class=\"identity\">Who: {who}</p>");
    if let Some(invalid) = &commit.invalid {
        let _ = writeln!(
            body,
            "<p>{} {} problem(s); its changes are judged with the next valid commit.</p>",
            badge("invalid", "invalid"),
            invalid.diagnostics.len()
        );
        body.push_str("<ul class=\"diagnostics\">\n");
        for d in &invalid.diagnostics {
            let _ = writeln!(body, "<li><pre>{}</pre></li>", esc(&d.to_string()));
        }
        body.push_str("</ul>\n");
    }
    if commit.changes.is_empty() {
        body.push_str("<p class=\"muted\">(no changes to balancers or access)</p>\n</section>\n");
        return;
    }
    body.push_str(
        "<table class=\"changes\">\n<thead><tr><th>Verdict</th><th>Action</th><th>Resource</th>\
         <th>Change</th><th>Why</th></tr></thead>\n<tbody>\n",
    );
    for judged in &commit.changes {
        let change = &judged.change;
        let resource = change
            .resource
            .as_ref()
            .map_or_else(|| "repository".to_owned(), ToString::to_string);
        let verdict = match &judged.verdict {
            Verdict::Frozen { frozen, .. } => badge(
                "denied",
                &frozen.first().map_or_else(
                    || "FROZEN".to_owned(),
                    |f| format!("FROZEN until {}", f.until_text()),
                ),
            ),
            Verdict::Unapproved { unapproved } => badge(
                "denied",
                &format!("NEEDS {} MORE APPROVAL(S)", unapproved.missing),
            ),
            Verdict::Allowed {
                break_glass: Some(_),
                ..
            } => badge("allowed", "allowed: BREAK-GLASS"),
            Verdict::Allowed {
                approved: Some(_), ..
            } => badge("allowed", "allowed: APPROVED"),
            v if v.is_allowed() => badge("allowed", "allowed"),
            _ => badge("denied", "DENIED"),
        };
        let why = judged.verdict.reason();
        let mut why = esc(&why).to_string();
        if let Some(because) = judged.charged_because {
            let _ = write!(
                why,
                "<br><span class=\"muted\">charged to this commit because {}</span>",
                esc(because)
            );
        }
        let _ = writeln!(
            body,
            "<tr><td>{verdict}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{why}</td></tr>",
            esc(change.action.name),
            esc(&resource),
            esc(&change.detail),
        );
    }
    body.push_str("</tbody>\n</table>\n</section>\n");
}

/// Each status as a badge (`validate: success`) with its description;
/// a status the sink refused (a forge's 401) adds an `error` badge.
fn statuses(statuses: &BTreeMap<StatusContext, StatusRecord>) -> String {
    if statuses.is_empty() {
        return "<span class=\"muted\">—</span>".to_owned();
    }
    let mut out = String::from("<ul class=\"statuses\">");
    for (context, status) in statuses {
        let state = status.state.as_str();
        let _ = write!(
            out,
            "<li>{} {}",
            badge(state, &format!("{}: {state}", context.as_str())),
            esc(&status.description)
        );
        if let Some(error) = &status.sink_error {
            let _ = write!(
                out,
                " {} <span class=\"sink-error\">not delivered: {}</span>",
                badge("error", "error"),
                esc(error)
            );
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
    out
}

fn drift(drift: Option<&str>) -> String {
    match drift {
        Some(drift) => format!("{} {}", badge("failure", "drift"), esc(drift)),
        None => "<span class=\"muted\">none</span>".to_owned(),
    }
}

fn apply(result: Option<&ApplyResult>) -> String {
    match result {
        None => "<p class=\"muted\">Not applied.</p>\n".to_owned(),
        Some(ApplyResult { ok: true, message }) => {
            format!("<p>{} {}</p>\n", badge("success", "applied"), esc(message))
        }
        Some(ApplyResult { ok: false, message }) => {
            format!(
                "<p>{} {}</p>\n",
                badge("error", "apply failed"),
                esc(message)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{NoIdentity, Principal, Verified};
    use crate::judge::{judge_candidate, Candidate, CandidateCommit};
    use crate::report::StatusState;
    use crate::source::{CommitId, CommitInfo};
    use crate::spec::units::Name;
    use crate::spec::{load, Catalog, Options, SourceFile};
    use std::collections::HashMap;

    const POLICY: &str = "
kind: Role
name: web-oncall
spec:
  rules:
    - actions: [pool.weights.update, pool.targets.update]
      resources: ['pool/*']
      when: {labels: {team: web}}
---
kind: Group
name: web-team
spec: {roles: [web-oncall]}
---
kind: User
name: bob
spec: {emails: [bob@example.test], groups: [web-team]}
";

    fn state(web: u32, db: u32) -> Catalog {
        let text = format!(
            "{POLICY}---\nkind: Pool\nname: web\nlabels: {{team: web}}\nspec:\n  targets: [{{address: 127.0.0.1:9001, weight: {web}}}]\n\
             ---\nkind: Pool\nname: db\nlabels: {{team: data}}\nspec:\n  targets: [{{address: 127.0.0.1:9002, weight: {db}}}]\n"
        );
        load(
            &[SourceFile::new("all.yaml", text)],
            &Options::at(1_800_000_000),
        )
        .expect("the test state validates")
        .catalog
    }

    fn id(n: u8) -> CommitId {
        CommitId::parse(&format!("{n:02x}").repeat(20)).unwrap()
    }

    /// One commit by `identity` on top of a trusted state, changing the
    /// weights to `web` and `db`.
    fn judgement(
        summary: &str,
        email: &str,
        identity: Result<Identity, NoIdentity>,
        web: u32,
        db: u32,
    ) -> Judgement {
        let trusted = state(1, 1);
        let mut states = HashMap::new();
        states.insert(id(0), Ok(trusted.clone()));
        states.insert(id(1), Ok(state(web, db)));
        let candidate = Candidate {
            head: id(1),
            commits: vec![CandidateCommit {
                info: CommitInfo {
                    id: id(1),
                    parents: vec![id(0)],
                    author_email: email.into(),
                    committer_email: email.into(),
                    summary: summary.into(),
                    time: 1_800_000_000,
                    signature: None,
                    signed_data: Vec::new(),
                },
                identity,
            }],
            states,
            rewritten: None,
            now: 1_800_000_000,
        };
        judge_candidate(&trusted, &trusted, crate::idp::Idp::Absent, &candidate)
    }

    fn bob() -> Result<Identity, NoIdentity> {
        Ok(Identity::Signed(Verified {
            principal: Principal::User("bob".parse::<Name>().unwrap()),
            key_format: KeyFormat::Ssh,
            fingerprint: "SHA256:bobkey".into(),
        }))
    }

    fn record(judgement: Judgement) -> CommitRecord {
        let mut statuses = BTreeMap::new();
        let refused = !judgement.accepted();
        statuses.insert(
            StatusContext::Authorize,
            StatusRecord {
                state: if refused {
                    StatusState::Failure
                } else {
                    StatusState::Success
                },
                description: if refused {
                    "user/bob may not pool.weights.update on pool/db".into()
                } else {
                    "all changes allowed".into()
                },
                sink_error: None,
            },
        );
        CommitRecord {
            commit: judgement.head,
            git_ref: "main".into(),
            at: 1_800_000_000,
            judgement: Some(judgement),
            plan: vec!["pool/web: set weights".into()],
            apply: None,
            statuses,
            drift: None,
            written: None,
        }
    }

    #[test]
    fn a_denied_commit_page_says_who_what_and_why() {
        let denied = record(judgement(
            "db weight and a big canary",
            "bob@example.test",
            bob(),
            2,
            5,
        ));
        let html = commit(&denied);
        // Who.
        assert!(html.contains("<strong>user/bob</strong>"), "{html}");
        assert!(html.contains("SHA256:bobkey"), "{html}");
        // What.
        assert!(
            html.contains("<code>pool.weights.update</code></td><td><code>pool/db</code>"),
            "{html}"
        );
        // Allowed and denied, each with why.
        assert!(html.contains(">DENIED</span>"), "{html}");
        assert!(html.contains(">allowed</span>"), "{html}");
        assert!(
            html.contains("user/bob may not pool.weights.update on pool/db: "),
            "{html}"
        );
        assert!(
            html.contains("user/bob may pool.weights.update on pool/web: rule 1 of role web-oncall (via group web-team)"),
            "{html}"
        );
        assert!(
            html.contains("refused: 1 change(s) denied, nothing will be applied"),
            "{html}"
        );
        assert!(html.contains("pool/web: set weights"), "{html}");
    }

    #[test]
    fn an_unverified_author_is_named_with_the_reason() {
        let unsigned = NoIdentity::Unsigned {
            commit: id(1).short(),
        };
        let reason = unsigned.to_string();
        let html = commit(&record(judgement(
            "unsigned",
            "mallory@example.test",
            Err(unsigned),
            2,
            1,
        )));
        assert!(html.contains("none for mallory@example.test"), "{html}");
        assert!(html.contains(&esc(&reason).to_string()), "{html}");
        assert!(
            html.contains("the commit has no verified author (unsigned)"),
            "{html}"
        );
    }

    #[test]
    fn everything_from_a_commit_renders_inert() {
        let evil = "<script>alert(1)</script>";
        let mut record = record(judgement(
            &format!("canary {evil}"),
            "\"><img src=x onerror=alert(1)>@example.test",
            Err(NoIdentity::Unsigned {
                commit: evil.into(),
            }),
            2,
            1,
        ));
        record.git_ref = format!("refs/heads/{evil}");
        record.plan = vec![evil.into()];
        record.drift = Some(evil.into());
        record.apply = Some(ApplyResult {
            ok: false,
            message: evil.into(),
        });
        record.statuses.insert(
            StatusContext::Apply,
            StatusRecord {
                state: StatusState::Error,
                description: evil.into(),
                sink_error: Some(format!("HTTP 401 {evil}")),
            },
        );
        for html in [
            index(std::slice::from_ref(&record), &FleetStatus::default(), None),
            commit(&record),
        ] {
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("<img"), "{html}");
            assert!(
                html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{html}"
            );
        }
        let html = not_found(evil);
        assert!(!html.contains("<script"), "{html}");
    }

    #[test]
    fn the_index_lists_commits_newest_first_with_statuses_and_sink_errors() {
        let allowed = record(judgement("canary to 50", "bob@example.test", bob(), 2, 1));
        let mut denied = record(judgement("db weight", "bob@example.test", bob(), 2, 5));
        denied.commit = CommitId::parse(&"ab".repeat(20)).unwrap();
        denied
            .statuses
            .get_mut(&StatusContext::Authorize)
            .unwrap()
            .sink_error = Some("the forge answered 401 Unauthorized".into());
        let html = index(
            &[denied.clone(), allowed.clone()],
            &FleetStatus::default(),
            None,
        );
        let first = html.find(&denied.commit.to_string()).unwrap();
        let second = html.find(&allowed.commit.to_string()).unwrap();
        assert!(first < second, "newest first");
        assert!(
            html.contains(&format!("<a href=\"/commits/{}\">", allowed.commit)),
            "{html}"
        );
        assert!(
            html.contains(
                "<span class=\"badge success\">authorize: success</span> all changes allowed"
            ),
            "{html}"
        );
        assert!(
            html.contains(
                "<span class=\"badge failure\">authorize: failure</span> user/bob may not"
            ),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"badge error\">error</span> <span class=\"sink-error\">not delivered: the forge answered 401 Unauthorized</span>"),
            "{html}"
        );
        assert!(html.contains(">accepted</span>"), "{html}");
        assert!(html.contains(">refused: 1 denied</span>"), "{html}");
        assert!(html.contains("canary to 50<br><span class=\"who\">bob@example.test</span>"));
        assert!(index(&[], &FleetStatus::default(), None).contains("No commit judged yet"));
    }

    fn token_row(name: &str, flags: Vec<Flag>) -> TokenRow {
        TokenRow {
            account: "deploy-bot".parse().unwrap(),
            owner: "alice".parse().unwrap(),
            name: name.parse().unwrap(),
            id: Some("abcdefghijkl".into()),
            scopes: vec!["pool.targets.update".into()],
            resources: vec![],
            expires: 1_800_000_000 + 5 * 86_400,
            created: None,
            used: crate::daemon::api::usage::Use {
                last: Some((1_800_000_000 - 3_600, "10.1.2.3:40000".parse().unwrap())),
                calls: 7,
                refused: 2,
            },
            flags,
        }
    }

    #[test]
    fn the_tokens_page_shows_each_token_s_use_and_flags_in_words() {
        let now = 1_800_000_000;
        let rows = [
            token_row(
                "ending",
                vec![
                    Flag::Expiring {
                        at: now + 5 * 86_400,
                    },
                    Flag::Unused {
                        last: Some(now - 40 * 86_400),
                    },
                ],
            ),
            token_row("gone", vec![Flag::Expired { at: now - 86_400 }]),
            token_row("fresh", vec![Flag::Unused { last: None }]),
            TokenRow {
                created: Some(now - 90 * 86_400),
                ..token_row("restarted", vec![Flag::Unused { last: None }])
            },
            token_row("busy", vec![]),
        ];
        let html = tokens(&rows, Some(&"ab".repeat(20)), now, now - 7_200);
        for expected in [
            "<span class=\"badge error\">expires in 5 day(s)</span> \
             <span class=\"badge stale\">unused for 40 days</span>",
            "<span class=\"badge failure\">expired 1 day(s) ago</span>",
            "<span class=\"badge stale\">never used</span>",
            "<td>deploy-bot</td><td>alice</td><td>busy<br><code>abcdefghijkl</code></td>\
             <td><code>pool.targets.update</code></td><td><span class=\"muted\">any its roles allow</span></td>\
             <td><span class=\"nowrap\" title=\"2027-01-20 08:00:00 UTC\">2027-01-20</span></td>",
            "2027-01-15 07:00:00 UTC</span><br><span class=\"who\">from 10.1.2.3:40000</span></td><td>7</td><td>2</td>",
            "<span class=\"badge stale\">not used since the daemon started</span>",
            "5 token(s), 4 flagged. Use is counted since 2027-01-15 06:00:00 UTC",
            &format!("<a href=\"/commits/{0}\"><code>{1}</code></a>", "ab".repeat(20), "ab".repeat(6)),
            "<a href=\"/tokens\">API tokens</a>",
        ] {
            assert!(html.contains(expected), "{expected}\n{html}");
        }
        let not_yet = tokens(&[], None, now, now);
        assert!(not_yet.contains("No commit is trusted yet"), "{not_yet}");
    }

    #[test]
    fn pages_load_nothing_from_elsewhere_and_run_no_script() {
        let html = commit(&record(judgement("x", "bob@example.test", bob(), 2, 1)));
        for banned in ["<script", "src=", "<link", "http://", "https://", "@import"] {
            assert!(!html.contains(banned), "{banned} in {html}");
        }
    }
}
