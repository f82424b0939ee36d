//! The HTTP/1.1 fast path: what most requests take.
//!
//! hyper serves HTTP/1.1 and h2 generally, and its client pools upstream
//! connections generally; a proxy pays for that generality on every
//! request (a task and a channel per upstream connection, a pool behind a
//! shared lock, headers parsed into maps and written back out). This path
//! serves the common case — an HTTP/1.1 request in origin form, framed by
//! a length or chunks — in the client connection's own task, copying
//! heads with only the proxy's changes and keeping upstream connections
//! per worker thread. Anything else (h2, HTTP/1.0, upgrades, `Expect`,
//! ambiguous framing, malformed heads) is handed to hyper on the same
//! connection, with the bytes already read put back in front.
//!
//! `head` and `chunked` are pure (parsing and writing heads, finding where
//! a chunked body ends); `upstream` keeps the idle connections; `conn`
//! runs a connection; `prefixed` hands one over.

mod chunked;
mod conn;
pub mod head;
mod prefixed;
pub mod upstream;

pub use conn::{serve, Ended, Serving, MAX_HEAD_BYTES};
pub use upstream::UpstreamConns;
