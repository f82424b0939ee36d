//! Which route a request takes: pure matching over a listener's routes.

use crate::spec::kinds::loadbalancer::{Action, Listener, PathMatch, Route};

/// What a router needs to know of a request.
#[derive(Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// The host without a port, as sent (`Host` or the URI authority).
    pub host: &'a str,
    pub path: &'a str,
    /// Looks a header up by (lowercase) name.
    pub header: &'a dyn Fn(&str) -> Option<&'a str>,
}

/// What a request matched.
#[derive(Clone, Copy, Debug)]
pub struct Routed<'a> {
    pub action: &'a Action,
    /// How many more targets an idempotent request may be sent to after
    /// one broke off it: the route's `retries.attempts`, else 0.
    pub retries_after_send: u32,
}

/// A listener's routes, sorted by priority once so matching is a scan.
#[derive(Clone, Debug)]
pub struct Router {
    routes: Vec<Route>,
    default_action: Option<Action>,
}

impl Router {
    #[must_use]
    pub fn new(listener: &Listener) -> Self {
        let mut routes = listener.routes.clone();
        routes.sort_by_key(|r| r.priority.value);
        Self {
            routes,
            default_action: listener.default_action.as_ref().map(|a| a.value.clone()),
        }
    }

    /// The action used when no route matches (the only one for TCP).
    #[must_use]
    pub fn default_action(&self) -> Option<&Action> {
        self.default_action.as_ref()
    }

    /// The first matching route, else the default action (which never
    /// retries a request that was sent).
    #[must_use]
    pub fn route(&self, request: &RequestHead<'_>) -> Option<Routed<'_>> {
        match self.routes.iter().find(|route| matches(route, request)) {
            Some(route) => Some(Routed {
                action: &route.action.value,
                retries_after_send: route.retries.as_ref().map_or(0, |r| r.value.attempts.value),
            }),
            None => self.default_action.as_ref().map(|action| Routed {
                action,
                retries_after_send: 0,
            }),
        }
    }
}

fn matches(route: &Route, request: &RequestHead<'_>) -> bool {
    let m = &route.matches;
    m.host
        .as_ref()
        .is_none_or(|h| host_matches(&h.value, request.host))
        && m.path
            .as_ref()
            .is_none_or(|p| path_matches(&p.value, request.path))
        && (m.methods.is_empty() || m.methods.iter().any(|meth| meth.as_str() == request.method))
        && m.headers.iter().all(|h| {
            match (
                (request.header)(&h.name.value.to_ascii_lowercase()),
                &h.value,
            ) {
                (Some(_), None) => true,
                (Some(actual), Some(expected)) => actual == expected,
                (None, _) => false,
            }
        })
}

/// Exact (case-insensitive) or `*.suffix`, which matches any name ending
/// in `.suffix` — one or more labels, as Envoy does.
#[must_use]
pub fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1
                && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

/// A prefix matches whole path segments: `/api` matches `/api` and
/// `/api/x` but not `/apix`.
#[must_use]
pub fn path_matches(pattern: &PathMatch, path: &str) -> bool {
    match pattern {
        PathMatch::Exact(p) => p == path,
        PathMatch::Prefix(p) => {
            path.starts_with(p.as_str())
                && (p.ends_with('/') || path.len() == p.len() || path.as_bytes()[p.len()] == b'/')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_hosts_match_subdomains_only() {
        assert!(host_matches("*.example.test", "www.example.test"));
        assert!(host_matches("*.example.test", "a.b.example.test"));
        assert!(host_matches("*.example.test", "WWW.Example.Test"));
        assert!(!host_matches("*.example.test", "example.test"));
        assert!(!host_matches("*.example.test", "badexample.test"));
        assert!(host_matches("api.example.test", "API.example.test"));
        assert!(!host_matches("api.example.test", "www.example.test"));
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let p = PathMatch::Prefix("/api".into());
        assert!(path_matches(&p, "/api"));
        assert!(path_matches(&p, "/api/v1"));
        assert!(!path_matches(&p, "/apix"));
        assert!(path_matches(&PathMatch::Prefix("/v1/".into()), "/v1/x"));
        assert!(path_matches(&PathMatch::Prefix("/".into()), "/anything"));
        assert!(path_matches(&PathMatch::Exact("/login".into()), "/login"));
        assert!(!path_matches(&PathMatch::Exact("/login".into()), "/login/"));
    }
}
