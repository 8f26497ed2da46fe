//! `sluice model check`, `diff`, `activation`, and the contract on a running service:
//! `propose`, `approve`, `reject`, `log`, `rollback` (see docs/governance.md).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;
use sluice_core::Model;
use sluice_core::model::diff::{ChangeKind, diff};

use crate::{Format, UserError};

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Validate a model file: print a summary, or every error with its file, line and rule.
    Check {
        /// The model file (TOML).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// What changed between two model files, in plain words.
    Diff {
        /// The current model.
        old: PathBuf,
        /// The proposed model.
        new: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// How far putting the active model in force has come: leads scored by it, and pending.
    /// The service rescores in the background after an activation; this reads the database.
    Activation {
        /// Database: sqlite://PATH or postgres://USER@HOST/DB.
        #[arg(
            long,
            env = "SLUICE_DATABASE_URL",
            default_value = "sqlite://sluice.db"
        )]
        db: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Propose a model file to the running service: it answers with the diff against the model
    /// in force and a backtest of both; the model goes into force once both sides approve.
    Propose {
        /// The model file (TOML).
        file: PathBuf,
        /// Why this change.
        #[arg(long)]
        rationale: Option<String>,
        #[command(flatten)]
        service: Service,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Approve a proposal in your role (your token's user); the last required signature puts
    /// it in force.
    Approve {
        /// The proposal's id.
        id: String,
        /// A comment.
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        service: Service,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Reject a proposal, with a reason.
    Reject {
        /// The proposal's id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        service: Service,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Every stored version: who wrote it, why, when it was in force, what it changed.
    Log {
        #[command(flatten)]
        service: Service,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Put an earlier stored version back in force (every lead is rescored in the background).
    Rollback {
        /// The version to put back.
        #[arg(long)]
        version: String,
        #[command(flatten)]
        service: Service,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// The running service to talk to.
#[derive(Debug, clap::Args)]
pub struct Service {
    /// The service's address, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "SLUICE_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Your API token (its user's role signs).
    #[arg(long, env = "SLUICE_TOKEN")]
    token: String,
}

impl Service {
    /// Calls the API; a refusal is a user error with the service's message.
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        super::handoff::runtime()?.block_on(async {
            let mut request = reqwest::Client::new()
                .request(method, &url)
                .bearer_auth(&self.token);
            if let Some((content_type, body)) = body {
                request = request.header("content-type", content_type).body(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| UserError(format!("--url {}: {e}", self.url)))?;
            let status = response.status();
            let answer: serde_json::Value = response.json().await.unwrap_or_default();
            if !status.is_success() {
                let message = answer["error"]["message"]
                    .as_str()
                    .map_or_else(|| status.to_string(), str::to_string);
                let details = answer["error"]["details"]
                    .as_array()
                    .map(|d| {
                        d.iter()
                            .filter_map(|e| {
                                Some(format!(
                                    "{}:{}:{}: {}",
                                    e["file"].as_str()?,
                                    e["line"],
                                    e["column"],
                                    e["message"].as_str()?
                                ))
                            })
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                let more = if details.len() > 1 {
                    format!(" ({})", details.join("; "))
                } else {
                    String::new()
                };
                return Err(UserError(format!("{url}: {message}{more}")).into());
            }
            anyhow::Ok(answer)
        })
    }
}

/// Prints a proposal for people: its changes, backtest and signatures.
fn print_proposal(out: &mut impl Write, p: &serde_json::Value) -> anyhow::Result<()> {
    writeln!(
        out,
        "proposal {} (version {}, {}) by {}",
        p["id"].as_str().unwrap_or_default(),
        p["version"].as_str().unwrap_or_default(),
        p["status"].as_str().unwrap_or_default(),
        p["author"].as_str().unwrap_or_default()
    )?;
    let changes = p["diff"].as_array().cloned().unwrap_or_default();
    writeln!(out, "{} change(s):", changes.len())?;
    for c in &changes {
        writeln!(out, "  {}", c["summary"].as_str().unwrap_or_default())?;
    }
    for side in ["active", "proposed"] {
        let b = &p["backtest"][side];
        if b.is_object() {
            let m = &b["metrics"];
            writeln!(
                out,
                "backtest {side} ({}): {} MQLs, {} to opportunity, {} won, ${} captured",
                b["version"].as_str().unwrap_or_default(),
                m["mqls"],
                m["mqls_to_opportunity"],
                m["mqls_won"],
                m["revenue_captured"]
            )?;
        }
    }
    for s in p["signatures"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  {} {} ({}){}",
            s["verdict"].as_str().unwrap_or_default(),
            s["actor"].as_str().unwrap_or_default(),
            s["role"].as_str().unwrap_or_default(),
            s["comment"]
                .as_str()
                .map(|c| format!(": {c}"))
                .unwrap_or_default()
        )?;
    }
    let missing: Vec<&str> = p["quorum"]["missing"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str())
        .collect();
    if p["status"] == "open" {
        writeln!(out, "waiting for: {}", missing.join(", "))?;
    }
    Ok(())
}

/// Percent-encodes a query value.
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn emit(out: &mut impl Write, format: Format, doc: &serde_json::Value) -> anyhow::Result<bool> {
    if format == Format::Table {
        return Ok(false);
    }
    writeln!(out, "{}", serde_json::to_string_pretty(doc)?)?;
    Ok(true)
}

pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    // Results go through one locked handle with `writeln!`, which reports a closed pipe as an
    // error (`println!` panics on it).
    let mut out = std::io::stdout().lock();
    match command {
        ModelCommand::Check { file, format } => check(&mut out, &file, format),
        ModelCommand::Propose {
            file,
            rationale,
            service,
            format,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read model file {}", file.display()))?;
            let path = match rationale {
                Some(r) => format!("/api/v1/model/proposals?rationale={}", query_value(&r)),
                None => "/api/v1/model/proposals".into(),
            };
            let p = service.call(
                reqwest::Method::POST,
                &path,
                Some(("application/toml", text)),
            )?;
            if !emit(&mut out, format, &p)? {
                print_proposal(&mut out, &p)?;
            }
            Ok(())
        }
        ModelCommand::Approve {
            id,
            comment,
            service,
            format,
        } => {
            let body = json!({ "comment": comment }).to_string();
            let p = service.call(
                reqwest::Method::POST,
                &format!("/api/v1/model/proposals/{}/approve", query_value(&id)),
                Some(("application/json", body)),
            )?;
            if !emit(&mut out, format, &p)? {
                print_proposal(&mut out, &p)?;
                if p["activated"] == true {
                    writeln!(
                        out,
                        "version {} is in force ({} leads rescored)",
                        p["version"].as_str().unwrap_or_default(),
                        p["rescored_leads"]
                    )?;
                }
            }
            Ok(())
        }
        ModelCommand::Reject {
            id,
            reason,
            service,
            format,
        } => {
            let body = json!({ "reason": reason }).to_string();
            let p = service.call(
                reqwest::Method::POST,
                &format!("/api/v1/model/proposals/{}/reject", query_value(&id)),
                Some(("application/json", body)),
            )?;
            if !emit(&mut out, format, &p)? {
                print_proposal(&mut out, &p)?;
            }
            Ok(())
        }
        ModelCommand::Log { service, format } => {
            let log = service.call(reqwest::Method::GET, "/api/v1/model/log", None)?;
            if !emit(&mut out, format, &log)? {
                for v in log["versions"].as_array().into_iter().flatten() {
                    writeln!(
                        out,
                        "{}{} {} by {} at {}{}",
                        if v["active"] == true { "* " } else { "  " },
                        v["version"].as_str().unwrap_or_default(),
                        v["name"].as_str().unwrap_or_default(),
                        v["author"].as_str().unwrap_or("(unknown)"),
                        v["created_at"].as_str().unwrap_or_default(),
                        v["rationale"]
                            .as_str()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    )?;
                    for a in v["activations"].as_array().into_iter().flatten() {
                        writeln!(
                            out,
                            "      in force from {} by {} ({})",
                            a["at"].as_str().unwrap_or_default(),
                            a["actor"].as_str().unwrap_or_default(),
                            a["how"].as_str().unwrap_or_default()
                        )?;
                    }
                    for c in v["changes"].as_array().into_iter().flatten() {
                        writeln!(out, "      {}", c.as_str().unwrap_or_default())?;
                    }
                }
            }
            Ok(())
        }
        ModelCommand::Rollback {
            version,
            service,
            format,
        } => {
            let done = service.call(
                reqwest::Method::POST,
                &format!("/api/v1/model/rollback?version={}", query_value(&version)),
                None,
            )?;
            if !emit(&mut out, format, &done)? {
                writeln!(
                    out,
                    "version {} is in force again (was {}; {} leads rescored)",
                    done["version"].as_str().unwrap_or_default(),
                    done["previous"].as_str().unwrap_or_default(),
                    done["rescored_leads"]
                )?;
            }
            Ok(())
        }
        ModelCommand::Activation { db, format } => {
            let (version, leads, pending) = super::handoff::runtime()?.block_on(async {
                let store = super::import::connect(&db).await?;
                let active = store
                    .active_model()
                    .await?
                    .ok_or_else(|| UserError(format!("{db}: no active model")))?;
                let leads = store.lead_count().await?;
                let pending = store.leads_scored_by_other(&active.version).await?;
                anyhow::Ok((active.version, leads, pending))
            })?;
            let scored = leads - pending;
            if format == Format::Table {
                let share = if leads > 0 {
                    100.0 * scored as f64 / leads as f64
                } else {
                    100.0
                };
                writeln!(
                    out,
                    "model {version}: {scored} of {leads} leads scored by it ({share:.1} %), {pending} pending"
                )?;
            } else {
                let doc = json!({"version": version, "leads": leads, "scored_by_version": scored, "pending": pending, "done": pending == 0});
                writeln!(out, "{doc}")?;
            }
            Ok(())
        }
        ModelCommand::Diff { old, new, format } => {
            let (old, new) = (load(&old)?, load(&new)?);
            let changes = diff(&old, &new);
            if format == Format::Table {
                writeln!(
                    out,
                    "{} {} → {} {}: {} change{}",
                    old.name(),
                    old.version(),
                    new.name(),
                    new.version(),
                    changes.len(),
                    if changes.len() == 1 { "" } else { "s" }
                )?;
                for change in &changes {
                    let mark = match change.kind {
                        ChangeKind::Added => '+',
                        ChangeKind::Removed => '-',
                        ChangeKind::Changed => '~',
                    };
                    writeln!(out, "  {mark} {}", change.summary)?;
                }
            } else {
                let doc = json!({
                    "old": {"name": old.name(), "version": old.version()},
                    "new": {"name": new.name(), "version": new.version()},
                    "changes": changes,
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            }
            Ok(())
        }
    }
}

/// Reads and compiles a model file; errors are user errors naming the file.
pub fn load(path: &Path) -> anyhow::Result<Model> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read model file {}", path.display()))?;
    Model::from_toml(&text, &path.display().to_string()).map_err(|errors| {
        let n = errors.0.len();
        let more = if n > 1 {
            format!(" (and {} more: run `sluice model check`)", n - 1)
        } else {
            String::new()
        };
        UserError(format!("{}{more}", errors.0[0])).into()
    })
}

fn check(out: &mut impl Write, path: &Path, format: Format) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read model file {}", path.display()))?;
    let name = path.display().to_string();
    let model = match Model::from_toml(&text, &name) {
        Ok(model) => model,
        Err(errors) => {
            if format == Format::Table {
                for e in &errors.0 {
                    eprintln!("error: {e}");
                }
            } else {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"file": name, "ok": false, "errors": errors.0})
                    )?
                )?;
            }
            let n = errors.0.len();
            let summary = format!("{n} error{} in {name}", if n == 1 { "" } else { "s" });
            return Err(UserError(summary).into());
        }
    };
    let (native, interpreted) = model.condition_counts();
    let t = model.thresholds();
    let engagement = model.engagement();
    let summary = json!({
        "file": name,
        "ok": true,
        "name": model.name(),
        "version": model.version(),
        "thresholds": {
            "mql": t.mql,
            "min_fit_grade": t.min_fit_grade.map(|g| g.to_string()),
            "min_engagement_grade": t.min_engagement_grade.map(|g| g.number()),
        },
        "fit_rules": model.fit().rules.len(),
        "disqualifiers": model.disqualifiers().len(),
        "engagement_rules": engagement.rules.len(),
        "half_life": engagement.half_life.to_string(),
        "caps": model.caps().iter().map(|c| &c.id).collect::<Vec<_>>(),
        "groups": model.groups().iter().map(|g| json!({"id": g.id, "mql": g.mql})).collect::<Vec<_>>(),
        "account_rules": model.account().rules.len(),
        "account_rollup": model.account().rollup.to_string(),
        "bant_criteria": model.bant().map_or(0, |b| b.criteria.len()),
        "glossary": model.glossary(),
        "conditions": {"native": native, "interpreted": interpreted},
        "handoff": {
            "default_team": model.handoff().default_team,
            "account_owner": model.handoff().account_owner,
            "routing_rules": model.handoff().routing.iter().map(|r| json!({"id": r.id, "team": r.team})).collect::<Vec<_>>(),
            "reject_reasons": model.handoff().reject_reasons,
            "recycle_reset": model.handoff().recycle_reset,
            "slas": model.handoff().slas,
        },
    });
    if format != Format::Table {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
        return Ok(());
    }
    writeln!(out, "{name}: ok: {} {}", model.name(), model.version())?;
    let mut mql = format!("MQL at {}", t.mql);
    if let Some(g) = t.min_fit_grade {
        mql.push_str(&format!(", fit grade {g} or better"));
    }
    if let Some(g) = t.min_engagement_grade {
        mql.push_str(&format!(", engagement grade {} or better", g.number()));
    }
    writeln!(out, "  thresholds:  {mql}")?;
    writeln!(
        out,
        "  rules:       {} fit, {} disqualifiers, {} engagement (half-life {}), {} account",
        model.fit().rules.len(),
        model.disqualifiers().len(),
        engagement.rules.len(),
        engagement.half_life,
        model.account().rules.len()
    )?;
    if !model.caps().is_empty() || !model.groups().is_empty() {
        let caps: Vec<String> = model
            .caps()
            .iter()
            .map(|c| format!("{} ({})", c.id, c.max_points))
            .collect();
        let groups: Vec<String> = model
            .groups()
            .iter()
            .map(|g| {
                g.mql
                    .map_or(g.id.clone(), |mql| format!("{} (MQL at {mql})", g.id))
            })
            .collect();
        writeln!(
            out,
            "  caps:        {}",
            if caps.is_empty() {
                "none".into()
            } else {
                caps.join(", ")
            }
        )?;
        writeln!(
            out,
            "  groups:      {}",
            if groups.is_empty() {
                "none".into()
            } else {
                groups.join(", ")
            }
        )?;
    }
    if let Some(bant) = model.bant() {
        let ids: Vec<&str> = bant.criteria.iter().map(|c| c.id).collect();
        writeln!(
            out,
            "  BANT:        {} (SQL at {:.0} % complete)",
            ids.join(", "),
            bant.sql_min * 100.0
        )?;
    }
    let handoff = model.handoff();
    if !handoff.routing.is_empty() || handoff.default_team.is_some() || !handoff.slas.is_empty() {
        let mut routes: Vec<String> = handoff
            .routing
            .iter()
            .map(|r| format!("{} → {}", r.id, r.team))
            .collect();
        if let Some(team) = &handoff.default_team {
            routes.push(format!("otherwise → {team}"));
        }
        writeln!(out, "  routing:     {}", routes.join(", "))?;
        let slas: Vec<String> = handoff
            .slas
            .iter()
            .map(|s| {
                format!(
                    "{} within {} ({})",
                    s.step,
                    sluice_core::handoff::span_display(s.within),
                    s.on_breach.as_str()
                )
            })
            .collect();
        if !slas.is_empty() {
            writeln!(out, "  SLAs:        {}", slas.join(", "))?;
        }
    }
    if !model.glossary().is_empty() {
        let terms: Vec<&str> = model.glossary().keys().map(String::as_str).collect();
        writeln!(out, "  glossary:    {}", terms.join(", "))?;
    }
    writeln!(
        out,
        "  conditions:  {native} compiled natively, {interpreted} interpreted"
    )?;
    Ok(())
}
