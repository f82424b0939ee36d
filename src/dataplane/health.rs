//! Active health checks: one task per (pool, target) that probes on the
//! pool's interval and flips the target's health after the configured
//! number of consecutive results. Tasks follow config swaps: kept when the
//! check is unchanged (so counts and verdicts survive), restarted when it
//! changes, stopped when the target or pool goes away.

use super::pool::TargetState;
use super::runtime::Snapshot;
use crate::spec::kinds::pool::{HealthCheck, Probe};
use crate::spec::units::{Name, TargetAddr};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// A target changed health; published to whoever listens (admin events).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthEvent {
    pub pool: Name,
    pub target: TargetAddr,
    pub healthy: bool,
}

/// The most bytes of a health-check response that are read (the status
/// line is all that matters).
const MAX_PROBE_RESPONSE: usize = 1024;

/// The running checks of a data plane.
#[derive(Default)]
pub struct HealthCheckers {
    running: Mutex<HashMap<(Name, TargetAddr), Running>>,
}

struct Running {
    check: HealthCheck,
    target: Arc<TargetState>,
    task: JoinHandle<()>,
}

impl HealthCheckers {
    /// Starts, keeps, restarts or stops checks to match `snapshot`.
    pub fn sync(&self, snapshot: &Snapshot, events: &broadcast::Sender<HealthEvent>) {
        let mut wanted: HashMap<(Name, TargetAddr), (HealthCheck, Arc<TargetState>)> =
            HashMap::new();
        for (name, pool) in &snapshot.pools {
            let Some(check) = &pool.spec.health_check else {
                continue;
            };
            for target in pool.targets() {
                wanted.insert(
                    (name.clone(), target.address.clone()),
                    (check.value.clone(), target.clone()),
                );
            }
        }
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.retain(|key, r| {
            let keep = wanted
                .get(key)
                .is_some_and(|(check, target)| *check == r.check && Arc::ptr_eq(target, &r.target));
            if !keep {
                r.task.abort();
            }
            keep
        });
        for (key, (check, target)) in wanted {
            if running.contains_key(&key) {
                continue;
            }
            let task = tokio::spawn(run(
                key.0.clone(),
                check.clone(),
                target.clone(),
                events.clone(),
            ));
            running.insert(
                key,
                Running {
                    check,
                    target,
                    task,
                },
            );
        }
    }

    /// Stops every check.
    pub fn stop(&self) {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (_, r) in running.drain() {
            r.task.abort();
        }
    }
}

impl Drop for HealthCheckers {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn run(
    pool: Name,
    check: HealthCheck,
    target: Arc<TargetState>,
    events: broadcast::Sender<HealthEvent>,
) {
    let mut interval = tokio::time::interval(check.interval.value.0);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut successes, mut failures) = (0u32, 0u32);
    loop {
        interval.tick().await;
        let result =
            tokio::time::timeout(check.timeout.value.0, probe(&check.probe, &target.address))
                .await
                .unwrap_or(Err(ProbeFailure::TimedOut));
        let ok = result.is_ok();
        if ok {
            successes += 1;
            failures = 0;
        } else {
            failures += 1;
            successes = 0;
        }
        let verdict = if successes >= check.healthy_threshold.value {
            Some(true)
        } else if failures >= check.unhealthy_threshold.value {
            Some(false)
        } else {
            None
        };
        if let Some(healthy) = verdict {
            if target.set_healthy(healthy) {
                let why = match result {
                    Ok(()) => format!("{successes} check(s) passed"),
                    Err(failure) => format!("{failures} check(s) failed: {failure}"),
                };
                target.stats.transition(healthy, why);
                let _ = events.send(HealthEvent {
                    pool: pool.clone(),
                    target: target.address.clone(),
                    healthy,
                });
            }
        }
    }
}

/// Why a probe failed, as a target's health history says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProbeFailure {
    Connect,
    TimedOut,
    NoStatusLine,
    Status(u16),
}

impl std::fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeFailure::Connect => f.write_str("cannot connect"),
            ProbeFailure::TimedOut => f.write_str("no answer within the timeout"),
            ProbeFailure::NoStatusLine => f.write_str("no HTTP status line"),
            ProbeFailure::Status(code) => write!(f, "answered {code}, not an expected code"),
        }
    }
}

/// One probe: a TCP connect, or an HTTP/1.1 GET whose status must be one
/// of the expected codes.
async fn probe(probe: &Probe, address: &TargetAddr) -> Result<(), ProbeFailure> {
    let Ok(mut stream) = TcpStream::connect(address.to_string()).await else {
        return Err(ProbeFailure::Connect);
    };
    let http = match probe {
        Probe::Tcp => return Ok(()),
        Probe::Http(http) => http,
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: lbops-health-check\r\nConnection: close\r\n\r\n",
        http.path.value
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return Err(ProbeFailure::Connect);
    }
    let mut buf = vec![0u8; MAX_PROBE_RESPONSE];
    let mut read = 0;
    while read < buf.len() && !buf[..read].contains(&b'\n') {
        match stream.read(&mut buf[read..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    match status_code(&buf[..read]) {
        None => Err(ProbeFailure::NoStatusLine),
        Some(code) if http.expected_codes.iter().any(|c| c.value == code) => Ok(()),
        Some(code) => Err(ProbeFailure::Status(code)),
    }
}

/// The status code of an HTTP/1.x status line.
fn status_code(response: &[u8]) -> Option<u16> {
    let line = response.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        assert_eq!(status_code(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(status_code(b"HTTP/1.0 503 Down\r\nx: y"), Some(503));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
    }
}
