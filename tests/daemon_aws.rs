//! `lbops run` placing a balancer on AWS (moto, on 127.0.0.1): signed
//! commits reach the account only when allowed, and a change made in the
//! account by hand is drift, reported on the commit and reverted.

mod common;

use common::estate::{wait_for_status, Daemon, Team};
use common::git::GitRepo;
use common::moto::{moto, sdk_config, StrictMoto, Vpc};
use std::time::{Duration, Instant};

const REGION: &str = "ap-southeast-2";

/// Two `team: web` pools of private IPs, as target groups.
const POOLS: &str = "kind: Pool
name: stable
labels: {team: web}
spec:
  targets: [{address: '10.0.1.10:8080'}, {address: '10.0.2.10:8080'}]
  health_check: {probe: {http: {path: /healthz}}, interval: 10s, timeout: 5s}
---
kind: Pool
name: canary
labels: {team: web}
spec:
  targets: [{address: '10.0.1.20:8080'}]
  health_check: {probe: {http: {path: /healthz}}, interval: 10s, timeout: 5s}
";

/// An ALB splitting between the pools by weight.
fn balancer(canary: u32) -> String {
    format!(
        "kind: LoadBalancer
name: shop
labels: {{team: web}}
spec:
  listeners:
    - name: http
      protocol: http
      port: 80
      default_action:
        forward:
          pools: [{{pool: stable, weight: {}}}, {{pool: canary, weight: {canary}}}]
",
        100 - canary
    )
}

struct Estate {
    team: Team,
    repo: GitRepo,
    first: String,
    dir: tempfile::TempDir,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    /// What the daemon talks to: moto behind the strict request check
    /// (the test fails if the daemon sent anything AWS would refuse).
    strict: StrictMoto,
}

impl Estate {
    async fn new() -> Self {
        let team = Team::new();
        let repo = GitRepo::new();
        repo.write("access.yaml", &team.access());
        repo.write("pools.yaml", POOLS);
        repo.write("balancers.yaml", &balancer(10));
        let first = repo.commit(&team.alice(), "the shop on aws");
        let vpc = Vpc::create(REGION).await;
        let dir = tempfile::tempdir().unwrap();
        let strict = StrictMoto::start().await;
        let config = format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {first}}}
provider:
  embedded: {{admin_listen: '127.0.0.1:0'}}
  aws:
    region: {REGION}
    endpoint_url: '{}'
    vpc: {}
    balancers:
      shop: {{subnets: [{}]}}
drift: {{schedule: '* * * * * *', mode: report, kinds: {{LoadBalancer: revert}}}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
",
            repo.path().display(),
            strict.endpoint,
            vpc.id,
            vpc.subnets.join(", "),
            dir.path().join("state").display(),
        );
        std::fs::write(dir.path().join("lbops.yaml"), config).unwrap();
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk_config(REGION).await);
        Self {
            team,
            repo,
            first,
            dir,
            elb,
            strict,
        }
    }

    fn daemon(&self) -> Daemon {
        Daemon::start(&self.dir.path().join("lbops.yaml"))
    }

    /// The listener's forward: (rule or listener ARN, [(target group ARN, weight)]).
    async fn forward(&self) -> Option<(String, Vec<(String, i32)>)> {
        let balancers = self.elb.describe_load_balancers().send().await.ok()?;
        let shop = balancers
            .load_balancers()
            .iter()
            .find(|b| b.load_balancer_name() == Some("lbops-shop"))?;
        let listeners = self
            .elb
            .describe_listeners()
            .load_balancer_arn(shop.load_balancer_arn()?)
            .send()
            .await
            .ok()?;
        let listener = listeners.listeners().first()?;
        let groups = listener
            .default_actions()
            .first()?
            .forward_config()?
            .target_groups();
        Some((
            listener.listener_arn()?.to_owned(),
            groups
                .iter()
                .map(|g| {
                    (
                        g.target_group_arn().unwrap_or_default().to_owned(),
                        g.weight().unwrap_or(1),
                    )
                })
                .collect(),
        ))
    }

    /// The forward weights in the account, once they are `weights`.
    async fn wait_for_weights(&self, weights: [i32; 2], daemon: &Daemon) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now: Option<Vec<i32>> = self
                .forward()
                .await
                .map(|(_, groups)| groups.iter().map(|(_, w)| *w).collect());
            if now.as_deref() == Some(&weights[..]) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "weights {now:?}, not {weights:?}\nrequests AWS would refuse:\n{}\nlogs:\n{}",
                self.strict.violations().join("\n"),
                daemon.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn allowed_commits_reach_the_account_and_denied_ones_change_nothing() {
    let _turn = moto().fresh().await;
    let e = Estate::new().await;
    let daemon = e.daemon();
    // The pinned commit is applied at start: the ALB at 90/10.
    daemon.ready().await;
    e.wait_for_weights([90, 10], &daemon).await;

    e.repo.write("balancers.yaml", &balancer(50));
    let shift = e.repo.commit(&e.team.alice(), "canary to 50");
    let note = wait_for_status(&e.repo, &shift, "lbops/apply: success", &daemon).await;
    assert!(note.contains("lbops/authorize: success"), "{note}");
    e.wait_for_weights([50, 50], &daemon).await;

    // bob may shift pool weights, not a balancer's routes.
    e.repo.write("balancers.yaml", &balancer(100));
    let denied = e.repo.commit(&e.team.bob(), "all traffic to the canary");
    let note = wait_for_status(&e.repo, &denied, "lbops/apply: failure", &daemon).await;
    assert!(
        note.contains("lbops/authorize: failure")
            && note.contains("loadbalancer.routes.update on loadbalancer/shop"),
        "{note}"
    );
    // Nothing of it reached the account.
    let (_, groups) = e.forward().await.unwrap();
    assert_eq!(groups.iter().map(|(_, w)| *w).collect::<Vec<_>>(), [50, 50]);
    // Every request went through the strict check (and broke nothing).
    assert!(e.strict.checked() > 10, "{}", e.strict.checked());
    assert_eq!(e.strict.violations(), Vec::<String>::new());
}

#[tokio::test]
async fn a_hand_change_in_the_account_is_drift_on_the_commit_and_reverted() {
    let _turn = moto().fresh().await;
    let e = Estate::new().await;
    let daemon = e.daemon();
    // Ready: the first apply is over, so what follows is not part of it.
    daemon.ready().await;
    e.wait_for_weights([90, 10], &daemon).await;

    // Someone sends everything to the canary from the console.
    let (listener, groups) = e.forward().await.unwrap();
    e.elb
        .modify_listener()
        .listener_arn(listener)
        .default_actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                .target_group_arn(&groups[1].0)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let note = wait_for_status(&e.repo, &e.first, "lbops/drift: failure", &daemon).await;
    assert!(
        note.contains("reverted") && note.contains("loadbalancer/shop"),
        "{note}"
    );
    // The drift check (every second here) put git's weights back.
    e.wait_for_weights([90, 10], &daemon).await;
}

#[tokio::test]
async fn a_commit_elbv2_cannot_run_is_invalid_at_its_line_and_changes_nothing() {
    let _turn = moto().fresh().await;
    let e = Estate::new().await;
    let daemon = e.daemon();
    // Ready: the first apply is over, so what follows is not part of it.
    daemon.ready().await;
    e.wait_for_weights([90, 10], &daemon).await;

    // Allowed (alice is an admin), valid YAML, but ELBv2 has no
    // consistent hashing: refused before anything is applied.
    e.repo.write(
        "pools.yaml",
        &POOLS.replacen(
            "labels: {team: web}\nspec:\n",
            "labels: {team: web}\nspec:\n  algorithm: {consistent_hash: source_ip}\n",
            1,
        ),
    );
    e.repo.write("balancers.yaml", &balancer(50));
    let bad = e.repo.commit(&e.team.alice(), "hash by source and shift");
    let note = wait_for_status(&e.repo, &bad, "lbops/apply: failure", &daemon).await;
    assert!(
        note.contains("lbops/validate: failure") && note.contains("pools.yaml:1:1"),
        "{note}"
    );
    let (_, groups) = e.forward().await.unwrap();
    assert_eq!(groups.iter().map(|(_, w)| *w).collect::<Vec<_>>(), [90, 10]);
}

/// The check before moto answers what AWS answers a request that breaks
/// the model (400 `ValidationError`, naming member, value and pattern),
/// and keeps it to fail the test; good requests reach moto.
#[tokio::test]
async fn the_strict_endpoint_refuses_what_aws_refuses_and_passes_the_rest() {
    use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
    use aws_sdk_elasticloadbalancingv2::types::Tag;
    let _turn = moto().fresh().await;
    let strict = StrictMoto::start().await;
    let config = aws_sdk_elasticloadbalancingv2::config::Builder::from(&sdk_config(REGION).await)
        .endpoint_url(&strict.endpoint)
        .build();
    let elb = aws_sdk_elasticloadbalancingv2::Client::from_conf(config);
    let arn = "arn:aws:elasticloadbalancing:ap-southeast-2:123456789012:targetgroup/lbops-web/1";
    let refused = elb
        .add_tags()
        .resource_arns(arn)
        .tags(
            Tag::builder()
                .key("lbops:content-type")
                .value("text/plain; charset=utf-8")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    let error = refused.into_service_error();
    assert_eq!(error.code(), Some("ValidationError"));
    assert!(
        error
            .message()
            .unwrap_or_default()
            .contains("AddTags: Tags[0].Value = \"text/plain; charset=utf-8\" breaks pattern"),
        "{error:?}"
    );
    assert_eq!(strict.take_violations().len(), 1);
    // A valid request goes through to moto (which has no such group).
    let passed = elb
        .add_tags()
        .resource_arns(arn)
        .tags(
            Tag::builder()
                .key("lbops:content-type")
                .value("text/plain")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_ne!(passed.into_service_error().code(), Some("ValidationError"));
    assert!(strict.violations().is_empty());
}
