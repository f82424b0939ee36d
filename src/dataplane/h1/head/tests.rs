use super::*;

fn request(raw: &[u8]) -> Parsed<RequestHead<'_>> {
    // The slots live as long as the test: leaked, a few KiB per test.
    let slots = Box::leak(Box::new(header_slots()));
    parse_request(raw, slots)
}

fn complete(raw: &[u8]) -> RequestHead<'_> {
    match request(raw) {
        Parsed::Complete(head) => head,
        other => panic!("not complete: {other:?}"),
    }
}

fn not_fast(raw: &[u8]) -> &'static str {
    match request(raw) {
        Parsed::NotFast(why) => why,
        other => panic!("served on the fast path: {other:?}"),
    }
}

#[test]
fn a_plain_request_is_parsed_in_place() {
    let raw = b"GET /a/b?x=1 HTTP/1.1\r\nHost: Example.test:8080\r\nAccept: */*\r\n\r\nGET /next";
    let head = complete(raw);
    assert_eq!(head.len, raw.len() - 9);
    assert_eq!(
        (head.method, head.path(), head.query()),
        ("GET", "/a/b", "x=1")
    );
    assert_eq!(head.host(), "example.test");
    assert_eq!(head.framing, Framing::Empty);
    assert!(!head.close);
}

#[test]
fn bodies_are_framed_by_one_length_or_by_chunks() {
    let head = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n");
    assert_eq!(head.framing, Framing::Length(12));
    let head = complete(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
    assert_eq!(head.framing, Framing::Chunked);
    let head =
        complete(b"POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 3\r\nContent-Length: 3\r\n\r\n");
    assert_eq!(head.framing, Framing::Length(3));
}

#[test]
fn what_the_fast_path_does_not_serve_goes_to_hyper() {
    assert_eq!(
        not_fast(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n"),
        "not HTTP/1.1"
    );
    assert_eq!(
        not_fast(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        "malformed head"
    );
    assert_eq!(
        not_fast(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
        "CONNECT"
    );
    assert_eq!(
        not_fast(b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        "not origin form"
    );
    assert_eq!(not_fast(b"GET / HTTP/1.1\r\n\r\n"), "no Host");
    assert_eq!(
        not_fast(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        "two Host headers"
    );
    assert_eq!(
        not_fast(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
        "upgrade"
    );
    assert_eq!(
        not_fast(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n"),
        "expect"
    );
    assert_eq!(
        not_fast(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        "two Content-Lengths"
    );
    assert_eq!(
        not_fast(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n"),
        "bad Content-Length"
    );
    assert_eq!(
        not_fast(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        "transfer coding other than chunked"
    );
    assert_eq!(
        not_fast(
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        ),
        "Content-Length and chunked"
    );
}

#[test]
fn half_a_head_is_partial() {
    assert!(matches!(
        request(b"GET / HTTP/1.1\r\nHost: a\r\n"),
        Parsed::Partial
    ));
}

#[test]
fn the_upstream_head_drops_hop_by_hop_headers_and_adds_forwarding_ones() {
    let head = complete(
        b"GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\n\
          Keep-Alive: timeout=5\r\nTE: trailers\r\nX-Forwarded-For: 10.0.0.1\r\n\
          X-Forwarded-Proto: ftp\r\nX-Kept: yes\r\n\r\n",
    );
    let mut out = Vec::new();
    let id = write_upstream_request(
        &mut out,
        &head,
        &Forwarding {
            client_ip: "192.0.2.7",
            proto: "https",
            host: "a.test",
            new_request_id: b"0000000000000001-00000002",
        },
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "GET /x HTTP/1.1\r\nHost: a.test\r\nX-Kept: yes\r\n\
         x-forwarded-for: 10.0.0.1, 192.0.2.7\r\nx-forwarded-proto: https\r\n\
         x-forwarded-host: a.test\r\nx-request-id: 0000000000000001-00000002\r\n\r\n"
    );
    assert_eq!(id, b"0000000000000001-00000002");
}

#[test]
fn a_client_request_id_is_kept_and_returned() {
    let head = complete(b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: mine\r\n\r\n");
    let mut out = Vec::new();
    let id = write_upstream_request(
        &mut out,
        &head,
        &Forwarding {
            client_ip: "127.0.0.1",
            proto: "http",
            host: "a",
            new_request_id: b"new",
        },
    );
    assert_eq!(id, b"mine");
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("X-Request-Id: mine").count(), 1);
    assert!(!text.contains("new"));
}

fn response(raw: &[u8], to_head: bool) -> Result<Option<ResponseHead<'_>>, BadResponse> {
    let slots = Box::leak(Box::new(header_slots()));
    parse_response(raw, slots, to_head)
}

#[test]
fn response_framing_follows_rfc_9112() {
    let framing = |raw: &'static [u8], to_head| response(raw, to_head).unwrap().unwrap().framing;
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", false),
        Framing::Length(3)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true),
        Framing::Empty
    );
    assert_eq!(
        framing(b"HTTP/1.1 204 No Content\r\n\r\n", false),
        Framing::Empty
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            false
        ),
        Framing::Empty
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false
        ),
        Framing::Chunked
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\n\r\n", false),
        Framing::UntilClose
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false),
        Framing::UntilClose
    );
    assert!(
        response(b"HTTP/1.1 200 OK\r\n\r\n", false)
            .unwrap()
            .unwrap()
            .close
    );
    assert!(
        response(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false)
            .unwrap()
            .unwrap()
            .close
    );
    assert!(
        !response(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", false)
            .unwrap()
            .unwrap()
            .close
    );
    assert_eq!(
        response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            false
        )
        .unwrap_err(),
        BadResponse::Framing
    );
    assert_eq!(
        response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            false
        )
        .unwrap_err(),
        BadResponse::Framing
    );
    assert_eq!(
        response(b"HTTP/1.1 101 Switching\r\n\r\n", false).unwrap_err(),
        BadResponse::Upgrade
    );
    assert!(response(b"HTTP/1.1 200 OK\r\n", false).unwrap().is_none());
}

#[test]
fn the_client_response_drops_hop_by_hop_headers_and_carries_the_request_id() {
    let head = response(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, x-hop\r\nX-Hop: 1\r\n\
          Keep-Alive: timeout=5\r\nServer: nginx\r\n\r\n",
        false,
    )
    .unwrap()
    .unwrap();
    let mut out = Vec::new();
    write_client_response(&mut out, &head, b"id-1", false);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: nginx\r\nx-request-id: id-1\r\n\r\n"
    );
    let mut out = Vec::new();
    write_client_response(&mut out, &head, b"id-1", true);
    assert!(String::from_utf8(out)
        .unwrap()
        .ends_with("connection: close\r\n\r\n"));
}

#[test]
fn local_responses_are_complete() {
    let mut out = Vec::new();
    write_local_response(&mut out, 302, "text/plain", Some("https://a/"), b"", false);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 302 Found\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nlocation: https://a/\r\n\r\n"
    );
}

#[test]
fn client_addresses_are_written_as_std_writes_them() {
    for ip in [
        "0.0.0.0",
        "9.10.99.100",
        "127.0.0.1",
        "192.0.2.7",
        "255.255.255.255",
        "::1",
        "2001:db8::8a2e:370:7334",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "::ffff:192.0.2.128",
    ] {
        let ip: std::net::IpAddr = ip.parse().unwrap();
        assert_eq!(IpText::new(ip).as_str(), ip.to_string());
    }
}
