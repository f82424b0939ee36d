//! The write endpoints: each is an [`Edit`] of one resource's YAML, which
//! the [writer](super::writer) makes a signed commit on the watched
//! branch, judged and applied like any other.
//!
//! * here: register a target ([`AddTarget`]), and what every write
//!   shares: bounded input, the resource's file, and the early refusal
//!   of a caller that may not make the call's action at all;
//! * [`targets`]: deregister ([`RemoveTarget`]), drain ([`DrainTarget`]),
//!   set weights ([`SetWeights`]);
//! * [`forward`]: a route's forward split ([`SetForward`]).

mod forward;
mod targets;
#[cfg(test)]
pub(super) mod tests;

pub(super) use forward::set_forward_call;
pub use forward::{ForwardTo, NewForward, SetForward};
pub(super) use targets::{drain_target_call, remove_target_call, set_weights_call};
pub use targets::{DrainTarget, NewWeights, RemoveTarget, SetWeights};

use super::edit::add_target;
use super::error::ApiError;
use super::writer::{write_call, Edit, FileEdit, Wait};
use super::{ApiState, Caller};
use crate::authz::Change;
use crate::spec::actions::{Action, POOL_TARGETS_UPDATE};
use crate::spec::kinds::{Kind, Labels, Origin, ResourceId};
use crate::spec::units::Name;
use crate::spec::{Catalog, SourceFile};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use std::sync::Arc;

/// `POST /v1/pools/{name}/targets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    pub address: String,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// The address goes into the YAML as a quoted scalar: no line breaks or
/// other control characters, whatever the validation would say.
pub(super) fn check_address(address: &str) -> Result<(), ApiError> {
    if address.is_empty() || address.len() > 255 || address.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "`address` is host:port, 1 to 255 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// The index in `files` of pool `name`'s file, and the line its document starts on.
fn pool_file(files: &[SourceFile], before: &Catalog, name: &str) -> Result<(usize, u32), ApiError> {
    let pool = before.pools.get(name).ok_or_else(|| ApiError::NotFound {
        kind: "pool",
        name: name.to_owned(),
        hidden: None,
    })?;
    Ok((file_of(files, &pool.origin)?, pool.origin.pos.line))
}

/// The index in `files` of the file a resource comes from.
fn file_of(files: &[SourceFile], origin: &Origin) -> Result<usize, ApiError> {
    files
        .iter()
        .position(|f| f.path.as_str() == &*origin.file)
        .ok_or_else(|| ApiError::Repository(format!("{} is not in the tree", origin.file)))
}

/// Refuses, before any work, a caller that may not make `action` at all,
/// or not on resource `kind` `name` as the trusted commit has it. So a
/// refused call costs nothing, and the `404` of a target or route that
/// is not there answers only a caller that may change the resource. The
/// writer still authorizes exactly what the edit changes, at the head.
pub(super) fn may(
    caller: &Caller,
    action: &'static Action,
    kind: Kind,
    name: &str,
) -> Result<(), ApiError> {
    let policy = &caller.view.catalog;
    let forbidden = |denied| ApiError::Forbidden(Box::new(denied));
    caller.holds_action(action).map_err(forbidden)?;
    let labels = match kind {
        Kind::Pool => policy.pools.get(name).map(|r| &r.labels),
        Kind::LoadBalancer => policy.load_balancers.get(name).map(|r| &r.labels),
        _ => None,
    };
    if let (Some(labels), Ok(name)) = (labels, name.parse::<Name>()) {
        let change = Change::on(action, ResourceId::new(kind, name), labels.clone());
        let _permit = caller.authorize(&change).map_err(forbidden)?;
    }
    Ok(())
}

/// The change a call that sets `action`'s values of `kind` `name` stands
/// for, as the head `before` has the resource: what the caller must be
/// allowed when the head already has those values.
fn standing_for(
    before: &Catalog,
    action: &'static Action,
    kind: Kind,
    name: &str,
) -> Option<Change> {
    let labels: &Labels = match kind {
        Kind::Pool => &before.pools.get(name)?.labels,
        Kind::LoadBalancer => &before.load_balancers.get(name)?.labels,
        _ => return None,
    };
    let name = name.parse::<Name>().ok()?;
    Some(Change::on(
        action,
        ResourceId::new(kind, name),
        labels.clone(),
    ))
}

/// Registers a target in a pool.
pub struct AddTarget {
    pub pool: String,
    pub target: NewTarget,
}

impl Edit for AddTarget {
    fn summary(&self) -> String {
        format!("Register {} in pool/{}", self.target.address, self.pool)
    }

    fn edit(&self, files: &[SourceFile], before: &Catalog) -> Result<FileEdit, ApiError> {
        let (index, line) = pool_file(files, before, &self.pool)?;
        let text = add_target(
            &files[index].text,
            &files[index].path,
            line,
            &self.target.address,
            self.target.weight,
        )?;
        Ok(FileEdit { index, text })
    }

    fn unchanged(&self) -> ApiError {
        ApiError::Invalid(format!(
            "pool/{} already has target {}",
            self.pool, self.target.address
        ))
    }
}

pub(super) async fn add_target_call(
    State(api): State<ApiState>,
    Extension(who): Extension<Caller>,
    Path(name): Path<String>,
    Query(wait): Query<Wait>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        let target: NewTarget =
            serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        check_address(&target.address)?;
        may(&who, &POOL_TARGETS_UPDATE, Kind::Pool, &name)?;
        let edit = Arc::new(AddTarget { pool: name, target });
        write_call(&api, who, edit, &wait, &headers, &body).await
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}
