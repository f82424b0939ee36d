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
//! - [`RetryBudget`] bounds the retries in flight per pool, as Envoy's
//!   retry budget does, so that a dying pool cannot be flooded with them;
//! - [`RequestBody`] keeps the client's body replayable across attempts
//!   without copying it, and only as far as a replay may be needed.

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::HeaderMap;
use hyper::Method;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

pub use crate::spec::kinds::loadbalancer::MAX_RETRY_ATTEMPTS as MAX_RETRIES;

/// The most bytes of a request body kept in memory so that a request that
/// was sent can be sent again; a longer body is never retried after it was
/// sent.
pub const REPLAY_BODY_LIMIT: usize = 64 * 1024;
/// Retries in flight allowed per pool, as a share of its requests in flight
/// (Envoy's `budget_percent`).
pub const RETRY_BUDGET_PERCENT: usize = 20;
/// Retries in flight a pool allows however few requests it has (Envoy's
/// `min_retry_concurrency`, whose default of 3 is lower): a target that
/// dies fails every request it had and every one that picks it before it
/// is ejected, nearly at once, and on a pool with a few dozen requests in
/// flight 3 would turn some of those into 502s.
pub const MIN_RETRY_CONCURRENCY: usize = 10;

/// Whether a method may be sent twice with the effect of once (RFC 9110
/// §9.2.2).
#[must_use]
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
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

/// The retries in flight of one pool, kept across config swaps.
#[derive(Debug, Default)]
pub struct RetryBudget {
    in_flight: AtomicUsize,
}

impl RetryBudget {
    /// A place for one retry while `live` requests are in flight to the
    /// pool, or `None` when retries already take the pool's share.
    #[must_use]
    pub fn try_acquire(self: &Arc<Self>, live: usize) -> Option<RetryPermit> {
        let limit = budget(live);
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()?;
        Some(RetryPermit(self.clone()))
    }

    /// Retries in flight now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// How many retries may be in flight beside `live` requests.
#[must_use]
pub fn budget(live: usize) -> usize {
    (live.saturating_mul(RETRY_BUDGET_PERCENT) / 100).max(MIN_RETRY_CONCURRENCY)
}

/// A retry in flight; dropping it gives its place in the budget back.
#[derive(Debug)]
pub struct RetryPermit(Arc<RetryBudget>);

impl Drop for RetryPermit {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
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
