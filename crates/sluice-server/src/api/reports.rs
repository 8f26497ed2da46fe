//! The funnel and attribution reports over HTTP.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::Timestamp;
use sluice_core::analytics::{AttributionSettings, Cohort};
use utoipa::IntoParams;

use super::ApiQuery;
use crate::error::ApiError;
use crate::reports::{Period, attribution_report, funnel_report};
use crate::state::AppState;

/// The report routes (authenticated with the rest of the API by the caller).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports/funnel", get(funnel))
        .route("/api/v1/reports/attribution", get(attribution))
}

/// A date or time of a query parameter.
fn date(field: &str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| super::timestamp(field, t))
        .transpose()
}

fn period(from: Option<&str>, to: Option<&str>) -> Result<Period, ApiError> {
    Ok(Period {
        from: date("from", from)?,
        to: date("to", to)?,
    })
}

/// The funnel report's options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FunnelQuery {
    /// Cohorts of MQLs by `week` (ISO, the default) or `month`.
    #[param(pattern = "^(week|month)$")]
    by: Option<String>,
    /// Leads first seen from this date (default, or empty: all).
    #[param(value_type = Option<super::WhenOrEmpty>)]
    from: Option<String>,
    /// Leads first seen before this date (default, or empty: all).
    #[param(value_type = Option<super::WhenOrEmpty>)]
    to: Option<String>,
}

/// The funnel lead → MQL → SAL → SQL → opportunity → won: counts, conversions, median days
/// between stages, win rate, pipeline and bookings, revenue per MQL and MQL contact rate, in
/// total and per MQL cohort, `lead_source`, first-touch UTM source, channel (medium) and
/// campaign, grade at MQL and model version.
#[utoipa::path(get, path = "/api/v1/reports/funnel", tag = "reports", params(FunnelQuery),
    responses((status = 200, description = "`{from, to, by, report: {cohort, total, by_cohort, by_source, by_utm_source, by_channel, by_campaign, by_grade, by_model_version}}`", body = Object),
        (status = 422, description = "A bad date or cohort")))]
pub async fn funnel(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<FunnelQuery>,
) -> Result<Json<Value>, ApiError> {
    let cohort: Cohort = query
        .by
        .as_deref()
        .unwrap_or("week")
        .parse()
        .map_err(|e: String| ApiError::unprocessable(format!("by: {e}")))?;
    let period = period(query.from.as_deref(), query.to.as_deref())?;
    let model = state.live.read().expect("live state lock").model().clone();
    let report = funnel_report(&state.store, &model, period, cohort).await?;
    Ok(Json(json!({
        "from": period.from,
        "to": period.to,
        "by": cohort,
        "utm": "first touch: the UTM fields of each lead's first event that carried any",
        "report": report,
    })))
}

/// The attribution report's options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttributionQuery {
    /// Leave out features shown by fewer leads (default 20).
    #[param(minimum = 1)]
    min_leads: Option<i64>,
    /// Leads first seen from this date (default, or empty: all).
    #[param(value_type = Option<super::WhenOrEmpty>)]
    from: Option<String>,
    /// Leads first seen before this date (default, or empty: all).
    #[param(value_type = Option<super::WhenOrEmpty>)]
    to: Option<String>,
}

/// Which actions and traits go with pipeline and bookings: for every engagement rule and fit
/// rule of the model in force, every event name and every categorical attribute value, the
/// leads that showed it before their opportunity, their conversion to opportunity and to won
/// against the base rate (lift, 95 % Wilson interval), pipeline and bookings per lead; ranked
/// by lift; rules whose points disagree with the evidence are flagged.
#[utoipa::path(get, path = "/api/v1/reports/attribution", tag = "reports", params(AttributionQuery),
    responses((status = 200, description = "`{from, to, model_version, report: {settings, leads, opportunities, won, opportunity_rate, won_rate, rows: [...], below_support, skipped_attributes}}`", body = Object),
        (status = 422, description = "A bad date or minimum")))]
pub async fn attribution(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AttributionQuery>,
) -> Result<Json<Value>, ApiError> {
    let period = period(query.from.as_deref(), query.to.as_deref())?;
    let (model, version) = {
        let live = state.live.read().expect("live state lock");
        (live.model().clone(), live.version().to_string())
    };
    let mut settings = AttributionSettings::for_model(&model);
    if let Some(min) = query.min_leads {
        settings.min_leads = u64::try_from(min)
            .ok()
            .filter(|&m| m >= 1)
            .ok_or_else(|| ApiError::unprocessable(format!("min_leads: {min} is not 1 or more")))?;
    }
    let report = attribution_report(&state.store, &model, period, &settings).await?;
    Ok(Json(json!({
        "from": period.from,
        "to": period.to,
        "model_version": version,
        "report": report,
    })))
}
