//! Message heads of the HTTP/1.1 fast path: parsed in place (httparse),
//! judged (may this path serve it, how is its body framed, does the
//! connection go on) and rewritten for the next hop. Pure: bytes in,
//! bytes out.
//!
//! The fast path takes only what it can serve exactly: an HTTP/1.1
//! request in origin form with a `Host`, no upgrade, no `Expect`, and a
//! body framed by one `Content-Length` or by `Transfer-Encoding: chunked`
//! alone. Anything else — HTTP/1.0, `CONNECT`, absolute-form targets,
//! ambiguous framing, a malformed head — is [`Parsed::NotFast`]: the
//! connection is handed to hyper, which serves (or refuses) it as before.

use httparse::{Header, Status};
use std::mem::MaybeUninit;

/// The most header lines a head may have (hyper's limit too).
pub const MAX_HEADERS: usize = 100;
/// The most header names a `Connection` header may list.
const MAX_CONNECTION_TOKENS: usize = 16;

/// Header names that describe one hop and are never forwarded (RFC 9110
/// §7.6.1), lowercase.
const HOP_BY_HOP: [&[u8]; 8] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"upgrade",
];

/// Header slots for [`parse_request`]/[`parse_response`], left
/// uninitialized: the parser writes the ones it fills (zeroing all 100 cost
/// two 3.2 KB memsets per proxied request).
#[must_use]
pub fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// What [`header_slots`] makes.
pub type HeaderSlots<'b> = [MaybeUninit<Header<'b>>; MAX_HEADERS];

/// How a message's body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// It has none.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding, ending with the last chunk and trailers.
    Chunked,
    /// When the connection closes (responses only).
    UntilClose,
}

/// What parsing a head found.
#[derive(Debug)]
pub enum Parsed<T> {
    Complete(T),
    /// More bytes are needed.
    Partial,
    /// Not for the fast path: hyper serves the connection from here on.
    NotFast(&'static str),
}

/// A request head the fast path serves, borrowing the read buffer.
#[derive(Debug)]
pub struct RequestHead<'b> {
    /// Bytes of the head, the blank line included.
    pub len: usize,
    pub method: &'b str,
    /// Origin form: the path and the query.
    pub target: &'b str,
    pub headers: &'b [Header<'b>],
    pub framing: Framing,
    /// The client asked to close the connection after this exchange.
    pub close: bool,
    /// Header names the `Connection` header lists (lowercased in place is
    /// impossible on a borrowed buffer: compared ignoring case).
    connection_tokens: ([&'b [u8]; MAX_CONNECTION_TOKENS], usize),
}

impl<'b> RequestHead<'b> {
    /// The first value of a header, by (lowercase) name, if it is text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&'b str> {
        self.header_value(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of a header, by (lowercase) name.
    #[must_use]
    pub fn header_value(&self, name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The path without the query.
    #[must_use]
    pub fn path(&self) -> &'b str {
        self.target.split_once('?').map_or(self.target, |(p, _)| p)
    }

    /// The query without `?`, or empty.
    #[must_use]
    pub fn query(&self) -> &'b str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// The host the request is for, without a port, lowercase.
    #[must_use]
    pub fn host(&self) -> String {
        strip_port(self.header("host").unwrap_or_default()).to_ascii_lowercase()
    }

    fn is_hop_by_hop(&self, name: &str) -> bool {
        let name = name.as_bytes();
        let (tokens, count) = &self.connection_tokens;
        HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
            || tokens[..*count]
                .iter()
                .any(|t| name.eq_ignore_ascii_case(t))
    }
}

/// The host part of a `Host` value.
#[must_use]
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// Parses the request head at the start of `buf`.
pub fn parse_request<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut HeaderSlots<'b>,
) -> Parsed<RequestHead<'b>>
where
    'h: 'b,
{
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(buf, slots) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::NotFast("malformed head"),
    };
    let (Some(method), Some(target), Some(1)) = (request.method, request.path, request.version)
    else {
        return Parsed::NotFast("not HTTP/1.1");
    };
    if method == "CONNECT" {
        return Parsed::NotFast("CONNECT");
    }
    if !target.starts_with('/') {
        return Parsed::NotFast("not origin form");
    }
    let headers: &'b [Header<'b>] = request.headers;
    let mut has_host = false;
    let mut close = false;
    let mut tokens: [&[u8]; MAX_CONNECTION_TOKENS] = [b""; MAX_CONNECTION_TOKENS];
    let mut token_count = 0;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for header in headers {
        let name = header.name;
        if name.eq_ignore_ascii_case("host") {
            if has_host {
                return Parsed::NotFast("two Host headers");
            }
            has_host = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.is_empty() {
                    continue;
                }
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    return Parsed::NotFast("upgrade");
                }
                if token_count == MAX_CONNECTION_TOKENS {
                    return Parsed::NotFast("too many Connection tokens");
                }
                tokens[token_count] = token;
                token_count += 1;
            }
        } else if name.eq_ignore_ascii_case("upgrade") {
            return Parsed::NotFast("upgrade");
        } else if name.eq_ignore_ascii_case("expect") {
            return Parsed::NotFast("expect");
        } else if name.eq_ignore_ascii_case("content-length") {
            let Some(value) = parse_length(header.value) else {
                return Parsed::NotFast("bad Content-Length");
            };
            if length.is_some_and(|l| l != value) {
                return Parsed::NotFast("two Content-Lengths");
            }
            length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if chunked || !header.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Parsed::NotFast("transfer coding other than chunked");
            }
            chunked = true;
        }
    }
    if !has_host {
        return Parsed::NotFast("no Host");
    }
    let framing = match (chunked, length) {
        (true, Some(_)) => return Parsed::NotFast("Content-Length and chunked"),
        (true, None) => Framing::Chunked,
        (false, Some(0) | None) => Framing::Empty,
        (false, Some(n)) => Framing::Length(n),
    };
    Parsed::Complete(RequestHead {
        len,
        method,
        target,
        headers,
        framing,
        close,
        connection_tokens: (tokens, token_count),
    })
}

/// A `Content-Length` value: digits only, at most 18 of them.
fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// A client's address as text, for `X-Forwarded-For`: made once per
/// connection without allocating or going through `fmt` for IPv4.
#[derive(Clone, Copy, Debug)]
pub struct IpText {
    /// An IPv6 address takes at most 45 bytes as text.
    bytes: [u8; 45],
    len: usize,
}

impl IpText {
    #[must_use]
    pub fn new(ip: std::net::IpAddr) -> Self {
        let mut text = Self {
            bytes: [0; 45],
            len: 0,
        };
        match ip {
            std::net::IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        text.push(b'.');
                    }
                    if octet >= 100 {
                        text.push(b'0' + octet / 100);
                    }
                    if octet >= 10 {
                        text.push(b'0' + octet / 10 % 10);
                    }
                    text.push(b'0' + octet % 10);
                }
            }
            std::net::IpAddr::V6(v6) => {
                use std::io::Write as _;
                let mut rest = &mut text.bytes[..];
                let _ = write!(rest, "{v6}");
                let left = rest.len();
                text.len = text.bytes.len() - left;
            }
        }
        text
    }

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, dots, colons and hex letters are written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// What the proxy adds to a request it forwards.
#[derive(Clone, Copy, Debug)]
pub struct Forwarding<'a> {
    /// The client's address as text (made once per connection).
    pub client_ip: &'a str,
    /// `https` or `http`.
    pub proto: &'static str,
    /// The host without its port, lowercase.
    pub host: &'a str,
    /// The request id to add when the client sent none.
    pub new_request_id: &'a [u8],
}

/// Writes the head sent upstream into `out`: the request line, the
/// client's headers but hop-by-hop ones (and those its `Connection`
/// names), `X-Forwarded-For` (appended to), `-Proto`, `-Host`, and
/// `X-Request-Id` unless the client sent one. Returns the request id.
pub fn write_upstream_request(
    out: &mut Vec<u8>,
    head: &RequestHead<'_>,
    forwarding: &Forwarding<'_>,
) -> Vec<u8> {
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut forwarded_for: Option<&[u8]> = None;
    let mut request_id: Option<&[u8]> = None;
    for header in head.headers {
        let name = header.name;
        if head.is_hop_by_hop(name) {
            continue;
        }
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded_for = forwarded_for.or(Some(header.value));
            continue;
        }
        if name.eq_ignore_ascii_case("x-forwarded-proto")
            || name.eq_ignore_ascii_case("x-forwarded-host")
        {
            continue;
        }
        if name.eq_ignore_ascii_case("x-request-id") && request_id.is_none() {
            request_id = Some(header.value);
        }
        write_header(out, name.as_bytes(), header.value);
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(previous) = forwarded_for {
        out.extend_from_slice(previous);
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(forwarding.client_ip.as_bytes());
    out.extend_from_slice(b"\r\nx-forwarded-proto: ");
    out.extend_from_slice(forwarding.proto.as_bytes());
    out.extend_from_slice(b"\r\nx-forwarded-host: ");
    out.extend_from_slice(forwarding.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    let id = match request_id {
        Some(id) => id.to_vec(),
        None => {
            write_header(out, b"x-request-id", forwarding.new_request_id);
            forwarding.new_request_id.to_vec()
        }
    };
    out.extend_from_slice(b"\r\n");
    id
}

fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A response head from upstream, borrowing the upstream read buffer.
#[derive(Debug)]
pub struct ResponseHead<'b> {
    pub len: usize,
    pub status: u16,
    pub reason: &'b str,
    pub headers: &'b [Header<'b>],
    pub framing: Framing,
    /// The upstream connection cannot carry another request.
    pub close: bool,
}

/// Why an upstream's response cannot be forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadResponse {
    #[error("malformed response head")]
    Malformed,
    #[error("ambiguous response framing")]
    Framing,
    #[error("switching protocols without being asked")]
    Upgrade,
}

/// Parses the response head at the start of `buf`, to a request whose
/// method was `HEAD` when `to_head`.
pub fn parse_response<'h, 'b>(
    buf: &'b [u8],
    slots: &'h mut HeaderSlots<'b>,
    to_head: bool,
) -> Result<Option<ResponseHead<'b>>, BadResponse>
where
    'h: 'b,
{
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        slots,
    );
    let len = match parsed {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) => return Ok(None),
        Err(_) => return Err(BadResponse::Malformed),
    };
    let (Some(version), Some(status)) = (response.version, response.code) else {
        return Err(BadResponse::Malformed);
    };
    if status == 101 {
        return Err(BadResponse::Upgrade);
    }
    let headers: &'b [Header<'b>] = response.headers;
    let mut close = version == 0;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut other_coding = false;
    for header in headers {
        let name = header.name;
        if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let value = parse_length(header.value).ok_or(BadResponse::Framing)?;
            if length.is_some_and(|l| l != value) {
                return Err(BadResponse::Framing);
            }
            length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked must come last; anything else ends with the connection.
            chunked = header
                .value
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            other_coding = !chunked;
        }
    }
    let framing = if to_head || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked || other_coding {
        if length.is_some() {
            return Err(BadResponse::Framing);
        }
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else {
        match length {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    let close = close || framing == Framing::UntilClose;
    Ok(Some(ResponseHead {
        len,
        status,
        reason: response.reason.unwrap_or_default(),
        headers,
        framing,
        close,
    }))
}

/// Writes the head the client gets: the upstream's status and headers but
/// hop-by-hop ones, `X-Request-Id` unless the upstream set one, and
/// `Connection: close` when `close_client`.
pub fn write_client_response(
    out: &mut Vec<u8>,
    head: &ResponseHead<'_>,
    request_id: &[u8],
    close_client: bool,
) {
    write_status_line(out, head.status, head.reason);
    let mut tokens: [&[u8]; MAX_CONNECTION_TOKENS] = [b""; MAX_CONNECTION_TOKENS];
    let mut count = 0;
    for header in head.headers {
        if header.name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if !token.is_empty() && count < MAX_CONNECTION_TOKENS {
                    tokens[count] = token;
                    count += 1;
                }
            }
        }
    }
    let mut has_id = false;
    for header in head.headers {
        let name = header.name.as_bytes();
        if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
            || tokens[..count].iter().any(|t| name.eq_ignore_ascii_case(t))
        {
            continue;
        }
        has_id |= name.eq_ignore_ascii_case(b"x-request-id");
        write_header(out, name, header.value);
    }
    if !has_id {
        write_header(out, b"x-request-id", request_id);
    }
    if close_client {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// `HTTP/1.1 200 OK` and its line end, without formatting machinery.
fn write_status_line(out: &mut Vec<u8>, status: u16, reason: &str) {
    let digits = [
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ];
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&digits);
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes a complete response the proxy makes itself.
pub fn write_local_response(
    out: &mut Vec<u8>,
    status: u16,
    content_type: &str,
    location: Option<&str>,
    body: &[u8],
    close_client: bool,
) {
    use std::io::Write;
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(location) = location {
        write_header(out, b"location", location.as_bytes());
    }
    if close_client {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests;
