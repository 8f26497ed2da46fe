//! `sluice report`: reports over the stored history.

use std::io::Write as _;

use clap::{Args, Subcommand};
use sluice_core::Model;
use sluice_core::analytics::{
    AttributionReport, AttributionSettings, Cohort, FeatureKind, Flag, FunnelReport, FunnelRow,
};
use sluice_server::reports::{Period, attribution_report, dollars, funnel_report};
use sluice_store::Store;

use super::handoff::{self, SlaArgs, date, runtime};
use super::import::connect;
use crate::{Format, UserError};

/// Reports.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// SLA compliance per team and rep, time to first touch, contact rate, breaches.
    Sla(SlaArgs),
    /// The funnel lead → MQL → SAL → SQL → opportunity → won: counts, conversions, velocity,
    /// win rate, pipeline and bookings, per MQL cohort, source, first-touch UTM source,
    /// channel and campaign, grade at MQL and model version.
    Funnel(FunnelArgs),
    /// Which rules, events and attribute values go with opportunities and wins: lift over the
    /// base rate with a 95 % interval, dollars per lead, and rules whose points disagree.
    Attribution(AttributionArgs),
}

/// The funnel report's options.
#[derive(Debug, Args)]
pub struct FunnelArgs {
    /// Group MQLs by `week` (ISO weeks) or `month`.
    #[arg(long, default_value = "week", value_parser = cohort)]
    by: Cohort,
    /// Only leads first seen from this date (YYYY-MM-DD or RFC 3339; default: all).
    #[arg(long)]
    from: Option<String>,
    /// Only leads first seen before this date (default: all).
    #[arg(long)]
    to: Option<String>,
    /// How to print.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Database URL: `sqlite://PATH` or `postgres://...`.
    #[arg(
        long,
        env = "SLUICE_DATABASE_URL",
        default_value = "sqlite://sluice.db"
    )]
    db: String,
}

/// The attribution report's options.
#[derive(Debug, Args)]
pub struct AttributionArgs {
    /// Leave out features shown by fewer leads.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    min_leads: u64,
    /// Only leads first seen from this date (YYYY-MM-DD or RFC 3339; default: all).
    #[arg(long)]
    from: Option<String>,
    /// Only leads first seen before this date (default: all).
    #[arg(long)]
    to: Option<String>,
    /// Rows printed in the table (`--format json` has them all).
    #[arg(long, default_value_t = 40)]
    top: usize,
    /// How to print.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Database URL: `sqlite://PATH` or `postgres://...`.
    #[arg(
        long,
        env = "SLUICE_DATABASE_URL",
        default_value = "sqlite://sluice.db"
    )]
    db: String,
}

fn cohort(text: &str) -> Result<Cohort, String> {
    text.parse()
}

/// Runs `sluice report`.
pub fn run(command: ReportCommand) -> anyhow::Result<()> {
    match command {
        ReportCommand::Sla(args) => handoff::sla_report(args),
        ReportCommand::Funnel(args) => funnel(args),
        ReportCommand::Attribution(args) => attribution(args),
    }
}

fn period(from: Option<&str>, to: Option<&str>) -> Result<Period, UserError> {
    Ok(Period {
        from: from.map(|t| date("--from", t)).transpose()?,
        to: to.map(|t| date("--to", t)).transpose()?,
    })
}

fn describe(period: &Period) -> String {
    match (period.from, period.to) {
        (None, None) => "all leads".to_string(),
        (Some(from), None) => format!("leads first seen from {from}"),
        (None, Some(to)) => format!("leads first seen before {to}"),
        (Some(from), Some(to)) => format!("leads first seen {from} to {to}"),
    }
}

/// The active stored model, else the built-in one.
async fn active_model(store: &Store) -> anyhow::Result<(Model, String)> {
    let source = match store.active_model().await? {
        Some(row) => row.source,
        None => sluice_server::DEFAULT_MODEL.to_string(),
    };
    let model = Model::from_toml(&source, "active model")
        .map_err(|e| UserError(format!("the stored model does not compile: {e}")))?;
    let version = model.version().to_string();
    Ok((model, version))
}

fn funnel(args: FunnelArgs) -> anyhow::Result<()> {
    let period = period(args.from.as_deref(), args.to.as_deref())?;
    runtime()?.block_on(async {
        let store = connect(&args.db).await?;
        let (model, _) = active_model(&store).await?;
        let report = funnel_report(&store, &model, period, args.by).await?;
        let mut out = std::io::stdout().lock();
        if args.format != Format::Table {
            let doc = serde_json::json!({
                "from": period.from,
                "to": period.to,
                "by": args.by,
                "utm": "first touch: the UTM fields of each lead's first event that carried any",
                "report": report,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            return Ok(());
        }
        print_funnel(&mut out, &report, &describe(&period))?;
        Ok(())
    })
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".to_string(), |x| format!("{:.1} %", x * 100.0))
}

fn print_funnel(
    out: &mut impl std::io::Write,
    report: &FunnelReport,
    what: &str,
) -> std::io::Result<()> {
    writeln!(out, "Funnel, {what}")?;
    let header = || {
        format!(
            "{:<28} {:>7} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>9} {:>8} {:>8} {:>13} {:>13} {:>9} {:>9}",
            "",
            "leads",
            "MQLs",
            "SALs",
            "SQLs",
            "opps",
            "won",
            "lost",
            "lead→MQL",
            "MQL→opp",
            "win rate",
            "pipeline",
            "bookings",
            "$/MQL",
            "contacted"
        )
    };
    let line = |name: &str, r: &FunnelRow| {
        let mut name = name.to_string();
        if name.chars().count() > 28 {
            name = name.chars().take(27).collect::<String>() + "…";
        }
        format!(
            "{name:<28} {:>7} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>9} {:>8} {:>8} {:>13} {:>13} {:>9} {:>9}",
            r.reached.lead,
            r.reached.mql,
            r.reached.sal,
            r.reached.sql,
            r.reached.opportunity,
            r.reached.won,
            r.lost,
            pct(r.conversion.mql),
            pct(r.mql_to_opportunity),
            pct(r.win_rate),
            dollars(r.pipeline),
            dollars(r.bookings),
            r.revenue_per_mql.map_or("-".to_string(), dollars),
            pct(r.mql_contact_rate),
        )
    };
    writeln!(out, "{}", header())?;
    writeln!(out, "{}", line("all", &report.total))?;
    let days = |x: Option<f64>| x.map_or("-".to_string(), |d| format!("{d:.1} d"));
    let v = &report.total.velocity_days;
    writeln!(
        out,
        "median days between stages: lead→MQL {}, MQL→SAL {}, SAL→SQL {}, SQL→opp {}, opp→won {}",
        days(v.mql),
        days(v.sal),
        days(v.sql),
        days(v.opportunity),
        days(v.won)
    )?;
    let sections: [(&str, &[FunnelRow]); 7] = [
        (
            match report.cohort {
                Cohort::Week => "by week of MQL",
                Cohort::Month => "by month of MQL",
            },
            &report.by_cohort,
        ),
        ("by lead_source", &report.by_source),
        ("by first-touch UTM source", &report.by_utm_source),
        ("by first-touch channel (UTM medium)", &report.by_channel),
        ("by first-touch campaign", &report.by_campaign),
        ("by grade at MQL", &report.by_grade),
        ("by model version at MQL", &report.by_model_version),
    ];
    for (title, rows) in sections {
        writeln!(out, "\n{title}")?;
        for r in rows {
            let none = if title.contains("MQL") {
                "(no MQL)"
            } else {
                "(none)"
            };
            writeln!(out, "{}", line(r.key.as_deref().unwrap_or(none), r))?;
        }
    }
    Ok(())
}

fn attribution(args: AttributionArgs) -> anyhow::Result<()> {
    let period = period(args.from.as_deref(), args.to.as_deref())?;
    runtime()?.block_on(async {
        let store = connect(&args.db).await?;
        let (model, version) = active_model(&store).await?;
        let settings = AttributionSettings {
            min_leads: args.min_leads,
            ..AttributionSettings::for_model(&model)
        };
        let report = attribution_report(&store, &model, period, &settings).await?;
        let mut out = std::io::stdout().lock();
        if args.format != Format::Table {
            let doc = serde_json::json!({
                "from": period.from,
                "to": period.to,
                "model_version": version,
                "report": report,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            return Ok(());
        }
        print_attribution(&mut out, &report, &describe(&period), &version, args.top)?;
        Ok(())
    })
}

fn print_attribution(
    out: &mut impl std::io::Write,
    report: &AttributionReport,
    what: &str,
    version: &str,
    top: usize,
) -> std::io::Result<()> {
    writeln!(
        out,
        "Attribution, {what}, model {version}: {} leads, {} reached an opportunity ({}), {} won",
        report.leads,
        report.opportunities,
        pct(report.opportunity_rate),
        report.won
    )?;
    writeln!(
        out,
        "Lift: opportunity rate ÷ base rate, 95 % Wilson interval; only behaviour before a lead's opportunity counts; features of at least {} leads",
        report.settings.min_leads
    )?;
    writeln!(
        out,
        "{:<16} {:<36} {:>7} {:>6} {:>5} {:>7} {:>6} {:>12} {:>5} {:>13}  flag",
        "kind",
        "feature",
        "points",
        "leads",
        "opps",
        "rate",
        "lift",
        "95 %",
        "won",
        "bookings/lead"
    )?;
    let shown = report.rows.iter().take(top);
    // Flagged rules further down the ranking are printed too: they are what to act on.
    let flagged = report.rows.iter().skip(top).filter(|r| r.flag.is_some());
    for r in shown.chain(flagged) {
        let kind = match r.kind {
            FeatureKind::EngagementRule => "engagement rule",
            FeatureKind::FitRule => "fit rule",
            FeatureKind::Event => "event",
            FeatureKind::Attribute => "attribute",
        };
        let mut feature = r.feature.clone();
        if feature.chars().count() > 36 {
            feature = feature.chars().take(35).collect::<String>() + "…";
        }
        let (lift, interval) = match r.opportunity_lift {
            Some(l) => (
                format!("{:.2}×", l.value),
                format!("{:.2}–{:.2}", l.low, l.high),
            ),
            None => ("-".to_string(), "-".to_string()),
        };
        let flag = match r.flag {
            Some(Flag::PointsWithoutLift) => "points without lift",
            Some(Flag::LiftWithoutPoints) => "lift without points",
            None => "",
        };
        let line = format!(
            "{kind:<16} {feature:<36} {:>7} {:>6} {:>5} {:>7} {:>6} {:>12} {:>5} {:>13}  {flag}",
            r.points.map_or(String::new(), |p| format!("{p:+}")),
            r.leads,
            r.opportunities,
            pct(Some(r.opportunity_rate)),
            lift,
            interval,
            r.won,
            dollars(r.bookings_per_lead),
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    let hidden = report
        .rows
        .iter()
        .skip(top)
        .filter(|r| r.flag.is_none())
        .count();
    if hidden > 0 {
        writeln!(
            out,
            "... and {hidden} more rows (--top N, or --format json)"
        )?;
    }
    writeln!(
        out,
        "{} features had fewer than {} leads",
        report.below_support, report.settings.min_leads
    )?;
    if !report.skipped_attributes.is_empty() {
        writeln!(
            out,
            "attributes with more than {} values left out: {}",
            report.settings.max_values,
            report.skipped_attributes.join(", ")
        )?;
    }
    Ok(())
}
