use super::*;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::task::Waker;

#[test]
fn the_idempotent_methods_are_those_of_rfc_9110() {
    for method in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"] {
        assert!(is_idempotent(&method.parse().unwrap()), "{method}");
    }
    for method in ["POST", "PATCH", "CONNECT", "PURGE"] {
        assert!(!is_idempotent(&method.parse().unwrap()), "{method}");
    }
}

#[test]
fn a_request_that_was_not_sent_is_retried_whatever_its_route_says() {
    let mut attempts = Attempts::new(0);
    for _ in 0..MAX_RETRIES {
        assert_eq!(attempts.retry(Failure::NotSent, true), Ok(()));
    }
    assert_eq!(
        attempts.retry(Failure::NotSent, true),
        Err(GiveUp::Exhausted)
    );
}

#[test]
fn a_request_that_was_sent_is_retried_only_as_often_as_its_route_allows() {
    assert_eq!(
        Attempts::new(0).retry(Failure::Sent, true),
        Err(GiveUp::NotRetryable)
    );
    let mut attempts = Attempts::new(2);
    assert_eq!(attempts.retry(Failure::Sent, true), Ok(()));
    assert_eq!(attempts.retry(Failure::NotSent, true), Ok(()));
    assert_eq!(attempts.retry(Failure::Sent, true), Ok(()));
    assert_eq!(
        attempts.retry(Failure::NotSent, true),
        Err(GiveUp::Exhausted),
        "at most {MAX_RETRIES} retries in all"
    );
    let mut attempts = Attempts::new(1);
    assert_eq!(attempts.retry(Failure::Sent, true), Ok(()));
    assert_eq!(
        attempts.retry(Failure::Sent, true),
        Err(GiveUp::NotRetryable)
    );
}

#[test]
fn a_request_whose_body_is_gone_is_not_retried() {
    assert_eq!(
        Attempts::new(3).retry(Failure::Sent, false),
        Err(GiveUp::BodyGone)
    );
    assert_eq!(
        Attempts::new(0).retry(Failure::NotSent, false),
        Err(GiveUp::BodyGone)
    );
}

#[test]
fn the_budget_is_a_fifth_of_the_requests_in_flight_and_at_least_ten() {
    assert_eq!(budget(0), 10);
    assert_eq!(budget(54), 10);
    assert_eq!(budget(55), 11);
    assert_eq!(budget(1000), 200);
    assert_eq!(budget(usize::MAX), usize::MAX / 100);
    let pool = Arc::new(RetryBudget::default());
    let permits: Vec<RetryPermit> = (0..12).filter_map(|_| pool.try_acquire(10)).collect();
    assert_eq!(permits.len(), 10);
    assert!(pool.try_acquire(10).is_none(), "full at 10 beside 10");
    let eleventh = pool.try_acquire(55).expect("room for 11 beside 55");
    assert_eq!(pool.in_flight(), 11);
    drop(permits);
    drop(eleventh);
    assert_eq!(pool.in_flight(), 0, "permits give their place back");
}

/// A client's body: frames, and `None` where the client has not sent
/// more yet (one `Pending`).
struct Client {
    frames: VecDeque<Option<Frame<Bytes>>>,
    hint: SizeHint,
}

impl Client {
    fn new(frames: impl IntoIterator<Item = Option<Frame<Bytes>>>) -> Self {
        Self {
            frames: frames.into_iter().collect(),
            hint: SizeHint::default(),
        }
    }
}

impl Body for Client {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut().frames.pop_front() {
            None => Poll::Ready(None),
            Some(None) => Poll::Pending,
            Some(Some(frame)) => Poll::Ready(Some(Ok(frame))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

fn data(text: &str) -> Option<Frame<Bytes>> {
    Some(Frame::data(Bytes::copy_from_slice(text.as_bytes())))
}

/// What one poll of `body` gives: `data:…`, `trailers`, `end`, `pending`
/// or `error:…`.
fn poll(body: &mut UpstreamBody<Client>) -> String {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(body).poll_frame(&mut cx) {
        Poll::Pending => "pending".into(),
        Poll::Ready(None) => "end".into(),
        Poll::Ready(Some(Err(e))) => format!("error:{e}"),
        Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
            Ok(data) => format!("data:{}", String::from_utf8_lossy(&data)),
            Err(frame) if frame.is_trailers() => "trailers".into(),
            Err(_) => "other".into(),
        },
    }
}

#[test]
fn an_empty_body_is_sent_as_nothing_by_every_attempt() {
    let mut body = RequestBody::new(Client::new([]), true, true);
    assert!(matches!(body, RequestBody::Empty));
    assert_eq!(poll(&mut body.attempt()), "end");
    assert!(body.replayable());
    assert!(body.attempt().is_end_stream());
}

#[test]
fn a_body_with_one_target_to_go_to_is_passed_through_once() {
    let mut body = RequestBody::new(Client::new([data("a")]), false, true);
    assert!(body.replayable());
    let mut first = body.attempt();
    assert_eq!(poll(&mut first), "data:a");
    assert!(!body.replayable());
    assert_eq!(poll(&mut body.attempt()), "end");
}

#[test]
fn a_body_nothing_was_read_of_goes_whole_to_the_next_attempt() {
    // A POST whose connect failed: nothing kept, nothing lost.
    let mut body = RequestBody::new(Client::new([data("a"), data("b")]), true, false);
    drop(body.attempt());
    assert!(body.replayable());
    let mut second = body.attempt();
    assert_eq!(poll(&mut second), "data:a");
    assert!(!body.replayable(), "sent and not kept");
    assert_eq!(poll(&mut second), "data:b");
    assert_eq!(poll(&mut second), "end");
}

#[test]
fn a_kept_body_is_replayed_then_continued_and_the_old_attempt_is_cut_off() {
    let mut client = Client::new([data("a"), None, data("b"), data("c")]);
    client.hint = SizeHint::with_exact(3);
    let mut body = RequestBody::new(client, true, true);
    let mut first = body.attempt();
    assert_eq!(first.size_hint().exact(), Some(3));
    assert_eq!(poll(&mut first), "data:a");
    assert_eq!(
        poll(&mut first),
        "pending",
        "the client has sent no more yet"
    );
    assert!(body.replayable());
    let mut second = body.attempt();
    assert_eq!(
        poll(&mut first),
        "error:the request body was handed to another attempt"
    );
    assert_eq!(second.size_hint().exact(), Some(3), "the whole body's");
    assert_eq!(poll(&mut second), "data:a", "replayed");
    assert_eq!(poll(&mut second), "data:b", "read on from the client");
    assert_eq!(poll(&mut second), "data:c");
    assert_eq!(poll(&mut second), "end");
    let mut third = body.attempt();
    for expected in ["data:a", "data:b", "data:c", "end"] {
        assert_eq!(poll(&mut third), expected);
    }
}

#[test]
fn trailers_are_replayed_after_the_data() {
    let trailers = Some(Frame::trailers(HeaderMap::new()));
    let mut body = RequestBody::new(Client::new([data("a"), trailers]), true, true);
    let mut first = body.attempt();
    for expected in ["data:a", "trailers", "end"] {
        assert_eq!(poll(&mut first), expected);
    }
    let mut second = body.attempt();
    for expected in ["data:a", "trailers", "end"] {
        assert_eq!(poll(&mut second), expected);
    }
}

#[test]
fn a_body_longer_than_the_limit_is_not_kept() {
    let chunk = "x".repeat(REPLAY_BODY_LIMIT / 2);
    let mut body = RequestBody::new(
        Client::new([data(&chunk), data(&chunk), data("!")]),
        true,
        true,
    );
    let mut first = body.attempt();
    poll(&mut first);
    poll(&mut first);
    assert!(body.replayable(), "exactly the limit is kept");
    poll(&mut first);
    assert!(!body.replayable(), "one byte more is not");
    let RequestBody::Shared(shared) = &body else {
        panic!("shared")
    };
    assert_eq!(shared.lock().unwrap().kept.len(), 0, "and freed");

    let mut long = Client::new([data("a")]);
    long.hint = SizeHint::with_exact(REPLAY_BODY_LIMIT as u64 + 1);
    let mut body = RequestBody::new(long, true, true);
    poll(&mut body.attempt());
    assert!(!body.replayable(), "a declared length over the limit");
}
