//! Sending a request to another target when the first one failed it.
//!
//! A request that never reached its target (the connection was refused,
//! reset or timed out while connecting, or a kept-alive connection closed
//! before the request went out) is always retried on another target. One
//! that was sent and then lost (the target broke off before any byte of an
//! answer) is retried only when its method is idempotent, its route says
//! `retries`, and its body is still at hand. Nothing is retried once a
//! response has begun: the response head ends the attempts.
//!
//! Three parts, each small:
//! - [`Attempts`] decides, for one request, whether a failure may be
//!   retried (pure, no clock, no I/O);
//! - [`RetryBudget`] holds the retries of a pool to a share of its recent
//!   requests, so that a dead pool is not flooded with them;
//! - [`RequestBody`] keeps the client's body replayable across attempts
//!   without copying it, and only as far as a replay may be needed.

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::HeaderMap;
use hyper::Method;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

pub use crate::spec::kinds::loadbalancer::MAX_RETRY_ATTEMPTS as MAX_RETRIES;

/// The most bytes of a request body kept in memory so that a request that
/// was sent can be sent again; a longer body is never retried after it was
/// sent.
pub const REPLAY_BODY_LIMIT: usize = 64 * 1024;
/// Retries a pool allows, as a share of the requests it sent recently
/// (retries included), like Envoy's `budget_percent` and linkerd's
/// `retry_ratio`.
pub const RETRY_BUDGET_PERCENT: f64 = 20.0;
/// What "recently" means: requests and retries count with a weight that
/// falls by e every this long, so the budget follows the last seconds of
/// traffic, not the whole history.
pub const RETRY_BUDGET_WINDOW: Duration = Duration::from_secs(10);
/// Retries a pool allows recently however few requests it sent, so that
/// a quiet pool still retries (linkerd's `min_retries_per_second` over
/// its window; Envoy's `min_retry_concurrency`).
pub const MIN_RECENT_RETRIES: f64 = 10.0;

/// Whether a method may be sent twice with the effect of once (RFC 9110
/// §9.2.2).
#[must_use]
pub fn is_idempotent(method: &Method) -> bool {
    is_idempotent_method(method.as_str())
}

/// [`is_idempotent`] of a method as sent (methods are case-sensitive).
#[must_use]
pub fn is_idempotent_method(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "TRACE"
    )
}

/// How an attempt failed, as far as retrying is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Nothing of the request reached the target.
    NotSent,
    /// The request was (perhaps partly) sent, and the target broke off
    /// before answering.
    Sent,
}

impl Failure {
    /// What an upstream client error says about the request.
    #[must_use]
    pub fn of(error: &hyper_util::client::legacy::Error) -> Self {
        if error.is_connect() {
            return Self::NotSent;
        }
        // hyper cancels a request it never started writing (the
        // connection closed before its turn) and gives it back.
        let canceled = std::error::Error::source(error)
            .and_then(|source| source.downcast_ref::<hyper::Error>())
            .is_some_and(hyper::Error::is_canceled);
        if canceled {
            Self::NotSent
        } else {
            Self::Sent
        }
    }

    /// The `reason` label of the retries metric.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::NotSent => "connect-failure",
            Self::Sent => "reset",
        }
    }
}

/// Why a failed request is not retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// It was retried [`MAX_RETRIES`] times already.
    Exhausted,
    /// It was sent, and its route allows no (more) retries of sent
    /// requests, or its method is not idempotent.
    NotRetryable,
    /// It was sent and its body is gone: too long to keep, or not kept.
    BodyGone,
}

/// The retries one request has left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempts {
    retries: u32,
    after_send: u32,
}

impl Attempts {
    /// For a request that may be retried `after_send` times after it was
    /// sent (0 unless its route allows it and its method is idempotent).
    #[must_use]
    pub fn new(after_send: u32) -> Self {
        Self {
            retries: 0,
            after_send,
        }
    }

    /// Whether the request may go to another target after `failure`, with
    /// its body still `replayable`; counts the retry when it may.
    pub fn retry(&mut self, failure: Failure, replayable: bool) -> Result<(), GiveUp> {
        match (self.retries < MAX_RETRIES, failure, replayable) {
            (false, _, _) => Err(GiveUp::Exhausted),
            (true, _, false) => Err(GiveUp::BodyGone),
            (true, Failure::Sent, true) if self.after_send == 0 => Err(GiveUp::NotRetryable),
            (true, Failure::Sent, true) => {
                self.after_send -= 1;
                self.retries += 1;
                Ok(())
            }
            (true, Failure::NotSent, true) => {
                self.retries += 1;
                Ok(())
            }
        }
    }
}

/// The retries of one pool, kept across config swaps: at most
/// [`RETRY_BUDGET_PERCENT`] of its recent requests plus
/// [`MIN_RECENT_RETRIES`]. A target that dies fails a third of a
/// three-target pool's requests in flight at once; a budget of retries
/// *in flight* (Envoy's) turns most of those into 502s, while one of
/// recent requests takes the burst, and still keeps a dead pool from
/// seeing more than about 1.25 attempts per client request (retries are
/// requests too, so 20% of all is 25% of the clients').
///
/// Only the failure path touches it: the requests a pool sent are read
/// from its targets' counters, which the request path keeps anyway.
#[derive(Debug)]
pub struct RetryBudget {
    recent: Mutex<Recent>,
}

/// The budget has no room for another retry now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetExhausted;

impl RetryBudget {
    /// A budget that starts counting at `now_ms`, when the pool's targets
    /// have sent `requests` requests in all.
    #[must_use]
    pub fn new(now_ms: u64, requests: u64) -> Self {
        Self {
            recent: Mutex::new(Recent::new(now_ms, requests)),
        }
    }

    /// Takes one retry from the budget at `now_ms`, when the pool's
    /// targets have sent `requests` requests in all.
    pub fn admit(&self, now_ms: u64, requests: u64) -> Result<(), BudgetExhausted> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(now_ms, requests)
    }
}

/// Requests and retries of the recent past, each weighted by
/// `e^(-age / window)`: about what the last window saw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recent {
    at_ms: u64,
    /// The pool's request counter at `at_ms`.
    seen: u64,
    requests: f64,
    retries: f64,
}

impl Recent {
    #[must_use]
    pub fn new(now_ms: u64, requests: u64) -> Self {
        Self {
            at_ms: now_ms,
            seen: requests,
            requests: 0.0,
            retries: 0.0,
        }
    }

    /// Brings the weights to `now_ms`. The requests sent since the last
    /// look are taken as sent at an even rate over the gap, which after a
    /// long quiet spell is the pool's average rate, not nothing.
    fn advance(&mut self, now_ms: u64, requests: u64) {
        let window = RETRY_BUDGET_WINDOW.as_secs_f64();
        let gap = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0 / window;
        let decay = (-gap).exp();
        let spread = if gap > 1e-9 { (1.0 - decay) / gap } else { 1.0 };
        let new = requests.saturating_sub(self.seen) as f64;
        self.requests = self.requests * decay + new * spread;
        self.retries *= decay;
        self.at_ms = self.at_ms.max(now_ms);
        self.seen = requests;
    }

    /// Takes one retry, or says there is no room for it.
    pub fn admit(&mut self, now_ms: u64, requests: u64) -> Result<(), BudgetExhausted> {
        self.advance(now_ms, requests);
        let allowed = self.requests * RETRY_BUDGET_PERCENT / 100.0 + MIN_RECENT_RETRIES;
        if self.retries + 1.0 > allowed {
            return Err(BudgetExhausted);
        }
        self.retries += 1.0;
        Ok(())
    }
}

/// A request's body as the proxy holds it while it tries targets (`B`
/// is hyper's `Incoming`, or a test's body).
pub enum RequestBody<B = Incoming> {
    /// No body: any attempt may send the same nothing.
    Empty,
    /// A body sent once, to the only target there is.
    Once(Option<B>),
    /// A body shared by the attempts in turn.
    Shared(Arc<Mutex<Replay<B>>>),
}

impl<B: Body<Data = Bytes> + Unpin> RequestBody<B> {
    /// Holds `body` for attempts: `retry_targets` when the request may go
    /// to another target at all, `keep` when it may be sent again after it
    /// was sent (then up to [`REPLAY_BODY_LIMIT`] bytes are kept).
    #[must_use]
    pub fn new(body: B, retry_targets: bool, keep: bool) -> Self {
        if body.is_end_stream() {
            return Self::Empty;
        }
        if !retry_targets {
            return Self::Once(Some(body));
        }
        let hint = body.size_hint();
        let keep_limit = match hint.upper() {
            // Known too long: keep nothing rather than part of it.
            Some(upper) if upper > REPLAY_BODY_LIMIT as u64 => 0,
            _ if keep => REPLAY_BODY_LIMIT,
            _ => 0,
        };
        Self::Shared(Arc::new(Mutex::new(Replay {
            current: 0,
            rest: Some(body),
            kept: Vec::new(),
            kept_bytes: 0,
            keep_limit,
            trailers: None,
            lost: false,
            hint,
        })))
    }

    /// The body for the next attempt; an earlier attempt's body stops
    /// yielding anything.
    #[must_use]
    pub fn attempt(&mut self) -> UpstreamBody<B> {
        match self {
            Self::Empty => UpstreamBody::Empty,
            Self::Once(body) => body.take().map_or(UpstreamBody::Empty, UpstreamBody::Once),
            Self::Shared(shared) => {
                let (attempt, hint) = {
                    let mut replay = shared.lock().unwrap_or_else(PoisonError::into_inner);
                    replay.current += 1;
                    (replay.current, replay.hint)
                };
                UpstreamBody::Replay(ReplayBody {
                    shared: shared.clone(),
                    attempt,
                    next: 0,
                    trailers_sent: false,
                    hint,
                })
            }
        }
    }

    /// Whether another attempt would send the whole body: nothing of it
    /// was handed to an attempt, or everything handed over was kept.
    #[must_use]
    pub fn replayable(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Once(body) => body.is_some(),
            Self::Shared(shared) => !shared.lock().unwrap_or_else(PoisonError::into_inner).lost,
        }
    }
}

/// The client's body between attempts.
pub struct Replay<B> {
    /// The attempt allowed to read; older attempts' bodies are cut off.
    current: u32,
    /// What the client has not sent on yet; `None` once it ended.
    rest: Option<B>,
    /// The data handed to attempts so far, while it all fits in
    /// `keep_limit`.
    kept: Vec<Bytes>,
    kept_bytes: usize,
    keep_limit: usize,
    trailers: Option<HeaderMap>,
    /// Data was handed to an attempt and not kept: no replay possible.
    lost: bool,
    hint: SizeHint,
}

impl<B> Replay<B> {
    fn keep(&mut self, data: &Bytes) {
        if self.lost {
            return;
        }
        if self.kept_bytes + data.len() > self.keep_limit {
            self.lost = true;
            self.kept = Vec::new();
            self.kept_bytes = 0;
            return;
        }
        self.kept_bytes += data.len();
        self.kept.push(data.clone());
    }

    fn keep_trailers(&mut self, trailers: &HeaderMap) {
        if self.keep_limit == 0 {
            self.lost = true;
        }
        if !self.lost {
            self.trailers = Some(trailers.clone());
        }
    }
}

/// What the upstream client sends as a request body.
pub enum UpstreamBody<B = Incoming> {
    Empty,
    Once(B),
    Replay(ReplayBody<B>),
}

/// Errors of a body sent upstream.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A later attempt took the body over.
#[derive(Debug, thiserror::Error)]
#[error("the request body was handed to another attempt")]
struct Superseded;

/// One attempt's view of a [`Replay`]: the kept data first, then the rest
/// as the client sends it.
pub struct ReplayBody<B> {
    shared: Arc<Mutex<Replay<B>>>,
    attempt: u32,
    /// The next kept frame to send.
    next: usize,
    trailers_sent: bool,
    hint: SizeHint,
}

impl<B> Body for UpstreamBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BodyError>,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Once(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(Into::into))),
            Self::Replay(replay) => replay.poll(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Once(body) => body.is_end_stream(),
            Self::Replay(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Once(body) => body.size_hint(),
            Self::Replay(replay) => replay.hint,
        }
    }
}

impl<B> ReplayBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BodyError>,
{
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let mut replay = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if replay.current != self.attempt {
            return Poll::Ready(Some(Err(Box::new(Superseded))));
        }
        if let Some(data) = replay.kept.get(self.next) {
            self.next += 1;
            return Poll::Ready(Some(Ok(Frame::data(data.clone()))));
        }
        if let Some(rest) = replay.rest.as_mut() {
            match Pin::new(rest).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => replay.rest = None,
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        replay.keep(data);
                        self.next = replay.kept.len();
                    } else if let Some(trailers) = frame.trailers_ref() {
                        replay.keep_trailers(trailers);
                        self.trailers_sent = true;
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Poll::Ready(Some(Err(e))) => {
                    // The client broke off its own body: nothing to replay.
                    replay.lost = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
            }
        }
        // The client's body ended; an attempt that replayed it still owes
        // the trailers it had.
        if self.trailers_sent {
            return Poll::Ready(None);
        }
        self.trailers_sent = true;
        Poll::Ready(replay.trailers.clone().map(|t| Ok(Frame::trailers(t))))
    }
}

#[cfg(test)]
mod tests;
