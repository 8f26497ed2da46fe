//! `sluice model check` and `sluice model diff`.

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
}

pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    // Results go through one locked handle with `writeln!`, which reports a closed pipe as an
    // error (`println!` panics on it).
    let mut out = std::io::stdout().lock();
    match command {
        ModelCommand::Check { file, format } => check(&mut out, &file, format),
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
    writeln!(
        out,
        "  conditions:  {native} compiled natively, {interpreted} interpreted"
    )?;
    Ok(())
}
