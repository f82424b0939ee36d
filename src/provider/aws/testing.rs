//! What the aws provider's unit tests share: a catalog from one YAML text,
//! and a config placing named balancers.

use super::{AwsBalancer, AwsConfig, Scheme};
use crate::spec::{load, Catalog, Options, SourceFile};

/// A repository given as one YAML text, loaded as of a fixed date.
pub(crate) fn catalog(yaml: &str) -> Catalog {
    load(
        &[SourceFile::new("repo.yaml", yaml)],
        &Options::at(1_800_000_000),
    )
    .unwrap_or_else(|e| panic!("invalid test repository: {:#?}", e.diagnostics))
    .catalog
}

/// A config placing `balancers` on AWS, each in two subnets; `endpoint`
/// where the SDK would send requests (tests that only route send none).
pub(crate) fn config(balancers: &[&str], endpoint: Option<&str>) -> AwsConfig {
    AwsConfig {
        region: "eu-west-1".into(),
        endpoint_url: endpoint.map(str::to_owned),
        vpc: "vpc-1".into(),
        instance: None,
        balancers: balancers
            .iter()
            .map(|b| {
                (
                    b.parse().expect("a valid name"),
                    AwsBalancer {
                        subnets: vec!["subnet-a".into(), "subnet-b".into()],
                        scheme: Scheme::InternetFacing,
                        security_groups: Vec::new(),
                    },
                )
            })
            .collect(),
    }
}

/// The strict request check of the moto tests (`tests/common`), so the
/// unit tests' requests meet the service models too.
#[path = "../../../tests/common/aws_model.rs"]
pub(crate) mod aws_model;
#[cfg(test)]
mod aws_model_tests;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One recorded answer: the operation it answers (the Query `Action`, or
/// the JSON `X-Amz-Target` after its `.`), the HTTP status and the body
/// as AWS sent it.
#[derive(Debug)]
pub(crate) struct Answer {
    pub operation: &'static str,
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub(crate) fn ok(operation: &'static str, body: &str) -> Self {
        Self {
            operation,
            status: 200,
            body: body.to_owned(),
        }
    }
}

/// An HTTP client that answers each request with the next recorded
/// answer, after checking that it is for the operation asked; every
/// request's form or JSON body is kept for the test to read.
#[derive(Clone, Debug, Default)]
pub(crate) struct Replay {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    sent: Arc<Mutex<Vec<String>>>,
}

impl Replay {
    pub(crate) fn new(answers: Vec<Answer>) -> Self {
        Self {
            answers: Arc::new(Mutex::new(answers.into())),
            sent: Arc::default(),
        }
    }

    /// The bodies sent so far, in order.
    pub(crate) fn sent(&self) -> Vec<String> {
        self.sent.lock().unwrap().clone()
    }

    /// Answers not asked for yet.
    pub(crate) fn left(&self) -> Vec<&'static str> {
        self.answers
            .lock()
            .unwrap()
            .iter()
            .map(|a| a.operation)
            .collect()
    }
}

impl HttpConnector for Replay {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).into_owned();
        let operation = match request.headers().get("x-amz-target") {
            Some(target) => target
                .split_once('.')
                .map_or(target, |(_, op)| op)
                .to_owned(),
            None => body
                .split('&')
                .find_map(|p| p.strip_prefix("Action="))
                .unwrap_or_default()
                .to_owned(),
        };
        self.sent.lock().unwrap().push(body);
        let Answer {
            operation: expected,
            status,
            body: answer,
        } = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| panic!("no recorded answer left for {operation}"));
        assert_eq!(
            operation, expected,
            "the next recorded answer is for another operation"
        );
        let content_type = if answer.starts_with('{') {
            "application/x-amz-json-1.1"
        } else {
            "text/xml"
        };
        let mut response = aws_smithy_runtime_api::http::Response::new(
            status.try_into().expect("a valid status"),
            aws_smithy_types::body::SdkBody::from(answer),
        );
        response.headers_mut().insert("content-type", content_type);
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for Replay {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// A provider for `config` whose every request meets the strict check
/// and is answered by `replay`.
pub(crate) async fn replayed(config: AwsConfig, replay: &Replay) -> super::AwsProvider {
    let credentials = aws_sdk_elasticloadbalancingv2::config::Credentials::new(
        "AKIDTEST",
        "test-secret",
        None,
        None,
        "test",
    );
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(SharedHttpClient::new(replay.clone()))
        .credentials_provider(credentials);
    super::AwsProvider::from_loader(config, vec![aws_model::StrictModel::shared()], loader)
        .await
        .with_health_poll(std::time::Duration::from_millis(1))
}
