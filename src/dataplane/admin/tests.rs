use super::auth::authorize;
use super::store::write_atomically;
use super::*;
use crate::dataplane::runtime::Snapshot;
use crate::dataplane::{ApplyError, DrainingTarget};
use crate::spec::{load, Options, SourceFile};
use hyper::header::{HeaderMap, AUTHORIZATION};
use std::collections::BTreeSet;

/// A config with one pool of two targets and no listeners (nothing binds).
fn config(version: u64, weight: u32) -> DataplaneConfig {
    let yaml = format!(
        "kind: Pool\nname: web\nspec:\n  targets:\n    - {{address: '10.0.0.1:80', weight: {weight}}}\n    - {{address: '10.0.0.2:80'}}\n  backup_targets: [{{address: 'spare.internal:80'}}]\n"
    );
    let catalog = load(
        &[SourceFile::new("repo.yaml", &yaml)],
        &Options::at(1_800_000_000),
    )
    .unwrap_or_else(|e| panic!("invalid test repository: {:#?}", e.diagnostics))
    .catalog;
    DataplaneConfig::from_catalog(&catalog, version)
}

fn headers(authorization: Option<&str>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = authorization {
        headers.insert(AUTHORIZATION, value.parse().unwrap());
    }
    headers
}

#[test]
fn only_the_right_bearer_token_is_let_through() {
    let expected = token_sha256("s3cret");
    for ok in ["Bearer s3cret", "bearer s3cret", "BEARER   s3cret  "] {
        assert!(authorize(&expected, &headers(Some(ok))).is_ok(), "{ok}");
    }
    for missing in [
        None,
        Some("Basic czNjcmV0"),
        Some("Bearer"),
        Some("Bearer "),
        Some("Bearers3cret"),
        Some("s3cret"),
    ] {
        assert!(
            matches!(
                authorize(&expected, &headers(missing)),
                Err(AdminError::MissingToken)
            ),
            "{missing:?}"
        );
    }
    for wrong in ["Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET"] {
        assert!(
            matches!(
                authorize(&expected, &headers(Some(wrong))),
                Err(AdminError::WrongToken)
            ),
            "{wrong}"
        );
    }
}

#[test]
fn refusals_are_logged_with_peer_and_path_but_never_the_token() {
    let expected = token_sha256("s3cret");
    let error = authorize(&expected, &headers(Some("Bearer guessed-token"))).unwrap_err();
    let line = log_line(
        &error,
        &Method::GET,
        "/v1/config",
        "192.0.2.7:51000".parse().unwrap(),
    );
    assert_eq!(
        line,
        "lbops dataplane admin: 401 GET /v1/config from 192.0.2.7:51000: \
         the bearer token is not valid: send the token whose SHA-256 this data plane was started with"
    );
    assert!(!line.contains("guessed-token"));
}

#[test]
fn token_hashes_are_read_as_sha256sum_prints_them() {
    let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(token_sha256("abc"), parse_token_sha256(abc).unwrap());
    for form in [
        format!("{abc}  -\n"),
        format!("sha256:{abc}"),
        format!("SHA256:{}", abc.to_uppercase()),
        format!("  {abc}\n"),
    ] {
        assert_eq!(parse_token_sha256(&form), Ok(token_sha256("abc")), "{form}");
    }
    assert_eq!(
        parse_token_sha256(" \n"),
        Err(crate::spec::material::TokenHashError::Empty)
    );
    for bad in ["abc", &abc[1..], "sha256:", &format!("{abc}0")] {
        assert_eq!(
            parse_token_sha256(bad),
            Err(crate::spec::material::TokenHashError::BadSha256Hex),
            "{bad}"
        );
    }
}

#[test]
fn atomic_writes_replace_the_whole_file_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    write_atomically(&path, b"first version, rather long\n").unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"first version, rather long\n"
    );
    write_atomically(&path, b"second\n").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second\n");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["state.json"], "no temporary file is left");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    }
}

#[test]
fn a_failed_atomic_write_changes_nothing_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    // The target is a directory with a file in it: the rename must fail.
    let path = dir.path().join("taken");
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join("inside"), b"kept").unwrap();
    write_atomically(&path, b"new").unwrap_err();
    assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"kept");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["taken"], "the temporary file was removed");
    // And a directory that does not exist is an error, not a panic.
    write_atomically(&dir.path().join("missing/file"), b"x").unwrap_err();
}

#[tokio::test]
async fn restore_serves_what_save_kept() {
    let dir = tempfile::tempdir().unwrap();
    let dataplane = Dataplane::new();
    assert!(restore(&dataplane, dir.path()).await.unwrap().is_none());
    assert_eq!(dataplane.snapshot().config, DataplaneConfig::default());

    store::save(dir.path(), &config(5, 2)).await.unwrap();
    store::save(dir.path(), &config(5, 2)).await.unwrap();
    assert_eq!(restore(&dataplane, dir.path()).await.unwrap(), Some(5));
    assert_eq!(dataplane.snapshot().config, config(5, 2));

    std::fs::write(
        dir.path().join(CONFIG_FILE),
        "{\"version\": 6, \"pool\": {}}",
    )
    .unwrap();
    let err = restore(&dataplane, dir.path()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("dataplane-config.json:1:16: unknown field `pool`"),
        "{err}"
    );
    assert_eq!(dataplane.snapshot().config.version, 5, "nothing changed");
    dataplane.shutdown().await;
}

#[test]
fn versions_only_move_forward() {
    let fresh = DataplaneConfig::default();
    let running = config(5, 1);
    let cases = [
        (&fresh, config(0, 1), Some(Decision::Apply)),
        (&fresh, config(3, 1), Some(Decision::Apply)),
        (
            &fresh,
            DataplaneConfig::default(),
            Some(Decision::Unchanged),
        ),
        (&running, config(5, 1), Some(Decision::Unchanged)),
        (&running, config(6, 1), Some(Decision::Apply)),
        (&running, config(6, 3), Some(Decision::Apply)),
        (&running, config(5, 3), None),
        (&running, config(4, 1), None),
    ];
    for (running, offered, expected) in cases {
        let decided = decide(running, &offered);
        assert_eq!(
            decided.as_ref().ok(),
            expected.as_ref(),
            "{} → {}: {decided:?}",
            running.version,
            offered.version
        );
    }
    assert!(matches!(
        decide(&running, &config(4, 1)),
        Err(AdminError::Stale {
            offered: 4,
            running: 5
        })
    ));
    assert!(matches!(
        decide(&running, &config(5, 3)),
        Err(AdminError::VersionConflict { version: 5 })
    ));
}

/// A removed target with a request still in flight, of pool `web`.
fn draining_target() -> (DrainingTarget, crate::dataplane::pool::InFlight) {
    let old = Snapshot::compile(config(1, 1), &Snapshot::default());
    let target = old.pools["web"].primaries[0].clone();
    let in_flight = target.start_request();
    let draining = DrainingTarget {
        pool: "web".parse().unwrap(),
        target,
    };
    (draining, in_flight)
}

#[test]
fn metrics_are_prometheus_text() {
    let snapshot = Snapshot::compile(config(7, 3), &Snapshot::default());
    let pool = &snapshot.pools["web"];
    pool.backups[0].set_healthy(false);
    let _in_flight = pool.primaries[1].start_request();
    let (draining, _still_running) = draining_target();
    let state = RunningState::of(
        &snapshot,
        vec!["127.0.0.1:8080".parse().unwrap()],
        &[draining],
    );
    let text = metrics::render(&state);
    let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        samples,
        [
            "lbops_dataplane_config_version 7",
            "lbops_dataplane_listeners 1",
            "lbops_dataplane_target_healthy{pool=\"web\",target=\"10.0.0.1:80\"} 1",
            "lbops_dataplane_target_healthy{pool=\"web\",target=\"10.0.0.2:80\"} 1",
            "lbops_dataplane_target_healthy{pool=\"web\",target=\"spare.internal:80\"} 0",
            "lbops_dataplane_target_requests_total{pool=\"web\",target=\"10.0.0.1:80\"} 0",
            "lbops_dataplane_target_requests_total{pool=\"web\",target=\"10.0.0.2:80\"} 1",
            "lbops_dataplane_target_requests_total{pool=\"web\",target=\"spare.internal:80\"} 0",
            "lbops_dataplane_target_in_flight{pool=\"web\",target=\"10.0.0.1:80\"} 0",
            "lbops_dataplane_target_in_flight{pool=\"web\",target=\"10.0.0.2:80\"} 1",
            "lbops_dataplane_target_in_flight{pool=\"web\",target=\"spare.internal:80\"} 0",
        ],
        "one series per served target; the draining one shares a label set"
    );
    assert!(text.contains("# TYPE lbops_dataplane_target_requests_total counter\n"));
    assert!(text.contains("# TYPE lbops_dataplane_config_version gauge\n"));
}

#[test]
fn observed_state_is_the_running_config_with_live_health() {
    use crate::model::Health;
    let snapshot = Snapshot::compile(config(7, 3), &Snapshot::default());
    snapshot.pools["web"].primaries[0].set_healthy(false);
    snapshot.pools["web"].backups[0].set_healthy(true);
    let (draining, _still_running) = draining_target();
    let observed = observe(&snapshot, std::slice::from_ref(&draining));
    assert_eq!(observed.version, 7);
    let pool = &observed.pools["web"];
    assert_eq!(pool.spec, config(7, 3).pools["web"]);
    let targets: Vec<_> = pool
        .targets
        .iter()
        .map(|t| (t.address.to_string(), t.weight, t.backup, t.health))
        .collect();
    assert_eq!(
        targets,
        [
            ("10.0.0.1:80".into(), 3, false, Health::Unhealthy),
            ("10.0.0.2:80".into(), 1, false, Health::Unknown),
            ("spare.internal:80".into(), 1, true, Health::Healthy),
            ("10.0.0.1:80".into(), 1, false, Health::Draining),
        ]
    );
    let state = RunningState::of(&snapshot, Vec::new(), &[draining]);
    let last = state.targets.last().unwrap();
    assert_eq!(
        (last.address.to_string(), last.draining, last.in_flight),
        ("10.0.0.1:80".into(), true, 1)
    );
}

#[test]
fn events_are_one_tagged_json_object() {
    let config = DataplaneEvent::Config { version: 3 };
    assert_eq!(
        serde_json::to_string(&config).unwrap(),
        r#"{"type":"config","version":3}"#
    );
    let health = DataplaneEvent::Health {
        pool: "web".parse().unwrap(),
        target: "10.0.0.1:80".parse().unwrap(),
        healthy: false,
    };
    let text = serde_json::to_string(&health).unwrap();
    assert_eq!(
        text,
        r#"{"type":"health","pool":"web","target":"10.0.0.1:80","healthy":false}"#
    );
    assert_eq!(
        serde_json::from_str::<DataplaneEvent>(&text).unwrap(),
        health
    );
}

/// Every error a client can see, with its status, for a person to review.
#[test]
fn error_responses_say_what_to_do() {
    let bind = ApplyError::Bind {
        address: "127.0.0.1:80".parse().unwrap(),
        source: io::Error::new(io::ErrorKind::AddrInUse, "Address already in use"),
    };
    let errors = [
        AdminError::MissingToken,
        AdminError::WrongToken,
        AdminError::NotFound,
        AdminError::MethodNotAllowed { allow: "GET" },
        AdminError::TooLarge { limit: 16 },
        AdminError::BodyTimeout,
        AdminError::BodyRead("connection reset".into()),
        AdminError::NotUtf8,
        AdminError::InvalidConfig(DataplaneConfig::parse("{\"versoin\": 1}").unwrap_err()),
        AdminError::Stale {
            offered: 3,
            running: 4,
        },
        AdminError::VersionConflict { version: 4 },
        AdminError::Apply(bind),
        AdminError::StaleEpoch {
            offered: 6,
            highest: 7,
        },
        AdminError::BadEpoch,
        AdminError::Persist {
            source: io::Error::other("disk full"),
            still_runs: false,
        },
        AdminError::Persist {
            source: io::Error::other("disk full"),
            still_runs: true,
        },
    ];
    let shown: Vec<String> = errors
        .iter()
        .map(|e| format!("{} {}", e.status().as_u16(), e))
        .collect();
    let expected = [
        "401 this endpoint needs a bearer token: send `Authorization: Bearer <token>`",
        "401 the bearer token is not valid: send the token whose SHA-256 this data plane was started with",
        "404 no such endpoint: the admin API serves /v1/config, /v1/state, /v1/events and /metrics",
        "405 method not allowed: this endpoint accepts GET",
        "413 the config is larger than 16 bytes",
        "408 the config body did not arrive in time: send it with its headers",
        "400 the config body could not be read: connection reset",
        "400 the config is not UTF-8 text: send it as JSON",
        "400 invalid config: 1:2: unknown field `versoin`; did you mean `version`?",
        "409 config version 3 is older than the running version 4: send a version above 4",
        "409 config version 4 already runs with different content: send the change under a version above 4",
        "422 config not applied: cannot listen on 127.0.0.1:80: Address already in use",
        "409 epoch 6 is older than epoch 7, which this data plane has accepted: a newer leader drives it, so this daemon no longer leads; nothing was changed. Check the leader election, and send changes through the current leader",
        "400 the `lbops-epoch` header is not an epoch: send a decimal number, or no header",
        "500 config not applied: it could not be saved to the state directory (see the data plane's log)",
        "500 config runs but could not be saved to the state directory, so a restart would not serve it: see the data plane's log, then send it again",
    ];
    assert_eq!(shown, expected);
    assert!(
        errors[14].detail().ends_with(": disk full"),
        "the log has the cause"
    );
    let codes: BTreeSet<&str> = errors.iter().map(AdminError::code).collect();
    assert_eq!(
        codes.len(),
        errors.len() - 1,
        "one code per kind of failure"
    );
}

#[tokio::test]
async fn a_stale_epoch_answer_names_both_epochs_and_a_code() {
    let error = AdminError::StaleEpoch {
        offered: 3,
        highest: 9,
    };
    let response = error.response();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "stale_epoch");
    assert_eq!(body["highest_epoch"], 9);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("epoch 3") && message.contains("epoch 9"),
        "{message}"
    );
}

#[test]
fn older_epochs_are_fenced_out_and_no_epoch_is_a_hand_change() {
    use epoch::{check, Fence};
    let cases = [
        (None, None, Some(Fence::Unfenced)),
        (Some(5), None, Some(Fence::Unfenced)),
        (None, Some(0), Some(Fence::Raise(0))),
        (None, Some(5), Some(Fence::Raise(5))),
        (Some(5), Some(5), Some(Fence::Holds)),
        (Some(5), Some(6), Some(Fence::Raise(6))),
        (Some(5), Some(4), None),
        (Some(5), Some(0), None),
    ];
    for (highest, offered, expected) in cases {
        let checked = check(highest, offered);
        assert_eq!(
            checked.as_ref().ok(),
            expected.as_ref(),
            "{highest:?} then {offered:?}: {checked:?}"
        );
    }
    assert!(matches!(
        check(Some(5), Some(4)),
        Err(AdminError::StaleEpoch {
            offered: 4,
            highest: 5
        })
    ));
}

#[test]
fn the_epoch_header_is_a_decimal_number() {
    let with = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(EPOCH_HEADER, value.parse().unwrap());
        epoch::offered(&headers)
    };
    assert_eq!(epoch::offered(&HeaderMap::new()).unwrap(), None);
    assert_eq!(with("42").unwrap(), Some(42));
    assert_eq!(with(" 7 ").unwrap(), Some(7));
    for bad in ["", "-1", "x", "1.5", "18446744073709551616"] {
        assert!(matches!(with(bad), Err(AdminError::BadEpoch)), "{bad:?}");
    }
}

#[tokio::test]
async fn the_fence_is_saved_whole_and_a_damaged_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(epoch::load(dir.path()).unwrap(), None);
    epoch::save(dir.path(), 41).await.unwrap();
    epoch::save(dir.path(), 42).await.unwrap();
    assert_eq!(epoch::load(dir.path()).unwrap(), Some(42));
    std::fs::write(dir.path().join(EPOCH_FILE), "forty-two").unwrap();
    let error = epoch::load(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("dataplane-epoch") && error.contains("does not hold an epoch"),
        "{error}"
    );
}

/// A `PUT` through a real admin server on loopback, with `epoch` as the
/// header when given; the status and the JSON answer.
async fn put_with_epoch(
    address: SocketAddr,
    config: &DataplaneConfig,
    epoch: Option<u64>,
) -> (u16, serde_json::Value) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut request = Request::builder()
        .method(Method::PUT)
        .uri(format!("http://{address}/v1/config"))
        .header("authorization", "Bearer fence-test-token");
    if let Some(epoch) = epoch {
        request = request.header(EPOCH_HEADER, epoch.to_string());
    }
    let request = request
        .body(Full::new(Bytes::from(config.to_json())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_refuses_an_older_epoch_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start = || async {
        let dataplane = Arc::new(Dataplane::with_workers(1).unwrap());
        let admin = AdminServer::start(
            dataplane.clone(),
            AdminConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                token_sha256: token_sha256("fence-test-token"),
                state_dir: dir.path().to_owned(),
            },
        )
        .await
        .unwrap();
        (dataplane, admin)
    };
    let (dataplane, admin) = start().await;
    let at = admin.local_addr();
    let (status, body) = put_with_epoch(at, &config(1, 1), Some(7)).await;
    assert_eq!(
        (status, &body["epoch"]),
        (200, &serde_json::json!(7)),
        "{body}"
    );
    let (status, body) = put_with_epoch(at, &config(2, 1), Some(7)).await;
    assert_eq!(status, 200, "the same leader again: {body}");
    let (status, body) = put_with_epoch(at, &config(3, 1), Some(6)).await;
    assert_eq!(
        (status, &body["code"]),
        (409, &serde_json::json!("stale_epoch")),
        "{body}"
    );
    let (status, body) = put_with_epoch(at, &config(2, 1), Some(6)).await;
    assert_eq!(status, 409, "not even an unchanged config: {body}");
    assert_eq!(dataplane.snapshot().config.version, 2, "nothing changed");
    let (status, body) = put_with_epoch(at, &config(3, 2), None).await;
    assert_eq!(status, 200, "a hand change has no epoch: {body}");
    assert!(body.get("epoch").is_none(), "{body}");
    admin.shutdown().await;
    dataplane.shutdown().await;

    let (dataplane, admin) = start().await;
    let at = admin.local_addr();
    let (status, body) = put_with_epoch(at, &config(4, 1), Some(6)).await;
    assert_eq!(status, 409, "the fence survives a restart: {body}");
    assert_eq!(body["highest_epoch"], 7);
    let (status, body) = put_with_epoch(at, &config(4, 1), Some(8)).await;
    assert_eq!(
        (status, &body["epoch"]),
        (200, &serde_json::json!(8)),
        "{body}"
    );
    assert_eq!(epoch::load(dir.path()).unwrap(), Some(8));
    admin.shutdown().await;
    dataplane.shutdown().await;
}
