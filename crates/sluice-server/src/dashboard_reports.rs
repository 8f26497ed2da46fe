//! The dashboard's `/reports` page: the funnel by source, and the actions and traits that go
//! with revenue (attribution), with the rules whose points disagree with the evidence.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use sluice_core::analytics::{
    AttributionRow, AttributionSettings, Cohort, FeatureKind, Flag, FunnelRow,
};

use super::{Failure, MISSING, Session, page, when};
use crate::reports::{Period, both_reports, dollars, thousands};
use crate::state::AppState;

/// Attribution rows shown at each end of the ranking.
const SHOWN: usize = 10;

/// One group of the funnel, for people.
pub(super) struct FunnelLine {
    pub(super) name: String,
    pub(super) leads: String,
    pub(super) mqls: String,
    pub(super) sals: String,
    pub(super) opportunities: String,
    pub(super) won: String,
    pub(super) lead_to_mql: String,
    pub(super) mql_to_opportunity: String,
    pub(super) win_rate: String,
    pub(super) pipeline: String,
    pub(super) bookings: String,
    pub(super) revenue_per_mql: String,
}

impl FunnelLine {
    pub(super) fn new(name: String, row: &FunnelRow) -> FunnelLine {
        FunnelLine {
            name,
            leads: thousands(row.reached.lead),
            mqls: thousands(row.reached.mql),
            sals: thousands(row.reached.sal),
            opportunities: thousands(row.reached.opportunity),
            won: thousands(row.reached.won),
            lead_to_mql: percent(row.conversion.mql),
            mql_to_opportunity: percent(row.mql_to_opportunity),
            win_rate: percent(row.win_rate),
            pipeline: dollars(row.pipeline),
            bookings: dollars(row.bookings),
            revenue_per_mql: row.revenue_per_mql.map_or(MISSING.to_string(), dollars),
        }
    }
}

/// One attribution row, for people.
struct AttributionLine {
    kind: &'static str,
    feature: String,
    points: String,
    leads: String,
    opportunities: String,
    rate: String,
    lift: String,
    interval: String,
    bookings_per_lead: String,
    flag: Option<&'static str>,
}

impl From<&AttributionRow> for AttributionLine {
    fn from(row: &AttributionRow) -> Self {
        let lift = row.opportunity_lift;
        AttributionLine {
            kind: match row.kind {
                FeatureKind::EngagementRule => "engagement rule",
                FeatureKind::FitRule => "fit rule",
                FeatureKind::Event => "event",
                FeatureKind::Attribute => "attribute",
            },
            feature: row.feature.clone(),
            points: row.points.map_or(String::new(), super::signed),
            leads: thousands(row.leads),
            opportunities: thousands(row.opportunities),
            rate: percent(Some(row.opportunity_rate)),
            lift: lift.map_or(MISSING.to_string(), |l| format!("{:.2}×", l.value)),
            interval: lift.map_or(String::new(), |l| format!("{:.2}–{:.2}", l.low, l.high)),
            bookings_per_lead: dollars(row.bookings_per_lead),
            flag: row.flag.map(|f| match f {
                Flag::PointsWithoutLift => "points without lift",
                Flag::LiftWithoutPoints => "lift without points",
            }),
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/reports.html")]
struct ReportsPage {
    as_of: String,
    model_version: String,
    total: FunnelLine,
    sources: Vec<FunnelLine>,
    leads: String,
    base_rate: String,
    min_leads: String,
    strong_lift: String,
    many_points: String,
    top: Vec<AttributionLine>,
    bottom: Vec<AttributionLine>,
    flagged: Vec<AttributionLine>,
    below_support: String,
}

/// `/reports`: the funnel by source and attribution, over every lead.
pub(super) async fn reports_page(
    session: Session,
    State(state): State<AppState>,
) -> Result<Response, Failure> {
    session.allow(&[
        crate::trust::Role::Admin,
        crate::trust::Role::Marketing,
        crate::trust::Role::SalesManager,
        crate::trust::Role::Analyst,
    ])?;
    let (model, version) = {
        let live = state.live.read().expect("live state lock");
        (live.model().clone(), live.version().to_string())
    };
    let settings = AttributionSettings::for_model(&model);
    let (funnel, attribution) = both_reports(
        &state.store,
        &model,
        Period::default(),
        Cohort::Week,
        &settings,
    )
    .await?;
    let rows = &attribution.rows;
    let top: Vec<AttributionLine> = rows.iter().take(SHOWN).map(Into::into).collect();
    let bottom: Vec<AttributionLine> = rows
        .iter()
        .skip(top.len())
        .rev()
        .take(SHOWN)
        .map(Into::into)
        .collect();
    let view = ReportsPage {
        as_of: when(state.clock.now().millis()),
        model_version: version,
        total: FunnelLine::new("all leads".into(), &funnel.total),
        sources: funnel
            .by_source
            .iter()
            .map(|row| {
                let name = row.key.clone().unwrap_or_else(|| "(none)".into());
                FunnelLine::new(name, row)
            })
            .collect(),
        leads: thousands(attribution.leads),
        base_rate: percent(attribution.opportunity_rate),
        min_leads: thousands(settings.min_leads),
        strong_lift: format!("{:.1}", settings.strong_lift),
        many_points: super::points(settings.many_points),
        top,
        bottom,
        flagged: rows
            .iter()
            .filter(|r| r.flag.is_some())
            .map(Into::into)
            .collect(),
        below_support: thousands(attribution.below_support),
    };
    Ok(page(StatusCode::OK, &view))
}

fn percent(x: Option<f64>) -> String {
    x.map_or(MISSING.to_string(), |x| format!("{:.1} %", x * 100.0))
}
