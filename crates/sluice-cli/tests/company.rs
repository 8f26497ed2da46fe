//! `sluice generate` then `sluice import company`: a generated company lived in time order,
//! with its sales team at work, checked the way a newcomer would look at it (the SLA report,
//! stage histories, BANT of the leads that reached an opportunity), and `sluice import teams`
//! / `reps` row by row.

use std::collections::HashMap;
use std::process::{Command, Output};

use serde_json::Value;
use sluice_core::Stage;
use sluice_store::Store;

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env_remove("SLUICE_DATABASE_URL")
        .output()
        .expect("the binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = sluice(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn user_error(args: &[&str]) -> String {
    let out = sluice(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.starts_with("error: ") && !stderr.contains("panicked"),
        "{stderr}"
    );
    stderr
}

const END: &str = "2026-06-01";

/// A generated company of `leads` over 180 days ending [`END`], lived into a new database.
fn lived(dir: &std::path::Path, leads: u64, name: &str) -> (String, Value) {
    let company = dir.join("company");
    if !company.join("leads.csv").exists() {
        let leads = leads.to_string();
        let out = company.to_str().unwrap();
        ok(&[
            "generate", "--leads", &leads, "--days", "180", "--end", END, "--out", out,
        ]);
    }
    let db = format!("sqlite://{}", dir.join(name).display());
    let summary = ok(&[
        "import",
        "company",
        company.to_str().unwrap(),
        "--db",
        &db,
        "--format",
        "json",
    ]);
    (db, serde_json::from_str(&summary).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_company_lives_its_year_with_a_working_sales_team() {
    let dir = tempfile::tempdir().unwrap();
    let (db, summary) = lived(dir.path(), 400, "a.db");
    assert_eq!(summary["teams"], 2, "{summary}");
    assert_eq!(summary["reps"], 4, "{summary}");
    assert_eq!(summary["leads"], 400, "{summary}");
    assert_eq!(summary["rejected"], 0, "{summary}");
    let lived = &summary["lived"];
    for what in [
        "assignments",
        "touches",
        "accepted",
        "rejected",
        "qualified",
    ] {
        assert!(lived[what].as_u64().unwrap() > 0, "{what}: {lived}");
    }
    assert!(
        lived["touches"].as_u64() <= lived["assignments"].as_u64(),
        "{lived}"
    );

    let store = Store::connect(&db).await.unwrap();
    let end = sluice_core::Timestamp::parse(END).unwrap().millis();

    // Leads were created across the period, not when they were imported.
    let leads = store.leads_after("", 10_000).await.unwrap();
    assert_eq!(leads.len(), 400);
    let early = leads
        .iter()
        .filter(|l| l.created_ms < end - 90 * 86_400_000)
        .count();
    assert!(
        early > 100,
        "{early} of 400 leads first seen in the first half"
    );
    assert!(
        leads.iter().all(|l| l.created_ms < end),
        "first seen after the end"
    );

    // Stage histories are in time order, and sales' moves carry a reason where one is due.
    let transitions = store.transitions_of_assigned_since(0).await.unwrap();
    let mut by_lead: HashMap<&str, Vec<&sluice_store::TransitionRow>> = HashMap::new();
    for t in &transitions {
        by_lead.entry(t.lead_id.as_str()).or_default().push(t);
        if t.to == Stage::Recycled {
            assert!(t.reason.is_some(), "{t:?}");
        }
    }
    for (lead, moves) in &by_lead {
        for pair in moves.windows(2) {
            assert!(
                pair[0].at_ms <= pair[1].at_ms,
                "{lead}: {:?} after {:?}",
                pair[1],
                pair[0]
            );
            assert_eq!(pair[0].to, pair[1].from, "{lead}: {moves:?}");
        }
    }
    assert!(
        transitions.iter().any(|t| t.to == Stage::Sql),
        "no lead reached sql"
    );
    // Not every qualified lead becomes an opportunity: some stall and go back to marketing.
    assert!(
        transitions
            .iter()
            .any(|t| t.from == Stage::Sql && t.to == Stage::Recycled),
        "every sql went on"
    );

    // Every touch comes after its lead was assigned.
    let assignments = store.assignments_between(0, i64::MAX).await.unwrap();
    let first_assigned: HashMap<&str, i64> = assignments.iter().fold(HashMap::new(), |mut m, a| {
        let at = m.entry(a.lead_id.as_str()).or_insert(a.at_ms);
        *at = (*at).min(a.at_ms);
        m
    });
    let activities = store.activities_since(0).await.unwrap();
    assert!(!activities.is_empty());
    for a in &activities {
        let assigned = first_assigned[a.lead_id.as_str()];
        assert!(
            a.at_ms >= assigned,
            "{a:?} before its assignment at {assigned}"
        );
        assert!(a.rep_id.is_some(), "{a:?}");
    }

    // A lead that went past sql has its BANT answers.
    for lead in &leads {
        if matches!(
            lead.stage,
            Stage::Sql | Stage::Opportunity | Stage::Won | Stage::Lost
        ) {
            assert!(
                lead.attributes.contains_key("bant_budget")
                    && lead.attributes.contains_key("bant_need"),
                "{} at {:?} without BANT: {:?}",
                lead.id,
                lead.stage,
                lead.attributes
            );
        }
    }

    // The SLA report shows a team at work: contacts, a median first touch, and SLAs both met
    // and breached.
    let report = ok(&[
        "report",
        "sla",
        "--db",
        &db,
        "--from",
        "2025-12-01",
        "--to",
        END,
        "--format",
        "json",
    ]);
    let report: Value = serde_json::from_str(&report).unwrap();
    let total = &report["report"]["total"];
    assert!(total["contact_rate"].as_f64().unwrap() > 0.6, "{total}");
    assert!(
        total["first_touch_median_hours"].as_f64().is_some(),
        "{total}"
    );
    let first_touch = &total["policies"]["first-touch-4h"];
    assert!(first_touch["met"].as_u64().unwrap() > 0, "{first_touch}");
    let compliance = first_touch["compliance"].as_f64().unwrap();
    assert!((0.5..1.0).contains(&compliance), "{first_touch}");
    let reps = report["report"]["reps"].as_object().unwrap();
    assert!(reps.len() >= 3, "work spread over the reps: {reps:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_company_lives_the_same_year() {
    let dir = tempfile::tempdir().unwrap();
    let (_, a) = lived(dir.path(), 150, "a.db");
    let (_, b) = lived(dir.path(), 150, "b.db");
    assert_eq!(a["lived"], b["lived"]);

    // Lived into an empty database only.
    let company = dir.path().join("company");
    let db = format!("sqlite://{}", dir.path().join("a.db").display());
    let e = user_error(&["import", "company", company.to_str().unwrap(), "--db", &db]);
    assert!(e.contains("already holds events"), "{e}");

    // A file where a directory is expected, named.
    let leads = company.join("leads.csv");
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let e = user_error(&["import", "company", leads.to_str().unwrap(), "--db", &db]);
    assert!(e.contains("a company is a directory"), "{e}");
}

#[test]
fn teams_and_reps_files_are_checked_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let teams = dir.path().join("teams.csv");
    std::fs::write(
        &teams,
        "id,name,time_zone,working_hours,manager\n\
         sdr,Sales development,America/New_York,Mon-Fri 09:00-17:00,lead@example.com\n\
         moon,Moon base,Mars/Base,Mon-Fri 09:00-17:00,\n\
         ae,Account executives,Europe/Berlin,Mon-Thu 08:00-16:00; Fri 08:00-12:00,\n",
    )
    .unwrap();
    let out = ok(&[
        "import",
        "teams",
        teams.to_str().unwrap(),
        "--db",
        &db,
        "--format",
        "json",
    ]);
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["imported"], 2, "{summary}");
    assert_eq!(summary["rejected"], 1, "{summary}");
    let row = &summary["rejected_rows"][0];
    assert_eq!(row["line"], 3, "{row}");
    assert!(
        row["error"].as_str().unwrap().contains("Mars/Base"),
        "{row}"
    );

    let reps = dir.path().join("reps.csv");
    std::fs::write(
        &reps,
        "id,name,email,team_id,capacity\n\
         ana,Ana,ana@example.com,sdr,20\n\
         bo,Bo,not-an-address,sdr,20\n\
         cy,Cy,cy@example.com,nowhere,5\n\
         di,Di,di@example.com,ae,-1\n\
         ed,Ed,ed@example.com,ae,\n",
    )
    .unwrap();
    let out = ok(&["import", "reps", reps.to_str().unwrap(), "--db", &db]);
    assert!(out.contains("read 5, saved 2, rejected 3"), "{out}");
    assert!(out.contains("reps.csv:3: email"), "{out}");
    assert!(
        out.contains("reps.csv:4: team_id: no team `nowhere`"),
        "{out}"
    );
    assert!(out.contains("reps.csv:5: capacity"), "{out}");
    let listed: Value =
        serde_json::from_str(&ok(&["rep", "list", "--db", &db, "--format", "json"])).unwrap();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ana", "ed"], "{listed}");
    // Ed's capacity was left out: the default.
    assert_eq!(listed[1]["capacity"], 25, "{listed}");

    // Under --strict the first bad row stops the import.
    let e = user_error(&[
        "import",
        "reps",
        reps.to_str().unwrap(),
        "--db",
        &db,
        "--strict",
    ]);
    assert!(e.contains("reps.csv:3") && e.contains("--strict"), "{e}");

    // Teams and reps go to the database, not to a running service.
    let e = user_error(&[
        "import",
        "teams",
        teams.to_str().unwrap(),
        "--url",
        "http://127.0.0.1:9",
    ]);
    assert!(e.contains("/api/v1/teams"), "{e}");
}

#[test]
fn crm_users_exports_become_reps_in_their_teams() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    ok(&[
        "team",
        "add",
        "sdr",
        "--name",
        "Sales Development",
        "--db",
        &db,
    ]);
    // HubSpot's users export, as it comes.
    let hubspot = dir.path().join("hubspot-users.csv");
    std::fs::write(
        &hubspot,
        "User ID,First Name,Last Name,Email,Last login,Teams,Role,Deactivated\n\
         4411,Omar,Haddad,Omar@Example.com,2026-11-30,EMEA Sales; Partners,Sales rep,false\n\
         4412,Maya,Chen,maya@example.com,2026-12-01,Sales Development,Sales rep,false\n\
         4413,Jonas,Berg,jonas@example.com,2026-10-02,EMEA Sales,Sales rep,true\n\
         4414,No,Team,noteam@example.com,2026-10-02,,,false\n",
    )
    .unwrap();
    let out = ok(&["import", "reps", hubspot.to_str().unwrap(), "--db", &db]);
    assert!(out.contains("read 4, saved 3, rejected 1"), "{out}");
    assert!(out.contains("made teams emea-sales with"), "{out}");
    assert!(
        out.contains("hubspot-users.csv:5: team_id: missing"),
        "{out}"
    );
    // A Salesforce users report: role as the team, time zones in its own words.
    let salesforce = dir.path().join("sf-users.csv");
    std::fs::write(
        &salesforce,
        "Full Name,Email,Role,Active,Time Zone\n\
         Lucia Ortiz,lucia@example.com,SDR,1,(GMT-05:00) Eastern Standard Time (America/New_York)\n\
         Kim Park,kim@example.com,AE West,1,(GMT+01:00) Nowhere Time (Mars/Base)\n",
    )
    .unwrap();
    let out = ok(&["import", "reps", salesforce.to_str().unwrap(), "--db", &db]);
    assert!(out.contains("read 2, saved 1, rejected 1"), "{out}");
    assert!(out.contains("sf-users.csv:3: time_zone"), "{out}");

    let listed: Value =
        serde_json::from_str(&ok(&["rep", "list", "--db", &db, "--format", "json"])).unwrap();
    let reps: HashMap<&str, &Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    let omar = reps["omar@example.com"];
    assert_eq!(
        (omar["name"].as_str(), omar["team_id"].as_str()),
        (Some("Omar Haddad"), Some("emea-sales")),
        "{omar}"
    );
    assert_eq!(reps["maya@example.com"]["team_id"], "sdr", "{listed}");
    assert_eq!(reps["jonas@example.com"]["available"], false, "{listed}");
    let lucia = reps["lucia@example.com"];
    assert_eq!(
        (lucia["team_id"].as_str(), lucia["time_zone"].as_str()),
        (Some("sdr"), Some("America/New_York")),
        "{lucia}"
    );
    assert!(!reps.contains_key("kim@example.com"), "{listed}");
    let teams: Value =
        serde_json::from_str(&ok(&["team", "list", "--db", &db, "--format", "json"])).unwrap();
    let made = teams
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "emea-sales")
        .expect("the team named in the export");
    assert_eq!(
        (made["name"].as_str(), made["time_zone"].as_str()),
        (Some("EMEA Sales"), Some("UTC")),
        "{made}"
    );
    // A rejected row makes no team.
    assert!(
        teams
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != "ae-west"),
        "{teams}"
    );
}

#[test]
fn a_generated_company_ends_now_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("now");
    let before = sluice_core::Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    ok(&["generate", "--leads", "30", "--out", out.to_str().unwrap()]);
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let latest = events
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            sluice_core::Timestamp::parse(v["timestamp"].as_str().unwrap())
                .unwrap()
                .millis()
        })
        .max()
        .unwrap();
    let after = before.millis() + 60_000;
    assert!(latest < after, "an event after now");
    assert!(
        latest > before.millis() - 30 * 86_400_000,
        "the last event is more than a month old"
    );
    for file in ["teams.csv", "reps.csv"] {
        assert!(out.join(file).exists(), "{file}");
    }
}
