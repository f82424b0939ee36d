//! Who uses which token, in memory: per token id, the last call's time and
//! peer, how many calls it made and how many were refused. `/metrics`
//! exports the counts and times by token id (never the secret); the peer
//! is kept for the daemon's pages. Only ids of the trusted policy are
//! counted (a refused call names one only when its id is in the policy),
//! so a caller cannot grow this by inventing ids.

use crate::spec::material::api_token::TokenId;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One token's use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Use {
    /// Unix seconds and peer of the last call, answered or refused.
    pub last: Option<(i64, SocketAddr)>,
    pub calls: u64,
    pub refused: u64,
}

/// Every token's use, and the calls that named no token of the policy.
#[derive(Debug, Default)]
pub struct TokenUsage {
    by_token: Mutex<BTreeMap<TokenId, Use>>,
    anonymous_refused: AtomicU64,
}

impl TokenUsage {
    /// Counts one call of token `id` (`None`: no token of the policy) at
    /// `now` from `peer`, `refused` or not.
    pub fn record(&self, id: Option<&TokenId>, refused: bool, now: i64, peer: SocketAddr) {
        let Some(id) = id else {
            self.anonymous_refused.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut all = self
            .by_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = all.entry(id.clone()).or_default();
        entry.last = Some((now, peer));
        entry.calls += 1;
        if refused {
            entry.refused += 1;
        }
    }

    /// One token's use so far.
    #[must_use]
    pub fn of(&self, id: &TokenId) -> Use {
        self.by_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// Appends the Prometheus text exposition of the counts.
    pub fn render(&self, out: &mut String) {
        let all = self
            .by_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let _ = writeln!(
            out,
            "# HELP lbops_api_calls_total API calls by token id, answered or refused."
        );
        let _ = writeln!(out, "# TYPE lbops_api_calls_total counter");
        for (id, used) in &all {
            let _ = writeln!(
                out,
                "lbops_api_calls_total{{token=\"{id}\",result=\"ok\"}} {}",
                used.calls - used.refused
            );
            let _ = writeln!(
                out,
                "lbops_api_calls_total{{token=\"{id}\",result=\"refused\"}} {}",
                used.refused
            );
        }
        let _ = writeln!(out, "# HELP lbops_api_token_last_used_timestamp_seconds When each token was last presented (unix seconds).");
        let _ = writeln!(
            out,
            "# TYPE lbops_api_token_last_used_timestamp_seconds gauge"
        );
        for (id, used) in &all {
            if let Some((at, _)) = used.last {
                let _ = writeln!(
                    out,
                    "lbops_api_token_last_used_timestamp_seconds{{token=\"{id}\"}} {at}"
                );
            }
        }
        let _ = writeln!(out, "# HELP lbops_api_unauthenticated_total API calls refused without naming a token of the trusted policy.");
        let _ = writeln!(out, "# TYPE lbops_api_unauthenticated_total counter");
        let _ = writeln!(
            out,
            "lbops_api_unauthenticated_total {}",
            self.anonymous_refused.load(Ordering::Relaxed)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_token_and_renders_them_by_id() {
        let usage = TokenUsage::default();
        let id = TokenId::parse("abcdefghijkl").unwrap();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        usage.record(Some(&id), false, 100, peer);
        usage.record(Some(&id), true, 105, peer);
        usage.record(None, true, 106, peer);
        assert_eq!(
            usage.of(&id),
            Use {
                last: Some((105, peer)),
                calls: 2,
                refused: 1
            }
        );
        let mut text = String::new();
        usage.render(&mut text);
        for line in [
            "lbops_api_calls_total{token=\"abcdefghijkl\",result=\"ok\"} 1",
            "lbops_api_calls_total{token=\"abcdefghijkl\",result=\"refused\"} 1",
            "lbops_api_token_last_used_timestamp_seconds{token=\"abcdefghijkl\"} 105",
            "lbops_api_unauthenticated_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
    }
}
