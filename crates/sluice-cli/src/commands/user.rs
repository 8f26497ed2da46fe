//! `sluice user` (people and their roles) and `sluice audit` (the audit log), read and written
//! in the database directly through the same code as the API; what they change is audited
//! under `cli:<operating-system user>`.

use std::io::{BufRead as _, Write as _};

use clap::{Args, Subcommand};
use serde_json::json;
use sluice_core::Timestamp;
use sluice_server::state::now;
use sluice_server::trust::{self, NewUser};
use sluice_store::{NewAudit, Store};

use super::handoff::{Db, runtime};
use super::import::connect;
use crate::{Format, UserError};

/// People who sign in to the dashboard or call the API.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a person with a role; prints their personal API token (shown once).
    Add(AddArgs),
    /// List people.
    List {
        #[command(flatten)]
        db: Db,
        /// How to print.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Remove a person: their tokens and sessions end.
    Remove {
        /// Their email (or user id).
        email: String,
        /// How to print who was removed (`json`: the person).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        #[command(flatten)]
        db: Db,
    },
    /// Print a one-time dashboard sign-in link for a person (valid 15 minutes).
    Link {
        /// Their email (or user id).
        email: String,
        /// The dashboard's address.
        #[arg(long, default_value = "http://127.0.0.1:7878")]
        url: String,
        /// How to print the link (`json`: with the person and its validity).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        #[command(flatten)]
        db: Db,
    },
    /// Set a person's dashboard password, read from standard input (one line).
    Password {
        /// Their email (or user id).
        email: String,
        /// How to print whose password was set (`json`: the person).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        #[command(flatten)]
        db: Db,
    },
}

/// A person to add.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Their email address.
    email: String,
    /// `admin`, `marketing`, `sales_manager`, `rep` or `analyst`.
    #[arg(long)]
    role: String,
    /// For a rep: the rep they are (id or email; default: the rep with their email).
    #[arg(long)]
    rep: Option<String>,
    /// For a sales manager: the team they manage.
    #[arg(long)]
    team: Option<String>,
    /// Read a dashboard password from standard input (one line).
    #[arg(long)]
    password_stdin: bool,
    /// How to print the token (`json`: with the person added).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    db: Db,
}

/// The audit log.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Most entries to print, newest first.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// Entries older than this position (the `seq` of the last one printed).
    #[arg(long)]
    before: Option<i64>,
    /// How to print.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    db: Db,
}

/// Who the CLI acts as in the audit log.
fn actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

async fn audit(store: &Store, action: &str, target: &str, detail: Option<serde_json::Value>) {
    let entry = NewAudit {
        at_ms: now().millis(),
        actor: actor(),
        address: None,
        action: action.into(),
        target: Some(target.into()),
        detail,
    };
    if let Err(e) = store.audit(&entry).await {
        eprintln!("warning: could not append to the audit log: {e}");
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn find(store: &Store, email: &str) -> anyhow::Result<sluice_store::UserRow> {
    Ok(store
        .user(email)
        .await?
        .ok_or_else(|| UserError(format!("no user `{email}` (see `sluice user list`)")))?)
}

pub fn run(command: UserCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        match command {
            UserCommand::Add(args) => {
                let password = if args.password_stdin {
                    Some(read_password()?)
                } else {
                    None
                };
                let store = connect(&args.db.db).await?;
                let (user, token) = trust::add_user(
                    &store,
                    NewUser {
                        email: args.email,
                        role: args.role,
                        rep: args.rep,
                        team: args.team,
                        password,
                    },
                    now(),
                )
                .await
                .map_err(|e| UserError(e.to_string()))?;
                audit(
                    &store,
                    "user.create",
                    &user.id,
                    Some(json!({"role": user.role, "rep": user.rep, "team": user.team})),
                )
                .await;
                if args.format == Format::Table {
                    eprintln!("added {} ({}) as {}", user.email, user.id, user.role);
                    eprintln!("their personal API token (shown once):");
                    println!("{token}");
                } else {
                    println!("{}", json!({"user": user, "token": token}));
                }
            }
            UserCommand::List { db, format } => {
                let store = connect(&db.db).await?;
                let users = store.users().await?;
                let mut out = std::io::stdout().lock();
                match format {
                    Format::Table => {
                        writeln!(
                            out,
                            "{:<32} {:<14} {:<16} {:<14} password",
                            "email", "role", "rep", "team"
                        )?;
                        for u in &users {
                            writeln!(
                                out,
                                "{:<32} {:<14} {:<16} {:<14} {}",
                                u.email,
                                u.role,
                                u.rep.as_deref().unwrap_or("-"),
                                u.team.as_deref().unwrap_or("-"),
                                if u.has_password { "set" } else { "-" }
                            )?;
                        }
                    }
                    Format::Json => writeln!(out, "{}", json!({"users": users}))?,
                    Format::Jsonl => {
                        for u in &users {
                            writeln!(out, "{}", json!(u))?;
                        }
                    }
                }
            }
            UserCommand::Remove { email, format, db } => {
                let store = connect(&db.db).await?;
                let user = find(&store, &email).await?;
                store.delete_user(&user.id).await?;
                audit(&store, "user.delete", &user.id, None).await;
                if format == Format::Table {
                    eprintln!(
                        "removed {} ({}); their tokens and sessions have ended",
                        user.email, user.id
                    );
                } else {
                    println!("{}", json!({"removed": user}));
                }
            }
            UserCommand::Link {
                email,
                url,
                format,
                db,
            } => {
                let store = connect(&db.db).await?;
                let user = find(&store, &email).await?;
                let secret = trust::sign_in_link(&store, &user.id, now()).await?;
                audit(&store, "session.link", &user.id, None).await;
                let link = format!("{}/login/link/{secret}", url.trim_end_matches('/'));
                let minutes = trust::LINK_TTL.as_secs() / 60;
                if format == Format::Table {
                    eprintln!(
                        "a one-time sign-in link for {} (valid {minutes} minutes):",
                        user.email
                    );
                    println!("{link}");
                } else {
                    println!(
                        "{}",
                        json!({"email": user.email, "link": link, "valid_minutes": minutes})
                    );
                }
            }
            UserCommand::Password { email, format, db } => {
                let password = read_password()?;
                let hash = trust::hash_password(&password).map_err(|e| UserError(e.to_string()))?;
                let store = connect(&db.db).await?;
                let user = find(&store, &email).await?;
                store.set_password(&user.id, Some(&hash)).await?;
                audit(&store, "user.password", &user.id, None).await;
                if format == Format::Table {
                    eprintln!("set the password of {}", user.email);
                } else {
                    let user = sluice_store::UserRow {
                        has_password: true,
                        ..user
                    };
                    println!("{}", json!({"password_set": user}));
                }
            }
        }
        Ok(())
    })
}

/// `sluice audit`: the audit log, newest first.
pub fn audit_log(args: AuditArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let store = connect(&args.db.db).await?;
        if !(1..=1000).contains(&args.limit) {
            return Err(UserError("--limit: must be 1-1000".into()).into());
        }
        let entries = store.audit_log(args.limit, args.before).await?;
        let mut out = std::io::stdout().lock();
        match args.format {
            Format::Table => {
                for e in &entries {
                    writeln!(
                        out,
                        "{:>6}  {}  {:<28} {:<16} {:<18} {}{}",
                        e.seq,
                        Timestamp::from_millis(e.at_ms),
                        e.actor,
                        e.address.as_deref().unwrap_or("-"),
                        e.action,
                        e.target.as_deref().unwrap_or("-"),
                        e.detail
                            .as_ref()
                            .map(|d| format!("  {d}"))
                            .unwrap_or_default()
                    )?;
                }
            }
            Format::Json => writeln!(out, "{}", json!({"entries": entries}))?,
            Format::Jsonl => {
                for e in &entries {
                    writeln!(out, "{}", json!(e))?;
                }
            }
        }
        Ok(())
    })
}
