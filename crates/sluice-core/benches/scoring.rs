//! Events scored per second on one core, for the example model on a generated company.
//!
//! `cargo bench -p sluice-core --bench scoring`
//!
//! - `native`: the engine as shipped (rules indexed by event name, conditions compiled).
//! - `interpreted`: the same model with every condition run by the CEL interpreter.
//! - `live`: events recorded one at a time, the lead rescored after each (the service path).
//! - `explain`: scoring with the full explanation of every point.
//! - `ceiling`: a bare loop doing the least any scorer must do per event (look the event
//!   name up in a points table, decay, add), for scale.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use sluice_core::{Activity, Attributes, Event, Message, Model, Profile, Timestamp};

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

fn company(leads: u64) -> (Vec<Lead>, Timestamp) {
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
    (
        result,
        Timestamp::from_millis(config.end.timestamp_millis()),
    )
}

fn scoring(c: &mut Criterion) {
    let model =
        Model::from_toml(include_str!("../../../examples/model.toml"), "model.toml").unwrap();
    let interpreted = model.interpreted();
    let (leads, as_of) = company(2_000);
    let events: u64 = leads.iter().map(|l| l.events.len() as u64).sum();

    let score_all = |model: &Model, leads: &[Lead]| {
        let mut total = 0.0;
        for lead in leads {
            let activity = Activity::from_events(model, &lead.events);
            let profile = Profile {
                lead: &lead.attributes,
                account: lead.account.as_ref(),
            };
            total += model.score(profile, &activity, as_of).score;
        }
        total
    };

    let mut group = c.benchmark_group("scoring");
    group.throughput(Throughput::Elements(events));
    group.bench_function("native", |b| {
        b.iter(|| black_box(score_all(&model, &leads)))
    });
    group.bench_function("explain", |b| {
        b.iter(|| {
            for lead in &leads {
                let activity = Activity::from_events(&model, &lead.events);
                let profile = Profile {
                    lead: &lead.attributes,
                    account: lead.account.as_ref(),
                };
                black_box(model.explain(profile, &activity, as_of));
            }
        })
    });
    group.bench_function("live", |b| {
        b.iter(|| {
            for lead in &leads {
                let mut activity = Activity::new();
                let profile = Profile {
                    lead: &lead.attributes,
                    account: lead.account.as_ref(),
                };
                for event in &lead.events {
                    activity.record(&model, event);
                    black_box(model.score(profile, &activity, event.timestamp));
                }
            }
        })
    });
    group.bench_function("ceiling", |b| {
        let points: HashMap<&str, f64> = model
            .engagement()
            .rules
            .iter()
            .map(|r| (leak(r.event.to_string()), r.points))
            .collect();
        let half_life = 30.0 * 86_400_000.0;
        b.iter(|| {
            let mut total = 0.0;
            for lead in &leads {
                for e in &lead.events {
                    if let Some(p) = points.get(e.name.as_str()) {
                        total += p
                            * (-((as_of.millis() - e.timestamp.millis()) as f64) / half_life)
                                .exp2();
                    }
                }
            }
            black_box(total)
        })
    });
    group.finish();

    // The interpreter is two orders of magnitude slower: measure it on a tenth of the leads.
    let sample = &leads[..leads.len() / 10];
    let mut group = c.benchmark_group("scoring");
    group.throughput(Throughput::Elements(
        sample.iter().map(|l| l.events.len() as u64).sum(),
    ));
    group.sample_size(10);
    group.bench_function("interpreted", |b| {
        b.iter(|| black_box(score_all(&interpreted, sample)))
    });
    group.finish();
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

criterion_group!(benches, scoring);
criterion_main!(benches);
