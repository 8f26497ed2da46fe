//! The dashboard at `/`: server-rendered HTML (askama templates in `templates/dashboard/`),
//! readable without JavaScript. It shows lead data, so every page but the sign-in form needs a
//! session: `POST /login` (email and password, or a token) or a one-time link starts one, and
//! the `sluice_session` cookie carries its random id. What a page shows follows the person's
//! role: a rep sees only their leads, a manager their team's, an analyst the reports.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::Value;
use sluice_core::analytics::StageCounts;
use sluice_core::engine::{BantStatus, Explanation, Skip};
use sluice_core::event::Attributes;
use sluice_core::handoff::{SlaFigures, SlaReport};
use sluice_core::{LeadScore, Qualification, Stage, Timestamp};
use sluice_store::{AccountRow, LeadFilter, LeadRow, LeadSort, Store, StoreError, TransitionRow};

use sluice_store::digest;

use crate::api::access::ClientAddress;
use crate::reports::thousands;

use crate::state::AppState;
use crate::trust::{self, Principal, Role, admin_session_owner};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sluice_session";

// A child module, so the reports page shares this module's session, rendering and helpers.
#[path = "dashboard_reports.rs"]
mod reports;

#[path = "dashboard_icon.rs"]
mod icon;

/// The dashboard's routes: `/login`, `/logout`, `/`, `/leads/{id}` and `/reports`, and its
/// icon (`/favicon.svg`, and `/favicon.ico` for what asks for that).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/favicon.svg", get(icon::svg))
        .route("/favicon.ico", get(icon::ico))
        .route("/login", get(login_form).post(login))
        .route("/login/link/{secret}", get(login_link))
        .route("/logout", axum::routing::post(logout))
        .route("/", get(overview))
        .route("/leads/{id}", get(lead_page))
        .route("/reports", get(reports::reports_page))
}

// ---------------------------------------------------------------------------------------------
// Session
// ---------------------------------------------------------------------------------------------

/// A signed-in request: its `sluice_session` cookie holds the id of a session stored (by
/// digest) in the database. Without a live one, the request is redirected to `/login`.
pub struct Session(pub Principal);

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match signed_in(&parts.headers, state).await {
            Ok(Some(principal)) => Ok(Session(principal)),
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(Failure::from(e).into_response()),
        }
    }
}

impl Session {
    /// A page this role may not see: 403 with a page saying so.
    fn allow(&self, roles: &[Role]) -> Result<(), Failure> {
        if roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(Failure::Forbidden(format!(
                "Your role ({}) cannot see this page.",
                self.0.role
            )))
        }
    }
}

/// Who the session cookie belongs to, if it names a live session.
async fn signed_in(headers: &HeaderMap, state: &AppState) -> Result<Option<Principal>, StoreError> {
    let Some(secret) = session_secret(headers) else {
        return Ok(None);
    };
    let session = state
        .store
        .session(&digest(&secret), state.clock.now().millis())
        .await?;
    Ok(match session {
        Some((_, Some(user))) => Some(Principal::of_user(user, None)),
        Some((owner, None)) if owner == admin_session_owner(&state.admin_token) => {
            Some(Principal::bootstrap(None))
        }
        _ => None,
    })
}

/// The session id in the cookie.
fn session_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// Behind an HTTPS proxy (`X-Forwarded-Proto: https`) the cookie is `Secure`.
fn behind_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn session_cookie(secret: &str, ttl: std::time::Duration, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ttl.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

fn expired_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    error: Option<&'static str>,
}

async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if matches!(signed_in(&headers, &state).await, Ok(Some(_))) {
        return Redirect::to("/").into_response();
    }
    page(StatusCode::OK, &LoginPage { error: None })
}

/// Starts a session for `owner` and sends the browser on to `/`.
async fn open_session(
    state: &AppState,
    headers: &HeaderMap,
    owner: &str,
    actor: Principal,
) -> Response {
    let now = state.clock.now();
    match trust::start_session(&state.store, owner, now, state.session_ttl).await {
        Ok(secret) => {
            let entry = actor.audit(now, "session.start", Some(actor.user_id()), None);
            if let Err(e) = state.store.audit(&entry).await {
                tracing::error!(error = %e, "could not append to the audit log");
            }
            let mut response = Redirect::to("/").into_response();
            set_cookie(
                &mut response,
                &session_cookie(&secret, state.session_ttl, behind_https(headers)),
            );
            response
        }
        Err(e) => Failure::from(e).into_response(),
    }
}

/// Signs in with an email and password, or with a token (the admin token or a personal API
/// token).
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let email = form_field(&body, "email").unwrap_or_default();
    let password = form_field(&body, "password").unwrap_or_default();
    let token = form_field(&body, "token").unwrap_or_default();
    if !email.trim().is_empty() {
        let user = match state.store.user_with_password(email.trim()).await {
            Ok(user) => user,
            Err(e) => return Failure::from(e).into_response(),
        };
        // The hash is checked even for an unknown email, so timing does not tell which
        // emails are users.
        let hash = user.as_ref().and_then(|(_, h)| h.clone());
        let matches = trust::verify_user_password(&password, hash.as_deref());
        if let (Some((user, _)), true) = (user, matches) {
            let owner = user.id.clone();
            return open_session(&state, &headers, &owner, Principal::of_user(user, address)).await;
        }
        tracing::warn!("dashboard sign-in with a wrong email or password");
        return page(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                error: Some("That email and password do not match."),
            },
        );
    }
    if !token.trim().is_empty() {
        match crate::api::access::principal_of_token(&state, &token, address).await {
            Ok(Some(principal)) => {
                let owner = match &principal.user {
                    Some(user) => user.id.clone(),
                    None => admin_session_owner(&state.admin_token),
                };
                return open_session(&state, &headers, &owner, principal).await;
            }
            Ok(None) => {}
            Err(e) => return e.into_response(),
        }
        tracing::warn!("dashboard sign-in with a wrong token");
        return page(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                error: Some("That token is not valid."),
            },
        );
    }
    page(
        StatusCode::UNAUTHORIZED,
        &LoginPage {
            error: Some("Enter your email and password, or a token."),
        },
    )
}

/// `/login/link/{secret}`: a one-time sign-in link (`sluice user link`).
async fn login_link(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Path(secret): Path<String>,
) -> Response {
    match state
        .store
        .take_sign_in_link(&digest(&secret), state.clock.now().millis())
        .await
    {
        Ok(Some(user)) => {
            let owner = user.id.clone();
            open_session(&state, &headers, &owner, Principal::of_user(user, address)).await
        }
        Ok(None) => page(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                error: Some("That sign-in link is used or expired: ask for a new one."),
            },
        ),
        Err(e) => Failure::from(e).into_response(),
    }
}

/// Ends the session: it is deleted, not only forgotten by the browser.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(secret) = session_secret(&headers)
        && let Err(e) = state.store.delete_session(&digest(&secret)).await
    {
        return Failure::from(e).into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    set_cookie(&mut response, &expired_cookie());
    response
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    body.split(|&b| b == b'&').find_map(|pair| {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &[][..]),
        };
        (form_decode(key) == name).then(|| form_decode(value))
    })
}

/// Decodes `+` and `%XX` escapes; an invalid escape is kept as it is.
fn form_decode(raw: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

/// Renders a page with the headers every dashboard page carries: lead data is not cached,
/// framed, or allowed to load anything from elsewhere.
fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let headers = [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
                ),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::X_FRAME_OPTIONS, "DENY"),
                (header::REFERRER_POLICY, "same-origin"),
            ];
            (status, headers, html).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot render a dashboard page");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot render this page").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/message.html")]
struct MessagePage {
    title: &'static str,
    message: String,
}

#[derive(Template)]
#[template(path = "dashboard/not_found.html")]
struct NotFoundPage<'a> {
    path: &'a str,
}

/// The page for a path the dashboard does not have: `404`, with links to its pages. It shows
/// no data, so it needs no session.
pub fn not_found(path: &str) -> Response {
    page(StatusCode::NOT_FOUND, &NotFoundPage { path })
}

/// Why a page cannot be shown.
enum Failure {
    NotFound(String),
    Forbidden(String),
    Unavailable,
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage error on a dashboard page");
        Failure::Unavailable
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::NotFound(message) => page(
                StatusCode::NOT_FOUND,
                &MessagePage {
                    title: "Not found",
                    message,
                },
            ),
            Failure::Forbidden(message) => page(
                StatusCode::FORBIDDEN,
                &MessagePage {
                    title: "Not allowed",
                    message,
                },
            ),
            Failure::Unavailable => page(
                StatusCode::SERVICE_UNAVAILABLE,
                &MessagePage {
                    title: "Unavailable",
                    message: "Storage is unavailable; try again in a moment.".into(),
                },
            ),
        }
    }
}

/// Points for people: whole numbers without decimals, others with one.
fn points(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// Points with their sign, for contributions.
fn signed(value: f64) -> String {
    if value > 0.0 {
        format!("+{}", points(value))
    } else {
        points(value)
    }
}

fn sign_class(value: f64) -> &'static str {
    if value > 0.0 {
        "pos"
    } else if value < 0.0 {
        "neg"
    } else {
        ""
    }
}

fn when(millis: i64) -> String {
    Timestamp::from_millis(millis)
        .to_datetime()
        .format("%Y-%m-%d %H:%M UTC")
        .to_string()
}

fn stage_class(stage: Stage) -> &'static str {
    match stage {
        Stage::Lead | Stage::Mql | Stage::Sal | Stage::Sql | Stage::Opportunity => "",
        Stage::Won => "good",
        Stage::Recycled => "warn",
        Stage::Lost | Stage::Disqualified => "bad",
    }
}

/// An attribute value as text: strings as they are, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a page shows where a figure has no value (no MQL yet, nothing decided yet).
const MISSING: &str = "–";

/// The first of these attributes that holds some text.
fn attribute(attributes: &Attributes, keys: &[&str]) -> Option<String> {
    keys.iter()
        .filter_map(|key| attributes.get(*key))
        .map(|v| text(v).trim().to_string())
        .find(|t| !t.is_empty())
}

/// A person's name from their traits: `name`, else first and last name (Segment's reserved
/// traits `firstName`, `lastName`, or as CSV columns `first_name`, `last_name`).
fn person_name(attributes: &Attributes) -> Option<String> {
    attribute(attributes, &["name"]).or_else(|| {
        let first = attribute(attributes, &["first_name", "firstName"]);
        let last = attribute(attributes, &["last_name", "lastName"]);
        match (first, last) {
            (Some(first), Some(last)) => Some(format!("{first} {last}")),
            (first, last) => first.or(last),
        }
    })
}

/// An account's `name` trait, when it says more than its id.
fn account_name(row: &AccountRow) -> Option<String> {
    attribute(&row.attributes, &["name"]).filter(|n| *n != row.id)
}

/// Something with an id and a name for people (the id when it has none).
struct Named {
    id: String,
    name: String,
}

/// The names of those of these accounts that have one, by id.
async fn account_names(
    store: &Store,
    mut ids: Vec<String>,
) -> Result<HashMap<String, String>, StoreError> {
    ids.sort();
    ids.dedup();
    let accounts = store.accounts_by_id(&ids).await?;
    Ok(accounts
        .into_iter()
        .filter_map(|row| account_name(&row).map(|name| (row.id, name)))
        .collect())
}

/// Business time for people, to the minute: `45 min`, `3 h`, `2 h 15 min`.
fn duration(hours: f64) -> String {
    let minutes = (hours * 60.0).round() as i64;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// A share as a whole percentage, e.g. `64 %`.
fn share(x: f64) -> String {
    format!("{:.0} %", x * 100.0)
}

// ---------------------------------------------------------------------------------------------
// Overview
// ---------------------------------------------------------------------------------------------

struct ModelLine {
    name: String,
    version: String,
    /// While leads are still being rescored under it: how far that has come.
    rescoring: Option<String>,
}

struct FunnelRow {
    stage: Stage,
    /// The stage's pill style.
    class: &'static str,
    /// The bar's style.
    bar: &'static str,
    count: i64,
    /// `count` for people.
    shown: String,
    /// Leads whose history reached this stage (or beyond it on the main path).
    reached: Option<String>,
    /// What the stage means here, from the model's glossary.
    meaning: Option<String>,
    /// Reached this stage ÷ reached the one before.
    conversion: Option<String>,
    /// Bar width, in percent of all leads; none for an empty stage.
    width: Option<String>,
}

/// A lead in a list: who it is, its score and where it stands.
struct LeadLine {
    id: String,
    /// Its name, if its traits give one (else the list shows its id).
    name: Option<String>,
    /// Its job title.
    title: Option<String>,
    score: String,
    fit: String,
    engagement: String,
    grade: String,
    stage: Stage,
    class: &'static str,
    /// Its account's name (its id where it has none).
    account: Option<String>,
}

impl LeadLine {
    fn new(row: LeadRow, accounts: &HashMap<String, String>) -> Self {
        LeadLine {
            name: person_name(&row.attributes),
            title: attribute(&row.attributes, &["title"]),
            score: points(row.score),
            fit: points(row.fit),
            engagement: points(row.engagement),
            grade: row.grade,
            class: stage_class(row.stage),
            stage: row.stage,
            account: row
                .account_id
                .map(|id| accounts.get(&id).cloned().unwrap_or(id)),
            id: row.id,
        }
    }
}

struct AccountLine {
    id: String,
    name: Option<String>,
    score: String,
    fit: String,
    engagement: String,
    qualified: bool,
}

impl From<AccountRow> for AccountLine {
    fn from(row: AccountRow) -> Self {
        AccountLine {
            name: account_name(&row),
            score: points(row.score),
            fit: points(row.fit),
            engagement: points(row.engagement),
            qualified: row.qualified,
            id: row.id,
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    model: Option<ModelLine>,
    total: String,
    as_of: String,
    funnel: Vec<FunnelRow>,
    /// MQL quality per lead source: the sources that made MQLs.
    sources: Vec<reports::FunnelLine>,
    all_sources: reports::FunnelLine,
    /// Reps see their own work, not the sources' revenue (the reports page is not theirs).
    show_sources: bool,
    mqls: Vec<LeadLine>,
    recent: Vec<LeadLine>,
    accounts: Vec<AccountLine>,
    track_url: String,
    /// The SLAs the hand-off table has a column for.
    slas: Vec<SlaColumn>,
    handoff: Vec<HandoffLine>,
    breaches: usize,
}

/// An SLA of the hand-off table.
struct SlaColumn {
    id: String,
    /// What it promises, from the model.
    description: Option<String>,
}

/// One row of the hand-off card: everyone, a team or a rep, over the last 30 days.
struct HandoffLine {
    name: String,
    /// `team` or `rep`; none for everyone.
    kind: Option<&'static str>,
    mqls: String,
    /// Share of MQLs touched, e.g. `64 %`.
    contact: String,
    /// The same as counts, e.g. `9 of 14 MQLs touched`.
    touched: String,
    /// Median business time from assignment to first touch; none before a first touch.
    first_touch: Option<String>,
    /// Its 90th percentile.
    first_touch_p90: Option<String>,
    /// One per column of `slas`.
    compliance: Vec<SlaCell>,
}

/// How one group kept one SLA.
struct SlaCell {
    sla: String,
    met: u64,
    breached: u64,
    open: u64,
    /// met ÷ (met + breached), e.g. `92 %`; none while no step is decided.
    share: Option<String>,
}

impl HandoffLine {
    /// The line of one group, with the report's figures as they are (the API serves the
    /// same `SlaReport`).
    fn new(name: String, kind: Option<&'static str>, f: &SlaFigures, slas: &[SlaColumn]) -> Self {
        HandoffLine {
            name,
            kind,
            mqls: thousands(f.mqls),
            contact: f.contact_rate.map_or(MISSING.to_string(), share),
            touched: format!(
                "{} of {} MQL{} touched",
                thousands(f.touched),
                thousands(f.mqls),
                if f.mqls == 1 { "" } else { "s" }
            ),
            first_touch: f.first_touch_median_hours.map(duration),
            first_touch_p90: f.first_touch_p90_hours.map(duration),
            compliance: slas
                .iter()
                .map(|sla| {
                    let c = f.policies.get(&sla.id).cloned().unwrap_or_default();
                    SlaCell {
                        sla: sla.id.clone(),
                        met: c.met,
                        breached: c.breached,
                        open: c.open,
                        share: c.compliance.map(share),
                    }
                })
                .collect(),
        }
    }
}

/// The hand-off table: its SLA columns (in the model's order, then any SLA of an earlier model
/// that still has steps in the period), and a line for everyone, each team and each rep, by
/// their names.
fn handoff_table(
    report: &SlaReport,
    policy: &sluice_core::handoff::Policy,
    teams: &HashMap<String, String>,
    reps: &HashMap<String, String>,
) -> (Vec<SlaColumn>, Vec<HandoffLine>) {
    let mut slas: Vec<SlaColumn> = policy
        .slas
        .iter()
        .filter(|s| report.total.policies.contains_key(&s.id))
        .map(|s| SlaColumn {
            id: s.id.clone(),
            description: s.description.clone(),
        })
        .collect();
    for id in report.total.policies.keys() {
        if !slas.iter().any(|s| s.id == *id) {
            slas.push(SlaColumn {
                id: id.clone(),
                description: None,
            });
        }
    }
    let name = |names: &HashMap<String, String>, id: &str| {
        names.get(id).cloned().unwrap_or_else(|| id.to_string())
    };
    let mut lines = vec![HandoffLine::new(
        "All MQLs".into(),
        None,
        &report.total,
        &slas,
    )];
    lines.extend(
        report
            .teams
            .iter()
            .map(|(t, f)| HandoffLine::new(name(teams, t), Some("team"), f, &slas)),
    );
    lines.extend(
        report
            .reps
            .iter()
            .map(|(r, f)| HandoffLine::new(name(reps, r), Some("rep"), f, &slas)),
    );
    (slas, lines)
}

/// The main path of the funnel, in order; `lost` closes it beside `won`.
const MAIN: [Stage; 6] = [
    Stage::Lead,
    Stage::Mql,
    Stage::Sal,
    Stage::Sql,
    Stage::Opportunity,
    Stage::Won,
];

/// The funnel: the leads now in each stage, and the leads whose history reached each stage
/// of the main path (`reached`, from the report facts, as the funnel report counts them), so a
/// rejected or recycled MQL still counts as an MQL, and conversions compare like with like.
fn funnel(
    counts: &HashMap<String, i64>,
    reached: &StageCounts,
    glossary: &std::collections::BTreeMap<String, String>,
) -> Vec<FunnelRow> {
    let meaning = |stage: Stage| glossary.get(stage.as_str()).cloned();
    let count = |stage: Stage| counts.get(stage.as_str()).copied().unwrap_or(0);
    let total = reached.lead.max(1) as f64;
    let width = |n: u64| (n > 0).then(|| format!("{:.1}", (n as f64 * 100.0 / total).min(100.0)));
    let percent =
        |n: u64, of: u64| (of > 0).then(|| format!("{:.1} %", n as f64 * 100.0 / of as f64));
    let shown = |n: i64| thousands(n.max(0) as u64);

    let mut rows = Vec::new();
    let mut previous: Option<u64> = None;
    for stage in MAIN {
        let reached = match stage {
            Stage::Lead => reached.lead,
            Stage::Mql => reached.mql,
            Stage::Sal => reached.sal,
            Stage::Sql => reached.sql,
            Stage::Opportunity => reached.opportunity,
            _ => reached.won,
        };
        rows.push(FunnelRow {
            stage,
            class: stage_class(stage),
            bar: if stage == Stage::Won { "won" } else { "" },
            count: count(stage),
            shown: shown(count(stage)),
            reached: Some(thousands(reached)),
            meaning: meaning(stage),
            conversion: previous.and_then(|p| percent(reached, p)),
            width: width(reached),
        });
        previous = Some(reached);
    }
    for (stage, bar) in [
        (Stage::Lost, "lost"),
        (Stage::Recycled, "side"),
        (Stage::Disqualified, "side"),
    ] {
        rows.push(FunnelRow {
            stage,
            class: stage_class(stage),
            bar,
            count: count(stage),
            shown: shown(count(stage)),
            reached: None,
            meaning: meaning(stage),
            conversion: None,
            width: width(count(stage).max(0) as u64),
        });
    }
    rows
}

/// Where this server's `/v1/track` is, as the browser reached it.
fn track_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost:7878");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        == Some("https");
    format!("{}://{host}/v1/track", if https { "https" } else { "http" })
}

async fn overview(
    session: Session,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    // An analyst reads reports only.
    if session.0.role == Role::Analyst {
        return Ok(Redirect::to("/reports").into_response());
    }
    let owner = session.0.rep().map(str::to_string);
    let team = session.0.team().map(str::to_string);
    let counts: HashMap<String, i64> = state.store.stage_counts().await?.into_iter().collect();
    let model = match state.store.active_model().await? {
        Some(m) => {
            let pending = state.store.leads_scored_by_other(&m.version).await?;
            let leads = state.store.lead_count().await?;
            let rescoring = (pending > 0).then(|| {
                format!(
                    "rescoring under it: {} of {} leads done ({:.0} %)",
                    thousands((leads - pending).max(0) as u64),
                    thousands(leads.max(0) as u64),
                    100.0 * (leads - pending) as f64 / leads.max(1) as f64
                )
            });
            Some(ModelLine {
                name: m.name,
                version: m.version,
                rescoring,
            })
        }
        None => None,
    };
    let mqls = LeadFilter {
        stage: Some(Stage::Mql),
        sort: LeadSort::Score,
        limit: 25,
        owner: owner.clone(),
        team: team.clone(),
        ..LeadFilter::default()
    };
    let mqls = state.store.leads(&mqls).await?.items;
    let recent = LeadFilter {
        sort: LeadSort::Updated,
        limit: 10,
        owner,
        team,
        ..LeadFilter::default()
    };
    let recent = state.store.leads(&recent).await?.items;
    let names = account_names(
        &state.store,
        mqls.iter()
            .chain(&recent)
            .filter_map(|l| l.account_id.clone())
            .collect(),
    )
    .await?;
    let accounts = state.store.accounts(10, None).await?.items;
    let policy = state
        .live
        .read()
        .expect("live state lock")
        .model()
        .handoff()
        .clone();
    let now_ts = state.clock.now();
    let from = Timestamp::from_millis(now_ts.millis() - 30 * 86_400_000);
    let report = crate::handoff::report(&state.store, &policy, from, now_ts, now_ts).await?;
    let (slas, handoff) = if report.total.mqls > 0 {
        let teams = state.store.teams().await?;
        let teams = teams.into_iter().map(|t| (t.id, t.name)).collect();
        let reps = state.store.reps().await?;
        let reps = reps.into_iter().map(|r| (r.id, r.name)).collect();
        handoff_table(&report, &policy, &teams, &reps)
    } else {
        (Vec::new(), Vec::new())
    };
    let model_in_force = state.live.read().expect("live state lock").model().clone();
    let reach = crate::reports::funnel_report(
        &state.store,
        &model_in_force,
        crate::reports::Period::default(),
        sluice_core::analytics::Cohort::Week,
    )
    .await?;
    let view = OverviewPage {
        slas,
        handoff,
        breaches: report.breaches.len(),
        model,
        total: thousands(counts.values().sum::<i64>().max(0) as u64),
        as_of: when(state.clock.now().millis()),
        funnel: funnel(&counts, &reach.total.reached, model_in_force.glossary()),
        sources: reach
            .by_source
            .iter()
            .filter(|row| row.reached.mql > 0)
            .map(|row| {
                let name = row.key.clone().unwrap_or_else(|| "(none)".into());
                reports::FunnelLine::new(name, row)
            })
            .collect(),
        all_sources: reports::FunnelLine::new("all sources".into(), &reach.total),
        show_sources: session.0.role != Role::Rep,
        mqls: mqls.into_iter().map(|l| LeadLine::new(l, &names)).collect(),
        recent: recent
            .into_iter()
            .map(|l| LeadLine::new(l, &names))
            .collect(),
        accounts: accounts.into_iter().map(AccountLine::from).collect(),
        track_url: track_url(&headers),
    };
    Ok(page(StatusCode::OK, &view))
}

// ---------------------------------------------------------------------------------------------
// A lead
// ---------------------------------------------------------------------------------------------

struct GroupLine {
    id: String,
    score: String,
    qualified: bool,
}

struct FitLine {
    rule: String,
    description: Option<String>,
    points: String,
    class: &'static str,
}

struct RuleLine {
    rule: String,
    description: Option<String>,
    matched: u32,
    counted: u32,
    raw: String,
    decayed: String,
    points: String,
    class: &'static str,
    capped_by: Option<String>,
    events: Vec<EventLine>,
}

struct EventLine {
    at: String,
    raw: String,
    points: String,
    skipped: Option<&'static str>,
}

struct BantView {
    completeness: String,
    meets_sql: bool,
    criteria: Vec<BantLine>,
}

struct BantLine {
    id: &'static str,
    field: String,
    value: Option<String>,
    credit: String,
}

struct HistoryLine {
    at: String,
    from: Stage,
    from_class: &'static str,
    to: Stage,
    to_class: &'static str,
    actor: String,
    reason: Option<String>,
    model_version: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/lead.html")]
struct LeadPage {
    id: String,
    /// The lead's name, if its traits give one (the page is headed by its id otherwise).
    name: Option<String>,
    /// Its job title.
    title: Option<String>,
    stage: Stage,
    class: &'static str,
    account: Option<Named>,
    owner: Option<Named>,
    score: String,
    fit: String,
    engagement: String,
    grade: String,
    qualification: String,
    /// The model's calibrated chance of an opportunity (or win), e.g. `23 %`.
    probability: Option<String>,
    model_version: String,
    as_of: String,
    created: String,
    updated: String,
    last_event: Option<String>,
    /// Whether the figures and explanation come from the live state (else from the row).
    live: bool,
    attributes: Vec<(String, String)>,
    to_mql: Vec<String>,
    groups: Vec<GroupLine>,
    bant: Option<BantView>,
    fit_rules: Vec<FitLine>,
    fit_capped_at: Option<String>,
    engagement_rules: Vec<RuleLine>,
    history: Vec<HistoryLine>,
}

async fn lead_page(
    session: Session,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    session.allow(&[Role::Admin, Role::Marketing, Role::SalesManager, Role::Rep])?;
    let at = state.clock.now();
    let view = crate::live::view(&state.store, &state.live, &[&id]).await?;
    let lead_id = view.resolve(&id).map_or_else(|| id.clone(), str::to_string);
    // Someone else's lead is, for a rep, no lead at all.
    if !session.0.sees_lead(&state.store, &lead_id).await? {
        return Err(Failure::NotFound(format!("There is no lead “{id}”.")));
    }
    let scored = view.explain(&lead_id, at);
    let bant = view
        .attributes(&lead_id)
        .and_then(|a| view.model().bant_status(&a));
    let row = state
        .store
        .lead(&lead_id)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("There is no lead “{id}”.")))?;
    let history = state.store.history(&lead_id).await?;
    let account = match &row.account_id {
        Some(id) => {
            let names = account_names(&state.store, vec![id.clone()]).await?;
            Some(Named {
                name: names.get(id).cloned().unwrap_or_else(|| id.clone()),
                id: id.clone(),
            })
        }
        None => None,
    };
    let owner = match &row.owner {
        Some(id) => Some(Named {
            name: state
                .store
                .rep(id)
                .await?
                .map_or_else(|| id.clone(), |rep| rep.name),
            id: id.clone(),
        }),
        None => None,
    };
    Ok(page(
        StatusCode::OK,
        &lead_view(row, account, owner, scored, bant, history, at),
    ))
}

fn lead_view(
    row: LeadRow,
    account: Option<Named>,
    owner: Option<Named>,
    scored: Option<(LeadScore, Explanation)>,
    bant: Option<BantStatus>,
    history: Vec<TransitionRow>,
    at: Timestamp,
) -> LeadPage {
    let mut attributes: Vec<(String, String)> = row
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), text(v)))
        .collect();
    attributes.sort();
    let mut view = LeadPage {
        name: person_name(&row.attributes),
        title: attribute(&row.attributes, &["title"]),
        class: stage_class(row.stage),
        stage: row.stage,
        account,
        owner,
        score: points(row.score),
        fit: points(row.fit),
        engagement: points(row.engagement),
        grade: row.grade,
        qualification: row.qualification,
        probability: None,
        model_version: row.model_version,
        as_of: when(at.millis()),
        created: when(row.created_ms),
        updated: when(row.updated_ms),
        last_event: row.last_event_ms.map(when),
        live: scored.is_some(),
        attributes,
        to_mql: Vec::new(),
        groups: Vec::new(),
        bant: bant.map(|b| BantView {
            completeness: format!("{:.0} %", b.completeness * 100.0),
            meets_sql: b.meets_sql,
            criteria: b
                .criteria
                .into_iter()
                .map(|c| BantLine {
                    id: c.id,
                    field: c.field,
                    value: c.value,
                    credit: format!("{:.0} %", c.credit * 100.0),
                })
                .collect(),
        }),
        fit_rules: Vec::new(),
        fit_capped_at: None,
        engagement_rules: Vec::new(),
        history: history
            .into_iter()
            .map(|t| HistoryLine {
                at: when(t.at_ms),
                from_class: stage_class(t.from),
                from: t.from,
                to_class: stage_class(t.to),
                to: t.to,
                actor: t.actor.to_string(),
                reason: t.reason,
                model_version: t.model_version,
            })
            .collect(),
        id: row.id,
    };
    let Some((score, explanation)) = scored else {
        return view;
    };
    view.score = points(score.score);
    view.fit = points(score.fit);
    view.engagement = points(score.engagement);
    view.grade = score.grade.to_string();
    view.qualification = score.qualification.as_str().to_string();
    view.probability = score.probability.map(|p| format!("{:.0} %", p * 100.0));
    view.to_mql = what_it_would_take(&score);
    view.groups = score
        .groups
        .iter()
        .map(|g| GroupLine {
            id: g.id.clone(),
            score: points(g.score),
            qualified: g.qualified,
        })
        .collect();
    view.fit_rules = explanation
        .fit
        .into_iter()
        .map(|f| FitLine {
            class: sign_class(f.points),
            points: signed(f.points),
            rule: f.rule,
            description: f.description,
        })
        .collect();
    view.fit_capped_at = explanation.fit_capped_at.map(points);
    view.engagement_rules = explanation
        .engagement
        .into_iter()
        .map(|r| RuleLine {
            matched: r.matched,
            counted: r.counted,
            raw: points(r.raw_points),
            decayed: points(r.decayed_points),
            class: sign_class(r.points),
            points: signed(r.points),
            capped_by: r.capped_by,
            events: r
                .events
                .iter()
                .map(|e| EventLine {
                    at: when(e.at.millis()),
                    raw: points(e.raw_points),
                    points: points(e.points),
                    skipped: e.skipped.map(|s| match s {
                        Skip::OncePer => "not counted: once_per value already counted",
                        Skip::Cooldown => "not counted: within the rule's cooldown",
                    }),
                })
                .collect(),
            rule: r.rule,
            description: r.description,
        })
        .collect();
    view
}

/// The distance to the MQL bar, in sentences.
fn what_it_would_take(score: &LeadScore) -> Vec<String> {
    let to_mql = &score.to_mql;
    let mut lines = Vec::new();
    match score.qualification {
        Qualification::Mql => {
            let by = if score.qualified_by.is_empty() {
                "score".to_string()
            } else {
                score.qualified_by.join(", ")
            };
            lines.push(format!(
                "Nothing more: it meets the MQL criteria (by {by})."
            ));
        }
        Qualification::Disqualified => {
            let reasons: Vec<&str> = score
                .disqualified
                .iter()
                .map(|d| d.reason.as_str())
                .collect();
            lines.push(format!(
                "It is disqualified ({}): no score makes it an MQL.",
                reasons.join(", ")
            ));
        }
        Qualification::Lead => {
            if to_mql.points > 0.0 {
                lines.push(format!(
                    "{} more points to reach the MQL threshold.",
                    points(to_mql.points)
                ));
            }
            if let Some(fit) = to_mql.fit_points {
                lines.push(format!(
                    "{} more fit points to reach the minimum fit grade.",
                    points(fit)
                ));
            }
            if let Some(engagement) = to_mql.engagement_points {
                lines.push(format!(
                    "{} more engagement points to reach the minimum engagement grade.",
                    points(engagement)
                ));
            }
        }
    }
    if !to_mql.blocked_by.is_empty() && score.qualification != Qualification::Disqualified {
        lines.push(format!("Blocked by: {}.", to_mql.blocked_by.join(", ")));
    }
    if lines.is_empty() {
        lines.push("Nothing more on points; the model's other criteria decide.".to_string());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded() {
        assert_eq!(
            form_field(b"a=1&token=sk_a%2Bb+c%3D", "token").as_deref(),
            Some("sk_a+b c=")
        );
        assert_eq!(form_field(b"token=", "token").as_deref(), Some(""));
        assert_eq!(form_field(b"token=100%", "token").as_deref(), Some("100%"));
        assert_eq!(form_field(b"other=x", "token"), None);
    }

    #[test]
    fn points_drop_needless_decimals() {
        assert_eq!(points(25.0), "25");
        assert_eq!(points(12.345), "12.3");
        assert_eq!(signed(-15.0), "-15");
        assert_eq!(signed(5.0), "+5");
    }

    #[test]
    fn business_time_reads_as_a_duration() {
        assert_eq!(duration(0.0), "0 min");
        assert_eq!(duration(0.75), "45 min");
        assert_eq!(duration(3.0), "3 h");
        assert_eq!(duration(2.25), "2 h 15 min");
        assert_eq!(duration(1.999), "2 h");
    }

    #[test]
    fn people_are_named_by_their_traits() {
        let traits = |v: Value| v.as_object().cloned().expect("an object");
        let named = |v: Value| person_name(&traits(v));
        assert_eq!(
            named(serde_json::json!({"name": "Ada Lovelace", "first_name": "A"})).as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(
            named(serde_json::json!({"first_name": "Daan", "last_name": "Murphy"})).as_deref(),
            Some("Daan Murphy")
        );
        assert_eq!(
            named(serde_json::json!({"firstName": "Grace", "lastName": " "})).as_deref(),
            Some("Grace")
        );
        assert_eq!(named(serde_json::json!({"email": "x@example.com"})), None);
    }
}
