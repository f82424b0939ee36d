//! The embedded data plane: lbops' own load balancer.
//!
//! `config` is what it runs, `routing` and `pool` decide where a request
//! goes (pure or lock-free), `h1` serves most HTTP/1.1 requests in their
//! connection's own task and `proxy` the rest through hyper (h2,
//! HTTP/1.0, upgrades, odd framing), `server` binds listeners
//! and swaps configs without dropping connections, `limits` bounds what
//! each client connection may hold and for how long, `retry` when a
//! request a target failed goes to another one.

mod accept;
pub mod admin;
pub mod config;
mod h1;
pub mod health;
pub mod limits;
pub mod pool;
mod proxy;
pub mod retry;
pub mod routing;
mod runtime;
mod server;
mod shards;
pub mod stats;
pub mod target_stats;
mod tls;
mod workers;

pub use accept::DEFER_ACCEPT_SECONDS;
pub use limits::ConnectionLimits;
pub use server::{ApplyError, Dataplane, DrainingTarget};
pub use tls::TlsError;
