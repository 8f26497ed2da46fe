//! `sluice import`, driven the way a user drives it, checked by opening the database it wrote.
//! Every scenario runs on SQLite; the company import also runs on PostgreSQL when
//! `SLUICE_TEST_POSTGRES_URL` is set (`.ci/run` sets it).

use sluice_store::testing::PgDatabase;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use sluice_core::{Stage, Timestamp};
use sluice_store::Store;

fn sluice(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .current_dir(dir)
        .env_remove("SLUICE_DATABASE_URL")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = sluice(dir, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs an import with `--format json` and returns its summary.
fn import(dir: &Path, db: &str, kind: &str, file: &str, more: &[&str]) -> Value {
    let mut args = vec!["import", kind, file, "--db", db, "--format", "json"];
    args.extend_from_slice(more);
    serde_json::from_str(&ok(dir, &args)).expect("the summary is JSON")
}

fn counts(summary: &Value) -> [u64; 4] {
    ["read", "imported", "duplicates", "rejected"].map(|k| summary[k].as_u64().unwrap())
}

/// The rejected rows of a summary, as `line: error`.
fn rejected(summary: &Value) -> Vec<String> {
    summary["rejected_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}: {}", r["line"], r["error"].as_str().unwrap()))
        .collect()
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn sqlite(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// Data rows of a file (lines, less a CSV header).
fn rows(path: &Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    if path.extension().is_some_and(|e| e == "csv") {
        lines - 1
    } else {
        lines
    }
}

/// A generated company imports completely, and importing it again stores nothing new.
fn company_story(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("company");
    ok(
        dir.path(),
        &[
            "generate",
            "--leads",
            "200",
            "--end",
            "2026-10-01",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let files = [
        ("leads", out.join("leads.csv")),
        ("events", out.join("events.jsonl")),
        ("outcomes", out.join("outcomes.csv")),
    ];
    for (kind, file) in &files {
        let n = rows(file);
        let summary = import(dir.path(), db, kind, file.to_str().unwrap(), &[]);
        assert_eq!(counts(&summary), [n, n, 0, 0], "{kind}: {summary}");
        assert_eq!(summary["kind"], *kind);
    }
    // The table summary, for people; then every re-run is all duplicates.
    for (kind, file) in &files {
        let n = rows(file);
        let table = ok(
            dir.path(),
            &["import", kind, file.to_str().unwrap(), "--db", db],
        );
        assert!(
            table.contains(&format!("read {n}, imported 0, duplicates {n}, rejected 0")),
            "{kind}: {table}"
        );
    }

    let outcomes = std::fs::read_to_string(out.join("outcomes.csv")).unwrap();
    let first_lead = outcomes.lines().nth(1).unwrap().split(',').next().unwrap();
    let events = rows(&out.join("events.jsonl")) as i64;
    block_on(async {
        let store = Store::connect(db).await.unwrap();
        // One `identify` per lead row, plus every event line.
        assert_eq!(store.event_count().await.unwrap(), 200 + events);
        let lead = store.lead("lead-0000001").await.unwrap().expect("a lead");
        assert!(lead.attributes.contains_key("email"), "{lead:?}");
        assert!(lead.account_id.is_some(), "{lead:?}");
        assert!(!store.outcomes_of(first_lead).await.unwrap().is_empty());
    });
}

#[test]
fn a_generated_company_imports_once() {
    let dir = tempfile::tempdir().unwrap();
    company_story(&sqlite(dir.path(), "sluice.db"));
}

#[test]
fn a_generated_company_imports_once_into_postgres() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if let Some(db) = runtime.block_on(PgDatabase::create()) {
        company_story(&db.url);
    }
}

#[test]
fn a_hubspot_export_is_mapped_and_bad_rows_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hubspot.csv");
    std::fs::write(
        &file,
        "Email,First Name,Job Title,Number of Employees,Create Date\n\
         Ada@Acme.io,Ada,VP Marketing,250,2026-03-05 14:22\n\
         bob@beta.io,Bob,Engineer,12,\n\
         carl@gamma.io,Carl\n\
         dora@delta.io,Dora,CFO,40,5/3/2026\n\
         eve@eps.io,Eve,CTO,900,2026-04-01\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let db = sqlite(dir.path(), "sluice.db");
    let out = sluice(
        dir.path(),
        &["import", "leads", file, "--db", &db, "--format", "json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("First Name → first_name"),
        "the renaming is announced: {}",
        text(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(counts(&summary), [5, 3, 0, 2], "{summary}");
    assert_eq!(
        rejected(&summary),
        [
            "4: 2 fields, but the header has 5",
            "5: `created_at`: `5/3/2026` is not a time (use RFC 3339, YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] in UTC)",
        ]
    );
    assert_eq!(summary["rejected_rows"][0]["file"], file);
    assert_eq!(
        summary["renamed"][1],
        json!({"from": "First Name", "to": "first_name"})
    );

    block_on(async {
        let store = Store::connect(&db).await.unwrap();
        // No id column: the lead is known by its email, lower-cased.
        let ada = store.lead("ada@acme.io").await.unwrap().expect("Ada");
        assert_eq!(ada.attributes["first_name"], "Ada");
        assert_eq!(ada.attributes["title"], "VP Marketing");
        assert_eq!(ada.attributes["employees"], 250);
        assert!(!ada.attributes.contains_key("Job Title"), "{ada:?}");
        // The creation time is the `identify` message's time.
        let events = store
            .events_for(&["ada@acme.io".to_string()], 10, None)
            .await
            .unwrap();
        assert_eq!(
            events[0].at_ms,
            Timestamp::parse("2026-03-05T14:22:00Z").unwrap().millis()
        );
        assert!(store.lead("bob@beta.io").await.unwrap().is_some());
        assert!(store.lead("eve@eps.io").await.unwrap().is_some());
        assert!(store.lead("carl@gamma.io").await.unwrap().is_none());
    });

    // Without the mapping, columns keep the names they have (`Create Date` is still the
    // creation time).
    let plain = sqlite(dir.path(), "plain.db");
    let summary = import(dir.path(), &plain, "leads", file, &["--map", "none"]);
    assert_eq!(counts(&summary), [5, 3, 0, 2], "{summary}");
    assert!(
        rejected(&summary)[1].starts_with("5: `Create Date`: "),
        "{summary}"
    );
    block_on(async {
        let store = Store::connect(&plain).await.unwrap();
        let ada = store.lead("ada@acme.io").await.unwrap().expect("Ada");
        assert_eq!(ada.attributes["First Name"], "Ada");
    });
}

#[test]
fn bad_outcomes_are_rejected_with_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path(), "sluice.db");
    let leads = dir.path().join("leads.jsonl");
    std::fs::write(
        &leads,
        "{\"id\": \"l1\", \"email\": \"Ada@Acme.io\", \"title\": \"VP\"}\n\
         {\"id\": \"l2\", \"crm_id\": \"00Q5g00000AbC\"}\n",
    )
    .unwrap();
    let summary = import(dir.path(), &db, "leads", leads.to_str().unwrap(), &[]);
    assert_eq!(counts(&summary), [2, 2, 0, 0], "{summary}");

    let outcomes = dir.path().join("outcomes.csv");
    std::fs::write(
        &outcomes,
        "lead_id,email,type,amount,date,reason\n\
         l1,,opportunity,5000,2026-05-01,\n\
         ,nobody@x.io,won,100,2026-05-02,\n\
         l1,,opportunity,-5,2026-05-03,\n\
         l1,,lost,,2026-05-04,\n\
         ,ADA@ACME.IO,won,7000,2026-05-05T10:00:00Z,\n\
         l1,,bogus,1,2026-05-06,\n\
         l1,,won,1,yesterday,\n\
         l1,,won,,2026-05-07,\n",
    )
    .unwrap();
    let summary = import(dir.path(), &db, "outcomes", outcomes.to_str().unwrap(), &[]);
    assert_eq!(counts(&summary), [8, 2, 0, 6], "{summary}");
    let by_crm = dir.path().join("crm.csv");
    std::fs::write(
        &by_crm,
        "crm_id,type,amount,date\n00Q5g00000AbC,opportunity,900,2026-05-01\nnope,won,1,2026-05-01\n",
    )
    .unwrap();
    let crm = import(dir.path(), &db, "outcomes", by_crm.to_str().unwrap(), &[]);
    assert_eq!(counts(&crm), [2, 1, 0, 1], "{crm}");
    assert_eq!(rejected(&crm), ["3: `crm_id`: no lead with crm_id `nope`"]);
    assert_eq!(
        rejected(&summary),
        [
            "3: `email`: no lead with email `nobody@x.io`",
            "4: `amount`: -5 is negative",
            "5: `reason` is required for `lost`",
            "7: `type`: `bogus` is not opportunity, won or lost",
            "8: `date`: `yesterday` is not a time (use RFC 3339, YYYY-MM-DD, YYYY-MM-DD HH:MM[:SS], M/D/YYYY or D.M.YYYY, in UTC)",
            "9: `amount` is required for `won`",
        ]
    );
    block_on(async {
        let store = Store::connect(&db).await.unwrap();
        // The outcomes moved the leads: l1 through opportunity to won, l2 to opportunity.
        assert_eq!(store.lead("l1").await.unwrap().unwrap().stage, Stage::Won);
        assert_eq!(
            store.lead("l2").await.unwrap().unwrap().stage,
            Stage::Opportunity
        );
        let stored = store.outcomes_of("l1").await.unwrap();
        let amounts: Vec<_> = stored.iter().map(|o| (o.kind.as_str(), o.amount)).collect();
        assert_eq!(
            amounts,
            [("opportunity", Some(5000.0)), ("won", Some(7000.0))]
        );
    });
    // Idempotent: the good rows are already there.
    let again = import(dir.path(), &db, "outcomes", outcomes.to_str().unwrap(), &[]);
    assert_eq!(counts(&again), [8, 0, 2, 6], "{again}");
}

#[test]
fn event_times_far_in_the_future_or_before_2000_are_rejected_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path(), "sluice.db");
    let file = dir.path().join("events.jsonl");
    let lines = [
        json!({"type": "track", "userId": "ada", "event": "Demo Requested", "messageId": "ok", "timestamp": "2026-03-01T10:00:00Z"}),
        json!({"type": "track", "userId": "ada", "event": "Demo Requested", "messageId": "far", "timestamp": "9999-12-31T00:00:00Z"}),
        json!({"type": "track", "userId": "ada", "event": "Demo Requested", "messageId": "zero", "timestamp": "1970-01-01T00:00:00Z"}),
    ];
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&file, text.join("\n")).unwrap();
    let summary = import(dir.path(), &db, "events", file.to_str().unwrap(), &[]);
    assert_eq!(counts(&summary), [3, 1, 0, 2], "{summary}");
    let rejected = rejected(&summary);
    assert!(
        rejected[0].starts_with("2: the event time 9999-12-31T00:00:00")
            && rejected[0].contains("is more than 1d in the future"),
        "{rejected:?}"
    );
    assert!(
        rejected[1].starts_with("3: the event time 1970-01-01T00:00:00")
            && rejected[1].contains("is before 2000-01-01"),
        "{rejected:?}"
    );
    block_on(async {
        let store = Store::connect(&db).await.unwrap();
        assert_eq!(store.event_count().await.unwrap(), 1);
    });
}

#[test]
fn write_keys_in_an_events_file_are_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path(), "sluice.db");
    let file = dir.path().join("events.jsonl");
    // Lines as a log of analytics.js's requests holds them: the key in every message.
    let lines = [
        json!({"type": "track", "userId": "ada", "event": "Demo Requested", "messageId": "a1",
               "timestamp": "2026-03-01T10:00:00Z", "writeKey": "wk_logged",
               "context": {"write_key": "wk_logged", "ip": "192.0.2.1"}}),
        json!({"type": "identify", "userId": "ada", "messageId": "a2", "timestamp": "2026-03-01T10:00:00Z",
               "write_key": "wk_logged", "traits": {"writeKey": "a trait of theirs"}}),
    ];
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&file, text.join("\n")).unwrap();
    let summary = import(dir.path(), &db, "events", file.to_str().unwrap(), &[]);
    assert_eq!(counts(&summary), [2, 2, 0, 0], "{summary}");
    block_on(async {
        let store = Store::connect(&db).await.unwrap();
        let stored = store.events_after(0, 10).await.unwrap();
        assert_eq!(stored.len(), 2);
        for event in stored {
            assert!(!event.message.contains("wk_logged"), "{}", event.message);
            let message: Value = serde_json::from_str(&event.message).unwrap();
            if event.message_id == "a1" {
                assert_eq!(message["context"], json!({"ip": "192.0.2.1"}));
            } else {
                assert_eq!(message["traits"]["writeKey"], "a trait of theirs");
            }
        }
    });
}

#[test]
fn strict_stops_at_the_first_bad_row_and_stores_none_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path(), "sluice.db");
    let file = dir.path().join("leads.csv");
    std::fs::write(
        &file,
        "id,email,title\nl1,a@x.io,VP\nl2,b@x.io\nl3,c@x.io,CTO\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let out = sluice(
        dir.path(),
        &["import", "leads", file, "--db", &db, "--strict"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {file}:3: ")) && stderr.contains("--strict"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    block_on(async {
        let store = Store::connect(&db).await.unwrap();
        assert_eq!(store.event_count().await.unwrap(), 0);
        assert!(store.lead("l1").await.unwrap().is_none());
    });
}

#[test]
fn user_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path(), "sluice.db");
    let csv = dir.path().join("events.csv");
    std::fs::write(&csv, "a,b\n1,2\n").unwrap();
    for (args, expected) in [
        (
            vec!["import", "leads", "missing.csv", "--db", &db],
            "cannot open missing.csv",
        ),
        (
            vec!["import", "events", csv.to_str().unwrap(), "--db", &db],
            "events must be JSON Lines",
        ),
        (
            vec!["import", "leads", csv.to_str().unwrap(), "--db", &db],
            ":1: no `id` or `email` column",
        ),
        (
            vec![
                "import",
                "outcomes",
                csv.to_str().unwrap(),
                "--db",
                &db,
                "--map",
                "hubspot",
            ],
            "--map applies to leads files only",
        ),
    ] {
        let out = sluice(dir.path(), &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
    }
}

/// A HubSpot deals export and a Salesforce opportunities report, as the CRMs write them: each
/// deal becomes its opportunity and, once closed, its win or loss; deals that name no known
/// contact are listed by line.
#[test]
fn crm_deal_exports_become_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path(), "sluice.db");
    let leads = dir.path().join("leads.jsonl");
    std::fs::write(
        &leads,
        "{\"id\": \"l1\", \"email\": \"ada@acme.io\"}\n\
         {\"id\": \"l2\", \"email\": \"bob@globex.com\", \"crm_id\": \"0035g00000XyZ\"}\n\
         {\"id\": \"l3\", \"email\": \"cy@initech.com\"}\n",
    )
    .unwrap();
    import(dir.path(), &db, "leads", leads.to_str().unwrap(), &[]);

    let hubspot = dir.path().join("hubspot-deals.csv");
    std::fs::write(
        &hubspot,
        "Record ID,Deal Name,Deal Stage,Amount,Create Date,Close Date,Associated Contact,Closed Lost Reason\n\
         101,Acme platform,Closed Won,\"$24,000.00\",2026-02-01 10:00,2026-03-15 16:30,Ada Lovelace (ada@acme.io),\n\
         102,Nobody's deal,Appointment Scheduled,1000,2026-02-02 10:00,,Zed (zed@nowhere.io),\n\
         103,Broken,Closed Won,lots,2026-02-03 10:00,2026-03-01 10:00,Ada Lovelace (ada@acme.io),\n",
    )
    .unwrap();
    let summary = import(dir.path(), &db, "outcomes", hubspot.to_str().unwrap(), &[]);
    // Two outcomes of one deal stored; one deal unlinked, one unreadable.
    assert_eq!(counts(&summary), [3, 2, 0, 2], "{summary}");
    assert_eq!(
        rejected(&summary),
        [
            "3: `email`: no lead with email `zed@nowhere.io`",
            "4: `Amount`: \"lots\" is not a number"
        ]
    );

    let salesforce = dir.path().join("opportunities.csv");
    std::fs::write(
        &salesforce,
        "Opportunity Name,Stage,Amount,Created Date,Close Date,Contact ID,Email,Loss Reason\n\
         Globex,Closed Lost,USD 9500,1/10/2026,2/20/2026,0035g00000XyZ,,Price\n\
         Initech,Proposal/Price Quote,\"12,000\",3/2/2026,6/30/2026,,cy@initech.com,\n",
    )
    .unwrap();
    // 1/10/2026 could be either: without --dates the row says so.
    let refused = import(
        dir.path(),
        &db,
        "outcomes",
        salesforce.to_str().unwrap(),
        &[],
    );
    assert_eq!(counts(&refused), [2, 0, 0, 2], "{refused}");
    assert!(
        rejected(&refused)[0].contains("could be read month first or day first"),
        "{refused}"
    );
    let summary = import(
        dir.path(),
        &db,
        "outcomes",
        salesforce.to_str().unwrap(),
        &["--dates", "mdy"],
    );
    assert_eq!(counts(&summary), [2, 3, 0, 0], "{summary}");

    let store = block_on(Store::connect(&db)).unwrap();
    let stage = |id: &str| block_on(store.lead(id)).unwrap().unwrap().stage;
    assert_eq!(stage("l1"), Stage::Won);
    assert_eq!(stage("l2"), Stage::Lost);
    assert_eq!(stage("l3"), Stage::Opportunity);
    let outcomes = block_on(store.outcomes_of("l2")).unwrap();
    let lost = outcomes.iter().find(|o| o.kind == "lost").unwrap();
    assert_eq!(lost.reason.as_deref(), Some("Price"));
    assert_eq!(
        Timestamp::from_millis(lost.at_ms).to_string(),
        "2026-02-20T00:00:00.000Z"
    );
}
