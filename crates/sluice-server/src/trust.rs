//! Who may do what: people and their roles, personal API tokens, write keys, dashboard
//! sessions, the audit log and erasing a person. The API and the CLI both come here; the
//! store keeps only digests of secrets (see `sluice_store::digest`).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::Serialize;
use sluice_core::Timestamp;
use sluice_store::{
    NewAudit, SourceKeyRow, Store, StoreError, TokenRow, UserRow, digest, secret_prefix,
};

use crate::state::token;

/// What a person may do. Every API operation names the roles it allows (see
/// [`crate::api::access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including people, secrets, erasure and the audit log.
    Admin,
    /// Edits and proposes models; reads leads, accounts and reports.
    Marketing,
    /// Their team's leads, reps, queue and SLAs; reports.
    SalesManager,
    /// Only the leads assigned to them.
    Rep,
    /// Reads reports and the model.
    Analyst,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Marketing,
        Role::SalesManager,
        Role::Rep,
        Role::Analyst,
    ];

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Marketing => "marketing",
            Role::SalesManager => "sales_manager",
            Role::Rep => "rep",
            Role::Analyst => "analyst",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| {
                format!(
                    "`{}` is not a role (admin, marketing, sales_manager, rep, analyst)",
                    s.trim()
                )
            })
    }
}

/// Who is asking: a user, or the bootstrap admin token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user (none for the admin token).
    pub user: Option<UserRow>,
    /// Their role.
    pub role: Role,
    /// From which address.
    pub address: Option<String>,
    /// The API token used (its id), for per-token rate limits.
    pub token_id: Option<String>,
}

/// The actor name of the bootstrap admin token in the audit log.
pub const ADMIN_TOKEN_ACTOR: &str = "admin-token";

impl Principal {
    /// The bootstrap admin (`--admin-token`).
    pub fn bootstrap(address: Option<String>) -> Principal {
        Principal {
            user: None,
            role: Role::Admin,
            address,
            token_id: None,
        }
    }

    /// A user.
    pub fn of_user(user: UserRow, address: Option<String>) -> Principal {
        let role = user.role.parse().unwrap_or(Role::Analyst);
        Principal {
            user: Some(user),
            role,
            address,
            token_id: None,
        }
    }

    /// Who, for the audit log: the user's email or `admin-token`.
    pub fn actor(&self) -> String {
        self.user
            .as_ref()
            .map_or_else(|| ADMIN_TOKEN_ACTOR.to_string(), |u| u.email.clone())
    }

    /// The user's id (`admin-token` for the bootstrap admin).
    pub fn user_id(&self) -> &str {
        self.user
            .as_ref()
            .map_or(ADMIN_TOKEN_ACTOR, |u| u.id.as_str())
    }

    /// For a rep: the rep they are.
    pub fn rep(&self) -> Option<&str> {
        match self.role {
            Role::Rep => Some(
                self.user
                    .as_ref()
                    .and_then(|u| u.rep.as_deref())
                    .unwrap_or(""),
            ),
            _ => None,
        }
    }

    /// For a sales manager: their team.
    pub fn team(&self) -> Option<&str> {
        match self.role {
            Role::SalesManager => Some(
                self.user
                    .as_ref()
                    .and_then(|u| u.team.as_deref())
                    .unwrap_or(""),
            ),
            _ => None,
        }
    }

    /// Whether they may see this lead: a rep only theirs, a manager only their team's.
    pub async fn sees_lead(&self, store: &Store, lead_id: &str) -> Result<bool, StoreError> {
        if let Some(rep) = self.rep() {
            return Ok(store
                .lead(lead_id)
                .await?
                .is_some_and(|l| l.owner.as_deref() == Some(rep)));
        }
        if let Some(team) = self.team() {
            return store.lead_in_team(lead_id, team).await;
        }
        Ok(true)
    }

    /// An audit entry of an action by them.
    pub fn audit(
        &self,
        at: Timestamp,
        action: &str,
        target: Option<&str>,
        detail: Option<serde_json::Value>,
    ) -> NewAudit {
        NewAudit {
            at_ms: at.millis(),
            actor: self.actor(),
            address: self.address.clone(),
            action: action.to_string(),
            target: target.map(str::to_string),
            detail,
        }
    }
}

/// How the audit log names a lead: by a digest of its id, never the id itself (lead ids are
/// often emails, and the log outlives an erasure). `sha256` of the id, lower-cased, gives the
/// same 16 digits, so entries about a lead can still be found.
pub fn lead_ref(id: &str) -> String {
    format!("lead:{}", &sluice_store::suppression_digest(id)[..16])
}

/// Why a trust operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A field is not valid: which, and why.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// It exists already.
    #[error("{0}")]
    Conflict(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, message: impl Into<String>) -> TrustError {
    TrustError::Invalid {
        field,
        message: message.into(),
    }
}

/// A user to add.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Email address.
    pub email: String,
    /// Role name.
    pub role: String,
    /// For a rep: the rep (id or email; default: the rep with the user's email).
    pub rep: Option<String>,
    /// For a sales manager: the team they manage.
    pub team: Option<String>,
    /// A password for the dashboard (at least 12 characters), if any.
    pub password: Option<String>,
}

/// The least length of a password.
pub const MIN_PASSWORD: usize = 12;

/// Adds a user and makes them a personal API token: the user and the token's secret (shown
/// once).
pub async fn add_user(
    store: &Store,
    user: NewUser,
    now: Timestamp,
) -> Result<(UserRow, String), TrustError> {
    let email = user.email.trim().to_lowercase();
    if email.is_empty() || !email.contains('@') || email.chars().any(char::is_whitespace) {
        return Err(invalid("email", "must be an email address"));
    }
    let role: Role = user.role.parse().map_err(|e: String| invalid("role", e))?;
    let rep = match (role, user.rep.as_deref().map(str::trim)) {
        (Role::Rep, Some(rep)) if !rep.is_empty() => Some(
            store
                .rep(rep)
                .await?
                .ok_or_else(|| {
                    invalid(
                        "rep",
                        format!("no rep `{rep}` (add it with POST /api/v1/reps)"),
                    )
                })?
                .id,
        ),
        (Role::Rep, _) => Some(
            store
                .rep(&email)
                .await?
                .ok_or_else(|| {
                    invalid(
                        "rep",
                        format!("a rep user needs a rep: no rep has the email {email}; give `rep`"),
                    )
                })?
                .id,
        ),
        (_, Some(rep)) if !rep.is_empty() => {
            return Err(invalid("rep", "only a user with the role `rep` is a rep"));
        }
        _ => None,
    };
    let team = match (role, user.team.as_deref().map(str::trim)) {
        (Role::SalesManager, Some(team)) if !team.is_empty() => Some(
            store
                .team(team)
                .await?
                .ok_or_else(|| {
                    invalid(
                        "team",
                        format!("no team `{team}` (add it with POST /api/v1/teams)"),
                    )
                })?
                .id,
        ),
        (Role::SalesManager, _) => {
            return Err(invalid(
                "team",
                "a sales manager needs the team they manage",
            ));
        }
        (_, Some(team)) if !team.is_empty() => {
            return Err(invalid("team", "only a sales manager manages a team"));
        }
        _ => None,
    };
    let password_hash = match &user.password {
        Some(password) => Some(hash_password(password)?),
        None => None,
    };
    let row = UserRow {
        id: token("u_")[..18].to_string(),
        email: email.clone(),
        role: role.as_str().to_string(),
        rep,
        team,
        created_ms: now.millis(),
        has_password: password_hash.is_some(),
    };
    if !store.create_user(&row, password_hash.as_deref()).await? {
        return Err(TrustError::Conflict(format!(
            "a user with the email {email} exists"
        )));
    }
    let (_, secret) = new_token(store, &row.id, "default", now).await?;
    Ok((row, secret))
}

/// Hashes a password with argon2 (a fresh random salt), after checking its length.
pub fn hash_password(password: &str) -> Result<String, TrustError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(invalid(
            "password",
            format!("must be at least {MIN_PASSWORD} characters"),
        ));
    }
    let mut salt = [0u8; 16];
    use rand::TryRngCore;
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt)
        .expect("the operating system provides randomness");
    let salt = SaltString::encode_b64(&salt).map_err(|e| invalid("password", e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| invalid("password", e.to_string()))
}

/// Whether a password matches a user's argon2 hash. Without a hash (an unknown email, or a
/// user with no password) a hash made once per process is checked instead, so the answer
/// takes as long either way and timing does not tell which emails are users.
pub fn verify_user_password(password: &str, hash: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match hash {
        Some(hash) => verify_password(password, hash),
        None => {
            let dummy = DUMMY.get_or_init(|| {
                hash_password(&token("dummy-")).expect("a long enough password hashes")
            });
            verify_password(password, dummy);
            false
        }
    }
}

/// Whether a password matches an argon2 hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Makes a personal API token for a user: its row and its secret (shown once).
pub async fn new_token(
    store: &Store,
    user_id: &str,
    name: &str,
    now: Timestamp,
) -> Result<(TokenRow, String), TrustError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    let secret = token("sl_");
    let row = TokenRow {
        id: token("tok_")[..16].to_string(),
        user_id: user_id.to_string(),
        name: name.to_string(),
        prefix: secret_prefix(&secret),
        created_ms: now.millis(),
        expires_ms: None,
        revoked_ms: None,
    };
    store.create_token(&row, &digest(&secret)).await?;
    Ok((row, secret))
}

/// Rotates a token: a new one with the same name and owner, while the old one keeps working
/// for `overlap` (then stops). The new row and secret.
pub async fn rotate_token(
    store: &Store,
    old: &TokenRow,
    overlap: std::time::Duration,
    now: Timestamp,
) -> Result<(TokenRow, String), TrustError> {
    let until = now.millis() + overlap.as_millis() as i64;
    if !store.expire_token(&old.id, now.millis(), until).await? {
        return Err(TrustError::NotFound(format!(
            "token {} is not active",
            old.id
        )));
    }
    new_token(store, &old.user_id, &old.name, now).await
}

/// Makes a write key for a source: its row and its secret (shown once). `secret` is the
/// key to store (an operator's `--write-key`); by default a new random one.
pub async fn new_source_key(
    store: &Store,
    name: &str,
    secret: Option<&str>,
    now: Timestamp,
) -> Result<(SourceKeyRow, String), TrustError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    let secret = secret.map_or_else(|| token("wk_"), str::to_string);
    let row = SourceKeyRow {
        id: token("src_")[..16].to_string(),
        name: name.to_string(),
        prefix: secret_prefix(&secret),
        created_ms: now.millis(),
        expires_ms: None,
        revoked_ms: None,
    };
    store.create_source_key(&row, &digest(&secret)).await?;
    Ok((row, secret))
}

/// The active write keys: by digest, their source names.
pub async fn active_write_keys(
    store: &Store,
    now: Timestamp,
) -> Result<std::collections::HashMap<String, WriteKey>, StoreError> {
    Ok(store
        .source_keys()
        .await?
        .into_iter()
        .filter(|(row, _)| row.active(now.millis()))
        .map(|(row, hash)| {
            (
                hash,
                WriteKey {
                    id: row.id,
                    name: row.name,
                    expires_ms: row.expires_ms,
                },
            )
        })
        .collect())
}

/// An accepted write key, as ingestion knows it.
#[derive(Debug, Clone)]
pub struct WriteKey {
    /// The key's id.
    pub id: String,
    /// Its source's name.
    pub name: String,
    /// When it stops working, if it was rotated.
    pub expires_ms: Option<i64>,
}

/// Whether a message is about someone on the suppression list (by user id, anonymous id or
/// email trait).
pub fn is_suppressed(suppressed: &HashSet<String>, message: &sluice_core::Message) -> bool {
    if suppressed.is_empty() {
        return false;
    }
    let email = message.traits.get("email").and_then(|v| v.as_str());
    [
        message.user_id.as_deref(),
        message.anonymous_id.as_deref(),
        email,
    ]
    .into_iter()
    .flatten()
    .any(|id| suppressed.contains(&sluice_store::suppression_digest(id)))
}

/// The suppression list as a set of digests.
pub async fn suppressed(store: &Store) -> Result<HashSet<String>, StoreError> {
    Ok(store.suppressions().await?.into_iter().collect())
}

/// How long a dashboard session lasts unless configured.
pub const SESSION_TTL: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// How long a one-time sign-in link works.
pub const LINK_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The id a session of the bootstrap admin token is stored under: tied to the token, so a
/// session ends when the token changes.
pub fn admin_session_owner(admin_token: &str) -> String {
    format!("@admin:{}", &digest(admin_token)[..16])
}

/// Starts a session for `owner` (a user id, or [`admin_session_owner`]): the cookie's
/// secret.
pub async fn start_session(
    store: &Store,
    owner: &str,
    now: Timestamp,
    ttl: std::time::Duration,
) -> Result<String, StoreError> {
    let secret = token("ses_");
    store
        .create_session(
            &digest(&secret),
            owner,
            now.millis(),
            now.millis() + ttl.as_millis() as i64,
        )
        .await?;
    Ok(secret)
}

/// Makes a one-time sign-in link's secret for a user.
pub async fn sign_in_link(
    store: &Store,
    user_id: &str,
    now: Timestamp,
) -> Result<String, StoreError> {
    let secret = token("ln_");
    store
        .create_sign_in_link(
            &digest(&secret),
            user_id,
            now.millis() + LINK_TTL.as_millis() as i64,
        )
        .await?;
    Ok(secret)
}

/// Parses an overlap like `1h` or `30m` (`0` ends the old secret now).
pub fn overlap(text: Option<&str>) -> Result<std::time::Duration, TrustError> {
    match text.map(str::trim) {
        None => Ok(std::time::Duration::from_secs(24 * 3600)),
        Some("0") => Ok(std::time::Duration::ZERO),
        Some(text) => sluice_core::Span::parse(text)
            .map(|s| std::time::Duration::from_millis(s.millis().max(0) as u64))
            .map_err(|e| invalid("overlap", e.to_string())),
    }
}
