//! `PUT /v1/balancers/{name}/routes/{route}/forward`: the pools a route
//! forwards to and their weights, replaced as a whole (a canary shift:
//! `{"pools": [{"pool": "web-stable", "weight": 90}, {"pool":
//! "web-canary", "weight": 10}]}`), `loadbalancer.routes.update`.
//!
//! A route's name is unique within its listener only, so a name that
//! two listeners use needs `?listener=PORT` (a balancer's ports are
//! unique); without it the call is refused and says which ports.

use super::{file_of, may, standing_for, ApiError};
use crate::authz::Change;
use crate::daemon::api::edit::set_forward;
use crate::daemon::api::writer::{write_call, Edit, FileEdit, Wait};
use crate::daemon::api::{ApiState, Caller};
use crate::spec::actions::LOADBALANCER_ROUTES_UPDATE;
use crate::spec::kinds::loadbalancer::{Action, DEFAULT_FORWARD_WEIGHT};
use crate::spec::kinds::Kind;
use crate::spec::units::Name;
use crate::spec::{Catalog, SourceFile};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use std::sync::Arc;

/// The most pools one forward may split between.
pub const MAX_FORWARD_POOLS: usize = 100;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewForward {
    pub pools: Vec<ForwardTo>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardTo {
    pub pool: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    DEFAULT_FORWARD_WEIGHT
}

impl NewForward {
    /// The split: 1 to [`MAX_FORWARD_POOLS`] pools, each a resource name
    /// listed once. (Whether the pools exist and a weight is above 0 is
    /// the validation's to say, with file:line.)
    fn read(self) -> Result<Vec<(Name, u32)>, ApiError> {
        if self.pools.is_empty() || self.pools.len() > MAX_FORWARD_POOLS {
            return Err(ApiError::BadRequest(format!(
                "`pools` lists 1 to {MAX_FORWARD_POOLS} pools"
            )));
        }
        let mut read: Vec<(Name, u32)> = Vec::with_capacity(self.pools.len());
        for ForwardTo { pool, weight } in self.pools {
            let name: Name = pool.parse().map_err(|_| {
                ApiError::BadRequest(format!(
                    "`{}` is not a pool name (lower-case letters, digits and `-`)",
                    pool.escape_debug()
                ))
            })?;
            if read.iter().any(|(n, _)| *n == name) {
                return Err(ApiError::BadRequest(format!(
                    "`pools` lists {name} twice; give it one weight"
                )));
            }
            read.push((name, weight));
        }
        Ok(read)
    }
}

/// `?listener=PORT`, for a route name two listeners use.
#[derive(Debug, Default, Deserialize)]
pub struct Listener {
    pub listener: Option<String>,
}

/// Replaces a route's forward split.
pub struct SetForward {
    pub balancer: String,
    pub route: String,
    /// The port of the route's listener, when given.
    pub listener: Option<u32>,
    pub pools: Vec<(Name, u32)>,
}

impl Edit for SetForward {
    fn summary(&self) -> String {
        let split: Vec<String> = self
            .pools
            .iter()
            .take(5)
            .map(|(p, w)| format!("{p} {w}"))
            .collect();
        let more = self.pools.len().saturating_sub(5);
        let more = if more > 0 {
            format!(", {more} more")
        } else {
            String::new()
        };
        format!(
            "Forward route {} of loadbalancer/{} to {}{more}",
            self.route,
            self.balancer,
            split.join(", ")
        )
    }

    fn edit(&self, files: &[SourceFile], before: &Catalog) -> Result<FileEdit, ApiError> {
        let balancer = before
            .load_balancers
            .get(self.balancer.as_str())
            .ok_or_else(|| ApiError::NotFound {
                kind: "loadbalancer",
                name: self.balancer.clone(),
                hidden: None,
            })?;
        let index = file_of(files, &balancer.origin)?;
        let path = &files[index].path;
        let named: Vec<(usize, usize, u32)> = balancer
            .spec
            .listeners
            .iter()
            .enumerate()
            .flat_map(|(l, listener)| {
                listener
                    .routes
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.name.value.as_str() == self.route)
                    .map(move |(r, _)| (l, r, listener.port.value))
            })
            .filter(|(_, _, port)| self.listener.is_none_or(|p| p == *port))
            .collect();
        let (l, r) = match named.as_slice() {
            [] => {
                return Err(ApiError::NoSuchPart {
                    resource: format!("loadbalancer/{}", self.balancer),
                    part: "route",
                    name: match self.listener {
                        Some(port) => format!("{} on port {port}", self.route),
                        None => self.route.clone(),
                    },
                })
            }
            [(l, r, _)] => (*l, *r),
            several => {
                let ports: Vec<String> = several.iter().map(|(_, _, p)| p.to_string()).collect();
                return Err(ApiError::Invalid(format!(
                    "{path}:{}: route `{}` is on the listeners of ports {} of loadbalancer/{}; \
                     name one with ?listener=PORT",
                    balancer.origin.pos.line,
                    self.route,
                    ports.join(" and "),
                    self.balancer
                )));
            }
        };
        let route = &balancer.spec.listeners[l].routes[r];
        let other = match &route.action.value {
            Action::Forward(_) => None,
            Action::Redirect(_) => Some("a redirect"),
            Action::FixedResponse(_) => Some("a fixed response"),
        };
        if let Some(other) = other {
            return Err(ApiError::Invalid(format!(
                "{path}:{}: route `{}` of loadbalancer/{} is {other}, not a forward; \
                 change its action in git",
                route.action.pos.line, self.route, self.balancer
            )));
        }
        let pools: Vec<(String, u32)> = self
            .pools
            .iter()
            .map(|(p, w)| (p.to_string(), *w))
            .collect();
        let text = set_forward(&files[index].text, path, &self.balancer, l, r, &pools)?;
        Ok(FileEdit { index, text })
    }

    fn unchanged(&self) -> ApiError {
        ApiError::Invalid(format!(
            "route {} of loadbalancer/{} already forwards so",
            self.route, self.balancer
        ))
    }

    fn already_so(&self, before: &Catalog) -> Option<Change> {
        standing_for(
            before,
            &LOADBALANCER_ROUTES_UPDATE,
            Kind::LoadBalancer,
            &self.balancer,
        )
    }
}

pub(in crate::daemon::api) async fn set_forward_call(
    State(api): State<ApiState>,
    Extension(who): Extension<Caller>,
    Path((balancer, route)): Path<(String, String)>,
    Query(wait): Query<Wait>,
    Query(listener): Query<Listener>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        let listener = match listener.listener.as_deref() {
            None => None,
            Some(port) => Some(
                port.parse::<u16>()
                    .map_err(|_| ApiError::BadRequest("`listener` is a port, 1 to 65535".into()))?,
            ),
        };
        if route.is_empty() || route.len() > 255 || route.chars().any(char::is_control) {
            return Err(ApiError::BadRequest(
                "the route is named by 1 to 255 characters without control characters".into(),
            ));
        }
        let forward: NewForward =
            serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let pools = forward.read()?;
        may(
            &who,
            &LOADBALANCER_ROUTES_UPDATE,
            Kind::LoadBalancer,
            &balancer,
        )?;
        let edit = Arc::new(SetForward {
            balancer,
            route,
            listener: listener.map(u32::from),
            pools,
        });
        write_call(&api, who, edit, &wait, &headers, &body).await
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}
