//! `GET /v1/events`: what changes in the data plane, as it happens, one
//! JSON object per line (`application/x-ndjson`).

use super::Body;
use crate::dataplane::health::HealthEvent;
use crate::spec::units::{Name, TargetAddr};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{self, HeaderValue};
use hyper::Response;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

/// Something that changed in the data plane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DataplaneEvent {
    /// A config was accepted and now serves.
    Config { version: u64 },
    /// A target of a pool was found healthy or unhealthy (the data plane's
    /// health checks publish these themselves).
    Health {
        pool: Name,
        target: TargetAddr,
        healthy: bool,
    },
}

/// A subscriber: the events it has not read yet, and the server's stop.
struct Subscription {
    events: broadcast::Receiver<DataplaneEvent>,
    /// The data plane's own health checks; `None` once that channel closed.
    health: Option<broadcast::Receiver<HealthEvent>>,
    stop: watch::Receiver<bool>,
}

impl Subscription {
    /// The next line to send, or `None` once the server stops.
    async fn next(mut self) -> Option<(Bytes, Self)> {
        let event = loop {
            let received = tokio::select! {
                () = super::stopped(&mut self.stop) => return None,
                received = self.events.recv() => match received {
                    Err(RecvError::Closed) => return None,
                    other => other,
                },
                received = recv_health(self.health.as_mut()) => match received {
                    Err(RecvError::Closed) => {
                        self.health = None;
                        continue;
                    }
                    other => other.map(DataplaneEvent::from),
                },
            };
            break match received {
                Ok(event) => serde_json::to_value(&event).ok()?,
                // Tell a reader that fell behind, so it can re-read /v1/state.
                Err(RecvError::Lagged(missed)) => {
                    serde_json::json!({"type": "lagged", "missed": missed})
                }
                Err(RecvError::Closed) => return None,
            };
        };
        let mut line = serde_json::to_vec(&event).ok()?;
        line.push(b'\n');
        Some((Bytes::from(line), self))
    }
}

async fn recv_health(
    health: Option<&mut broadcast::Receiver<HealthEvent>>,
) -> Result<HealthEvent, RecvError> {
    match health {
        Some(health) => health.recv().await,
        None => std::future::pending().await,
    }
}

impl From<HealthEvent> for DataplaneEvent {
    fn from(event: HealthEvent) -> Self {
        Self::Health {
            pool: event.pool,
            target: event.target,
            healthy: event.healthy,
        }
    }
}

type Next = Pin<Box<dyn Future<Output = Option<(Bytes, Subscription)>> + Send>>;

/// The response body: one frame per event. Dropping it (the client went
/// away) drops the subscription with it.
struct EventStream {
    next: Option<Next>,
}

impl hyper::body::Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let Some(next) = self.next.as_mut() else {
            return Poll::Ready(None);
        };
        match next.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                self.next = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some((line, subscription))) => {
                self.next = Some(Box::pin(subscription.next()));
                Poll::Ready(Some(Ok(Frame::data(line))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.next.is_none()
    }
}

/// The streaming response for one subscriber, which subscribed before the
/// headers go out: whatever a client does after reading them is seen.
pub(super) fn stream(
    events: broadcast::Receiver<DataplaneEvent>,
    health: broadcast::Receiver<HealthEvent>,
    stop: watch::Receiver<bool>,
) -> Response<Body> {
    let subscription = Subscription {
        events,
        health: Some(health),
        stop,
    };
    let body = EventStream {
        next: Some(Box::pin(subscription.next())),
    };
    let mut response = Response::new(body.boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
