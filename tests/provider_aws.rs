//! The `aws` provider against moto, a real AWS emulator speaking the AWS
//! wire protocol on 127.0.0.1 (started by the test, wiped before each one).
//!
//! Each test starts from an empty account with a VPC and two subnets, and
//! applies `examples/aws/repo` (its certificate made fresh, the key in a
//! temp file) through plan → apply → observe, as the daemon does.

mod common;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use common::moto::moto;
use lbops::model::{ObservedState, StepOutcome};
use lbops::plan::plan;
use lbops::provider::aws::{AwsBalancer, AwsConfig, AwsProvider, Scheme};
use lbops::provider::{ApplyContext, Provider};
use lbops::source::CommitId;
use lbops::spec::{load, Catalog, Options};
use std::sync::{Arc, Mutex};

const REGION: &str = "eu-west-1";

/// What applying `catalog` is for: the commit every test tags with.
fn context(catalog: &Catalog) -> ApplyContext<'_> {
    ApplyContext {
        catalog,
        commit: CommitId::parse("0123456789abcdef0123456789abcdef01234567").unwrap(),
        epoch: None,
        may_start: None,
    }
}

/// Records every mutating AWS call lbops makes, and fails the `fail_at`th
/// one (counting from 1), as a crash or an exhausted retry would.
#[derive(Debug, Default)]
struct Calls {
    made: Mutex<Vec<String>>,
    fail_at: Option<usize>,
    /// The `SubnetMappings` of every `CreateLoadBalancer` sent: moto
    /// ignores their `AllocationId`, so the request is what is checked.
    subnet_mappings: Mutex<Vec<Vec<(String, String)>>>,
    /// What moto takes without checking: each target registered, with
    /// its `AvailabilityZone`; each target group's and each balancer's
    /// `IpAddressType`, by name.
    registered: Mutex<Vec<(String, Option<String>)>>,
    ip_address_types: Mutex<Vec<(String, String)>>,
}

impl Calls {
    fn failing_at(n: usize) -> Arc<Self> {
        Arc::new(Self {
            fail_at: Some(n),
            ..Self::default()
        })
    }

    fn mutating(&self) -> Vec<String> {
        self.made.lock().unwrap().clone()
    }
}

fn reads(operation: &str) -> bool {
    ["Describe", "List", "Get"]
        .iter()
        .any(|p| operation.starts_with(p))
}

#[derive(Debug)]
struct Recorder(Arc<Calls>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "test-recorder"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_elasticloadbalancingv2::operation::create_load_balancer::CreateLoadBalancerInput;
        if let Some(create) = context.input().downcast_ref::<CreateLoadBalancerInput>() {
            let mappings = create
                .subnet_mappings()
                .iter()
                .map(|m| {
                    let id = |v: Option<&str>| v.unwrap_or_default().to_owned();
                    (id(m.subnet_id()), id(m.allocation_id()))
                })
                .collect();
            self.0.subnet_mappings.lock().unwrap().push(mappings);
            let kind = create.ip_address_type().map(|t| t.as_str().to_owned());
            self.0.ip_address_types.lock().unwrap().push((
                create.name().unwrap_or_default().to_owned(),
                kind.unwrap_or_else(|| "(default)".to_owned()),
            ));
        }
        {
            use aws_sdk_elasticloadbalancingv2::operation::create_target_group::CreateTargetGroupInput;
            use aws_sdk_elasticloadbalancingv2::operation::register_targets::RegisterTargetsInput;
            if let Some(create) = context.input().downcast_ref::<CreateTargetGroupInput>() {
                let kind = create.ip_address_type().map(|t| t.as_str().to_owned());
                self.0.ip_address_types.lock().unwrap().push((
                    create.name().unwrap_or_default().to_owned(),
                    kind.unwrap_or_else(|| "(default)".to_owned()),
                ));
            }
            if let Some(register) = context.input().downcast_ref::<RegisterTargetsInput>() {
                let mut registered = self.0.registered.lock().unwrap();
                for target in register.targets() {
                    registered.push((
                        target.id().unwrap_or_default().to_owned(),
                        target.availability_zone().map(str::to_owned),
                    ));
                }
            }
        }
        let operation = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_default();
        if reads(&operation) {
            return Ok(());
        }
        let mut made = self.0.made.lock().unwrap();
        made.push(operation.clone());
        if self.0.fail_at == Some(made.len()) {
            return Err(format!("injected fault at {operation}").into());
        }
        Ok(())
    }
}

/// ACM as it really answers `ListCertificates`: without `Includes.keyTypes`
/// it lists only RSA_1024 and RSA_2048 certificates (acm model,
/// `Filters.keyTypes`), where moto lists every one. This asks moto for
/// what AWS would list.
#[derive(Debug)]
struct AcmDefaultKeyTypes;

impl Intercept for AcmDefaultKeyTypes {
    fn name(&self) -> &'static str {
        "acm-default-key-types"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_acm::operation::list_certificates::ListCertificatesInput;
        use aws_sdk_acm::types::{Filters, KeyAlgorithm};
        if let Some(list) = context.input_mut().downcast_mut::<ListCertificatesInput>() {
            let includes = list
                .includes
                .get_or_insert_with(|| Filters::builder().build());
            includes
                .key_types
                .get_or_insert_with(|| vec![KeyAlgorithm::Rsa1024, KeyAlgorithm::Rsa2048]);
        }
        Ok(())
    }
}

/// A fresh account: a VPC with two subnets; the provider's config places
/// the example's two balancers there.
struct Account {
    config: AwsConfig,
    ec2: aws_sdk_ec2::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    key_dir: tempfile::TempDir,
}

impl Account {
    async fn new() -> Self {
        let shared = common::moto::sdk_config(REGION).await;
        let ec2 = aws_sdk_ec2::Client::new(&shared);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&shared);
        let common::moto::Vpc { id: vpc, subnets } = common::moto::Vpc::create(REGION).await;
        let placed = |scheme| AwsBalancer {
            subnets: subnets.clone(),
            scheme,
            security_groups: Vec::new(),
        };
        let config = AwsConfig {
            region: REGION.to_owned(),
            endpoint_url: Some(moto().endpoint.clone()),
            vpc,
            instance: None,
            balancers: [
                ("shop".parse().unwrap(), placed(Scheme::InternetFacing)),
                ("shop-tcp".parse().unwrap(), placed(Scheme::InternetFacing)),
            ]
            .into_iter()
            .collect(),
        };
        Self {
            config,
            ec2,
            elb,
            key_dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The provider under test: every request it sends is checked
    /// against the service models (`common::aws_model`), as AWS would.
    async fn provider(&self, calls: &Arc<Calls>) -> AwsProvider {
        self.provider_with(self.config.clone(), calls, Vec::new())
            .await
    }

    /// A provider with `config`, recording into `calls`, and `extra`
    /// interceptors after the ones every test has (faults to inject).
    async fn provider_with(
        &self,
        config: AwsConfig,
        calls: &Arc<Calls>,
        extra: Vec<SharedInterceptor>,
    ) -> AwsProvider {
        let mut interceptors = vec![
            common::aws_model::StrictModel::shared(),
            SharedInterceptor::new(Recorder(calls.clone())),
            SharedInterceptor::new(AcmDefaultKeyTypes),
        ];
        interceptors.extend(extra);
        AwsProvider::connect(config, interceptors)
            .await
            .with_health_poll(std::time::Duration::from_millis(50))
    }

    /// `examples/aws/repo`, with `edit` applied to its files' texts and a
    /// certificate made now (its key in this account's temp dir).
    fn catalog(&self, edit: impl Fn(&str, String) -> String) -> Catalog {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/aws/repo");
        let mut files = lbops::source::dir::read_tree(std::path::Path::new(root)).unwrap();
        let key_path = self.key_dir.path().join("shop.key");
        if !key_path.exists() {
            self.new_certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
        }
        let pem = std::fs::read_to_string(self.key_dir.path().join("shop.pem")).unwrap();
        for file in &mut files {
            if file.path.ends_with(".pem") {
                file.text.clone_from(&pem);
            }
            file.text = file.text.replace(
                "/etc/lbops/keys/shop-example-test.key",
                &key_path.display().to_string(),
            );
            file.text = edit(&file.path, std::mem::take(&mut file.text));
        }
        load(&files, &Options::at(common::NOW))
            .unwrap_or_else(|e| panic!("{:#?}", e.diagnostics))
            .catalog
    }

    /// A new certificate for the example, its key of `algorithm`.
    fn new_certificate(&self, algorithm: &'static rcgen::SignatureAlgorithm) {
        let mut params = rcgen::CertificateParams::new(vec![
            "shop.example.test".to_owned(),
            "*.shop.example.test".to_owned(),
        ])
        .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "shop.example.test");
        params.not_after = rcgen::date_time_ymd(2035, 1, 1);
        let key = rcgen::KeyPair::generate_for(algorithm).unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(self.key_dir.path().join("shop.key"), key.serialize_pem()).unwrap();
        std::fs::write(self.key_dir.path().join("shop.pem"), cert.pem()).unwrap();
    }

    /// Plans and applies until nothing is left, as the daemon's converge
    /// does; returns the steps applied.
    async fn converge(&self, provider: &AwsProvider, desired: &Catalog) -> usize {
        let mut applied = 0;
        for _ in 0..3 {
            let observed = provider.observe().await.unwrap();
            let steps = plan(desired, &observed).steps;
            if steps.is_empty() {
                return applied;
            }
            let outcomes = provider.apply(&steps, context(desired)).await;
            for (step, outcome) in steps.iter().zip(&outcomes) {
                assert_eq!(*outcome, StepOutcome::Applied, "{step}");
            }
            applied += steps.len();
        }
        panic!("the plan did not converge in three rounds");
    }

    /// How many of each thing the account holds, owned by lbops or not.
    async fn census(&self) -> (usize, usize, usize, usize) {
        let balancers = self.elb.describe_load_balancers().send().await.unwrap();
        let groups = self.elb.describe_target_groups().send().await.unwrap();
        let addresses = self.ec2.describe_addresses().send().await.unwrap();
        let mut listeners = 0;
        for b in balancers.load_balancers() {
            listeners += self
                .elb
                .describe_listeners()
                .load_balancer_arn(b.load_balancer_arn().unwrap())
                .send()
                .await
                .unwrap()
                .listeners()
                .len();
        }
        (
            balancers.load_balancers().len(),
            listeners,
            groups.target_groups().len(),
            addresses.addresses().len(),
        )
    }
}

/// A fresh account with the example applied, for tests of what comes next.
struct Applied {
    account: Account,
    calls: Arc<Calls>,
    provider: AwsProvider,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Applied {
    async fn example() -> Self {
        let _turn = moto().fresh().await;
        let account = Account::new().await;
        let calls = Arc::new(Calls::default());
        let provider = account.provider(&calls).await;
        account
            .converge(&provider, &account.catalog(unchanged))
            .await;
        Self {
            account,
            calls,
            provider,
            _turn,
        }
    }
}

fn canary(weight: u32) -> impl Fn(&str, String) -> String {
    move |path, text| {
        if path.ends_with("shop.yaml") && path.contains("balancers") {
            text.replace("weight: 90", &format!("weight: {}", 100 - weight))
                .replace("weight: 10", &format!("weight: {weight}"))
        } else {
            text
        }
    }
}

fn unchanged(_: &str, text: String) -> String {
    text
}

#[tokio::test]
async fn from_an_empty_account_the_example_applies_and_observes_as_desired() {
    let _turn = moto().fresh().await;
    let account = Account::new().await;
    let calls = Arc::new(Calls::default());
    let provider = account.provider(&calls).await;
    let desired = account.catalog(unchanged);
    assert_eq!(provider.observe().await.unwrap(), ObservedState::default());

    let steps = account.converge(&provider, &desired).await;
    assert!(steps > 10, "{steps} steps");
    let observed = provider.observe().await.unwrap();
    assert!(plan(&desired, &observed).is_empty());
    // What runs is what git says, field by field.
    let shop = &observed.load_balancers["shop"];
    assert_eq!(*shop, desired.load_balancers["shop"].spec);
    assert_eq!(observed.pools.len(), 4);
    assert_eq!(
        observed.pools["shop-stable"].targets.len(),
        desired.pools["shop-stable"].spec.targets.len()
    );
    let tcp = &observed.load_balancers["shop-tcp"];
    assert_eq!(
        tcp.addresses.len(),
        2,
        "two Elastic IPs: {:?}",
        tcp.addresses
    );
    assert_eq!(account.census().await, (2, 4, 4, 2));
    // The NLB was created holding its two Elastic IPs, one per subnet.
    let eips = account.ec2.describe_addresses().send().await.unwrap();
    let mut allocations: Vec<String> = eips
        .addresses()
        .iter()
        .map(|a| a.allocation_id().unwrap().to_owned())
        .collect();
    allocations.sort();
    let sent = calls.subnet_mappings.lock().unwrap().clone();
    let nlb: Vec<_> = sent.iter().filter(|m| !m.is_empty()).collect();
    assert_eq!(
        nlb.len(),
        1,
        "one NLB created with subnet mappings: {sent:?}"
    );
    let subnets: Vec<&String> = nlb[0].iter().map(|(s, _)| s).collect();
    assert_eq!(
        subnets,
        account.config.balancers["shop-tcp"]
            .subnets
            .iter()
            .collect::<Vec<_>>()
    );
    let mut held: Vec<String> = nlb[0].iter().map(|(_, a)| a.clone()).collect();
    held.sort();
    assert_eq!(held, allocations);
    // Applying again changes nothing.
    assert_eq!(account.converge(&provider, &desired).await, 0);
}

#[tokio::test]
async fn an_ecdsa_certificate_is_observed_and_not_imported_again() {
    let Applied {
        account,
        calls,
        provider,
        _turn,
    } = Applied::example().await;
    let desired = account.catalog(unchanged);
    // The example's key is ECDSA P-256, which ACM lists only when asked.
    let key = std::fs::read_to_string(account.key_dir.path().join("shop.key")).unwrap();
    assert!(
        key.contains("BEGIN PRIVATE KEY") && !key.contains("RSA"),
        "an ECDSA key"
    );
    let observed = provider.observe().await.unwrap();
    assert!(
        observed.certificates.contains_key("shop-example-test"),
        "{:?}",
        observed.certificates.keys().collect::<Vec<_>>()
    );
    let before = calls.mutating().len();
    assert_eq!(plan(&desired, &observed).steps, []);
    assert_eq!(account.converge(&provider, &desired).await, 0);
    assert_eq!(calls.mutating()[before..], [] as [&str; 0]);
}

/// `examples/aws/repo` with `from` replaced by `to` in its pools.
fn pools_with(from: &'static str, to: &'static str) -> impl Fn(&str, String) -> String {
    move |path, text| {
        if path.ends_with("pools/shop.yaml") {
            assert!(text.contains(from), "{from}");
            text.replace(from, to)
        } else {
            text
        }
    }
}

#[tokio::test]
async fn a_target_outside_the_vpc_is_registered_in_every_zone() {
    let _turn = moto().fresh().await;
    let account = Account::new().await;
    let calls = Arc::new(Calls::default());
    let provider = account.provider(&calls).await;
    // The VPC is 10.0.0.0/16; the canary sits in a peered 192.168.0.0/16.
    let desired = account.catalog(pools_with("10.0.1.20:8080", "192.168.7.20:8080"));
    account.converge(&provider, &desired).await;
    let registered = calls.registered.lock().unwrap().clone();
    let zone = |id: &str| {
        registered
            .iter()
            .find(|(i, _)| i == id)
            .unwrap_or_else(|| panic!("{id} registered: {registered:?}"))
            .1
            .clone()
    };
    assert_eq!(zone("192.168.7.20").as_deref(), Some("all"));
    assert_eq!(zone("10.0.1.10"), None, "the VPC's own: its zone is found");
    assert!(plan(&desired, &provider.observe().await.unwrap()).is_empty());
}

#[tokio::test]
async fn an_ipv6_pool_is_an_ipv6_target_group_behind_a_dualstack_balancer() {
    let _turn = moto().fresh().await;
    let account = Account::new().await;
    let calls = Arc::new(Calls::default());
    let provider = account.provider(&calls).await;
    let desired = account.catalog(pools_with(
        "    - address: 10.0.1.30:9000\n    - address: 10.0.2.30:9000\n",
        "    - address: \"[2001:db8:1::30]:9000\"\n    - address: \"[2001:db8:2::30]:9000\"\n",
    ));
    account.converge(&provider, &desired).await;
    let kinds = calls.ip_address_types.lock().unwrap().clone();
    let kind = |name: &str| {
        kinds
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} created: {kinds:?}"))
            .1
            .clone()
    };
    assert_eq!(kind("lbops-shop-api"), "ipv6");
    assert_eq!(kind("lbops-shop-stable"), "ipv4");
    assert_eq!(
        kind("lbops-shop"),
        "dualstack",
        "the ALB forwards to shop-api"
    );
    assert_eq!(kind("lbops-shop-tcp"), "(default)");
    assert!(plan(&desired, &provider.observe().await.unwrap()).is_empty());
}

#[tokio::test]
async fn a_running_balancer_becomes_dualstack_for_a_new_ipv6_pool() {
    let Applied {
        account,
        calls,
        provider,
        _turn,
    } = Applied::example().await;
    // The canary moves to a new pool of IPv6 targets.
    let desired = account.catalog(|path, text| {
        if path.ends_with("balancers/shop.yaml") {
            text.replace("pool: shop-canary", "pool: shop-v6")
        } else if path.ends_with("pools/shop.yaml") {
            let v6 = text[text.find("---\nkind: Pool\nname: shop-canary").unwrap()..]
                .split("---\nkind: Pool\nname: shop-api")
                .next()
                .unwrap()
                .replace("name: shop-canary", "name: shop-v6")
                .replace("10.0.1.20:8080", "\"[2001:db8:1::20]:8080\"");
            format!("{text}{v6}")
        } else {
            text
        }
    });
    let before = calls.mutating().len();
    account.converge(&provider, &desired).await;
    let made = &calls.mutating()[before..];
    let switched = made.iter().position(|c| c == "SetIpAddressType");
    let forwarded = made.iter().position(|c| c == "ModifyRule");
    assert!(
        switched.is_some() && switched < forwarded,
        "dualstack before the rule forwards to the ipv6 group: {made:?}"
    );
    let kinds = calls.ip_address_types.lock().unwrap().clone();
    assert!(
        kinds.contains(&("lbops-shop-v6".to_owned(), "ipv6".to_owned())),
        "{kinds:?}"
    );
    assert!(plan(&desired, &provider.observe().await.unwrap()).is_empty());
    // Once dualstack, it stays so: nothing more to switch.
    assert_eq!(account.converge(&provider, &desired).await, 0);
}

#[tokio::test]
async fn a_canary_weight_change_touches_only_the_forward_config() {
    let Applied {
        account,
        calls,
        provider,
        _turn,
    } = Applied::example().await;

    let shifted = account.catalog(canary(50));
    let before = calls.mutating().len();
    let steps = account.converge(&provider, &shifted).await;
    assert_eq!(steps, 1, "one PutLoadBalancer");
    assert_eq!(calls.mutating()[before..], ["ModifyRule"]);
    assert!(plan(&shifted, &provider.observe().await.unwrap()).is_empty());
}

#[tokio::test]
async fn removing_a_target_deregisters_it() {
    let Applied {
        account,
        calls,
        provider,
        _turn,
    } = Applied::example().await;

    let fewer = account.catalog(|path, text| {
        if path.ends_with("pools/shop.yaml") {
            text.replace("    - address: 10.0.2.10:8080\n", "")
        } else {
            text
        }
    });
    let before = calls.mutating().len();
    account.converge(&provider, &fewer).await;
    assert_eq!(calls.mutating()[before..], ["DeregisterTargets"]);
    let observed = provider.observe().await.unwrap();
    let left: Vec<String> = observed.pools["shop-stable"]
        .targets
        .iter()
        .map(|t| t.address.to_string())
        .collect();
    assert_eq!(left, ["10.0.1.10:8080"]);
}

#[tokio::test]
async fn a_hand_change_in_the_account_is_drift_and_is_reverted() {
    let Applied {
        account,
        calls: _,
        provider,
        _turn,
    } = Applied::example().await;
    let desired = account.catalog(unchanged);

    // Someone shifts the canary to 100% in the console.
    let observed = provider.observe().await.unwrap();
    let https = &observed.load_balancers["shop"].listeners[1];
    assert_eq!(https.routes[2].name.value.as_str(), "www");
    let listener = account
        .elb
        .describe_load_balancers()
        .send()
        .await
        .unwrap()
        .load_balancers()
        .iter()
        .find(|b| b.load_balancer_name() == Some("lbops-shop"))
        .unwrap()
        .load_balancer_arn()
        .unwrap()
        .to_owned();
    let listeners = account
        .elb
        .describe_listeners()
        .load_balancer_arn(listener)
        .send()
        .await
        .unwrap();
    let https_arn = listeners
        .listeners()
        .iter()
        .find(|l| l.port() == Some(443))
        .unwrap()
        .listener_arn()
        .unwrap();
    let rules = account
        .elb
        .describe_rules()
        .listener_arn(https_arn)
        .send()
        .await
        .unwrap();
    let www = rules
        .rules()
        .iter()
        .find(|r| r.priority() == Some("100"))
        .unwrap();
    let canary_group = www.actions()[0].forward_config().unwrap().target_groups()[1]
        .target_group_arn()
        .unwrap();
    account
        .elb
        .modify_rule()
        .rule_arn(www.rule_arn().unwrap())
        .actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                .target_group_arn(canary_group)
                .build(),
        )
        .send()
        .await
        .unwrap();

    // The daemon's drift check: what runs against the applied commit.
    let observed = provider.observe().await.unwrap();
    let (drifted, revert) = lbops::daemon::drift::detect(&desired, &observed, |_, _| {
        lbops::daemon::config::DriftMode::Revert
    });
    let summary = lbops::daemon::drift::summary(&drifted, lbops::daemon::config::DriftMode::Revert);
    assert!(summary.contains("loadbalancer/shop"), "{summary}");
    assert!(!revert.is_empty());
    let outcomes = provider.apply(&revert, context(&desired)).await;
    assert!(
        outcomes.iter().all(|o| *o == StepOutcome::Applied),
        "{outcomes:?}"
    );
    let observed = provider.observe().await.unwrap();
    assert!(plan(&desired, &observed).is_empty(), "reverted");
    assert_eq!(
        observed.load_balancers["shop"],
        desired.load_balancers["shop"].spec
    );
}

#[tokio::test]
async fn an_apply_cut_off_halfway_is_finished_without_duplicates() {
    let _turn = moto().fresh().await;
    // Cut the first apply off at one call after another, a few apart, until
    // it gets through whole.
    let mut cut_at = 3;
    loop {
        moto().reset().await;
        let account = Account::new().await;
        let desired = account.catalog(unchanged);
        let faulty = Calls::failing_at(cut_at);
        let provider = account.provider(&faulty).await;
        let steps = plan(&desired, &provider.observe().await.unwrap()).steps;
        let outcomes = provider.apply(&steps, context(&desired)).await;
        let cut = outcomes
            .iter()
            .any(|o| matches!(o, StepOutcome::Failed { .. }));
        // A fresh provider, as after a restart, finishes the plan.
        let calls = Arc::new(Calls::default());
        let restarted = account.provider(&calls).await;
        account.converge(&restarted, &desired).await;
        assert_eq!(account.census().await, (2, 4, 4, 2), "cut at call {cut_at}");
        let observed = restarted.observe().await.unwrap();
        assert!(plan(&desired, &observed).is_empty());
        if !cut {
            break;
        }
        cut_at += 7;
    }
    assert!(cut_at > 10, "the faults landed inside the apply");
}

#[tokio::test]
async fn credentials_and_key_material_never_reach_the_logs() {
    let _turn = moto().fresh().await;
    // Everything lbops and the SDK log, down to trace, on this thread.
    let capture = common::logs::capture(tracing::Level::TRACE);
    let account = Account::new().await;
    let calls = Calls::failing_at(5);
    let provider = account.provider(&calls).await;
    let desired = account.catalog(unchanged);
    // A failing apply logs its error, then a whole one.
    let steps = plan(&desired, &provider.observe().await.unwrap()).steps;
    provider.apply(&steps, context(&desired)).await;
    account
        .converge(
            &account.provider(&Arc::new(Calls::default())).await,
            &desired,
        )
        .await;

    let logs = capture.text();
    assert!(
        logs.len() > 1000,
        "the SDK and lbops logged: {} bytes",
        logs.len()
    );
    common::keep_log("provider-aws", &logs);
    let key = std::fs::read_to_string(account.key_dir.path().join("shop.key")).unwrap();
    let key_body = key.lines().nth(1).unwrap();
    for secret in [common::moto::AWS_TEST_SECRET, "PRIVATE KEY", key_body] {
        assert!(!logs.contains(secret), "a log line shows {secret:?}");
    }
}

#[tokio::test]
async fn deleting_a_balancer_drains_its_pool_and_releases_its_addresses() {
    let Applied {
        account,
        calls,
        provider,
        _turn,
    } = Applied::example().await;

    // The NLB and the pool only it used leave git.
    let smaller = account.catalog(|path, text| {
        if path.ends_with("shop-tcp.yaml") {
            String::new()
        } else if path.ends_with("pools/shop.yaml") {
            text[..text.find("---\nkind: Pool\nname: shop-mail").unwrap()].to_owned()
        } else {
            text
        }
    });
    let before = calls.mutating().len();
    account.converge(&provider, &smaller).await;
    assert_eq!(
        calls.mutating()[before..],
        [
            "DeleteLoadBalancer",
            "ReleaseAddress",
            "ReleaseAddress",
            "DeregisterTargets",
            "DeleteTargetGroup"
        ]
    );
    assert_eq!(account.census().await, (1, 2, 3, 0));
    assert!(plan(&smaller, &provider.observe().await.unwrap()).is_empty());
}

/// ACM keeps a certificate's key type and size, so a new key type cannot
/// be re-imported over the old ARN (AWS refuses; moto allows it): it is a
/// new certificate, the listener moves to it and the old one is deleted.
#[tokio::test]
async fn a_new_key_type_is_a_new_certificate_and_the_old_one_is_deleted() {
    // The ALB only: moto's ModifyListener refuses TLS (AWS does not), and
    // the NLB's tls listener would be modified to the new certificate.
    let alb_only = |path: &str, text: String| {
        if path.ends_with("shop-tcp.yaml") {
            String::new()
        } else if path.ends_with("pools/shop.yaml") {
            text[..text.find("---\nkind: Pool\nname: shop-mail").unwrap()].to_owned()
        } else {
            text
        }
    };
    let _turn = moto().fresh().await;
    let account = Account::new().await;
    let provider = account.provider(&Arc::new(Calls::default())).await;
    account
        .converge(&provider, &account.catalog(alb_only))
        .await;
    let acm = aws_sdk_acm::Client::new(&common::moto::sdk_config(REGION).await);
    let arns = || async {
        let list = acm.list_certificates().send().await.unwrap();
        list.certificate_summary_list()
            .iter()
            .filter_map(|c| c.certificate_arn().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let old = arns().await;
    assert_eq!(old.len(), 1, "{old:?}");

    account.new_certificate(&rcgen::PKCS_ECDSA_P384_SHA384);
    let desired = account.catalog(alb_only);
    account.converge(&provider, &desired).await;

    let now = arns().await;
    assert_eq!(now.len(), 1, "the old certificate is deleted: {now:?}");
    assert_ne!(now, old, "a new import, not a re-import over the old ARN");
    let described = acm
        .describe_certificate()
        .certificate_arn(&now[0])
        .send()
        .await
        .unwrap();
    assert_eq!(
        described
            .certificate()
            .and_then(|c| c.key_algorithm())
            .map(|k| k.as_str()),
        Some("EC_secp384r1")
    );
    let observed = provider.observe().await.unwrap();
    assert!(plan(&desired, &observed).is_empty());
}

/// EC2 as it answers while an NLB's network interfaces still hold its
/// Elastic IPs after the balancer is deleted (for minutes; moto lets go at
/// once): every `ReleaseAddress` is refused with `InvalidIPAddress.InUse`
/// while `held` is set, and nothing is released.
#[derive(Debug, Default)]
struct HeldAddresses {
    held: std::sync::atomic::AtomicBool,
    refused: std::sync::atomic::AtomicUsize,
}

/// Marks a `ReleaseAddress` this attempt answers for EC2.
#[derive(Debug)]
struct Refused;

impl aws_smithy_types::config_bag::Storable for Refused {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

#[derive(Debug)]
struct HoldAddresses(Arc<HeldAddresses>);

impl Intercept for HoldAddresses {
    fn name(&self) -> &'static str {
        "hold-addresses"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_ec2::operation::release_address::ReleaseAddressInput;
        use std::sync::atomic::Ordering;
        if !self.0.held.load(Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(release) = context.input_mut().downcast_mut::<ReleaseAddressInput>() {
            // Sent for an address that is not there, so moto keeps the
            // real one; the answer is replaced below.
            release.allocation_id = Some("eipalloc-0000000000000000".to_owned());
            cfg.interceptor_state().store_put(Refused);
            self.0.refused.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_smithy_runtime_api::http::{Response, StatusCode};
        if cfg.load::<Refused>().is_some() {
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
                <Code>InvalidIPAddress.InUse</Code><Message>Address is in use.</Message>\
                </Error></Errors><RequestID>held-by-a-network-interface</RequestID></Response>";
            let mut response = Response::new(
                StatusCode::try_from(400).expect("a status"),
                aws_smithy_types::body::SdkBody::from(body),
            );
            response
                .headers_mut()
                .insert("content-type", "text/xml;charset=UTF-8");
            *context.response_mut() = response;
        }
        Ok(())
    }
}

impl Account {
    /// A provider whose `ReleaseAddress` calls `held` refuses, and that
    /// waits only briefly for AWS to let go.
    async fn holding_provider(&self, calls: &Arc<Calls>, held: &Arc<HeldAddresses>) -> AwsProvider {
        let hold = SharedInterceptor::new(HoldAddresses(held.clone()));
        self.provider_with(self.config.clone(), calls, vec![hold])
            .await
            .with_in_use_patience(std::time::Duration::from_millis(500))
    }

    /// A provider whose every `CreateLoadBalancer` of an NLB fails.
    async fn refusing_nlbs(&self) -> AwsProvider {
        let refuse = SharedInterceptor::new(RefuseNlb);
        self.provider_with(self.config.clone(), &Arc::default(), vec![refuse])
            .await
    }
}

/// The example without its NLB and the pool only that uses.
fn without_the_nlb(path: &str, text: String) -> String {
    if path.ends_with("shop-tcp.yaml") {
        String::new()
    } else if path.ends_with("pools/shop.yaml") {
        text[..text.find("---\nkind: Pool\nname: shop-mail").unwrap()].to_owned()
    } else {
        text
    }
}

#[tokio::test]
async fn elastic_ips_still_held_after_their_nlb_is_deleted_are_released_later() {
    let _turn = moto().fresh().await;
    let account = Account::new().await;
    let calls = Arc::new(Calls::default());
    let held = Arc::new(HeldAddresses::default());
    let provider = account.holding_provider(&calls, &held).await;
    account
        .converge(&provider, &account.catalog(unchanged))
        .await;
    assert_eq!(account.census().await, (2, 4, 4, 2));

    // The NLB leaves git; its network interfaces outlive it, past the
    // provider's patience.
    let smaller = account.catalog(without_the_nlb);
    held.held.store(true, std::sync::atomic::Ordering::SeqCst);
    let steps = plan(&smaller, &provider.observe().await.unwrap()).steps;
    let outcomes = provider.apply(&steps, context(&smaller)).await;
    let failed: Vec<String> = steps
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| matches!(o, StepOutcome::Failed { .. }))
        .map(|(s, o)| format!("{s}: {o:?}"))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("InvalidIPAddress.InUse"), "{failed:?}");
    assert!(held.refused.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    // The balancer is gone; its two addresses are not.
    assert_eq!(account.census().await, (1, 2, 4, 2));

    // The next plan still knows them, and says what it will do.
    let observed = provider.observe().await.unwrap();
    let next = plan(&smaller, &observed).steps;
    let shown: Vec<String> = next.iter().map(ToString::to_string).collect();
    assert!(
        next.contains(&lbops::model::Step::DeleteLoadBalancer {
            name: "shop-tcp".parse().unwrap()
        }),
        "{shown:?}"
    );

    // Once AWS lets go, a later reconcile releases them.
    held.held.store(false, std::sync::atomic::Ordering::SeqCst);
    account.converge(&provider, &smaller).await;
    assert_eq!(account.census().await, (1, 2, 3, 0));
    assert!(plan(&smaller, &provider.observe().await.unwrap()).is_empty());
}

/// Fails every `CreateLoadBalancer` of an NLB, after its Elastic IPs were
/// allocated (as AWS does for an internal NLB given some, say).
#[derive(Debug)]
struct RefuseNlb;

impl Intercept for RefuseNlb {
    fn name(&self) -> &'static str {
        "refuse-nlb"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_elasticloadbalancingv2::operation::create_load_balancer::CreateLoadBalancerInput;
        use aws_sdk_elasticloadbalancingv2::types::LoadBalancerTypeEnum;
        match context.input().downcast_ref::<CreateLoadBalancerInput>() {
            Some(create) if create.r#type() == Some(&LoadBalancerTypeEnum::Network) => {
                Err("injected: the NLB is refused".into())
            }
            _ => Ok(()),
        }
    }
}

#[tokio::test]
async fn elastic_ips_of_a_balancer_whose_create_failed_do_not_leak() {
    let _turn = moto().fresh().await;
    let account = Account::new().await;
    let desired = account.catalog(unchanged);
    let refusing = account.refusing_nlbs().await;
    let steps = plan(&desired, &refusing.observe().await.unwrap()).steps;
    let outcomes = refusing.apply(&steps, context(&desired)).await;
    assert!(outcomes
        .iter()
        .any(|o| matches!(o, StepOutcome::Failed { reason } if reason.contains("NLB is refused"))));
    assert_eq!(account.census().await.3, 2, "allocated before the create");

    // Still in git: the next reconcile creates it with the same addresses.
    let calls = Arc::new(Calls::default());
    let provider = account.provider(&calls).await;
    account.converge(&provider, &desired).await;
    assert_eq!(account.census().await, (2, 4, 4, 2));
    assert!(!calls.mutating().contains(&"AllocateAddress".to_owned()));

    // And had git dropped it instead, the plan would have released them.
    moto().reset().await;
    let account = Account::new().await;
    let desired = account.catalog(unchanged);
    let refusing = account.refusing_nlbs().await;
    let steps = plan(&desired, &refusing.observe().await.unwrap()).steps;
    refusing.apply(&steps, context(&desired)).await;
    assert_eq!(account.census().await.3, 2);
    let smaller = account.catalog(without_the_nlb);
    account
        .converge(&account.provider(&Arc::default()).await, &smaller)
        .await;
    assert_eq!(account.census().await, (1, 2, 3, 0));
}

/// Records what each `ImportCertificate` asks (whether it names an ARN,
/// and the keys of the tags it carries), and refuses the first
/// `AddTagsToCertificate`, as a crash between the two calls would.
#[derive(Debug, Default)]
struct Imports {
    sent: Mutex<Vec<(bool, Vec<String>)>>,
    tagging_refused: std::sync::atomic::AtomicBool,
}

#[derive(Debug)]
struct WatchImports(Arc<Imports>);

impl Intercept for WatchImports {
    fn name(&self) -> &'static str {
        "watch-imports"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_acm::operation::add_tags_to_certificate::AddTagsToCertificateInput;
        use aws_sdk_acm::operation::import_certificate::ImportCertificateInput;
        if let Some(import) = context.input().downcast_ref::<ImportCertificateInput>() {
            let keys = import.tags().iter().map(|t| t.key().to_owned()).collect();
            self.0
                .sent
                .lock()
                .unwrap()
                .push((import.certificate_arn().is_some(), keys));
        }
        if context
            .input()
            .downcast_ref::<AddTagsToCertificateInput>()
            .is_some()
            && !self
                .0
                .tagging_refused
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Err("injected: cut off before tagging".into());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_new_import_carries_its_owner_tag_so_a_cut_off_import_is_not_repeated() {
    let _turn = moto().fresh().await;
    let account = Account::new().await;
    let desired = account.catalog(unchanged);
    let imports = Arc::new(Imports::default());
    let watch = SharedInterceptor::new(WatchImports(imports.clone()));
    let provider = account
        .provider_with(account.config.clone(), &Arc::default(), vec![watch])
        .await;
    let steps = plan(&desired, &provider.observe().await.unwrap()).steps;
    let outcomes = provider.apply(&steps, context(&desired)).await;
    assert!(matches!(&outcomes[0], StepOutcome::Failed { reason } if reason.contains("cut off")));
    // A new import asks for `lbops:id` in the request (what the README's
    // IAM policy requires of it).
    let sent = imports.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].0, "a new import names no ARN");
    assert!(sent[0].1.contains(&"lbops:id".to_owned()), "{sent:?}");

    // The next reconcile finds the certificate by that tag and imports
    // again in place, with no tags (ACM refuses them there): one
    // certificate, not two.
    account.converge(&provider, &desired).await;
    let sent = imports.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1], (true, Vec::new()));
    let acm = aws_sdk_acm::Client::new(&common::moto::sdk_config(REGION).await);
    let listed = acm.list_certificates().send().await.unwrap();
    assert_eq!(listed.certificate_summary_list().len(), 1);
    assert!(plan(&desired, &provider.observe().await.unwrap()).is_empty());
}

impl Account {
    /// A daemon of this account with `instance` as its
    /// `provider.aws.instance`.
    async fn daemon(&self, instance: Option<&str>) -> AwsProvider {
        let mut config = self.config.clone();
        config.instance = instance.map(|i| i.parse().unwrap());
        self.provider_with(config, &Arc::default(), Vec::new())
            .await
    }
}

#[tokio::test]
async fn two_daemons_in_one_account_keep_to_their_own_resources() {
    let _turn = moto().fresh().await;
    let account = Account::new().await;
    let desired = account.catalog(unchanged);
    let blue = account.daemon(Some("blue")).await;
    let green = account.daemon(Some("green")).await;
    account.converge(&blue, &desired).await;
    assert_eq!(account.census().await, (2, 4, 4, 2));

    // Green sees nothing of blue's, and neither does a daemon without an
    // instance (which owns only what carries none, as from before one).
    assert_eq!(green.observe().await.unwrap(), ObservedState::default());
    let unnamed = account.daemon(None).await;
    assert_eq!(unnamed.observe().await.unwrap(), ObservedState::default());

    // Green puts the same repository there: its own of everything.
    account.converge(&green, &desired).await;
    assert_eq!(account.census().await, (4, 8, 8, 4));
    assert!(plan(&desired, &blue.observe().await.unwrap()).is_empty());

    // Green's repository empties: green deletes its own, blue's run on.
    account.converge(&green, &Catalog::default()).await;
    assert_eq!(account.census().await, (2, 4, 4, 2));
    assert_eq!(green.observe().await.unwrap(), ObservedState::default());
    assert!(plan(&desired, &blue.observe().await.unwrap()).is_empty());
}

#[tokio::test]
async fn a_daemon_without_an_instance_keeps_what_an_older_lbops_created() {
    let _turn = moto().fresh().await;
    let account = Account::new().await;
    let desired = account.catalog(unchanged);
    // Created with no instance, as every lbops before instances did.
    let before = account.daemon(None).await;
    account.converge(&before, &desired).await;
    // After the upgrade, still without one: all of it is still its own.
    let upgraded = account.daemon(None).await;
    assert!(plan(&desired, &upgraded.observe().await.unwrap()).is_empty());
    // A daemon given an instance in the same account adopts none of it.
    let other = account.daemon(Some("blue")).await;
    assert_eq!(other.observe().await.unwrap(), ObservedState::default());
}

#[tokio::test]
async fn a_certificate_imported_twice_under_one_owner_tag_is_deleted_once() {
    let Applied {
        account,
        calls,
        provider,
        _turn,
    } = Applied::example().await;
    let desired = account.catalog(unchanged);
    // An import whose answer was lost and that was sent again: a second
    // certificate carrying the same `lbops:id`.
    let acm = aws_sdk_acm::Client::new(&common::moto::sdk_config(REGION).await);
    let read = |file: &str| std::fs::read(account.key_dir.path().join(file)).unwrap();
    let tag = |key: &str, value: &str| {
        aws_sdk_acm::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
            .unwrap()
    };
    acm.import_certificate()
        .certificate(aws_smithy_types::Blob::new(read("shop.pem")))
        .private_key(aws_smithy_types::Blob::new(read("shop.key")))
        .tags(tag("lbops:id", "certificate/shop-example-test"))
        .tags(tag(
            "lbops:commit",
            "0123456789abcdef0123456789abcdef01234567",
        ))
        .send()
        .await
        .unwrap();
    let count = || async {
        acm.list_certificates()
            .send()
            .await
            .unwrap()
            .certificate_summary_list()
            .len()
    };
    assert_eq!(count().await, 2);

    // The plan shows the second one deleted, and nothing else.
    let steps = plan(&desired, &provider.observe().await.unwrap()).steps;
    let shown: Vec<String> = steps.iter().map(ToString::to_string).collect();
    assert!(
        matches!(&steps[..], [lbops::model::Step::DeleteCertificate { name }]
            if name.as_str().starts_with("shop-example-test-duplicate-")),
        "{shown:?}"
    );
    let before = calls.mutating().len();
    account.converge(&provider, &desired).await;
    assert_eq!(calls.mutating()[before..], ["DeleteCertificate"]);
    assert_eq!(count().await, 1);
    assert!(plan(&desired, &provider.observe().await.unwrap()).is_empty());
}

#[tokio::test]
async fn elastic_ips_of_a_failed_create_that_git_no_longer_lists_are_released_by_the_next() {
    let _turn = moto().fresh().await;
    let account = Account::new().await;
    let desired = account.catalog(unchanged);
    let refusing = account.refusing_nlbs().await;
    let steps = plan(&desired, &refusing.observe().await.unwrap()).steps;
    refusing.apply(&steps, context(&desired)).await;
    let held = || async {
        let answer = account.ec2.describe_addresses().send().await.unwrap();
        let mut ips: Vec<String> = answer
            .addresses()
            .iter()
            .filter_map(|a| a.public_ip().map(str::to_owned))
            .collect();
        ips.sort();
        ips
    };
    assert_eq!(held().await, ["198.51.100.1", "198.51.100.2"]);

    // Git moves the NLB's addresses to another range before it ever ran.
    let moved = account.catalog(|path, text| {
        if path.ends_with("addresspools/public.yaml") {
            text.replace("198.51.100.0/28", "198.51.100.16/28")
        } else {
            text
        }
    });
    let calls = Arc::new(Calls::default());
    account
        .converge(&account.provider(&calls).await, &moved)
        .await;
    assert_eq!(held().await, ["198.51.100.17", "198.51.100.18"]);
    assert_eq!(account.census().await, (2, 4, 4, 2));
}

#[tokio::test]
async fn a_leader_whose_lease_is_about_to_lapse_starts_no_aws_call() {
    let _turn = moto().fresh().await;
    let account = Account::new().await;
    let calls = Arc::new(Calls::default());
    let provider = account.provider(&calls).await;
    let desired = account.catalog(unchanged);
    let steps = plan(&desired, &provider.observe().await.unwrap()).steps;
    assert!(!steps.is_empty());
    // The lease holds for exactly two more steps.
    let left = std::sync::atomic::AtomicUsize::new(2);
    let may_start = || {
        left.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        )
        .is_ok()
    };
    let context = ApplyContext {
        may_start: Some(&may_start),
        ..context(&desired)
    };
    let outcomes = provider.apply(&steps, context).await;
    assert!(
        matches!(outcomes[..2], [StepOutcome::Applied, StepOutcome::Applied]),
        "{outcomes:?}"
    );
    match &outcomes[2] {
        StepOutcome::Failed { reason } => assert!(reason.contains("leader lease"), "{reason}"),
        other => panic!("the third step must not start: {other:?}"),
    }
    assert!(
        outcomes[3..].iter().all(|o| *o == StepOutcome::Skipped),
        "{outcomes:?}"
    );
}
