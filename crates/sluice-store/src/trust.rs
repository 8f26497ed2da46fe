//! People, their secrets and what they did: users and roles, personal API tokens, dashboard
//! sessions and one-time sign-in links, hashed write keys, the append-only audit log, the
//! suppression list, and erasing or exporting a person.
//!
//! Secrets are never stored: only their SHA-256 digests ([`digest`]), looked up by digest.
//! Secrets Sluice makes are 128 random bits, for which a fast digest is the right tool (a slow
//! password hash guards guessable secrets; passwords get argon2, hashed by the caller).

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, Result, Store, Tx};

/// The SHA-256 digest of a secret, in hexadecimal.
pub fn digest(secret: &str) -> String {
    let hash = Sha256::digest(secret.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// What of a secret may be shown after it is made: enough to tell it apart, never enough to
/// use (at most 11 characters, and at most half of it).
pub fn secret_prefix(secret: &str) -> String {
    let take = secret.chars().count().min(22) / 2;
    secret.chars().take(take).collect()
}

/// A person who signs in to the dashboard or calls the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserRow {
    /// Id (`u_...`).
    pub id: String,
    /// Email address (unique, lower-cased).
    pub email: String,
    /// `admin`, `marketing`, `sales_manager`, `rep` or `analyst`.
    pub role: String,
    /// For a rep: the rep they are (their leads are those assigned to this rep).
    pub rep: Option<String>,
    /// For a sales manager: the team they manage.
    pub team: Option<String>,
    /// When the user was added.
    pub created_ms: i64,
    /// Whether a password is set.
    pub has_password: bool,
}

impl UserRow {
    fn from_row(row: &AnyRow) -> Result<Self> {
        let hash: Option<String> = row.try_get("password_hash")?;
        Ok(UserRow {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            role: row.try_get("role")?,
            rep: row.try_get("rep")?,
            team: row.try_get("team")?,
            created_ms: row.try_get("created_ms")?,
            has_password: hash.is_some(),
        })
    }
}

const USER_COLUMNS: &str = "id, email, role, rep, team, password_hash, created_ms";

/// A personal API token (its secret is not kept).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenRow {
    /// Id (`tok_...`).
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// A name for people.
    pub name: String,
    /// The secret's first characters.
    pub prefix: String,
    /// When it was made.
    pub created_ms: i64,
    /// When it stops working (set when it is rotated with an overlap).
    pub expires_ms: Option<i64>,
    /// When it was revoked.
    pub revoked_ms: Option<i64>,
}

impl TokenRow {
    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(TokenRow {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            name: row.try_get("name")?,
            prefix: row.try_get("prefix")?,
            created_ms: row.try_get("created_ms")?,
            expires_ms: row.try_get("expires_ms")?,
            revoked_ms: row.try_get("revoked_ms")?,
        })
    }

    /// Whether it is accepted at `now_ms`.
    pub fn active(&self, now_ms: i64) -> bool {
        self.revoked_ms.is_none() && self.expires_ms.is_none_or(|at| at > now_ms)
    }
}

/// A write key of a source of events (its secret is not kept).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceKeyRow {
    /// Id (`src_...`).
    pub id: String,
    /// The source's name (`website`, `backend`).
    pub name: String,
    /// The key's first characters.
    pub prefix: String,
    /// When it was made.
    pub created_ms: i64,
    /// When it stops working (set when it is rotated with an overlap).
    pub expires_ms: Option<i64>,
    /// When it was revoked.
    pub revoked_ms: Option<i64>,
}

impl SourceKeyRow {
    fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(SourceKeyRow {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            prefix: row.try_get("prefix")?,
            created_ms: row.try_get("created_ms")?,
            expires_ms: row.try_get("expires_ms")?,
            revoked_ms: row.try_get("revoked_ms")?,
        })
    }

    /// Whether it is accepted at `now_ms`.
    pub fn active(&self, now_ms: i64) -> bool {
        self.revoked_ms.is_none() && self.expires_ms.is_none_or(|at| at > now_ms)
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    /// Position (newest is highest).
    pub seq: i64,
    /// When.
    pub at_ms: i64,
    /// Who: a user's email, `admin-token`, or `cli` with the operating-system user.
    pub actor: String,
    /// From which address (absent for the CLI).
    pub address: Option<String>,
    /// What, e.g. `model.activate`, `lead.erase`, `user.create`.
    pub action: String,
    /// On what (an id).
    pub target: Option<String>,
    /// Details (JSON): never personal data beyond ids.
    pub detail: Option<serde_json::Value>,
}

/// An entry to append to the audit log.
#[derive(Debug, Clone, Default)]
pub struct NewAudit {
    /// When.
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// From which address.
    pub address: Option<String>,
    /// What.
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// Details.
    pub detail: Option<serde_json::Value>,
}

/// What an erasure removed, and the anonymous id the kept aggregates now carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Erasure {
    /// The id that the person's stage history, outcomes, assignments and SLA events now carry.
    pub anonymous_id: String,
    /// Events deleted.
    pub events: u64,
    /// Identities (aliases, anonymous ids) deleted.
    pub identities: u64,
    /// Rows kept but re-keyed to the anonymous id.
    pub kept_anonymous: u64,
    /// Webhook events about the person deleted.
    pub webhook_events: u64,
}

impl Store {
    /// Adds a user; false if one with this email exists.
    pub async fn create_user(&self, user: &UserRow, password_hash: Option<&str>) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO users (id, email, role, rep, team, password_hash, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.role)
        .bind(&user.rep)
        .bind(&user.team)
        .bind(password_hash)
        .bind(user.created_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every user, by email.
    pub async fn users(&self) -> Result<Vec<UserRow>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(UserRow::from_row).collect()
    }

    /// A user by id or email.
    pub async fn user(&self, id_or_email: &str) -> Result<Option<UserRow>> {
        Ok(self
            .user_with_password(id_or_email)
            .await?
            .map(|(user, _)| user))
    }

    /// A user by id or email, with the argon2 hash of their password if one is set.
    pub async fn user_with_password(
        &self,
        id_or_email: &str,
    ) -> Result<Option<(UserRow, Option<String>)>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1 OR email = $2"
        ))
        .bind(id_or_email)
        .bind(id_or_email.trim().to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((UserRow::from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    /// Sets (or, with `None`, removes) a user's password hash.
    pub async fn set_password(&self, user_id: &str, hash: Option<&str>) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a user with their tokens, sessions and sign-in links; false if there is none.
    pub async fn delete_user(&self, user_id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        for table in ["api_tokens", "sessions", "sign_in_links"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores a token by the digest of its secret.
    pub async fn create_token(&self, token: &TokenRow, hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, prefix, hash, created_ms, expires_ms, revoked_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(&token.id)
        .bind(&token.user_id)
        .bind(&token.name)
        .bind(&token.prefix)
        .bind(hash)
        .bind(token.created_ms)
        .bind(token.expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The active token with this digest, and its user.
    pub async fn token_user(&self, hash: &str, now_ms: i64) -> Result<Option<(TokenRow, UserRow)>> {
        let row = sqlx::query(
            "SELECT t.id AS token_id, t.user_id, t.name, t.prefix, t.created_ms AS token_created, \
             t.expires_ms, t.revoked_ms, u.id, u.email, u.role, u.rep, u.team, u.password_hash, u.created_ms \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.hash = $1 AND t.revoked_ms IS NULL AND (t.expires_ms IS NULL OR t.expires_ms > $2)",
        )
        .bind(hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let token = TokenRow {
            id: row.try_get("token_id")?,
            user_id: row.try_get("user_id")?,
            name: row.try_get("name")?,
            prefix: row.try_get("prefix")?,
            created_ms: row.try_get("token_created")?,
            expires_ms: row.try_get("expires_ms")?,
            revoked_ms: row.try_get("revoked_ms")?,
        };
        Ok(Some((token, UserRow::from_row(&row)?)))
    }

    /// A user's tokens, newest first (revoked and expired ones included).
    pub async fn tokens_of(&self, user_id: &str) -> Result<Vec<TokenRow>> {
        let rows = sqlx::query(
            "SELECT id, user_id, name, prefix, created_ms, expires_ms, revoked_ms FROM api_tokens \
             WHERE user_id = $1 ORDER BY created_ms DESC, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(TokenRow::from_row).collect()
    }

    /// A token by id.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        let row = sqlx::query(
            "SELECT id, user_id, name, prefix, created_ms, expires_ms, revoked_ms FROM api_tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(TokenRow::from_row).transpose()
    }

    /// Revokes a token now; false if it is not active.
    pub async fn revoke_token(&self, id: &str, at_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL \
             AND (expires_ms IS NULL OR expires_ms > $1)",
        )
        .bind(at_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Has an active token stop working at `at_ms` (a rotation's overlap); false if it is not
    /// active.
    pub async fn expire_token(&self, id: &str, now_ms: i64, at_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET expires_ms = $1 WHERE id = $2 AND revoked_ms IS NULL \
             AND (expires_ms IS NULL OR expires_ms > $3)",
        )
        .bind(at_ms)
        .bind(id)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Starts a dashboard session (by the digest of its id).
    pub async fn create_session(
        &self,
        hash: &str,
        user_id: &str,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<()> {
        // Expired sessions go as new ones come.
        sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (hash, user_id, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(now_ms)
        .bind(expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An unexpired session: the id it was made for and, if that is a user's, the user.
    pub async fn session(
        &self,
        hash: &str,
        now_ms: i64,
    ) -> Result<Option<(String, Option<UserRow>)>> {
        let row = sqlx::query(
            "SELECT s.user_id AS session_user, u.id, u.email, u.role, u.rep, u.team, u.password_hash, u.created_ms \
             FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.hash = $1 AND s.expires_ms > $2",
        )
        .bind(hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let user_id: String = row.try_get("session_user")?;
        let id: Option<String> = row.try_get("id")?;
        let user = match id {
            Some(_) => Some(UserRow::from_row(&row)?),
            None => None,
        };
        Ok(Some((user_id, user)))
    }

    /// Ends a session.
    pub async fn delete_session(&self, hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE hash = $1")
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a one-time sign-in link (by the digest of its secret).
    pub async fn create_sign_in_link(
        &self,
        hash: &str,
        user_id: &str,
        expires_ms: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sign_in_links (hash, user_id, expires_ms) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(user_id)
            .bind(expires_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Uses a sign-in link: its user, if it exists and has not expired. A link works once.
    pub async fn take_sign_in_link(&self, hash: &str, now_ms: i64) -> Result<Option<UserRow>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT user_id, expires_ms FROM sign_in_links WHERE hash = $1")
            .bind(hash)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sign_in_links WHERE hash = $1 OR expires_ms <= $2")
            .bind(hash)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(None) };
        let expires: i64 = row.try_get("expires_ms")?;
        if expires <= now_ms {
            return Ok(None);
        }
        let user_id: String = row.try_get("user_id")?;
        self.user(&user_id).await
    }

    /// Stores a write key by the digest of its secret.
    pub async fn create_source_key(&self, key: &SourceKeyRow, hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO source_keys (id, name, prefix, hash, created_ms, expires_ms, revoked_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(&key.prefix)
        .bind(hash)
        .bind(key.created_ms)
        .bind(key.expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every write key, oldest first, with the digest of its secret.
    pub async fn source_keys(&self) -> Result<Vec<(SourceKeyRow, String)>> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, hash, created_ms, expires_ms, revoked_ms FROM source_keys \
             ORDER BY created_ms, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((SourceKeyRow::from_row(r)?, r.try_get("hash")?)))
            .collect()
    }

    /// Revokes a write key now; false if it is not active.
    pub async fn revoke_source_key(&self, id: &str, at_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE source_keys SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL \
             AND (expires_ms IS NULL OR expires_ms > $1)",
        )
        .bind(at_ms)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Has an active write key stop working at `at_ms`; false if it is not active.
    pub async fn expire_source_key(&self, id: &str, now_ms: i64, at_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE source_keys SET expires_ms = $1 WHERE id = $2 AND revoked_ms IS NULL \
             AND (expires_ms IS NULL OR expires_ms > $3)",
        )
        .bind(at_ms)
        .bind(id)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves write keys kept in plain text by earlier versions into `source_keys`, hashed.
    pub(crate) async fn hash_plain_write_keys(&self) -> Result<()> {
        let rows = sqlx::query("SELECT key, name, created_ms, revoked_ms FROM write_keys")
            .fetch_all(&self.pool)
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for row in &rows {
            let key: String = row.try_get("key")?;
            let hash = digest(&key);
            sqlx::query(
                "INSERT INTO source_keys (id, name, prefix, hash, created_ms, expires_ms, revoked_ms) \
                 VALUES ($1, $2, $3, $4, $5, NULL, $6) ON CONFLICT (hash) DO NOTHING",
            )
            .bind(format!("src_{}", &hash[..12]))
            .bind(row.try_get::<String, _>("name")?)
            .bind(secret_prefix(&key))
            .bind(&hash)
            .bind(row.try_get::<i64, _>("created_ms")?)
            .bind(row.try_get::<Option<i64>, _>("revoked_ms")?)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM write_keys")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(keys = rows.len(), "stored the write keys hashed");
        Ok(())
    }

    /// Appends to the audit log.
    pub async fn audit(&self, entry: &NewAudit) -> Result<i64> {
        let detail = entry.detail.as_ref().map(|d| d.to_string());
        let row = sqlx::query(
            "INSERT INTO audit_log (at_ms, actor, address, action, target, detail) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
        )
        .bind(entry.at_ms)
        .bind(&entry.actor)
        .bind(&entry.address)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(detail)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// The audit log, newest first: at most `limit` entries older than `before` (a `seq`).
    pub async fn audit_log(&self, limit: i64, before: Option<i64>) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, address, action, target, detail FROM audit_log \
             WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let detail: Option<String> = r.try_get("detail")?;
                Ok(AuditRow {
                    seq: r.try_get("seq")?,
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    address: r.try_get("address")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
                })
            })
            .collect()
    }

    /// Every suppressed digest (see [`suppression_digest`]).
    pub async fn suppressions(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT hash FROM suppressions")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// After an erasure on SQLite, folds the write-ahead log into the file and empties it, so
    /// the erased rows are in neither. Retries while readers hold old pages.
    pub async fn checkpoint(&self) -> Result<bool> {
        if self.backend != Backend::Sqlite {
            return Ok(true);
        }
        for _ in 0..50 {
            let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.pool)
                .await?;
            let busy: i64 = row.try_get(0)?;
            if busy == 0 {
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Ok(false)
    }
}

/// The digest under which an id or email is kept on the suppression list.
pub fn suppression_digest(id_or_email: &str) -> String {
    digest(&id_or_email.trim().to_lowercase())
}

impl Tx {
    /// Erases a person: `lead_id` and every id in `ids` (its aliases, anonymous ids, emails).
    /// Their events, identities, attributes, scoring state and webhook events go; their stage
    /// history, outcomes, assignments, activities (without notes) and SLA events stay, under
    /// `anonymous_id`, so aggregates still count them. With `suppress`, the ids' digests are
    /// kept so that new events for them are dropped.
    pub async fn erase_lead(
        &mut self,
        lead_id: &str,
        ids: &[String],
        anonymous_id: &str,
        suppress: Option<i64>,
    ) -> Result<Erasure> {
        let mut erasure = Erasure {
            anonymous_id: anonymous_id.to_string(),
            ..Erasure::default()
        };
        let mut all: Vec<String> = ids.to_vec();
        all.push(lead_id.to_string());
        all.sort();
        all.dedup();
        for id in &all {
            erasure.events +=
                sqlx::query("DELETE FROM events WHERE user_id = $1 OR anonymous_id = $1")
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await?
                    .rows_affected();
            erasure.identities +=
                sqlx::query("DELETE FROM identities WHERE alias = $1 OR lead_id = $1")
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await?
                    .rows_affected();
            sqlx::query("DELETE FROM trails WHERE id = $1 OR root = $1")
                .bind(id)
                .execute(&mut *self.tx)
                .await?;
            // Webhook events and cache-invalidation notes that name the person.
            let quoted = format!("%{}%", serde_json::Value::from(id.as_str()));
            let events: Vec<String> =
                sqlx::query("SELECT id FROM webhook_events WHERE payload LIKE $1")
                    .bind(&quoted)
                    .fetch_all(&mut *self.tx)
                    .await?
                    .iter()
                    .map(|r| r.try_get(0))
                    .collect::<std::result::Result<_, _>>()?;
            for event in &events {
                sqlx::query("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE event_id = $1)")
                    .bind(event)
                    .execute(&mut *self.tx)
                    .await?;
                sqlx::query("DELETE FROM webhook_deliveries WHERE event_id = $1")
                    .bind(event)
                    .execute(&mut *self.tx)
                    .await?;
                sqlx::query("DELETE FROM webhook_events WHERE id = $1")
                    .bind(event)
                    .execute(&mut *self.tx)
                    .await?;
            }
            erasure.webhook_events += events.len() as u64;
            sqlx::query("DELETE FROM state_changes WHERE changed LIKE $1")
                .bind(&quoted)
                .execute(&mut *self.tx)
                .await?;
            if let Some(at_ms) = suppress {
                sqlx::query("INSERT INTO suppressions (hash, created_ms) VALUES ($1, $2) ON CONFLICT (hash) DO NOTHING")
                    .bind(suppression_digest(id))
                    .bind(at_ms)
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        sqlx::query("DELETE FROM leads WHERE id = $1")
            .bind(lead_id)
            .execute(&mut *self.tx)
            .await?;
        for table in ["transitions", "outcomes", "assignments", "sla_events"] {
            erasure.kept_anonymous += sqlx::query(&format!(
                "UPDATE {table} SET lead_id = $1 WHERE lead_id = $2"
            ))
            .bind(anonymous_id)
            .bind(lead_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        }
        erasure.kept_anonymous += sqlx::query(
            "UPDATE activities SET lead_id = $1, note = NULL, external_id = NULL WHERE lead_id = $2",
        )
        .bind(anonymous_id)
        .bind(lead_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        // The report facts stay, re-keyed: a funnel still counts the lead.
        let facts = sqlx::query(
            "SELECT facts, created_ms, model_version, feature_ids FROM lead_facts \
             WHERE lead_id = $1",
        )
        .bind(lead_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        sqlx::query("DELETE FROM lead_facts WHERE lead_id = $1")
            .bind(lead_id)
            .execute(&mut *self.tx)
            .await?;
        if let Some(row) = facts {
            // Their features go with them; the attribute values only they showed leave the
            // catalogue of report features.
            if let Some(ids) = row.try_get::<Option<String>, _>(3)? {
                self.forget_own_features(&ids).await?;
            }
            let text: Option<String> = row.try_get(0)?;
            if let Some(mut value) =
                text.and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            {
                if let Some(record) = value.as_object_mut() {
                    record.insert("id".into(), anonymous_id.into());
                }
                sqlx::query(
                    "INSERT INTO lead_facts (lead_id, dirty, created_ms, model_version, facts) \
                     VALUES ($1, 0, $2, $3, $4)",
                )
                .bind(anonymous_id)
                .bind(row.try_get::<Option<i64>, _>(1)?)
                .bind(row.try_get::<Option<String>, _>(2)?)
                .bind(value.to_string())
                .execute(&mut *self.tx)
                .await?;
            }
        }
        Ok(erasure)
    }
}

impl Store {
    /// Whether a lead is owned by a rep of `team`, or was ever routed to it.
    pub async fn lead_in_team(&self, lead_id: &str, team: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM leads WHERE id = $1 AND (owner IN (SELECT id FROM reps WHERE team_id = $2) \
             OR id IN (SELECT lead_id FROM assignments WHERE team_id = $2))",
        )
        .bind(lead_id)
        .bind(team)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}

#[cfg(feature = "testing")]
impl Store {
    /// Runs a statement as it is (tests of what the database itself refuses).
    pub async fn raw_execute(&self, sql: &str) -> Result<u64> {
        Ok(sqlx::query(sql).execute(&self.pool).await?.rows_affected())
    }
}
