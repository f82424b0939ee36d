//! The routes over a real socket: probes, `/metrics`, headers, 404s, and
//! that nothing is writable.

use super::*;
use crate::daemon::journal::StatusRecord;
use crate::report::{StatusContext, StatusState};
use crate::support::clock::FixedClock;
use http_body_util::{BodyExt, Empty};

struct Served {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(state: PagesState) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router(state), async move {
        let _ = stopped.await;
    }));
    Served {
        base,
        stop: Some(stop),
        task,
    }
}

async fn call(method: &str, url: &str) -> (u16, axum::http::HeaderMap, String) {
    let client: hyper_util::client::legacy::Client<_, Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn probes_metrics_and_pages_answer_with_their_headers() {
    let state = PagesState {
        journal: Default::default(),
        metrics: Default::default(),
        ready: Default::default(),
        clock: Arc::new(FixedClock::at_unix(1_800_000_100)),
        trusted: Default::default(),
        started: 1_800_000_000,
        oidc: None,
        idp: Default::default(),
        nodes: tokio::sync::watch::channel(Default::default()).1,
        cluster: None,
        live: None,
        estate: Default::default(),
    };
    let commit = "c0ffee".repeat(6) + "c0ff";
    state.journal.status(
        crate::source::CommitId::parse(&commit).unwrap(),
        "main",
        1_800_000_000,
        StatusContext::Apply,
        StatusRecord {
            state: StatusState::Success,
            description: "applied".into(),
            sink_error: None,
        },
    );
    let mut served = start(state.clone()).await;
    let base = served.base.clone();

    assert_eq!(call("GET", &format!("{base}/healthz")).await.0, 200);
    let (status, _, body) = call("GET", &format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body, "not ready: the first reconcile has not finished\n");
    state.ready.ready();
    let (status, _, body) = call("GET", &format!("{base}/readyz")).await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    // A daemon that stops on a head says so, and why.
    state
        .ready
        .not_ready("waiting for an operator: the audit log audit.jsonl does not end with …");
    let (status, _, body) = call("GET", &format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body,
        "not ready: waiting for an operator: the audit log audit.jsonl does not end with …\n"
    );

    state.metrics.reconciled(true);
    let (status, headers, body) = call("GET", &format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], METRICS_CONTENT_TYPE);
    assert!(
        body.lines()
            .any(|l| l == "lbops_reconciles_total{result=\"ok\"} 1"),
        "{body}"
    );

    let (status, headers, body) = call("GET", &format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(body.contains(&format!("/commits/{commit}")), "{body}");

    let (status, _, body) = call("GET", &format!("{base}/commits/{}", &commit[..7])).await;
    assert_eq!(status, 200);
    assert!(body.contains(&commit), "found by prefix: {body}");
    let (status, headers, body) = call("GET", &format!("{base}/commits/deadbeef")).await;
    assert_eq!(status, 404);
    assert!(body.contains("Unknown commit"), "{body}");
    assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
    assert_eq!(call("GET", &format!("{base}/nothing-here")).await.0, 404);
    let (status, _, body) = call("GET", &format!("{base}/tokens")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("No commit is trusted yet"), "{body}");

    for path in ["/", "/commits/c0ffee1", "/metrics", "/tokens"] {
        let (status, _, _) = call("POST", &format!("{base}{path}")).await;
        assert_eq!(status, 405, "POST {path} is not allowed");
    }
    assert_eq!(call("DELETE", &format!("{base}/readyz")).await.0, 405);

    served.stop.take().unwrap().send(()).unwrap();
    served.task.await.unwrap().unwrap();
}
