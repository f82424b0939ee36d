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
fn the_budget_is_a_fifth_of_recent_requests_and_at_least_ten() {
    let mut recent = Recent::new(0, 0);
    let admitted = (0..100).filter(|_| recent.admit(0, 0).is_ok()).count();
    assert_eq!(admitted, 10, "the floor, with no requests");

    // 1,000 requests a second for a minute: about 10,000 recent ones,
    // room for about 2,000 retries (and the floor) at once.
    let mut recent = Recent::new(0, 0);
    let at = 60_000;
    let admitted = (0..5000)
        .take_while(|_| recent.admit(at, 60_000).is_ok())
        .count();
    assert!((2005..=2010).contains(&admitted), "{admitted}");
    // Ten windows later, they have all but gone from the count.
    let later = at + 10 * RETRY_BUDGET_WINDOW.as_millis() as u64;
    let admitted = (0..5000)
        .take_while(|_| recent.admit(later, 60_000).is_ok())
        .count();
    assert!(
        (9..=10).contains(&admitted),
        "only the floor again: {admitted}"
    );
}

#[test]
fn a_dead_pool_sees_at_most_a_quarter_more_attempts_than_requests() {
    // Every request fails and asks for one retry; the pool's counter
    // counts both.
    let mut recent = Recent::new(0, 0);
    let (mut sent, mut retries) = (0u64, 0u64);
    for ms in 0..600_000u64 {
        sent += 1;
        if recent.admit(ms, sent).is_ok() {
            retries += 1;
            sent += 1;
        }
    }
    // 20% of all attempts is 25% of the requests, and the floor adds ten
    // a window (one a second here, 0.1% of a thousand).
    let share = retries as f64 / 600_000.0;
    assert!((0.249..=0.252).contains(&share), "{share}");
}

#[test]
fn a_quiet_pool_is_judged_by_its_average_rate_not_by_nothing() {
    // 36,000 requests in the hour since the last look, none looked at:
    // 10 a second, so about 100 recent ones and room for 30 retries.
    let mut recent = Recent::new(0, 0);
    let admitted = (0..100)
        .take_while(|_| recent.admit(3_600_000, 36_000).is_ok())
        .count();
    assert_eq!(admitted, 30);
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
