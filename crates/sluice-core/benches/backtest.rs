//! Events replayed per second on one core: when each lead of a generated company would first
//! have been an MQL, over its year of history.
//!
//! `cargo bench -p sluice-core --bench backtest`
//!
//! - `replay`: [`Replay::first_mql`] over every lead, activities matched beforehand (what a
//!   backtest adds to scoring).
//! - `replay_all_leads`: the same with the model's minimum fit grade removed, so no lead is
//!   ruled out before its history is walked.
//! - `sweep`: one walk per lead deciding 31 thresholds (the model's and 10 %..300 % of it).
//! - `match_and_replay`: matching every event against the model, then the replay.
//! - `naive`: the engine asked at every moment (each hit time and each midnight), the reference
//!   the replay equals; on a tenth of the leads.
//! - `naive_hits`: the engine asked at each hit time only (misses scores that rise between
//!   events), for scale.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use sluice_core::backtest::{LeadHistory, Replay, first_mql_naive, sweep_thresholds};
use sluice_core::{Activity, Attributes, Event, Message, Model, Profile, Qualification, Timestamp};

struct Lead {
    attributes: Attributes,
    account: Option<Attributes>,
    events: Vec<Event>,
}

fn table(text: &[u8]) -> Vec<(String, Attributes)> {
    let mut reader = csv::Reader::from_reader(text);
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let mut attributes = Attributes::new();
            for (h, v) in headers.iter().zip(r.iter()) {
                if !v.is_empty() {
                    let value = v
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::from(v));
                    attributes.insert(h.to_string(), value);
                }
            }
            (r[0].to_string(), attributes)
        })
        .collect()
}

fn company(leads: u64) -> (Vec<Lead>, Timestamp, Timestamp) {
    let config = sluice_synth::Config {
        leads,
        ..sluice_synth::Config::default()
    };
    let (mut accounts, mut leads_csv, mut events, mut outcomes, mut truth) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut out = sluice_synth::Outputs {
        accounts: &mut accounts,
        leads: &mut leads_csv,
        events: &mut events,
        outcomes: &mut outcomes,
        truth: &mut truth,
    };
    sluice_synth::generate(&config, &mut out, &mut |_| {}).unwrap();
    let accounts: HashMap<String, Attributes> = table(&accounts).into_iter().collect();
    let mut index = HashMap::new();
    let mut result: Vec<Lead> = table(&leads_csv)
        .into_iter()
        .enumerate()
        .map(|(i, (id, attributes))| {
            index.insert(id, i);
            let account = attributes
                .get("account_id")
                .and_then(|a| accounts.get(a.as_str()?))
                .cloned();
            Lead {
                attributes,
                account,
                events: Vec::new(),
            }
        })
        .collect();
    for line in std::str::from_utf8(&events).unwrap().lines() {
        let m = Message::parse(line).unwrap();
        let at = m.event_time(None).unwrap();
        if let (Some(event), Some(user)) = (m.to_event(at), &m.user_id) {
            result[index[user]].events.push(event);
        }
    }
    let end = Timestamp::from_millis(config.end.timestamp_millis());
    let start = Timestamp::from_millis(end.millis() - i64::from(config.days) * 86_400_000);
    (result, start, end)
}

fn profile(lead: &Lead) -> Profile<'_> {
    Profile {
        lead: &lead.attributes,
        account: lead.account.as_ref(),
    }
}

fn backtest(c: &mut Criterion) {
    let source = include_str!("../../../examples/model.toml");
    let model = Model::from_toml(source, "model.toml").unwrap();
    let all_leads =
        Model::from_toml(&source.replace("min_fit_grade = \"B\"", ""), "model.toml").unwrap();
    let (leads, from, to) = company(2_000);
    let events: u64 = leads.iter().map(|l| l.events.len() as u64).sum();
    let activities = |model: &Model| -> Vec<Activity> {
        leads
            .iter()
            .map(|l| Activity::from_events(model, &l.events))
            .collect()
    };
    let matched = activities(&model);
    let matched_all = activities(&all_leads);
    let replay_all = |replay: &Replay<'_>, activities: &[Activity]| {
        let mut mqls = 0;
        for (lead, activity) in leads.iter().zip(activities) {
            let history = LeadHistory::fixed(profile(lead), activity);
            mqls += usize::from(replay.first_mql(&history, from, to).is_some());
        }
        mqls
    };

    let mut group = c.benchmark_group("backtest");
    group.throughput(Throughput::Elements(events));
    group.bench_function("replay", |b| {
        let replay = Replay::new(&model);
        b.iter(|| black_box(replay_all(&replay, &matched)))
    });
    group.bench_function("replay_all_leads", |b| {
        let replay = Replay::new(&all_leads);
        b.iter(|| black_box(replay_all(&replay, &matched_all)))
    });
    group.bench_function("sweep", |b| {
        let replay = Replay::new(&model);
        let mql = model.thresholds().mql;
        let thresholds: Vec<f64> = std::iter::once(mql)
            .chain(sweep_thresholds(mql).into_iter().map(|(_, t)| t))
            .collect();
        b.iter(|| {
            for (lead, activity) in leads.iter().zip(&matched) {
                let history = LeadHistory::fixed(profile(lead), activity);
                black_box(replay.first_mqls(&history, from, to, &thresholds));
            }
        })
    });
    group.bench_function("match_and_replay", |b| {
        let replay = Replay::new(&model);
        b.iter(|| {
            let mut mqls = 0;
            for lead in &leads {
                let activity = Activity::from_events(&model, &lead.events);
                let history = LeadHistory::fixed(profile(lead), &activity);
                mqls += usize::from(replay.first_mql(&history, from, to).is_some());
            }
            black_box(mqls)
        })
    });
    group.finish();

    // Quadratic: measured on a tenth of the leads.
    let sample = leads.len() / 10;
    let mut group = c.benchmark_group("backtest");
    group.throughput(Throughput::Elements(
        leads[..sample].iter().map(|l| l.events.len() as u64).sum(),
    ));
    group.sample_size(10);
    group.bench_function("naive", |b| {
        b.iter(|| {
            for (lead, activity) in leads[..sample].iter().zip(&matched) {
                let history = LeadHistory::fixed(profile(lead), activity);
                black_box(first_mql_naive(&model, &history, from, to));
            }
        })
    });
    group.bench_function("naive_hits", |b| {
        b.iter(|| {
            for (lead, activity) in leads[..sample].iter().zip(&matched) {
                let found = activity.hits().iter().map(|h| h.at).find(|&t| {
                    model.score(profile(lead), activity, t).qualification == Qualification::Mql
                });
                black_box(found);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, backtest);
criterion_main!(benches);
