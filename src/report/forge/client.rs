//! The one HTTP client setup all forge sinks share.

use super::retry::RetryPolicy;
use std::time::Duration;

/// The User-Agent lbops sends (GitHub refuses requests without one).
pub const USER_AGENT: &str = concat!("lbops/", env!("CARGO_PKG_VERSION"));

/// A client with rustls' ring provider (reqwest is built without one).
pub fn http_client(retry: &RetryPolicy) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    let builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        // A redirected POST comes back as a GET without its token: the
        // core reports the redirect instead (see `http`).
        .redirect(reqwest::redirect::Policy::none())
        .timeout(retry.request_timeout)
        .connect_timeout(retry.request_timeout.min(Duration::from_secs(10)));
    // Unit tests talk to stand-in forges on 127.0.0.1: a proxy from the
    // environment must not catch those requests.
    let builder = match cfg!(test) {
        true => builder.no_proxy(),
        false => builder,
    };
    builder.build()
}

/// Makes ring the process' rustls provider unless one is set already.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
