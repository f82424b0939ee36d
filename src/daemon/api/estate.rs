//! `GET /v1/estate` (`state.read`): the estate page's view model as JSON
//! ([`Estate`]), what `lbops status` draws. Like the other reads, a
//! caller sees the balancers and pools its rules and token cover, and
//! nothing of the rest.

use super::error::ApiError;
use super::{ApiState, Caller};
use crate::authz::Change;
use crate::daemon::pages::estate::model::Estate;
use crate::spec::actions::STATE_READ;
use crate::spec::kinds::{Kind, Labels, ResourceId};
use crate::spec::units::Name;
use axum::extract::State;
use axum::{Extension, Json};

pub(super) async fn estate(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Estate>, ApiError> {
    caller
        .holds_action(&STATE_READ)
        .map_err(|denied| ApiError::Forbidden(Box::new(denied)))?;
    let may_read = |kind: Kind, name: &Name, labels: &Labels| {
        let change = Change::on(
            &STATE_READ,
            ResourceId::new(kind, name.clone()),
            labels.clone(),
        );
        caller.authorize_read(&change).is_ok()
    };
    let estate =
        crate::daemon::pages::estate::current(&api.live, &api.trusted, &api.estate, &may_read)
            .await;
    Ok(Json(estate))
}
