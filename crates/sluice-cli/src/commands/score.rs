//! `sluice score`: offline scoring of a leads file and an events file at a given time.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;
use sluice_core::engine::{AccountScore, BantStatus, Explanation, round3};
use sluice_core::history::{History, LeadTrail};
use sluice_core::{Activity, Attributes, LeadScore, Model, Profile, Timestamp};

use crate::input::{self, Rejections};
use crate::{Format, UserError};

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The model file.
    #[arg(long)]
    model: PathBuf,
    /// Leads: CSV or JSON Lines; an `id` or `email` column identifies each lead.
    #[arg(long)]
    leads: PathBuf,
    /// Events: JSON Lines in the Segment message format.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Accounts: CSV or JSON Lines with an `id` column; leads link to them by `account_id`.
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// Score as of this time (RFC 3339 or a date); later events are ignored.
    #[arg(long)]
    as_of: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Print only the N highest scores.
    #[arg(long)]
    limit: Option<usize>,
    /// Include every contribution (rule, event time, raw and decayed points) in JSON output.
    #[arg(long)]
    explain: bool,
    /// Stop at the first bad row instead of reporting it and going on.
    #[arg(long)]
    strict: bool,
}

/// A lead, scored: its id, attributes and account.
struct Lead {
    attributes: Attributes,
    account: Option<String>,
}

/// One scored lead, as printed.
#[derive(Serialize)]
struct Scored<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    stage: &'static str,
    #[serde(flatten)]
    score: &'a LeadScore,
    #[serde(skip_serializing_if = "Option::is_none")]
    bant: Option<BantStatus>,
    top: Vec<Contribution>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'a Explanation>,
}

/// A rule's share of the score, for the short list of top contributions.
#[derive(Serialize)]
struct Contribution {
    rule: String,
    points: f64,
}

pub fn run(args: ScoreArgs) -> anyhow::Result<()> {
    let model = super::model::load(&args.model)?;
    let as_of = Timestamp::parse(&args.as_of).map_err(|e| UserError(format!("--as-of: {e}")))?;
    let mut rejections = Rejections::new(args.strict);

    // The leads and accounts files, read while the events file's first chunks are parsed.
    let read_tables = |rejections: &mut Rejections| -> anyhow::Result<History<Activity>> {
        let mut history = History::new();
        input::read_records(&args.leads, rejections, |record| {
            let created = super::import::created_at(&record.attributes).ok().flatten();
            history.lead(record.id, record.attributes, created);
        })?;
        if let Some(path) = &args.accounts {
            input::read_records(path, rejections, |record| {
                history.account(record.id, &record.attributes);
            })?;
        }
        Ok(history)
    };

    let bar = progress();
    let mut stats = EventStats::default();
    let history = match &args.events {
        None => read_tables(&mut rejections)?,
        Some(path) => input::read_matched(
            path,
            &mut rejections,
            &[&model],
            read_tables,
            |history, matched, at, hits| {
                stats.read += 1;
                if stats.read % 65_536 == 0 {
                    bar.set_position(stats.read);
                }
                if at > as_of {
                    stats.later += 1;
                    return;
                }
                if let Some(activity) = matched.fold(history, at) {
                    stats.scored += 1;
                    hits.iter().for_each(|(_, hit)| activity.add(*hit));
                }
            },
        )?,
    };
    bar.finish_and_clear();

    // Each id joins the lead it stands for; an anonymous id never identified is a visitor.
    let stitched = history.finish();
    stats.anonymous = stitched.visitors as u64;
    let n_from_file = stitched.listed;
    let accounts = stitched.accounts;
    let mut scored = explain_all(&model, &accounts, stitched.leads, as_of);
    scored.sort_by(|a, b| b.2.score.total_cmp(&a.2.score).then_with(|| a.0.cmp(&b.0)));

    let mut account_engagement: HashMap<&str, Vec<f64>> = HashMap::new();
    for (_, lead, score, _) in &scored {
        if let Some(account) = &lead.account {
            account_engagement
                .entry(account)
                .or_default()
                .push(score.engagement);
        }
    }
    let mut account_scores: Vec<(&str, AccountScore)> = account_engagement
        .iter()
        .map(|(id, engagement)| {
            let attributes = accounts.get(*id).cloned().unwrap_or_default();
            (*id, model.score_account(&attributes, engagement))
        })
        .collect();
    account_scores.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then_with(|| a.0.cmp(b.0)));

    let count = |q: &str| {
        scored
            .iter()
            .filter(|s| s.2.qualification.as_str() == q)
            .count()
    };
    let summary = json!({
        "leads": scored.len(),
        "leads_from_file": n_from_file,
        "leads_from_events": scored.len() - n_from_file,
        "mql": count("mql"),
        "disqualified": count("disqualified"),
        "accounts": account_scores.len(),
        "mqa": account_scores.iter().filter(|a| a.1.qualified).count(),
        "events_read": stats.read,
        "events_scored": stats.scored,
        "events_after_as_of": stats.later,
        "anonymous_visitors": stats.anonymous,
        "rejected_rows": rejections.count,
    });

    let limit = args.limit.unwrap_or(usize::MAX);
    let rows = scored
        .iter()
        .take(limit)
        .map(|(id, lead, score, explanation)| Scored {
            id,
            account: lead.account.as_deref(),
            stage: score.qualification.as_str(),
            score,
            bant: model
                .bant_status(&lead.attributes)
                .filter(|b| b.criteria.iter().any(|c| c.value.is_some())),
            top: top_contributions(explanation, 5),
            explanation: args.explain.then_some(explanation),
        });

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.format {
        Format::Table => {
            print_table(&mut out, &model, rows)?;
            if !account_scores.is_empty() {
                writeln!(
                    out,
                    "\n{:<28} {:>7} {:>6} {:>6} {:<4} RULES",
                    "ACCOUNT", "SCORE", "FIT", "ENG", "MQA"
                )?;
                for (id, s) in account_scores.iter().take(limit) {
                    writeln!(
                        out,
                        "{:<28} {:>7} {:>6} {:>6} {:<4} {}",
                        truncate(id, 28),
                        decimal(s.score),
                        decimal(s.fit),
                        decimal(s.engagement),
                        if s.qualified { "yes" } else { "no" },
                        s.rules.join(", ")
                    )?;
                }
            }
        }
        Format::Jsonl => {
            for row in rows {
                serde_json::to_writer(&mut out, &row)?;
                out.write_all(b"\n")?;
            }
        }
        Format::Json => {
            // Streamed, so millions of leads need not fit in one string.
            write!(
                out,
                "{{\"as_of\":{},\"model\":{},\"summary\":{},\"leads\":[",
                serde_json::to_string(&as_of)?,
                json!({"name": model.name(), "version": model.version()}),
                summary
            )?;
            for (i, row) in rows.enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut out, &row)?;
            }
            let accounts: Vec<_> = account_scores
                .iter()
                .take(limit)
                .map(|(id, s)| json!({"id": id, "score": s}))
                .collect();
            write!(
                out,
                "],\"accounts\":{},\"rejected\":{}}}",
                serde_json::to_string(&accounts)?,
                serde_json::to_string(&rejections.rows)?
            )?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    drop(out);

    if args.format == Format::Table || rejections.count > 0 {
        for r in rejections.rows.iter().take(20) {
            eprintln!("rejected {}:{}: {}", r.file, r.line, r.error);
        }
        if rejections.count > 20 {
            eprintln!("... and {} more rejected rows", rejections.count - 20);
        }
        eprintln!(
            "scored {} leads as of {as_of}: {} mql, {} disqualified; {} events scored, {} after --as-of, {} anonymous visitors never identified; {} rows rejected",
            scored.len(),
            summary["mql"],
            summary["disqualified"],
            stats.scored,
            stats.later,
            stats.anonymous,
            rejections.count
        );
    }
    Ok(())
}

/// Each lead's score and explanation as of `as_of`, in the order of `trails`, worked out on
/// every core (a share of the leads each).
fn explain_all(
    model: &Model,
    accounts: &HashMap<String, Attributes>,
    mut trails: Vec<LeadTrail<Activity>>,
    as_of: Timestamp,
) -> Vec<(String, Lead, LeadScore, Explanation)> {
    let explain = |trail: LeadTrail<Activity>| {
        let lead = Lead {
            attributes: trail.attributes,
            account: trail.account,
        };
        let account = lead.account.as_ref().and_then(|a| accounts.get(a));
        let profile = Profile {
            lead: &lead.attributes,
            account,
        };
        let (score, explanation) = model.explain(profile, &trail.data, as_of);
        (trail.id, lead, score, explanation)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let share = trails.len().div_ceil(threads).max(1);
    let mut shares = Vec::new();
    while trails.len() > share {
        shares.push(trails.split_off(trails.len() - share));
    }
    shares.push(trails);
    std::thread::scope(|scope| {
        let explain = &explain;
        let running: Vec<_> = shares
            .into_iter()
            .rev()
            .map(|share| scope.spawn(move || share.into_iter().map(explain).collect::<Vec<_>>()))
            .collect();
        running
            .into_iter()
            .flat_map(|share| share.join().expect("scoring does not panic"))
            .collect()
    })
}

#[derive(Default)]
struct EventStats {
    read: u64,
    scored: u64,
    later: u64,
    anonymous: u64,
}

fn top_contributions(explanation: &Explanation, n: usize) -> Vec<Contribution> {
    let mut all: Vec<Contribution> = explanation
        .fit
        .iter()
        .map(|f| Contribution {
            rule: f.rule.clone(),
            points: round3(f.points),
        })
        .chain(explanation.engagement.iter().map(|e| Contribution {
            rule: e.rule.clone(),
            points: round3(e.points),
        }))
        .filter(|c| c.points != 0.0)
        .collect();
    all.sort_by(|a, b| b.points.abs().total_cmp(&a.points.abs()));
    all.truncate(n);
    all
}

fn print_table<'a>(
    out: &mut impl Write,
    model: &Model,
    rows: impl Iterator<Item = Scored<'a>>,
) -> anyhow::Result<()> {
    let groups: Vec<&str> = model.groups().iter().map(|g| g.id.as_str()).collect();
    write!(
        out,
        "{:<28} {:>7} {:>6} {:>6}",
        "LEAD", "SCORE", "FIT", "ENG"
    )?;
    for g in &groups {
        write!(
            out,
            " {:>width$}",
            truncate(g, 12),
            width = g.len().clamp(6, 12)
        )?;
    }
    writeln!(out, " {:<5} {:<12} TOP CONTRIBUTIONS", "GRADE", "STAGE")?;
    for row in rows {
        write!(
            out,
            "{:<28} {:>7} {:>6} {:>6}",
            truncate(row.id, 28),
            decimal(row.score.score),
            decimal(row.score.fit),
            decimal(row.score.engagement)
        )?;
        for (g, name) in row.score.groups.iter().zip(&groups) {
            write!(
                out,
                " {:>width$}",
                decimal(g.score),
                width = name.len().clamp(6, 12)
            )?;
        }
        let top: Vec<String> = row
            .top
            .iter()
            .map(|c| {
                let points = decimal(c.points);
                let sign = if points.starts_with('-') || points == "0.0" {
                    ""
                } else {
                    "+"
                };
                format!("{} {sign}{points}", c.rule)
            })
            .collect();
        let stage = match row.score.disqualified.first() {
            Some(d) => format!("disq:{}", d.reason),
            None => row.stage.to_string(),
        };
        writeln!(
            out,
            " {:<5} {:<12} {}",
            row.score.grade.to_string(),
            truncate(&stage, 12),
            top.join(", ")
        )?;
    }
    Ok(())
}

/// A number as every table cell shows it: one decimal, and `0.0` for a value that rounds to
/// zero, never `-0.0` (negative zero, or a small negative such as a decayed penalty).
fn decimal(x: f64) -> String {
    // Adding 0.0 turns -0.0 into 0.0; a small negative still prints as "-0.0", so the sign
    // of a zero is dropped after formatting too.
    let text = format!("{:.1}", x + 0.0);
    match text.strip_prefix('-') {
        Some(digits) if digits.bytes().all(|b| b == b'0' || b == b'.') => digits.to_string(),
        _ => text,
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

fn progress() -> ProgressBar {
    if !crate::interactive() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {pos} events read ({per_sec})")
            .expect("valid template"),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn table_numbers_have_no_negative_zero() {
        assert_eq!(decimal(-0.0), "0.0");
        assert_eq!(decimal(-0.04), "0.0");
        assert_eq!(decimal(-0.05), "-0.1");
        assert_eq!(decimal(12.345), "12.3");
        assert_eq!(decimal(-7.0), "-7.0");
    }
}
