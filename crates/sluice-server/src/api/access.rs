//! Who may call what. Every operation of the API is in [`ACCESS`] with the roles it allows;
//! [`authenticate`] enforces it before the handler runs (401 without valid credentials, 403
//! for a role not allowed, 404 for a lead outside a rep's or a manager's scope), and
//! [`Roles`] writes the same table into the OpenAPI document.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use sluice_store::digest;

use crate::error::ApiError;
use crate::state::{AppState, constant_time_eq};
use crate::trust::{ADMIN_TOKEN_ACTOR, Principal, Role};

use Role::{Admin, Analyst, Marketing, Rep, SalesManager};

const EVERYONE: &[Role] = &[Admin, Marketing, SalesManager, Rep, Analyst];
const LEAD_READERS: &[Role] = &[Admin, Marketing, SalesManager, Rep];
const SALES: &[Role] = &[Admin, SalesManager, Rep];
const MANAGERS: &[Role] = &[Admin, SalesManager];
const MODEL_EDITORS: &[Role] = &[Admin, Marketing];
const ACCOUNT_READERS: &[Role] = &[Admin, Marketing, SalesManager];
const REPORT_READERS: &[Role] = &[Admin, Marketing, SalesManager, Analyst];
const ADMINS: &[Role] = &[Admin];
/// Who signs a change of the model: both sides, and admins.
const APPROVERS: &[Role] = &[Admin, Marketing, SalesManager];

/// Every operation (method, path as routed) and the roles it allows. An operation missing
/// here is refused to everyone but an admin; a test checks that every operation of the
/// OpenAPI document is here.
pub const ACCESS: &[(&str, &str, &[Role])] = &[
    ("GET", "/api/v1/leads", LEAD_READERS),
    ("GET", "/api/v1/leads/{id}", LEAD_READERS),
    ("DELETE", "/api/v1/leads/{id}", ADMINS),
    ("GET", "/api/v1/leads/{id}/export", ADMINS),
    ("GET", "/api/v1/leads/{id}/events", LEAD_READERS),
    ("POST", "/api/v1/leads/{id}/transitions", LEAD_READERS),
    ("POST", "/api/v1/leads/{id}/assign", MANAGERS),
    ("POST", "/api/v1/leads/{id}/accept", SALES),
    ("POST", "/api/v1/leads/{id}/reject", SALES),
    ("POST", "/api/v1/leads/{id}/activities", SALES),
    ("GET", "/api/v1/leads/{id}/activities", SALES),
    ("GET", "/api/v1/accounts", ACCOUNT_READERS),
    ("GET", "/api/v1/accounts/{id}", ACCOUNT_READERS),
    ("PUT", "/api/v1/accounts/{id}/owner", MANAGERS),
    ("GET", "/api/v1/model", EVERYONE),
    ("POST", "/api/v1/model", MODEL_EDITORS),
    ("GET", "/api/v1/model/versions", EVERYONE),
    ("GET", "/api/v1/model/activation", EVERYONE),
    ("GET", "/api/v1/model/log", EVERYONE),
    ("POST", "/api/v1/model/rollback", APPROVERS),
    ("GET", "/api/v1/model/proposals", REPORT_READERS),
    ("POST", "/api/v1/model/proposals", MODEL_EDITORS),
    ("GET", "/api/v1/model/proposals/{id}", REPORT_READERS),
    ("POST", "/api/v1/model/proposals/{id}/approve", APPROVERS),
    ("POST", "/api/v1/model/proposals/{id}/reject", APPROVERS),
    ("POST", "/api/v1/model/proposals/{id}/shadow", MODEL_EDITORS),
    ("GET", "/api/v1/model/proposals/{id}/shadow", REPORT_READERS),
    ("GET", "/api/v1/sources", ADMINS),
    ("POST", "/api/v1/sources", ADMINS),
    ("DELETE", "/api/v1/sources/{id}", ADMINS),
    ("POST", "/api/v1/sources/{id}/rotate", ADMINS),
    ("GET", "/api/v1/webhooks", ADMINS),
    ("POST", "/api/v1/webhooks", ADMINS),
    ("GET", "/api/v1/webhooks/{id}", ADMINS),
    ("DELETE", "/api/v1/webhooks/{id}", ADMINS),
    ("GET", "/api/v1/webhooks/{id}/secret", ADMINS),
    ("GET", "/api/v1/webhooks/{id}/deliveries", ADMINS),
    ("POST", "/api/v1/webhooks/{id}/test", ADMINS),
    (
        "POST",
        "/api/v1/webhooks/deliveries/{delivery_id}/redeliver",
        ADMINS,
    ),
    ("GET", "/api/v1/teams", EVERYONE),
    ("POST", "/api/v1/teams", ADMINS),
    ("GET", "/api/v1/teams/{id}", EVERYONE),
    ("GET", "/api/v1/reps", EVERYONE),
    ("POST", "/api/v1/reps", MANAGERS),
    ("GET", "/api/v1/reps/{id}", EVERYONE),
    ("PATCH", "/api/v1/reps/{id}", SALES),
    ("GET", "/api/v1/queue", SALES),
    ("POST", "/api/v1/activities", ADMINS),
    ("POST", "/api/v1/outcomes", ADMINS),
    ("GET", "/api/v1/reports/sla", REPORT_READERS),
    ("POST", "/api/v1/sla/run", ADMINS),
    ("GET", "/api/v1/reports/funnel", REPORT_READERS),
    ("GET", "/api/v1/reports/attribution", REPORT_READERS),
    ("GET", "/api/v1/users", ADMINS),
    ("POST", "/api/v1/users", ADMINS),
    ("DELETE", "/api/v1/users/{id}", ADMINS),
    ("GET", "/api/v1/me", EVERYONE),
    ("GET", "/api/v1/tokens", EVERYONE),
    ("POST", "/api/v1/tokens", EVERYONE),
    ("DELETE", "/api/v1/tokens/{id}", EVERYONE),
    ("POST", "/api/v1/tokens/{id}/rotate", EVERYONE),
    ("GET", "/api/v1/audit", ADMINS),
];

/// The roles allowed to call `method path` (admins only if it is not in [`ACCESS`]).
pub fn roles_for(method: &str, path: &str) -> &'static [Role] {
    ACCESS
        .iter()
        .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path)
        .map_or(ADMINS, |(_, _, roles)| roles)
}

/// The client's address: the connection's peer.
pub fn client_address(request: &Request) -> Option<String> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

/// The client's address, as an extractor (none if the server was not started with connection
/// information).
pub struct ClientAddress(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string()),
        ))
    }
}

/// Who a bearer token belongs to: the admin token, or a user's personal token.
pub async fn principal_of_token(
    state: &AppState,
    token: &str,
    address: Option<String>,
) -> Result<Option<Principal>, ApiError> {
    let token = token.trim();
    if constant_time_eq(token.as_bytes(), state.admin_token.as_bytes()) {
        return Ok(Some(Principal::bootstrap(address)));
    }
    if token.is_empty() {
        return Ok(None);
    }
    Ok(state
        .store
        .token_user(&digest(token), state.clock.now().millis())
        .await?
        .map(|(token, user)| Principal {
            token_id: Some(token.id),
            ..Principal::of_user(user, address)
        }))
}

/// Authenticates the bearer token, checks the role against [`ACCESS`] and, for lead
/// operations, the lead against a rep's or a manager's scope; the handler finds the
/// [`Principal`] in the request's extensions.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let address = client_address(&request);
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let Some(given) = given else {
        return Err(ApiError::unauthorized(
            "missing `Authorization: Bearer <token>`",
        ));
    };
    let Some(principal) = principal_of_token(&state, &given, address).await? else {
        return Err(ApiError::unauthorized("invalid bearer token"));
    };
    crate::limits::check_token(
        &state,
        principal.token_id.as_deref().unwrap_or(ADMIN_TOKEN_ACTOR),
    )?;
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let method = request.method().clone();
    let roles = roles_for(method.as_str(), &path);
    if !roles.contains(&principal.role) {
        return Err(ApiError::forbidden(format!(
            "the role `{}` may not {method} {path} (allowed: {})",
            principal.role,
            names(roles)
        )));
    }
    if path.starts_with("/api/v1/leads/{id}")
        && (principal.rep().is_some() || principal.team().is_some())
    {
        let id = request
            .uri()
            .path()
            .split('/')
            .nth(4)
            .map(percent_decode)
            .unwrap_or_default();
        let lead = crate::live::resolve(&state.store, &state.live, &id).await?;
        let visible = match &lead {
            Some(lead) => principal.sees_lead(&state.store, lead).await?,
            None => false,
        };
        if !visible {
            return Err(ApiError::not_found(format!("no lead `{id}`")));
        }
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

fn names(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decodes `%XX` escapes of a path segment.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(high * 16 + low);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes [`ACCESS`] into the OpenAPI document: each operation's roles (in its description
/// and as `x-roles`), and its 401 and 403 answers.
pub struct Roles;

impl utoipa::Modify for Roles {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use super::answers::error_response as error;
        use utoipa::openapi::extensions::ExtensionsBuilder;
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("GET", &mut item.get),
                ("POST", &mut item.post),
                ("PUT", &mut item.put),
                ("PATCH", &mut item.patch),
                ("DELETE", &mut item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let roles = roles_for(method, path);
                let list = names(roles);
                let description = operation.description.take().unwrap_or_default();
                operation.description = Some(
                    format!("{description}\n\nRoles: {list}.")
                        .trim()
                        .to_string(),
                );
                let extensions = ExtensionsBuilder::new()
                    .add(
                        "x-roles",
                        serde_json::json!(roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()),
                    )
                    .build();
                match &mut operation.extensions {
                    Some(existing) => existing.merge(extensions),
                    None => operation.extensions = Some(extensions),
                }
                let responses = &mut operation.responses.responses;
                responses
                    .entry("401".into())
                    .or_insert_with(|| error("No valid bearer token").into());
                responses.entry("403".into()).or_insert_with(|| {
                    error(&format!("The caller's role is not one of: {list}")).into()
                });
            }
        }
    }
}
