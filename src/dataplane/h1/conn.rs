//! One client connection on the fast path: read a head, route it, send it
//! to a target over a kept-alive connection, copy the answer back, and
//! again — all in the connection's own task, with three buffers reused
//! for its whole life. No channel, no second task, no per-request boxing:
//! the work per request is the four reads and writes it takes and the
//! parsing of two heads.

use super::chunked::Chunked;
use super::head::{self, Forwarding, Framing, Parsed, RequestHead};
use super::prefixed::Prefixed;
use super::upstream::{self, UpstreamConns};
use crate::dataplane::accept::{Closing, Expecting, ReadReady};
use crate::dataplane::limits::ListenerConnections;
use crate::dataplane::pool::{InFlight, PoolState, TargetState};
use crate::dataplane::proxy::{self, NoRetry, RequestIds, Retry};
use crate::dataplane::retry::{is_idempotent_method, Attempts, Failure, REPLAY_BODY_LIMIT};
use crate::dataplane::routing::Routed;
use crate::dataplane::runtime::Snapshot;
use crate::dataplane::stats::RequestStats;
use crate::spec::kinds::loadbalancer::Action;
use arc_swap::ArcSwap;
use bytes::{Buf, BytesMut};
use std::borrow::Cow;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The most bytes of request line and headers a client may send; a
/// longer head goes to hyper, which refuses it.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// What a connection's read buffers start with; they grow to what a
/// message needs. Most heads are well under 1 KiB.
const BUFFER_BYTES: usize = 4 * 1024;
/// What the head buffers start with, so that a typical head is written
/// without growing them step by step.
const HEAD_BYTES: usize = 1024;
/// How much a body copy reads at once.
const COPY_BYTES: usize = 32 * 1024;

/// What the fast path needs of the data plane for one connection.
pub struct Serving<'a> {
    pub snapshot: &'a ArcSwap<Snapshot>,
    pub local: SocketAddr,
    pub client: SocketAddr,
    /// `client`'s address as text, for `X-Forwarded-For`.
    pub client_ip: head::IpText,
    pub tls: bool,
    pub upstreams: &'a UpstreamConns,
    pub request_ids: &'a RequestIds,
    pub stats: &'a RequestStats,
    /// The listener's idle timeout: between requests, and for a stalled
    /// request body.
    pub idle: Duration,
    /// When the first request head must have arrived.
    pub first_head_by: Instant,
    pub connections: &'a ListenerConnections,
}

/// How serving a connection ended.
pub enum Ended<S> {
    Closed,
    /// Something the fast path does not serve came: hyper serves the
    /// connection from this request on. `served` says whether requests
    /// came before it.
    HandOver {
        stream: Prefixed<S>,
        served: bool,
    },
}

/// The reusable buffers of a connection. Dropped, they go back to their
/// worker's spares for the next connection (unless they grew for a large
/// message): a new connection costs no allocation for them.
#[derive(Default)]
struct Buffers {
    /// What the client sent and was not handled yet.
    client: BytesMut,
    /// What a target sent.
    upstream: BytesMut,
    /// The head sent upstream, kept for a retry.
    request: Vec<u8>,
    /// What is written next (to either side).
    out: Vec<u8>,
}

/// How many connections' buffers a worker keeps spare, at most (about
/// 0.7 MiB).
const SPARE_BUFFERS: usize = 64;

thread_local! {
    /// Buffers of this worker's connections that ended.
    static SPARE: std::cell::RefCell<Vec<Buffers>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Buffers {
    /// A spare set of this worker's, or a new one.
    fn take() -> Self {
        SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_else(|| Self {
                client: BytesMut::with_capacity(BUFFER_BYTES),
                upstream: BytesMut::new(),
                request: Vec::with_capacity(HEAD_BYTES),
                out: Vec::with_capacity(2 * HEAD_BYTES),
            })
    }

    /// Whether the buffers are the size [`Self::take`] makes, or little
    /// more: worth keeping spare.
    fn small(&self) -> bool {
        self.client.capacity() <= 2 * BUFFER_BYTES
            && self.upstream.capacity() <= 2 * BUFFER_BYTES
            && self.request.capacity() <= 4 * HEAD_BYTES
            && self.out.capacity() <= 8 * HEAD_BYTES
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // An emptied set (taken below, or handed over) has nothing to keep.
        if self.client.capacity() == 0 || !self.small() {
            return;
        }
        // The thread's spares may be gone already (it is exiting): then
        // the buffers are freed.
        let _ = SPARE.try_with(|list| {
            let Ok(mut list) = list.try_borrow_mut() else {
                return;
            };
            if list.len() < SPARE_BUFFERS {
                let mut spare = std::mem::take(self);
                spare.client.clear();
                spare.upstream.clear();
                spare.request.clear();
                spare.out.clear();
                list.push(spare);
            }
        });
    }
}

/// Serves HTTP/1.1 requests on `client` until it closes, times out, or
/// sends something for hyper.
pub async fn serve<S>(ctx: &Serving<'_>, mut client: S) -> Ended<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Closing + ReadReady,
{
    let mut buffers = Buffers::take();
    let mut served = false;
    // The config version is looked at per request without touching its
    // reference count (shared by every connection of every worker).
    let mut snapshots = arc_swap::Cache::new(ctx.snapshot);
    // One timer, set for the first head and pushed on only when it fires
    // (to when the connection would have been idle long enough): a busy
    // connection moves no timer per request.
    let wake = tokio::time::sleep_until(ctx.first_head_by);
    tokio::pin!(wake);
    let mut idle_since: Option<Instant> = None;
    loop {
        let expecting = if served {
            Expecting::NextRequest
        } else {
            Expecting::FirstRequest
        };
        let started = match read_head(&mut client, &mut buffers, wake.as_mut(), expecting).await {
            HeadRead::Complete => std::time::Instant::now(),
            HeadRead::TooLong => {
                return Ended::HandOver {
                    stream: Prefixed::new(std::mem::take(&mut buffers.client), client),
                    served,
                }
            }
            HeadRead::TimedOut => {
                if let Some(since) = idle_since.filter(|s| *s + ctx.idle > Instant::now()) {
                    wake.as_mut().reset(since + ctx.idle);
                    continue;
                }
                if !served {
                    ctx.connections.head_timed_out();
                }
                return Ended::Closed;
            }
            HeadRead::Closed => return Ended::Closed,
        };
        let snapshot = snapshots.load();
        let next = {
            let mut slots = head::header_slots();
            let parsed = head::parse_request(&buffers.client, &mut slots);
            if let Parsed::NotFast(why) = parsed {
                tracing::trace!(client = %ctx.client, why, "handed to hyper");
            }
            match parsed {
                Parsed::Complete(request) => plan(
                    ctx,
                    snapshot,
                    &request,
                    &mut buffers.out,
                    &mut buffers.request,
                ),
                // read_head saw a complete head, so this is NotFast.
                Parsed::Partial | Parsed::NotFast(_) => {
                    return Ended::HandOver {
                        stream: Prefixed::new(std::mem::take(&mut buffers.client), client),
                        served,
                    }
                }
            }
        };
        served = true;
        let keep = match next {
            Plan::Respond {
                status,
                close,
                head_len,
            } => {
                ctx.stats.record(status, started.elapsed());
                if close {
                    client.will_close();
                }
                let written =
                    client.write_all(&buffers.out).await.is_ok() && client.flush().await.is_ok();
                buffers.client.advance(head_len);
                written && !close
            }
            Plan::Forward(forward) => {
                let exchange = Exchange {
                    ctx,
                    plan: &forward,
                    started,
                };
                exchange.run(&mut client, &mut buffers).await
            }
        };
        if !keep {
            // TLS says goodbye (close_notify). Over plain TCP, a close with
            // nothing unread sends FIN after the answer; only bytes the
            // client sent past this request would turn it into a reset
            // that could cut the answer, so then half-close first.
            if ctx.tls || !buffers.client.is_empty() {
                let _ = client.shutdown().await;
            }
            return Ended::Closed;
        }
        idle_since = Some(Instant::now());
    }
}

enum HeadRead {
    Complete,
    TooLong,
    TimedOut,
    Closed,
}

/// Reads until `buffers.client` holds a whole head (a blank line ends
/// it), by `wake`. Looks for the blank line only in new bytes, so a head
/// trickled in costs time linear in its length. While nothing has come,
/// the buffers wait among the worker's spares: an idle connection holds
/// none.
async fn read_head<S>(
    client: &mut S,
    buffers: &mut Buffers,
    mut wake: std::pin::Pin<&mut tokio::time::Sleep>,
    expecting: Expecting,
) -> HeadRead
where
    S: AsyncRead + Unpin + ReadReady,
{
    if buffers.client.is_empty() {
        match wait_readable(client, buffers, wake.as_mut(), expecting).await {
            Ok(()) => {}
            Err(ended) => return ended,
        }
    }
    let buf = &mut buffers.client;
    let mut scanned = 0;
    loop {
        if let Some(end) = blank_line(buf, scanned) {
            // Blank lines before a request line are allowed (RFC 9112
            // §2.2): skip them and look on. Only a buffer that starts
            // with one needs the parse to tell (the caller parses again).
            if !buf.starts_with(b"\r") && !buf.starts_with(b"\n") {
                return HeadRead::Complete;
            }
            let mut slots = head::header_slots();
            if !matches!(head::parse_request(buf, &mut slots), Parsed::Partial) {
                return HeadRead::Complete;
            }
            scanned = end;
        } else {
            scanned = buf.len();
        }
        if buf.len() >= MAX_HEAD_BYTES {
            return HeadRead::TooLong;
        }
        buf.reserve(BUFFER_BYTES / 2);
        tokio::select! {
            biased;
            read = client.read_buf(buf) => match read {
                Ok(0) | Err(_) => return HeadRead::Closed,
                Ok(_) => {}
            },
            () = wake.as_mut() => return HeadRead::TimedOut,
        }
    }
}

/// Waits until the client may have sent something, by `wake`; if it has
/// to wait, `buffers` go back to the worker's spares meanwhile and fresh
/// ones (likely the same) are taken after.
async fn wait_readable<S>(
    client: &mut S,
    buffers: &mut Buffers,
    mut wake: std::pin::Pin<&mut tokio::time::Sleep>,
    expecting: Expecting,
) -> Result<(), HeadRead>
where
    S: ReadReady,
{
    let mut released = false;
    let waited = std::future::poll_fn(|cx| {
        if let Poll::Ready(ready) = client.poll_read_ready(cx, expecting) {
            return Poll::Ready(ready.map_err(|_| HeadRead::Closed));
        }
        if !released {
            drop(std::mem::take(buffers));
            released = true;
        }
        match wake.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(HeadRead::TimedOut)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await;
    if released {
        *buffers = Buffers::take();
    }
    waited
}

/// Where the first blank line (CRLF CRLF or LF LF) after `from` ends.
fn blank_line(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let rest = &buf[start..];
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'\n', &rest[at..]) {
        let lf = at + i;
        let before = &rest[..lf];
        if before.ends_with(b"\n") || before.ends_with(b"\n\r") {
            return Some(start + lf + 1);
        }
        at = lf + 1;
    }
    None
}

/// What to do with a request, decided from its head alone.
enum Plan<'s> {
    /// Send the response in `out` (made here); close after it when
    /// `close`.
    Respond {
        status: u16,
        close: bool,
        head_len: usize,
    },
    Forward(ForwardPlan<'s>),
}

/// A request to send to a pool of the snapshot it was routed in; its
/// head for upstream is in `Buffers::request`.
struct ForwardPlan<'s> {
    pool: &'s PoolState,
    key: Option<Vec<u8>>,
    head_len: usize,
    framing: Framing,
    close: bool,
    to_head: bool,
    /// Retries allowed after the request was sent.
    after_send: u32,
    request_id: Vec<u8>,
}

fn plan<'s>(
    ctx: &Serving<'_>,
    snapshot: &'s Snapshot,
    request: &RequestHead<'_>,
    out: &mut Vec<u8>,
    upstream_head: &mut Vec<u8>,
) -> Plan<'s> {
    out.clear();
    // A body the client sends to a response made here is not read: the
    // connection closes after the response instead.
    let close = request.close || request.framing != Framing::Empty;
    let mut respond = |status: u16, content_type: &str, body: &str, location: Option<&str>| {
        head::write_local_response(out, status, content_type, location, body.as_bytes(), close);
        Plan::Respond {
            status,
            close,
            head_len: request.len,
        }
    };
    const TEXT: &str = "text/plain; charset=utf-8";
    let Some(listener) = snapshot.listeners.get(&ctx.local) else {
        return respond(503, TEXT, "this listener was removed\n", None);
    };
    let host = request.host();
    let lookup = |name: &str| request.header(name);
    let route_head = crate::dataplane::routing::RequestHead {
        method: request.method,
        host: &host,
        path: request.path(),
        header: &lookup,
    };
    let Some(Routed {
        action,
        retries_after_send,
    }) = listener.router.route(&route_head)
    else {
        return respond(404, TEXT, "no route matches this request\n", None);
    };
    let forward = match action {
        Action::FixedResponse(fixed) => {
            return respond(fixed.status.value, &fixed.content_type, &fixed.body, None);
        }
        Action::Redirect(redirect) => {
            let location =
                proxy::redirect_location(redirect, &host, request.path(), request.query());
            return match hyper::header::HeaderValue::from_str(&location) {
                Ok(_) => respond(redirect.status.value, TEXT, "", Some(&location)),
                Err(_) => respond(400, TEXT, "cannot redirect this request\n", None),
            };
        }
        Action::Forward(forward) => forward,
    };
    let Some(pool) = proxy::choose_pool_here(snapshot, listener, forward) else {
        return respond(503, TEXT, "no pool can take this request\n", None);
    };
    let key = proxy::hash_key(
        &pool.spec.algorithm,
        |name| request.header_value(name),
        ctx.client,
    );
    upstream_head.clear();
    let new_id = ctx.request_ids.next_bytes();
    let request_id = head::write_upstream_request(
        upstream_head,
        request,
        &Forwarding {
            client_ip: ctx.client_ip.as_str(),
            proto: if ctx.tls { "https" } else { "http" },
            host: &host,
            new_request_id: &new_id,
        },
    );
    let after_send = if is_idempotent_method(request.method) {
        retries_after_send
    } else {
        0
    };
    Plan::Forward(ForwardPlan {
        pool,
        key,
        head_len: request.len,
        framing: request.framing,
        close: request.close,
        to_head: request.method == "HEAD",
        after_send,
        request_id,
    })
}

/// One request forwarded: its attempts, and the response copied back.
struct Exchange<'a, 'c, 's> {
    ctx: &'a Serving<'c>,
    plan: &'a ForwardPlan<'s>,
    started: std::time::Instant,
}

/// How one attempt at a target went.
enum Attempt {
    /// The response was sent; the client connection may go on.
    Answered { keep_client: bool },
    /// The target failed the request before any of a response came.
    Failed {
        failure: Failure,
        /// The client's body was (partly) read and sent: it cannot be
        /// sent again, and the client connection is out of step.
        body_spent: bool,
    },
    /// The exchange broke off midway (a response had begun, or the client
    /// went away): close the client connection.
    Broken,
}

impl Exchange<'_, '_, '_> {
    /// Runs the attempts; whether the client connection goes on.
    async fn run<S>(&self, client: &mut S, buffers: &mut Buffers) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin + Closing,
    {
        let plan = self.plan;
        let ctx = self.ctx;
        let body_len = match plan.framing {
            Framing::Length(n) if n <= REPLAY_BODY_LIMIT as u64 => Some(n as usize),
            Framing::Empty => Some(0),
            _ => None,
        };
        // A short body is read whole first: it goes out with the head in
        // one write, and is at hand for a retry.
        if let Some(n) = body_len {
            let whole = plan.head_len + n;
            while buffers.client.len() < whole {
                buffers.client.reserve(whole - buffers.client.len());
                let read = tokio::time::timeout(ctx.idle, client.read_buf(&mut buffers.client));
                match read.await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return false,
                }
            }
        }
        // Borrowed from the pool: a retry, rare, owns the next one.
        let Some(first) = plan.pool.pick_here(plan.key.as_deref(), self.started) else {
            let close = body_len.is_none();
            return self
                .respond(client, buffers, 503, "no healthy target\n", close)
                .await;
        };
        let mut target = Cow::Borrowed(first);
        let mut attempts = Attempts::new(plan.after_send);
        let mut tried: Vec<Arc<TargetState>> = Vec::new();
        loop {
            let outcome = self.attempt(client, buffers, &target, body_len).await;
            let (failure, body_spent) = match outcome {
                Attempt::Answered { keep_client } => return keep_client,
                Attempt::Broken => return false,
                Attempt::Failed {
                    failure,
                    body_spent,
                } => (failure, body_spent),
            };
            target.record_outcome(false);
            ctx.stats.upstream_error();
            tried.push(target.into_owned());
            let retry = Retry {
                pool: plan.pool,
                key: plan.key.as_deref(),
                tried: &tried,
            };
            let replayable = !body_spent;
            match retry.after(failure, &mut attempts, replayable) {
                Ok(next) => {
                    ctx.stats.retry(failure);
                    target = Cow::Owned(next);
                }
                Err(why) => {
                    if matches!(why, NoRetry::BudgetExhausted) {
                        ctx.stats.retry_budget_exhausted();
                    }
                    let close = body_spent || body_len.is_none();
                    return self
                        .respond(
                            client,
                            buffers,
                            502,
                            "the upstream target did not answer\n",
                            close,
                        )
                        .await;
                }
            }
        }
    }

    /// Answers the client from here; the request's body, unread, closes
    /// the connection when `close`.
    async fn respond<S>(
        &self,
        client: &mut S,
        buffers: &mut Buffers,
        status: u16,
        body: &str,
        close: bool,
    ) -> bool
    where
        S: AsyncWrite + Unpin + Closing,
    {
        let close = close || self.plan.close;
        buffers.out.clear();
        head::write_local_response(
            &mut buffers.out,
            status,
            "text/plain; charset=utf-8",
            None,
            body.as_bytes(),
            close,
        );
        self.ctx.stats.record(status, self.started.elapsed());
        if close {
            client.will_close();
        }
        let written = client.write_all(&buffers.out).await.is_ok() && client.flush().await.is_ok();
        if !close {
            let consumed = self.plan.head_len + body_len_of(self.plan.framing);
            buffers.client.advance(consumed.min(buffers.client.len()));
        }
        written && !close
    }

    /// Sends the request to `target` and the response back.
    async fn attempt<S>(
        &self,
        client: &mut S,
        buffers: &mut Buffers,
        target: &Arc<TargetState>,
        body_len: Option<usize>,
    ) -> Attempt
    where
        S: AsyncRead + AsyncWrite + Unpin + Closing,
    {
        let plan = self.plan;
        let in_flight = target.start_request_here();
        let mut upstream = match self.ctx.upstreams.take(&target.address, in_flight.since()) {
            Some(stream) => stream,
            None => match upstream::connect(&target.address, upstream::CONNECT_TIMEOUT).await {
                Ok(stream) => stream,
                Err(_) => {
                    in_flight.answered(502);
                    return Attempt::Failed {
                        failure: Failure::NotSent,
                        body_spent: false,
                    };
                }
            },
        };
        // The head, and the body when it is all here.
        buffers.out.clear();
        buffers.out.extend_from_slice(&buffers.request);
        let body_spent = match body_len {
            Some(n) => {
                buffers
                    .out
                    .extend_from_slice(&buffers.client[plan.head_len..plan.head_len + n]);
                if let Err(sent) = send(&mut upstream, &buffers.out).await {
                    in_flight.answered(502);
                    return Attempt::Failed {
                        failure: sent,
                        body_spent: false,
                    };
                }
                false
            }
            None => {
                if let Err(sent) = send(&mut upstream, &buffers.out).await {
                    in_flight.answered(502);
                    return Attempt::Failed {
                        failure: sent,
                        body_spent: false,
                    };
                }
                buffers.client.advance(plan.head_len);
                if stream_body(client, &mut upstream, buffers, plan.framing, self.ctx.idle)
                    .await
                    .is_err()
                {
                    in_flight.answered(502);
                    return Attempt::Failed {
                        failure: Failure::Sent,
                        body_spent: true,
                    };
                }
                true
            }
        };
        // The response head.
        buffers.upstream.clear();
        let response = loop {
            let parsed = {
                let mut slots = head::header_slots();
                match head::parse_response(&buffers.upstream, &mut slots, plan.to_head) {
                    Ok(Some(response)) if (100..200).contains(&response.status) => {
                        Ok(Some(Err(response.len)))
                    }
                    Ok(Some(response)) => {
                        buffers.out.clear();
                        let keep_client = !plan.close && !response.close;
                        head::write_client_response(
                            &mut buffers.out,
                            &response,
                            &plan.request_id,
                            !keep_client,
                        );
                        Ok(Some(Ok(ResponseSummary {
                            len: response.len,
                            status: response.status,
                            framing: response.framing,
                            reusable: !response.close,
                            keep_client,
                        })))
                    }
                    Ok(None) => Ok(None),
                    Err(bad) => Err(bad),
                }
            };
            match parsed {
                Ok(Some(Ok(summary))) => break summary,
                // An interim answer (100 Continue, 103 Early Hints): the
                // final one follows.
                Ok(Some(Err(interim))) => {
                    buffers.upstream.advance(interim);
                    continue;
                }
                Ok(None) if buffers.upstream.len() < MAX_HEAD_BYTES => {}
                Ok(None) | Err(_) => {
                    return self.bad_answer(client, buffers, target, &in_flight).await;
                }
            }
            buffers.upstream.reserve(BUFFER_BYTES);
            let read = tokio::select! {
                // The read first: while the answer is there at once, the
                // cut is never waited on.
                biased;
                read = upstream.read_buf(&mut buffers.upstream) => read,
                () = target.cut_off() => return self.cut(client, buffers, &in_flight).await,
            };
            match read {
                Ok(n) if n > 0 => {}
                _ if buffers.upstream.is_empty() => {
                    in_flight.answered(502);
                    return Attempt::Failed {
                        failure: Failure::Sent,
                        body_spent,
                    };
                }
                // It broke off inside its answer: nothing to retry.
                _ => return self.bad_answer(client, buffers, target, &in_flight).await,
            }
        };
        target.record_outcome(response.status < 500);
        let head_at = std::time::Instant::now();
        in_flight.answered_at(response.status, head_at);
        self.ctx.stats.record(
            response.status,
            head_at.saturating_duration_since(self.started),
        );
        buffers.upstream.advance(response.len);
        let ended = copy_response(
            client,
            &mut upstream,
            buffers,
            response.framing,
            !response.keep_client,
            target,
        )
        .await;
        drop(in_flight);
        match ended {
            Ok(clean) => {
                if clean && response.reusable && buffers.upstream.is_empty() {
                    self.ctx.upstreams.give_back(&target.address, upstream);
                }
                if !body_spent {
                    buffers
                        .client
                        .advance(plan.head_len + body_len.unwrap_or_default());
                }
                Attempt::Answered {
                    keep_client: response.keep_client,
                }
            }
            Err(()) => Attempt::Broken,
        }
    }

    /// The target began an answer it did not finish, or one that cannot
    /// be forwarded: a 502, and no retry (an answer had begun).
    async fn bad_answer<S>(
        &self,
        client: &mut S,
        buffers: &mut Buffers,
        target: &TargetState,
        in_flight: &InFlight<&TargetState>,
    ) -> Attempt
    where
        S: AsyncWrite + Unpin + Closing,
    {
        in_flight.answered(502);
        target.record_outcome(false);
        self.ctx.stats.upstream_error();
        let message = "the upstream target did not answer\n";
        let _ = self.respond(client, buffers, 502, message, true).await;
        Attempt::Broken
    }

    /// The target was removed and its draining time is up.
    async fn cut<S>(
        &self,
        client: &mut S,
        buffers: &mut Buffers,
        in_flight: &InFlight<&TargetState>,
    ) -> Attempt
    where
        S: AsyncWrite + Unpin + Closing,
    {
        in_flight.answered(502);
        let _ = self
            .respond(
                client,
                buffers,
                502,
                "the target was removed and its draining timeout passed\n",
                true,
            )
            .await;
        Attempt::Broken
    }
}

fn body_len_of(framing: Framing) -> usize {
    match framing {
        Framing::Length(n) => usize::try_from(n).unwrap_or(usize::MAX),
        _ => 0,
    }
}

/// What the exchange keeps of a response head once it was rewritten.
struct ResponseSummary {
    len: usize,
    status: u16,
    framing: Framing,
    /// The upstream connection may carry another request after it.
    reusable: bool,
    keep_client: bool,
}

/// Writes all of `bytes` to a target; how it failed says whether any of
/// it may have reached it.
async fn send(upstream: &mut TcpStream, bytes: &[u8]) -> Result<(), Failure> {
    let mut written = 0;
    while written < bytes.len() {
        match upstream.write(&bytes[written..]).await {
            Ok(0) | Err(_) if written == 0 => return Err(Failure::NotSent),
            Ok(0) | Err(_) => return Err(Failure::Sent),
            Ok(n) => written += n,
        }
    }
    Ok(())
}

/// Copies a request body that was not read whole from the client to the
/// target, as it comes; `buffers.client` starts at the body.
async fn stream_body<S>(
    client: &mut S,
    upstream: &mut TcpStream,
    buffers: &mut Buffers,
    framing: Framing,
    idle: Duration,
) -> io::Result<()>
where
    S: AsyncRead + Unpin,
{
    let mut body = BodyEnd::new(framing);
    loop {
        if !buffers.client.is_empty() {
            let take = body.take(&buffers.client)?;
            upstream.write_all(&buffers.client[..take]).await?;
            buffers.client.advance(take);
        }
        if body.is_done() {
            return Ok(());
        }
        buffers.client.reserve(COPY_BYTES);
        let read = tokio::time::timeout(idle, client.read_buf(&mut buffers.client)).await;
        match read {
            Ok(Ok(n)) if n > 0 => {}
            _ => return Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

/// Copies the rest of a response (what `buffers.upstream` holds, then
/// what comes) to the client, its last write leaving with the FIN when
/// `closing`; `Ok(true)` when it ended where its framing says, `Err` when
/// either side broke off or the target was cut.
async fn copy_response<S>(
    client: &mut S,
    upstream: &mut TcpStream,
    buffers: &mut Buffers,
    framing: Framing,
    closing: bool,
    target: &TargetState,
) -> Result<bool, ()>
where
    S: AsyncWrite + Unpin + Closing,
{
    let mut body = BodyEnd::new(framing);
    // The head and what came with it of the body, in one write.
    let take = body.take(&buffers.upstream).map_err(|_| ())?;
    buffers.out.extend_from_slice(&buffers.upstream[..take]);
    buffers.upstream.advance(take);
    if closing && body.is_done() {
        client.will_close();
    }
    client.write_all(&buffers.out).await.map_err(|_| ())?;
    while !body.is_done() {
        buffers.upstream.reserve(COPY_BYTES);
        client.flush().await.map_err(|_| ())?;
        let read = tokio::select! {
            biased;
            read = upstream.read_buf(&mut buffers.upstream) => read,
            () = target.cut_off() => return Err(()),
        };
        match read {
            Ok(0) if framing == Framing::UntilClose => break,
            Ok(n) if n > 0 => {}
            _ => return Err(()),
        }
        let take = body.take(&buffers.upstream).map_err(|_| ())?;
        if closing && body.is_done() {
            client.will_close();
        }
        client
            .write_all(&buffers.upstream[..take])
            .await
            .map_err(|_| ())?;
        buffers.upstream.advance(take);
    }
    client.flush().await.map_err(|_| ())?;
    Ok(framing != Framing::UntilClose)
}

/// Where a body being copied ends.
enum BodyEnd {
    Left(u64),
    Chunked(Chunked),
    UntilClose,
}

impl BodyEnd {
    fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty => Self::Left(0),
            Framing::Length(n) => Self::Left(n),
            Framing::Chunked => Self::Chunked(Chunked::new()),
            Framing::UntilClose => Self::UntilClose,
        }
    }

    /// How many of `bytes` (the next ones) belong to the body.
    fn take(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Self::Left(left) => {
                let take = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                *left -= take as u64;
                Ok(take)
            }
            Self::Chunked(chunked) => chunked
                .advance(bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Self::UntilClose => Ok(bytes.len()),
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Self::Left(left) => *left == 0,
            Self::Chunked(chunked) => chunked.is_done(),
            Self::UntilClose => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_line_is_found_in_new_bytes_even_split_across_reads() {
        assert_eq!(
            blank_line(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
            Some(27)
        );
        assert_eq!(
            blank_line(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 25),
            Some(27)
        );
        assert_eq!(blank_line(b"GET / HTTP/1.1\nHost: a\n\n", 0), Some(24));
        assert_eq!(blank_line(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
    }

    #[test]
    fn buffers_of_an_ended_connection_serve_the_next_unless_they_grew() {
        std::thread::spawn(|| {
            let mut first = Buffers::take();
            first.client.extend_from_slice(b"GET / HTTP/1.1\r\n");
            first.out.extend_from_slice(b"left over");
            let kept = first.client.as_ptr();
            drop(first);
            let second = Buffers::take();
            assert_eq!(second.client.as_ptr(), kept, "the same allocation");
            assert!(second.client.is_empty() && second.out.is_empty());
            assert!(second.client.capacity() >= BUFFER_BYTES);
            drop(second);

            let mut grown = Buffers::take();
            grown.client.reserve(MAX_HEAD_BYTES);
            drop(grown);
            let spare = SPARE.with(|list| list.borrow().len());
            assert_eq!(spare, 0, "a grown set is freed, not kept");

            let many: Vec<Buffers> = (0..SPARE_BUFFERS + 10).map(|_| Buffers::take()).collect();
            drop(many);
            let spare = SPARE.with(|list| list.borrow().len());
            assert_eq!(spare, SPARE_BUFFERS, "the spares are bounded");
        })
        .join()
        .unwrap();
    }

    /// Not ready on the first poll; on the second, notes how many buffer
    /// sets the worker has spare.
    struct ReadyOnSecondPoll {
        polls: usize,
        spare_while_waiting: Option<usize>,
    }

    impl ReadReady for ReadyOnSecondPoll {
        fn poll_read_ready(
            &mut self,
            cx: &mut std::task::Context<'_>,
            _: Expecting,
        ) -> Poll<io::Result<()>> {
            self.polls += 1;
            if self.polls == 1 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.spare_while_waiting = Some(SPARE.with(|list| list.borrow().len()));
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_connection_waiting_for_its_next_request_holds_no_buffers() {
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut buffers = Buffers::take();
                let held = buffers.client.as_ptr();
                let mut client = ReadyOnSecondPoll {
                    polls: 0,
                    spare_while_waiting: None,
                };
                let wake = tokio::time::sleep(Duration::from_secs(60));
                tokio::pin!(wake);
                let waited = wait_readable(
                    &mut client,
                    &mut buffers,
                    wake.as_mut(),
                    Expecting::NextRequest,
                )
                .await;
                assert!(waited.is_ok());
                assert_eq!(
                    client.spare_while_waiting,
                    Some(1),
                    "given back while waiting"
                );
                assert_eq!(buffers.client.as_ptr(), held, "and taken again after");
                assert!(buffers.client.capacity() >= BUFFER_BYTES);
            });
        })
        .join()
        .unwrap();
    }
}
