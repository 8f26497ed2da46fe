//! The generator through its public API: determinism, well-formed files, and the planted
//! signal visible in the files themselves (not in the generator's internals).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sluice_synth::{Config, Error, FILE_NAMES, Outputs, Summary, generate, generate_to_dir};

/// The five files of one run, in memory.
#[derive(Clone, PartialEq, Eq)]
struct Files {
    accounts: Vec<u8>,
    leads: Vec<u8>,
    events: Vec<u8>,
    outcomes: Vec<u8>,
    truth: Vec<u8>,
}

fn run(config: &Config) -> (Summary, Files, Vec<u64>) {
    let mut files = Files {
        accounts: Vec::new(),
        leads: Vec::new(),
        events: Vec::new(),
        outcomes: Vec::new(),
        truth: Vec::new(),
    };
    let mut progress = Vec::new();
    let mut out = Outputs {
        accounts: &mut files.accounts,
        leads: &mut files.leads,
        events: &mut files.events,
        outcomes: &mut files.outcomes,
        truth: &mut files.truth,
    };
    let summary =
        generate(config, &mut out, &mut |done| progress.push(done)).expect("writing to memory");
    (summary, files, progress)
}

/// Minimal RFC 4180 reader: enough for the generator's own output.
fn parse_csv(bytes: &[u8]) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let text = std::str::from_utf8(bytes).expect("CSV is UTF-8");
    let mut records: Vec<Vec<String>> = Vec::new();
    let (mut record, mut field, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        record.is_empty() && field.is_empty() && !quoted,
        "CSV ends with a newline"
    );
    let header = records.remove(0);
    let rows = records
        .into_iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "row {r:?}");
            header.iter().cloned().zip(r).collect()
        })
        .collect();
    (header, rows)
}

fn time(s: &str) -> DateTime<Utc> {
    assert_eq!(s.len(), 24, "RFC 3339 with milliseconds: {s}");
    assert!(s.ends_with('Z'), "UTC: {s}");
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .to_utc()
}

const PERSONAL: [&str; 4] = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com"];

/// One run, parsed, shared by the tests that only read it.
struct Dataset {
    config: Config,
    summary: Summary,
    progress: Vec<u64>,
    accounts: HashMap<String, HashMap<String, String>>,
    account_header: Vec<String>,
    leads: Vec<HashMap<String, String>>,
    lead_header: Vec<String>,
    events: Vec<Message>,
    outcomes: Vec<HashMap<String, String>>,
    outcome_header: Vec<String>,
    truth: Value,
}

impl Dataset {
    fn lead_ids_with_opportunity(&self) -> HashSet<&str> {
        self.outcomes
            .iter()
            .filter(|o| o["type"] == "opportunity")
            .map(|o| o["lead_id"].as_str())
            .collect()
    }

    /// Track event counts and page paths per lead id.
    fn behaviour(&self) -> HashMap<String, (HashMap<String, usize>, Vec<String>)> {
        let mut per_lead: HashMap<String, (HashMap<String, usize>, Vec<String>)> = HashMap::new();
        for e in &self.events {
            let entry = per_lead.entry(e.lead()).or_default();
            if let Some(event) = &e.event {
                *entry.0.entry(event.clone()).or_default() += 1;
            }
            if let Some(path) = e.properties.get("path") {
                entry.1.push(path.clone());
            }
        }
        per_lead
    }

    /// Opportunity rate of the leads for which `keep` holds, and how many there are.
    fn rate(&self, keep: impl Fn(&HashMap<String, String>) -> bool) -> (f64, usize) {
        let with = self.lead_ids_with_opportunity();
        let chosen: Vec<_> = self.leads.iter().filter(|l| keep(l)).collect();
        let opportunities = chosen
            .iter()
            .filter(|l| with.contains(l["id"].as_str()))
            .count();
        (
            opportunities as f64 / chosen.len().max(1) as f64,
            chosen.len(),
        )
    }
}

/// A Segment message as the generator writes it; an unknown field is an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    message_id: String,
    timestamp: String,
    user_id: Option<String>,
    anonymous_id: String,
    /// track
    event: Option<String>,
    /// page
    name: Option<String>,
    /// group
    group_id: Option<String>,
    /// track and page: every property the generator writes is a string.
    #[serde(default)]
    properties: HashMap<String, String>,
    /// identify and group
    traits: Option<HashMap<String, Value>>,
    context: Context,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Context {
    library: Library,
    user_agent: String,
    ip: String,
    page: Option<PageContext>,
    campaign: Option<Campaign>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Library {
    name: String,
    version: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageContext {
    path: String,
    url: String,
    referrer: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Campaign {
    source: String,
    medium: String,
    name: String,
}

impl Message {
    /// `lead-0000042` from `m-0000042-7`.
    fn lead(&self) -> String {
        let number = self.message_id.split('-').nth(1).expect("m-<lead>-<n>");
        format!("lead-{number}")
    }

    fn time(&self) -> DateTime<Utc> {
        time(&self.timestamp)
    }
}

/// Parses JSON Lines, typed: an unexpected field or a wrong type fails the test.
fn parse_jsonl(bytes: &[u8]) -> Vec<Message> {
    std::str::from_utf8(bytes)
        .expect("UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

fn dataset() -> &'static Dataset {
    static DATA: OnceLock<Dataset> = OnceLock::new();
    DATA.get_or_init(|| {
        let config = Config {
            leads: 5000,
            seed: 7,
            ..Config::default()
        };
        let (summary, files, progress) = run(&config);
        let (account_header, accounts) = parse_csv(&files.accounts);
        let (lead_header, leads) = parse_csv(&files.leads);
        let (outcome_header, outcomes) = parse_csv(&files.outcomes);
        let events = parse_jsonl(&files.events);
        Dataset {
            config,
            summary,
            progress,
            accounts: accounts.into_iter().map(|a| (a["id"].clone(), a)).collect(),
            account_header,
            leads,
            lead_header,
            events,
            outcomes,
            outcome_header,
            truth: serde_json::from_slice(&files.truth).expect("truth.json is JSON"),
        }
    })
}

#[test]
fn same_config_same_bytes_other_seed_other_bytes() {
    let config = Config {
        leads: 300,
        ..Config::default()
    };
    let (summary, first, _) = run(&config);
    let (again, second, _) = run(&config);
    assert_eq!(summary, again);
    assert!(first == second, "two runs with the same config differ");

    let (_, other, _) = run(&Config {
        seed: config.seed + 1,
        ..config.clone()
    });
    assert_ne!(first.leads, other.leads);
    assert_ne!(first.events, other.events);
    assert_ne!(first.accounts, other.accounts);
}

#[test]
fn files_have_the_documented_headers() {
    let d = dataset();
    assert_eq!(
        d.account_header.join(","),
        "id,name,domain,industry,employees,annual_revenue,country"
    );
    assert_eq!(
        d.lead_header.join(","),
        "id,email,first_name,last_name,title,seniority,department,company,account_id,country,lead_source,created_at"
    );
    assert_eq!(
        d.outcome_header.join(","),
        "lead_id,email,account_id,type,amount,date,reason"
    );
}

#[test]
fn summary_counts_what_was_written() {
    let d = dataset();
    let count = |kind: &str| d.outcomes.iter().filter(|o| o["type"] == kind).count() as u64;
    assert_eq!(d.summary.accounts, d.accounts.len() as u64);
    assert_eq!(d.summary.accounts, 625);
    assert_eq!(d.summary.leads, d.leads.len() as u64);
    assert_eq!(d.summary.events, d.events.len() as u64);
    assert_eq!(d.summary.opportunities, count("opportunity"));
    assert_eq!(d.summary.won, count("won"));
    assert_eq!(d.summary.lost, count("lost"));
    assert_eq!(d.progress, [1000, 2000, 3000, 4000, 5000]);
    let realised = &d.truth["realised"];
    assert_eq!(realised["opportunities"], d.summary.opportunities);
    assert_eq!(realised["won"], d.summary.won);
}

#[test]
fn accounts_are_well_formed() {
    let d = dataset();
    let industries = [
        "Software",
        "Financial Services",
        "Healthcare",
        "Manufacturing",
        "Retail",
        "Education",
        "Government",
        "Media",
        "Consulting",
        "Non-profit",
    ];
    let countries = ["US", "GB", "DE", "FR", "CA", "AU", "IN", "BR", "NL", "SE"];
    let mut domains = HashSet::new();
    for n in 1..=d.accounts.len() {
        let a = &d.accounts[&format!("acct-{n:06}")];
        assert!(industries.contains(&a["industry"].as_str()), "{a:?}");
        assert!(countries.contains(&a["country"].as_str()), "{a:?}");
        let employees: u64 = a["employees"].parse().expect("integer employees");
        assert!((5..=100_000).contains(&employees), "{a:?}");
        let revenue: u64 = a["annual_revenue"].parse().expect("integer revenue");
        assert!(revenue >= 50_000, "{a:?}");
        assert!(
            domains.insert(a["domain"].clone()),
            "duplicate domain {a:?}"
        );
    }
}

#[test]
fn leads_are_consistent_with_their_accounts() {
    let d = dataset();
    let window_start = d.config.end - chrono::Duration::days(i64::from(d.config.days));
    let mut emails = HashSet::new();
    let mut personal = 0;
    for (n, lead) in d.leads.iter().enumerate() {
        assert_eq!(lead["id"], format!("lead-{:07}", n + 1));
        let (local, domain) = lead["email"].split_once('@').expect("email has @");
        assert!(!local.is_empty() && local.is_ascii(), "{lead:?}");
        assert!(
            emails.insert(lead["email"].clone()),
            "duplicate email {lead:?}"
        );
        let is_personal = PERSONAL.contains(&domain);
        personal += usize::from(is_personal);
        match d.accounts.get(&lead["account_id"]) {
            Some(account) => {
                assert_eq!(lead["company"], account["name"], "{lead:?}");
                assert!(
                    is_personal || domain == account["domain"],
                    "{lead:?} vs {account:?}"
                );
            }
            None => {
                assert_eq!(lead["account_id"], "", "unknown account {lead:?}");
                assert_eq!(lead["company"], "", "{lead:?}");
                assert!(is_personal, "no account needs a personal address: {lead:?}");
            }
        }
        assert!(
            ["executive", "vp", "director", "manager", "staff", "student"]
                .contains(&lead["seniority"].as_str())
        );
        assert!(
            [
                "engineering",
                "it",
                "data",
                "marketing",
                "sales",
                "finance",
                "operations",
                "hr",
                "other"
            ]
            .contains(&lead["department"].as_str())
        );
        assert!(
            [
                "organic_search",
                "paid_search",
                "paid_social",
                "webinar",
                "content_syndication",
                "referral",
                "event",
                "partner",
                "direct"
            ]
            .contains(&lead["lead_source"].as_str())
        );
        assert!(!lead["title"].is_empty());
        if lead["seniority"] == "student" {
            assert!(
                lead["title"].contains("Student") || lead["title"].contains("Candidate"),
                "{lead:?}"
            );
        }
        let created = time(&lead["created_at"]);
        assert!(
            created >= window_start && created < d.config.end,
            "{lead:?}"
        );
    }
    let share = personal as f64 / d.leads.len() as f64;
    assert!(
        (0.11..0.19).contains(&share),
        "personal email share {share}"
    );
}

#[test]
fn events_are_segment_messages_in_lead_and_time_order() {
    let d = dataset();
    let start = d.config.end - chrono::Duration::days(i64::from(d.config.days));
    let leads: HashMap<&str, &HashMap<String, String>> =
        d.leads.iter().map(|l| (l["id"].as_str(), l)).collect();
    let tracks: HashMap<&str, &[&str]> = HashMap::from([
        ("Whitepaper Downloaded", &["asset_id", "asset_title"][..]),
        ("Webinar Registered", &["webinar_id", "title"][..]),
        ("Webinar Attended", &["webinar_id", "title"][..]),
        ("Demo Requested", &["form_id"][..]),
        ("Trial Started", &["plan"][..]),
        ("Email Opened", &["campaign_id"][..]),
        ("Email Clicked", &["campaign_id"][..]),
        ("Newsletter Subscribed", &["list"][..]),
        ("Case Study Viewed", &["case_study_id"][..]),
    ]);
    let page_prefixes = ["/blog/", "/product/", "/docs/", "/customers/", "/careers/"];
    let page_exact = ["/", "/pricing", "/careers", "/about"];

    let mut message_ids = HashSet::new();
    let mut seen_leads = Vec::<String>::new();
    let (mut last_time, mut identified, mut anonymous_id) = (String::new(), false, String::new());
    let mut expect_group = false;
    let mut total_per_lead: HashMap<String, usize> = HashMap::new();
    for e in &d.events {
        let lead_id = e.lead();
        *total_per_lead.entry(lead_id.clone()).or_default() += 1;
        if seen_leads.last() != Some(&lead_id) {
            assert!(
                !seen_leads.contains(&lead_id),
                "lead {lead_id} is not contiguous"
            );
            seen_leads.push(lead_id.clone());
            (last_time, identified, expect_group) = (String::new(), false, false);
            anonymous_id = e.anonymous_id.clone();
        }
        let lead = leads[lead_id.as_str()];
        assert!(message_ids.insert(e.message_id.clone()), "{e:?}");
        let t = e.time();
        assert!(t >= start && t < d.config.end, "outside the window: {e:?}");
        assert!(e.timestamp >= last_time, "out of order: {e:?}");
        last_time = e.timestamp.clone();
        assert_eq!(e.anonymous_id, anonymous_id, "{e:?}");
        assert_eq!(e.context.library.name, "analytics.js");
        assert_eq!(e.context.library.version, "2.11.1");
        assert!(e.context.user_agent.starts_with("Mozilla/5.0"), "{e:?}");
        assert_eq!(
            e.context
                .ip
                .split('.')
                .filter(|o| o.parse::<u8>().is_ok())
                .count(),
            4,
            "{e:?}"
        );
        let only = |present: bool, what: &str| {
            assert_eq!(present, matches!(e.kind.as_str(), k if k == what), "{e:?}")
        };
        only(e.event.is_some(), "track");
        only(e.name.is_some(), "page");
        only(e.context.page.is_some(), "page");
        only(e.group_id.is_some(), "group");

        if expect_group {
            assert_eq!(e.kind, "group", "group follows identify: {e:?}");
            expect_group = false;
        }
        match e.kind.as_str() {
            "identify" => {
                assert!(!identified, "one identify per lead: {e:?}");
                identified = true;
                assert_eq!(
                    e.timestamp, lead["created_at"],
                    "identify is the lead's creation: {e:?}"
                );
                let traits = e.traits.as_ref().expect("identify traits");
                for key in ["email", "first_name", "last_name", "title"] {
                    assert_eq!(traits[key], lead[key].as_str(), "{e:?}");
                }
                match lead["company"].as_str() {
                    "" => assert!(!traits.contains_key("company"), "{e:?}"),
                    company => assert_eq!(traits["company"], company),
                }
                assert_eq!(
                    traits.len(),
                    4 + usize::from(!lead["company"].is_empty()),
                    "{e:?}"
                );
                expect_group = !lead["account_id"].is_empty();
            }
            "group" => {
                assert_eq!(
                    e.group_id.as_deref(),
                    Some(lead["account_id"].as_str()),
                    "{e:?}"
                );
                let account = &d.accounts[lead["account_id"].as_str()];
                let traits = e.traits.as_ref().expect("group traits");
                for key in ["name", "domain", "industry", "country"] {
                    assert_eq!(traits[key], account[key].as_str(), "{e:?}");
                }
                for key in ["employees", "annual_revenue"] {
                    assert_eq!(traits[key].to_string(), account[key], "{e:?}");
                }
            }
            "page" => {
                let path = e.properties["path"].as_str();
                assert!(
                    page_exact.contains(&path)
                        || page_prefixes
                            .iter()
                            .any(|p| path.len() > p.len() && path.starts_with(p)),
                    "unexpected path {path}"
                );
                assert_eq!(
                    e.properties["url"],
                    format!("https://www.example-saas.com{path}")
                );
                assert!(!e.properties["title"].is_empty(), "{e:?}");
                assert_eq!(e.properties.len(), 4, "path, url, title, referrer: {e:?}");
                let page = e.context.page.as_ref().expect("context.page");
                assert_eq!(page.path, path);
                assert_eq!(page.url, e.properties["url"]);
                assert_eq!(page.referrer, e.properties["referrer"]);
            }
            "track" => {
                let name = e.event.as_deref().expect("event");
                let keys = tracks
                    .get(name)
                    .unwrap_or_else(|| panic!("unexpected event {name}"));
                let mut written: Vec<&str> = e.properties.keys().map(String::as_str).collect();
                written.sort_unstable();
                let mut expected = keys.to_vec();
                expected.sort_unstable();
                assert_eq!(written, expected, "{e:?}");
            }
            other => panic!("unexpected type {other}"),
        }
        if identified {
            assert_eq!(e.user_id.as_deref(), Some(lead_id.as_str()), "{e:?}");
        } else {
            assert!(e.user_id.is_none(), "anonymous before identify: {e:?}");
            assert_eq!(e.kind, "page", "only page views before identify: {e:?}");
        }
        if let Some(campaign) = &e.context.campaign {
            let (source, medium) = (campaign.source.as_str(), campaign.medium.as_str());
            assert!(!campaign.name.is_empty(), "{e:?}");
            let expected = match (medium, lead["lead_source"].as_str()) {
                ("email", _) => e.event.as_deref().is_some_and(|n| n.starts_with("Email")),
                ("cpc", "paid_search") => source == "google",
                ("paid_social", "paid_social") => source == "linkedin",
                ("syndication", "content_syndication")
                | ("webinar", "webinar")
                | ("referral", "referral") => true,
                ("event", "event") | ("partner", "partner") => true,
                _ => false,
            };
            assert!(
                expected,
                "campaign inconsistent with {}: {e:?}",
                lead["lead_source"]
            );
        }
    }
    assert_eq!(seen_leads.len(), d.leads.len(), "every lead has events");
    assert!(
        seen_leads.windows(2).all(|w| w[0] < w[1]),
        "grouped in lead-id order"
    );

    let mean = d.events.len() as f64 / d.leads.len() as f64;
    assert!((30.0..50.0).contains(&mean), "mean events per lead {mean}");
    let few = total_per_lead.values().filter(|&&n| n <= 3).count();
    let many = total_per_lead.values().filter(|&&n| n >= 200).count();
    assert!(
        few > 0 && many > 0,
        "heavy tail: {few} leads with <= 3 events, {many} with >= 200"
    );
}

#[test]
fn outcomes_follow_the_lead_and_each_other() {
    let d = dataset();
    let leads: HashMap<&str, &HashMap<String, String>> =
        d.leads.iter().map(|l| (l["id"].as_str(), l)).collect();
    let mut opportunity_at: HashMap<&str, DateTime<Utc>> = HashMap::new();
    let mut closed = HashSet::new();
    for o in &d.outcomes {
        let lead = leads[o["lead_id"].as_str()];
        assert_eq!(o["email"], lead["email"]);
        assert_eq!(o["account_id"], lead["account_id"]);
        let at = time(&o["date"]);
        assert!(
            at >= time(&lead["created_at"]) && at < d.config.end,
            "{o:?}"
        );
        match o["type"].as_str() {
            "opportunity" => {
                assert!(
                    opportunity_at.insert(&o["lead_id"], at).is_none(),
                    "one opportunity per lead"
                );
                assert!(o["amount"].parse::<u64>().is_ok_and(|a| a > 0), "{o:?}");
                assert_eq!(o["reason"], "");
            }
            kind @ ("won" | "lost") => {
                let opened = opportunity_at[o["lead_id"].as_str()];
                let days = (at - opened).num_days();
                assert!(
                    (10..=120).contains(&days),
                    "closed {days} days after opening: {o:?}"
                );
                assert!(closed.insert(o["lead_id"].clone()), "closed twice {o:?}");
                if kind == "won" {
                    assert!(o["amount"].parse::<u64>().is_ok_and(|a| a > 0), "{o:?}");
                    assert_eq!(o["reason"], "");
                } else {
                    assert_eq!(o["amount"], "");
                    assert!(
                        ["no_budget", "competitor", "no_decision", "timing", "price"]
                            .contains(&o["reason"].as_str()),
                        "{o:?}"
                    );
                }
            }
            other => panic!("unexpected type {other}"),
        }
    }

    // Every behaviour the model can use is visible before the opportunity: a converting
    // lead's first "Demo Requested" and first pricing view precede its opportunity.
    let mut first_signal: HashMap<(String, &str), DateTime<Utc>> = HashMap::new();
    for e in &d.events {
        let signal = if e.event.as_deref() == Some("Demo Requested") {
            "demo"
        } else if e.properties.get("path").is_some_and(|p| p == "/pricing") {
            "pricing"
        } else {
            continue;
        };
        first_signal.entry((e.lead(), signal)).or_insert(e.time());
    }
    let mut checked = 0;
    for ((lead, signal), first) in &first_signal {
        if let Some(&opened) = opportunity_at.get(lead.as_str()) {
            assert!(
                *first < opened,
                "{lead}: first {signal} at {first}, opportunity at {opened}"
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} signals checked");

    let rate = d.summary.opportunities as f64 / d.summary.leads as f64;
    assert!((0.07..0.13).contains(&rate), "opportunity rate {rate}");
    let won = d.summary.won as f64 / d.summary.opportunities as f64;
    assert!((0.25..0.42).contains(&won), "won share {won}");
}

#[test]
fn truth_json_describes_every_feature() {
    let d = dataset();
    let t = &d.truth;
    assert_eq!(t["seed"], d.config.seed);
    assert_eq!(t["leads"], d.config.leads);
    assert_eq!(t["end"], "2026-10-01T00:00:00.000Z");
    assert!(t["base_log_odds"].is_f64());
    let features = t["features"].as_array().expect("features");
    assert!(features.len() > 40);
    for f in features {
        assert!(
            ["trait", "event", "page"].contains(&f["kind"].as_str().unwrap_or_default()),
            "{f}"
        );
        assert!(
            f["field"].is_string() && !f["value"].is_null() && f["note"].is_string(),
            "{f}"
        );
        let (role, log_odds) = (
            f["role"].as_str().unwrap_or_default(),
            f["log_odds"].as_f64().unwrap_or(f64::NAN),
        );
        match role {
            "driver" => assert!(log_odds > 0.0, "{f}"),
            "noise" => assert!(log_odds == 0.0, "{f}"),
            "trap" => assert!(log_odds <= 0.0, "{f}"),
            _ => panic!("unexpected role {f}"),
        }
        assert!(
            f["leads"].is_u64() && f["opportunities"].is_u64() && f["opportunity_rate"].is_f64(),
            "{f}"
        );
    }
    let named = |field: &str| {
        features
            .iter()
            .find(|f| f["field"] == field)
            .unwrap_or_else(|| panic!("{field}"))
    };
    assert_eq!(named("Demo Requested")["role"], "driver");
    assert_eq!(named("/careers")["role"], "trap");
    assert_eq!(named("Email Opened")["role"], "noise");

    // The realised counts are what the files say.
    let demo = d
        .behaviour()
        .values()
        .filter(|(tracks, _)| tracks.contains_key("Demo Requested"))
        .count();
    assert_eq!(named("Demo Requested")["leads"], demo);
}

#[test]
fn the_planted_signal_is_visible_in_the_files() {
    let d = dataset();
    let behaviour = d.behaviour();
    let tracked = |l: &HashMap<String, String>, name: &str| {
        behaviour[&l["id"]].0.get(name).copied().unwrap_or(0)
    };
    let visited = |l: &HashMap<String, String>, prefix: &str| {
        let p = prefix.trim_end_matches('/');
        behaviour[&l["id"]]
            .1
            .iter()
            .any(|x| x == p || x.starts_with(&format!("{p}/")))
    };
    let (base, _) = d.rate(|_| true);
    let check = |what: &str, (rate, n): (f64, usize), ok: &dyn Fn(f64) -> bool| {
        assert!(n >= 50, "{what}: only {n} leads");
        assert!(
            ok(rate),
            "{what}: rate {rate:.3} over {n} leads, base {base:.3}"
        );
    };

    // Drivers.
    check(
        "Demo Requested",
        d.rate(|l| tracked(l, "Demo Requested") > 0),
        &|r| r > 3.0 * base,
    );
    check(
        "Trial Started",
        d.rate(|l| tracked(l, "Trial Started") > 0),
        &|r| r > 2.0 * base,
    );
    check("/pricing", d.rate(|l| visited(l, "/pricing")), &|r| {
        r > 1.5 * base
    });
    check("/docs/", d.rate(|l| visited(l, "/docs/")), &|r| {
        r > 1.5 * base
    });
    check("vp", d.rate(|l| l["seniority"] == "vp"), &|r| {
        r > 1.5 * base
    });
    check(
        "engineering",
        d.rate(|l| l["department"] == "engineering"),
        &|r| r > 1.2 * base,
    );
    check(
        "mid-market",
        d.rate(|l| {
            d.accounts
                .get(&l["account_id"])
                .is_some_and(|a| (200..=5000).contains(&a["employees"].parse::<u64>().unwrap_or(0)))
        }),
        &|r| r > 1.2 * base,
    );

    // Noise: no lift either way.
    let flat = |r: f64| (0.7 * base..1.3 * base).contains(&r);
    check(
        "Email Opened",
        d.rate(|l| tracked(l, "Email Opened") > 0),
        &flat,
    );
    check("/blog/", d.rate(|l| visited(l, "/blog/")), &flat);
    check(
        "Newsletter Subscribed",
        d.rate(|l| tracked(l, "Newsletter Subscribed") > 0),
        &flat,
    );
    check("country US", d.rate(|l| l["country"] == "US"), &flat);
    check(
        "paid_social",
        d.rate(|l| l["lead_source"] == "paid_social"),
        &flat,
    );

    // Traps: look busy, do not convert.
    check(
        "many whitepapers",
        d.rate(|l| tracked(l, "Whitepaper Downloaded") >= 3),
        &|r| r < base,
    );
    check(
        "any whitepaper",
        d.rate(|l| tracked(l, "Whitepaper Downloaded") > 0),
        &|r| r <= base,
    );
    check(
        "registered, not attended",
        d.rate(|l| tracked(l, "Webinar Registered") > 0 && tracked(l, "Webinar Attended") == 0),
        &|r| r <= 1.1 * base,
    );
    check("students", d.rate(|l| l["seniority"] == "student"), &|r| {
        r < 0.01
    });
    check("/careers", d.rate(|l| visited(l, "/careers")), &|r| {
        r < 0.5 * base
    });
    check(
        "personal email",
        d.rate(|l| {
            PERSONAL
                .iter()
                .any(|p| l["email"].ends_with(&format!("@{p}")))
        }),
        &|r| r < 0.5 * base,
    );
    check(
        "content_syndication",
        d.rate(|l| l["lead_source"] == "content_syndication"),
        &|r| r < 0.8 * base,
    );
    check(
        "Education",
        d.rate(|l| {
            d.accounts
                .get(&l["account_id"])
                .is_some_and(|a| a["industry"] == "Education")
        }),
        &|r| r < 0.6 * base,
    );
}

#[test]
fn generate_to_dir_writes_the_same_bytes() {
    let config = Config {
        leads: 120,
        seed: 3,
        ..Config::default()
    };
    let dir = std::env::temp_dir().join(format!("sluice-synth-test-{}", std::process::id()));
    let summary = generate_to_dir(&config, &dir).expect("writes to a temp dir");
    let (expected, files, _) = run(&config);
    assert_eq!(summary, expected);
    let read = |name: &str| std::fs::read(dir.join(name)).expect("file exists");
    assert_eq!(
        FILE_NAMES,
        [
            "accounts.csv",
            "leads.csv",
            "events.jsonl",
            "outcomes.csv",
            "truth.json"
        ]
    );
    assert!(read("accounts.csv") == files.accounts);
    assert!(read("leads.csv") == files.leads);
    assert!(read("events.jsonl") == files.events);
    assert!(read("outcomes.csv") == files.outcomes);
    assert!(read("truth.json") == files.truth);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn errors_name_the_path() {
    let file = std::env::temp_dir().join(format!("sluice-synth-test-file-{}", std::process::id()));
    std::fs::write(&file, b"not a directory").expect("temp file");
    let inside = file.join("out");
    match generate_to_dir(
        &Config {
            leads: 1,
            ..Config::default()
        },
        &inside,
    ) {
        Err(e @ Error::CreateDir { .. }) => {
            assert!(e.to_string().contains(&*inside.to_string_lossy()), "{e}")
        }
        other => panic!("expected CreateDir, got {other:?}"),
    }
    std::fs::remove_file(&file).expect("clean up");

    match generate_to_dir(
        &Config {
            days: 0,
            ..Config::default()
        },
        &std::env::temp_dir(),
    ) {
        Err(Error::Config(message)) => assert!(message.contains("days")),
        other => panic!("expected Config, got {other:?}"),
    }
}

#[test]
fn tiny_and_empty_runs_work() {
    let (summary, files, _) = run(&Config {
        leads: 0,
        ..Config::default()
    });
    assert_eq!((summary.accounts, summary.leads, summary.events), (1, 0, 0));
    assert_eq!(files.leads, b"id,email,first_name,last_name,title,seniority,department,company,account_id,country,lead_source,created_at\n");

    // A one-day window still keeps every event inside it.
    let config = Config {
        leads: 200,
        days: 1,
        ..Config::default()
    };
    let (summary, files, _) = run(&config);
    let start = config.end - chrono::Duration::days(1);
    let events = parse_jsonl(&files.events);
    for e in &events {
        assert!(e.time() >= start && e.time() < config.end, "{e:?}");
    }
    assert_eq!(events.len() as u64, summary.events);
}
