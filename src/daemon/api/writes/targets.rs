//! A pool's targets by address: deregister one (`DELETE
//! /v1/pools/{name}/targets/{address}`), drain one (`POST
//! …/{address}/drain`: weight 0, so it gets no new requests but stays
//! registered and finishes what it has in flight), and set the weights of
//! some (`PUT /v1/pools/{name}/weights`). Draining and setting weights
//! are `pool.weights.update`, and a weight a target already has is
//! success without a commit; deregistering is `pool.targets.update`.

use super::{check_address, may, pool_file, standing_for, ApiError};
use crate::authz::Change;
use crate::daemon::api::edit::{remove_target, set_target_weights, TargetAt, TargetList};
use crate::daemon::api::writer::{write_call, Edit, FileEdit, Wait};
use crate::daemon::api::{ApiState, Caller};
use crate::spec::actions::{POOL_TARGETS_UPDATE, POOL_WEIGHTS_UPDATE};
use crate::spec::kinds::pool::{PoolSpec, Target};
use crate::spec::kinds::{Kind, Resource};
use crate::spec::units::TargetAddr;
use crate::spec::{Catalog, SourceFile};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most targets one `PUT …/weights` may set.
pub const MAX_WEIGHTS: usize = 1000;

/// `address` from a path or a body: bounded, then read as `host:port`.
fn address(text: &str) -> Result<TargetAddr, ApiError> {
    check_address(text)?;
    text.parse().map_err(ApiError::BadRequest)
}

/// Where `address` is in pool `pool` of `before` (which has the pool).
fn find<'c>(
    before: &'c Catalog,
    pool: &str,
    address: &TargetAddr,
) -> Result<(&'c Resource<PoolSpec>, TargetAt), ApiError> {
    let resource = before.pools.get(pool).ok_or_else(|| ApiError::NotFound {
        kind: "pool",
        name: pool.to_owned(),
        hidden: None,
    })?;
    let index_in = |targets: &[Target]| targets.iter().position(|t| t.address.value == *address);
    let at = match (
        index_in(&resource.spec.targets),
        index_in(&resource.spec.backup_targets),
    ) {
        (Some(index), _) => TargetAt {
            list: TargetList::Primary,
            index,
        },
        (None, Some(index)) => TargetAt {
            list: TargetList::Backup,
            index,
        },
        (None, None) => {
            return Err(ApiError::NoSuchPart {
                resource: format!("pool/{pool}"),
                part: "target",
                name: address.to_string(),
            })
        }
    };
    Ok((resource, at))
}

/// Deregisters a target: it leaves the pool (the data plane lets its
/// in-flight requests finish within the pool's `draining_timeout`).
pub struct RemoveTarget {
    pub pool: String,
    pub address: TargetAddr,
}

impl Edit for RemoveTarget {
    fn summary(&self) -> String {
        format!("Deregister {} from pool/{}", self.address, self.pool)
    }

    fn edit(&self, files: &[SourceFile], before: &Catalog) -> Result<FileEdit, ApiError> {
        let (index, _) = pool_file(files, before, &self.pool)?;
        let (pool, at) = find(before, &self.pool, &self.address)?;
        if at.list == TargetList::Primary && pool.spec.targets.len() == 1 {
            // Valid YAML, but a pool that sends its traffic nowhere is
            // not what a deregistration means to do.
            return Err(ApiError::Invalid(format!(
                "{}:{}: {} is the last target of pool/{}; register another target first, \
                 or take the pool out of its routes and delete it in git",
                files[index].path, pool.spec.targets[0].address.pos.line, self.address, self.pool
            )));
        }
        let text = remove_target(&files[index].text, &files[index].path, &self.pool, at)?;
        Ok(FileEdit { index, text })
    }

    fn unchanged(&self) -> ApiError {
        ApiError::Invalid(format!(
            "deregistering {} changes nothing in pool/{}",
            self.address, self.pool
        ))
    }
}

/// Drains a target: weight 0, still registered.
pub struct DrainTarget {
    pub pool: String,
    pub address: TargetAddr,
}

impl Edit for DrainTarget {
    fn summary(&self) -> String {
        format!("Drain {} in pool/{} (weight 0)", self.address, self.pool)
    }

    fn edit(&self, files: &[SourceFile], before: &Catalog) -> Result<FileEdit, ApiError> {
        let (index, _) = pool_file(files, before, &self.pool)?;
        let (_, at) = find(before, &self.pool, &self.address)?;
        let file = &files[index];
        let text = set_target_weights(&file.text, &file.path, &self.pool, &[(at, 0)])?;
        Ok(FileEdit { index, text })
    }

    fn unchanged(&self) -> ApiError {
        ApiError::Invalid(format!(
            "{} in pool/{} is already drained",
            self.address, self.pool
        ))
    }

    fn already_so(&self, before: &Catalog) -> Option<Change> {
        standing_for(before, &POOL_WEIGHTS_UPDATE, Kind::Pool, &self.pool)
    }
}

/// `PUT /v1/pools/{name}/weights`: `{"weights": {"10.0.0.1:80": 3}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWeights {
    pub weights: BTreeMap<String, u32>,
}

impl NewWeights {
    /// The weights by address: 1 to [`MAX_WEIGHTS`] of them, each address
    /// a `host:port` written once.
    fn read(self) -> Result<Vec<(TargetAddr, u32)>, ApiError> {
        if self.weights.is_empty() || self.weights.len() > MAX_WEIGHTS {
            return Err(ApiError::BadRequest(format!(
                "`weights` sets 1 to {MAX_WEIGHTS} targets' weights"
            )));
        }
        let mut read: Vec<(TargetAddr, u32)> = Vec::with_capacity(self.weights.len());
        for (text, weight) in &self.weights {
            let parsed = address(text)?;
            if read.iter().any(|(a, _)| *a == parsed) {
                return Err(ApiError::BadRequest(format!(
                    "`weights` names {parsed} twice (as `{text}` and another spelling)"
                )));
            }
            read.push((parsed, *weight));
        }
        Ok(read)
    }
}

/// Sets the weights of some targets of a pool; the others keep theirs.
pub struct SetWeights {
    pub pool: String,
    pub weights: Vec<(TargetAddr, u32)>,
}

impl Edit for SetWeights {
    fn summary(&self) -> String {
        const SHOWN: usize = 3;
        let mut shown: Vec<String> = self
            .weights
            .iter()
            .take(SHOWN)
            .map(|(a, w)| format!("{a} {w}"))
            .collect();
        if self.weights.len() > SHOWN {
            shown.push(format!("{} more", self.weights.len() - SHOWN));
        }
        format!("Set weights in pool/{}: {}", self.pool, shown.join(", "))
    }

    fn edit(&self, files: &[SourceFile], before: &Catalog) -> Result<FileEdit, ApiError> {
        let (index, line) = pool_file(files, before, &self.pool)?;
        let mut found = Vec::with_capacity(self.weights.len());
        let mut unknown = Vec::new();
        for (address, weight) in &self.weights {
            match find(before, &self.pool, address) {
                Ok((_, at)) => found.push((at, *weight)),
                Err(ApiError::NoSuchPart { .. }) => unknown.push(address.to_string()),
                Err(other) => return Err(other),
            }
        }
        if !unknown.is_empty() {
            return Err(ApiError::Invalid(format!(
                "{}:{line}: pool/{} has no target {}; list its targets with GET /v1/pools/{}/targets",
                files[index].path,
                self.pool,
                unknown.join(", "),
                self.pool
            )));
        }
        let file = &files[index];
        let text = set_target_weights(&file.text, &file.path, &self.pool, &found)?;
        Ok(FileEdit { index, text })
    }

    fn unchanged(&self) -> ApiError {
        ApiError::Invalid(format!("pool/{} already has these weights", self.pool))
    }

    fn already_so(&self, before: &Catalog) -> Option<Change> {
        standing_for(before, &POOL_WEIGHTS_UPDATE, Kind::Pool, &self.pool)
    }
}

pub(in crate::daemon::api) async fn remove_target_call(
    State(api): State<ApiState>,
    Extension(who): Extension<Caller>,
    Path((pool, target)): Path<(String, String)>,
    Query(wait): Query<Wait>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        let address = address(&target)?;
        may(&who, &POOL_TARGETS_UPDATE, Kind::Pool, &pool)?;
        let edit = Arc::new(RemoveTarget { pool, address });
        write_call(&api, who, edit, &wait, &headers, &body).await
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

pub(in crate::daemon::api) async fn drain_target_call(
    State(api): State<ApiState>,
    Extension(who): Extension<Caller>,
    Path((pool, target)): Path<(String, String)>,
    Query(wait): Query<Wait>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        let address = address(&target)?;
        may(&who, &POOL_WEIGHTS_UPDATE, Kind::Pool, &pool)?;
        let edit = Arc::new(DrainTarget { pool, address });
        write_call(&api, who, edit, &wait, &headers, &body).await
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

pub(in crate::daemon::api) async fn set_weights_call(
    State(api): State<ApiState>,
    Extension(who): Extension<Caller>,
    Path(pool): Path<String>,
    Query(wait): Query<Wait>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        let weights: NewWeights =
            serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let weights = weights.read()?;
        may(&who, &POOL_WEIGHTS_UPDATE, Kind::Pool, &pool)?;
        let edit = Arc::new(SetWeights { pool, weights });
        write_call(&api, who, edit, &wait, &headers, &body).await
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}
