//! The read endpoints (`state.read`): balancers, pools and a pool's
//! targets of the applied commit, with live health.
//!
//! A caller without `state.read` at all (its token's scopes, or its
//! account's roles, or an inactive owner) is refused with `403`. One that
//! holds it sees what its rules and token cover: a list leaves out the
//! rest, and asking for one of the rest by name answers `404`, exactly as
//! for a name that does not exist, so a token cannot probe for names.

use super::error::ApiError;
use super::{view, ApiState, Caller};
use crate::authz::{Change, Denied, Permit};
use crate::spec::actions::STATE_READ;
use crate::spec::kinds::{Kind, Resource, ResourceId};
use crate::spec::units::Name;
use axum::extract::{Path, State};
use axum::Extension;
use axum::Json;

/// May `caller` read `resource` of `kind`?
fn read(caller: &Caller, kind: Kind, resource: &Resource<impl Sized>) -> Result<Permit, Denied> {
    let id = ResourceId::new(kind, resource.name.clone());
    let change = Change::on(&STATE_READ, id, resource.labels.clone());
    caller.authorize_read(&change)
}

/// Refuses a caller that may read nothing.
fn may_read_any(caller: &Caller) -> Result<(), ApiError> {
    caller
        .holds_action(&STATE_READ)
        .map_err(|denied| ApiError::Forbidden(Box::new(denied)))
}

/// The name as a 404 may repeat it: only a valid resource name.
fn shown(name: &str) -> String {
    match name.parse::<Name>() {
        Ok(name) => name.to_string(),
        Err(_) => "(not a resource name)".to_owned(),
    }
}

/// The resource `name` in `all`, if `caller` may read it; else the same
/// 404 whether it exists or not.
fn find<'a, S>(
    caller: &Caller,
    kind: Kind,
    all: &'a std::collections::BTreeMap<Name, Resource<S>>,
    name: &str,
) -> Result<&'a Resource<S>, ApiError> {
    let not_found = |hidden| ApiError::NotFound {
        kind: kind.id_prefix(),
        name: shown(name),
        hidden,
    };
    let found = all.get(name).ok_or_else(|| not_found(None))?;
    let _permit = read(caller, kind, found).map_err(|denied| not_found(Some(Box::new(denied))))?;
    Ok(found)
}

pub(super) async fn pools(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<view::Pools>, ApiError> {
    may_read_any(&caller)?;
    let observed = api.live.observed().await;
    let pools = caller
        .view
        .catalog
        .pools
        .values()
        .filter(|p| read(&caller, Kind::Pool, p).is_ok())
        .map(|p| view::pool(p, observed.as_deref()))
        .collect();
    Ok(Json(view::Pools {
        commit: caller.view.commit.to_string(),
        observed: observed.is_some(),
        pools,
    }))
}

pub(super) async fn pool(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<view::PoolAt>, ApiError> {
    may_read_any(&caller)?;
    let found = find(&caller, Kind::Pool, &caller.view.catalog.pools, &name)?;
    let observed = api.live.observed().await;
    Ok(Json(view::PoolAt {
        commit: caller.view.commit.to_string(),
        observed: observed.is_some(),
        pool: view::pool(found, observed.as_deref()),
    }))
}

pub(super) async fn pool_targets(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<view::PoolTargets>, ApiError> {
    may_read_any(&caller)?;
    let found = find(&caller, Kind::Pool, &caller.view.catalog.pools, &name)?;
    let observed = api.live.observed().await;
    let pool = view::pool(found, observed.as_deref());
    Ok(Json(view::PoolTargets {
        commit: caller.view.commit.to_string(),
        observed: observed.is_some(),
        pool: pool.name,
        targets: pool.targets,
    }))
}

pub(super) async fn balancers(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<view::Balancers>, ApiError> {
    may_read_any(&caller)?;
    let observed = api.live.observed().await;
    let balancers = caller
        .view
        .catalog
        .load_balancers
        .values()
        .filter(|b| read(&caller, Kind::LoadBalancer, b).is_ok())
        .map(|b| view::balancer(b, observed.as_deref()))
        .collect();
    Ok(Json(view::Balancers {
        commit: caller.view.commit.to_string(),
        observed: observed.is_some(),
        balancers,
    }))
}

pub(super) async fn balancer(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<Json<view::BalancerAt>, ApiError> {
    may_read_any(&caller)?;
    let found = find(
        &caller,
        Kind::LoadBalancer,
        &caller.view.catalog.load_balancers,
        &name,
    )?;
    let observed = api.live.observed().await;
    Ok(Json(view::BalancerAt {
        commit: caller.view.commit.to_string(),
        observed: observed.is_some(),
        balancer: view::balancer(found, observed.as_deref()),
    }))
}
