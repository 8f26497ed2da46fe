//! One storage scenario, run against every backend: SQLite always, PostgreSQL when
//! `SLUICE_TEST_POSTGRES_URL` is set (`.ci/run` sets it; without it the PostgreSQL run is
//! skipped, and says so, or fails under `CI=true`).

use serde_json::json;
use sluice_core::{Actor, Stage};
use sluice_store::testing::PgDatabase;
use sluice_store::*;

fn event(id: &str, user: Option<&str>, anonymous: Option<&str>, at_ms: i64) -> NewEvent {
    NewEvent {
        message_id: id.to_string(),
        kind: "track".into(),
        user_id: user.map(str::to_string),
        anonymous_id: anonymous.map(str::to_string),
        at_ms,
        received_ms: at_ms + 5,
        source: "website".into(),
        message: json!({"type": "track", "event": "Demo Requested", "messageId": id}).to_string(),
    }
}

fn lead(id: &str, score: f64, stage: Stage) -> LeadRow {
    LeadRow {
        id: id.to_string(),
        attributes: json!({"email": format!("{id}@acme.io"), "title": "VP"})
            .as_object()
            .unwrap()
            .clone(),
        account_id: Some("acme".into()),
        stage,
        owner: None,
        score,
        fit: score / 2.0,
        engagement: score / 2.0,
        grade: "B2".into(),
        qualification: "lead".into(),
        scored: json!({"score": score}),
        model_version: "1".into(),
        created_ms: 1,
        updated_ms: score as i64,
        last_event_ms: Some(10),
    }
}

async fn story(url: &str) {
    let store = Store::connect(url).await.unwrap();
    // Migrations apply once; connecting again is a no-op.
    let store2 = Store::connect(url).await.unwrap();
    store2.ping().await.unwrap();

    // The event log: duplicates by message id are skipped, and reported as such.
    let mut tx = store.begin().await.unwrap();
    let new = tx
        .append(&[
            event("m1", Some("u1"), Some("a1"), 100),
            event("m2", None, Some("a1"), 50),
            event("m3", Some("u2"), None, 70),
        ])
        .await
        .unwrap();
    assert_eq!(new.len(), 3);
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let new = tx
        .append(&[
            event("m1", Some("u1"), None, 100),
            event("m4", Some("u1"), None, 200),
        ])
        .await
        .unwrap();
    assert_eq!(new.into_iter().collect::<Vec<_>>(), ["m4"]);
    tx.commit().await.unwrap();
    // A transaction dropped without commit leaves nothing behind.
    {
        let mut tx = store.begin().await.unwrap();
        tx.append(&[event("m5", Some("u9"), None, 1)])
            .await
            .unwrap();
    }
    assert_eq!(store.event_count().await.unwrap(), 4);
    let log = store.events_after(0, 10).await.unwrap();
    assert_eq!(
        log.iter()
            .map(|e| e.message_id.as_str())
            .collect::<Vec<_>>(),
        ["m1", "m2", "m3", "m4"]
    );
    assert_eq!(store.events_after(log[1].seq, 10).await.unwrap().len(), 2);
    let mine = store
        .events_for(&["u1".into(), "a1".into()], 10, None)
        .await
        .unwrap();
    assert_eq!(
        mine.iter()
            .map(|e| e.message_id.as_str())
            .collect::<Vec<_>>(),
        ["m4", "m2", "m1"]
    );

    // Leads: upsert, read back, filter, paginate by score with a cursor.
    let mut tx = store.begin().await.unwrap();
    let leads: Vec<LeadRow> = (0..25)
        .map(|i| {
            lead(
                &format!("l{i:02}"),
                f64::from(i % 10) * 10.0,
                if i < 5 { Stage::Mql } else { Stage::Lead },
            )
        })
        .collect();
    tx.upsert_leads(&leads).await.unwrap();
    let mut changed = leads[3].clone();
    changed.score = 95.5;
    tx.upsert_leads(&[changed.clone()]).await.unwrap();
    // The owner is the assignment's to set; rescoring (an upsert) never changes it.
    tx.insert_assignments(&[AssignmentRow {
        lead_id: "l03".into(),
        rep_id: Some("rep@acme.io".into()),
        team_id: Some("sdr".into()),
        at_ms: 1,
        rule: "manual".into(),
        why: "test".into(),
        actor: "sales".into(),
    }])
    .await
    .unwrap();
    let mut stale = changed.clone();
    stale.owner = Some("someone-else".into());
    tx.upsert_leads(&[stale]).await.unwrap();
    tx.commit().await.unwrap();
    changed.owner = Some("rep@acme.io".into());
    assert_eq!(store.lead("l03").await.unwrap(), Some(changed));
    assert_eq!(store.assignments_of("l03").await.unwrap().len(), 1);
    assert_eq!(store.lead("nobody").await.unwrap(), None);

    let mut seen = Vec::new();
    let mut filter = LeadFilter {
        limit: 10,
        ..LeadFilter::default()
    };
    loop {
        let page = store.leads(&filter).await.unwrap();
        seen.extend(page.items.iter().map(|l| (l.score, l.id.clone())));
        match page.next {
            Some(next) => filter.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25, "every lead once");
    assert!(
        seen.windows(2)
            .all(|w| w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1))
    );
    assert_eq!(seen[0], (95.5, "l03".to_string()));

    let mqls = store
        .leads(&LeadFilter {
            stage: Some(Stage::Mql),
            limit: 100,
            ..LeadFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(mqls.items.len(), 5);
    let owned = store
        .leads(&LeadFilter {
            owner: Some("rep@acme.io".into()),
            limit: 100,
            ..LeadFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(owned.items.len(), 1);
    let band = LeadFilter {
        min_score: Some(30.0),
        max_score: Some(50.0),
        sort: LeadSort::Updated,
        limit: 100,
        ..LeadFilter::default()
    };
    assert!(
        store
            .leads(&band)
            .await
            .unwrap()
            .items
            .iter()
            .all(|l| (30.0..=50.0).contains(&l.score))
    );
    let bad = LeadFilter {
        cursor: Some("nonsense".into()),
        limit: 5,
        ..LeadFilter::default()
    };
    assert!(is_bad_cursor(&store.leads(&bad).await.unwrap_err()));
    assert_eq!(store.leads_after("l20", 100).await.unwrap().len(), 4);
    let counts = store.stage_counts().await.unwrap();
    assert_eq!(counts, [("lead".to_string(), 20), ("mql".to_string(), 5)]);

    // Accounts, identities, history, outcomes.
    let mut tx = store.begin().await.unwrap();
    let account = AccountRow {
        id: "acme".into(),
        attributes: json!({"industry": "Software"}).as_object().unwrap().clone(),
        score: 120.0,
        fit: 60.0,
        engagement: 60.0,
        qualified: true,
        scored: json!({}),
        updated_ms: 5,
    };
    tx.upsert_accounts(std::slice::from_ref(&account))
        .await
        .unwrap();
    tx.upsert_identities(&[
        ("a1".into(), "u1".into(), 1),
        ("ada@acme.io".into(), "u1".into(), 2),
    ])
    .await
    .unwrap();
    tx.upsert_identities(&[("a1".into(), "u2".into(), 3)])
        .await
        .unwrap();
    let transition = TransitionRow {
        lead_id: "l01".into(),
        from: Stage::Lead,
        to: Stage::Mql,
        at_ms: 9,
        actor: Actor::System,
        reason: None,
        model_version: Some("1".into()),
        detail: Some(json!({"score": 101})),
    };
    tx.insert_transitions(std::slice::from_ref(&transition))
        .await
        .unwrap();
    let won = OutcomeRow {
        lead_id: "l01".into(),
        kind: "won".into(),
        amount: Some(42_000.0),
        at_ms: 10,
        reason: None,
    };
    assert_eq!(
        tx.insert_outcomes(&[won.clone(), won.clone()])
            .await
            .unwrap(),
        1
    );
    tx.commit().await.unwrap();
    assert_eq!(store.account("acme").await.unwrap(), Some(account));
    assert_eq!(store.accounts(10, None).await.unwrap().items.len(), 1);
    assert_eq!(store.accounts_after("", 10).await.unwrap().len(), 1);
    let mut identities = store.identities().await.unwrap();
    identities.sort();
    assert_eq!(
        identities,
        [
            ("a1".to_string(), "u2".to_string()),
            ("ada@acme.io".to_string(), "u1".to_string())
        ]
    );
    assert_eq!(store.aliases_of("u1").await.unwrap(), ["ada@acme.io"]);
    assert_eq!(store.history("l01").await.unwrap(), [transition]);
    assert_eq!(store.outcomes_of("l01").await.unwrap(), [won]);

    // Models: one active at a time.
    for (version, active) in [("1", true), ("2", false), ("3", true)] {
        let row = ModelRow {
            version: version.into(),
            name: "m".into(),
            source: "[model]".into(),
            created_ms: version.parse().unwrap(),
            active,
        };
        store.save_model(&row).await.unwrap();
    }
    assert_eq!(store.active_model().await.unwrap().unwrap().version, "3");
    assert_eq!(
        store
            .models()
            .await
            .unwrap()
            .iter()
            .filter(|m| m.active)
            .count(),
        1
    );
    assert_eq!(store.model("2").await.unwrap().unwrap().source, "[model]");

    // Write keys: stored by digest, never in plain text.
    let key = SourceKeyRow {
        id: "src_1".into(),
        name: "website".into(),
        prefix: secret_prefix("wk_0123456789abcdef"),
        created_ms: 1,
        expires_ms: None,
        revoked_ms: None,
    };
    store
        .create_source_key(&key, &digest("wk_0123456789abcdef"))
        .await
        .unwrap();
    assert!(
        store
            .create_source_key(&key, &digest("wk_other"))
            .await
            .is_err(),
        "ids are unique"
    );
    let stored = store.source_keys().await.unwrap();
    assert_eq!(stored[0].1, digest("wk_0123456789abcdef"));
    assert_eq!(stored[0].0.prefix, "wk_012345", "half of it at most");
    assert!(store.revoke_source_key("src_1", 7).await.unwrap());
    assert!(!store.revoke_source_key("src_1", 8).await.unwrap());
    assert_eq!(store.source_keys().await.unwrap()[0].0.revoked_ms, Some(7));
    assert!(!store.source_keys().await.unwrap()[0].0.active(9));

    // The audit log is append-only.
    let seq = store
        .audit(&NewAudit {
            at_ms: 5,
            actor: "ada@example.com".into(),
            action: "user.create".into(),
            target: Some("u_1".into()),
            ..NewAudit::default()
        })
        .await
        .unwrap();
    assert_eq!(store.audit_log(10, None).await.unwrap()[0].seq, seq);
    assert!(
        store
            .raw_execute("UPDATE audit_log SET actor = 'x'")
            .await
            .is_err(),
        "audit rows cannot be changed"
    );
    assert!(
        store.raw_execute("DELETE FROM audit_log").await.is_err(),
        "audit rows cannot be deleted"
    );

    // The catalogue of report features numbers each feature once, for every process.
    use sluice_core::analytics::FeatureKind;
    let key = |kind, name: &str, value: Option<&str>| FeatureKey {
        kind,
        name: name.into(),
        value: value.map(str::to_string),
    };
    let demo = key(FeatureKind::Event, "Demo Requested", None);
    let rule = key(FeatureKind::EngagementRule, "demo", None);
    let software = key(FeatureKind::Attribute, "industry", Some("Software"));
    let ids = store
        .report_feature_ids(&[demo.clone(), rule.clone(), software.clone(), demo.clone()])
        .await
        .unwrap();
    assert_eq!(ids[0], ids[3]);
    assert_ne!(ids[0], ids[1]);
    let other = Store::connect(url).await.unwrap();
    assert_eq!(
        other
            .report_feature_ids(&[software.clone(), rule.clone()])
            .await
            .unwrap(),
        vec![ids[2], ids[1]],
        "another process reads the same ids"
    );
    // An attribute keeps ATTRIBUTE_VALUES values; beyond them, each value is its overflow.
    let emails: Vec<FeatureKey> = (0..ATTRIBUTE_VALUES + 20)
        .map(|i| {
            key(
                FeatureKind::Attribute,
                "email",
                Some(&format!("p{i}@example.com")),
            )
        })
        .collect();
    let first = store.report_feature_ids(&emails[..10]).await.unwrap();
    let all = store.report_feature_ids(&emails).await.unwrap();
    assert_eq!(&all[..10], &first[..], "ids do not change");
    let mut distinct = all.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len() as i64,
        ATTRIBUTE_VALUES + 1,
        "the values kept and the overflow"
    );
    let catalogue = other.report_features().await.unwrap();
    let overflow = catalogue
        .iter()
        .find(|(_, f)| *f == FeatureKey::overflow("email"))
        .expect("the overflow of email")
        .0;
    assert_eq!(all.iter().filter(|&&id| id == overflow).count(), 20);
    assert!(catalogue.contains(&(ids[2], software.clone())));
    let later = key(FeatureKind::Attribute, "email", Some("late@example.com"));
    assert_eq!(
        other.report_feature_ids(&[later]).await.unwrap(),
        vec![overflow]
    );
}

/// Migration `0010_no_credentials_in_events` takes the write keys clients put into messages
/// out of the ones stored before ingestion did, and leaves every other value as it was.
async fn stored_credentials_are_removed(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let mut messages = vec![
        // As analytics.js sends it, with numbers whose text must survive.
        json!({"type": "track", "messageId": "c0", "writeKey": "wk_secret", "event": "E",
               "properties": {"n": 1.5e-7, "big": 12345678901234567890u64, "writeKey": "theirs"}}),
        // A `context` that is not an object, and one without a credential.
        json!({"type": "track", "messageId": "c1", "write_key": "wk_secret", "context": ["writeKey"]}),
        json!({"type": "track", "messageId": "c2", "event": "writeKey", "context": {"ip": "1.2.3.4"}}),
        // A NUL in a string, which jsonb cannot hold: it must not fail the upgrade.
        json!({"type": "track", "messageId": "c3", "writeKey": "wk_nul", "properties": {"note": "a\u{0}b"}}),
    ];
    // Every field ingestion removes, at the top and in `context`: the SQL names the same ones.
    for (i, field) in sluice_core::event::CREDENTIAL_FIELDS.iter().enumerate() {
        messages.push(
            json!({"type": "identify", "messageId": format!("f{i}"), *field: "wk_secret",
                             "context": {*field: "wk_secret", "library": {"name": "x"}},
                             "traits": {*field: "theirs"}}),
        );
    }
    let rows: Vec<NewEvent> = messages
        .iter()
        .map(|m| NewEvent {
            message: m.to_string(),
            ..event(m["messageId"].as_str().unwrap(), Some("u1"), None, 1)
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.append(&rows).await.unwrap();
    tx.commit().await.unwrap();
    let untouched = store.events_after(0, 100).await.unwrap()[2].message.clone();
    // Stored before the migration: it runs again at the next start.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query("DELETE FROM sluice_migrations WHERE version = '0010_no_credentials_in_events'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store = Store::connect(url).await.unwrap();
    let stored = store.events_after(0, 100).await.unwrap();
    assert_eq!(stored.len(), messages.len());
    for event in &stored {
        assert!(!event.message.contains("wk_secret"), "{}", event.message);
    }
    let read = |i: usize| serde_json::from_str::<serde_json::Value>(&stored[i].message).unwrap();
    assert_eq!(
        read(0),
        json!({"type": "track", "messageId": "c0", "event": "E",
               "properties": {"n": 1.5e-7, "big": 12345678901234567890u64, "writeKey": "theirs"}})
    );
    assert_eq!(
        read(1),
        json!({"type": "track", "messageId": "c1", "context": ["writeKey"]})
    );
    assert_eq!(
        stored[2].message, untouched,
        "a row without a credential is not rewritten"
    );
    // SQLite reads it; PostgreSQL leaves that one row as it was.
    let kept = store.backend() == Backend::Postgres;
    assert_eq!(
        stored[3].message.contains("wk_nul"),
        kept,
        "{}",
        stored[3].message
    );
    assert_eq!(read(3)["properties"]["note"], "a\u{0}b");
    for (i, field) in sluice_core::event::CREDENTIAL_FIELDS.iter().enumerate() {
        assert_eq!(
            read(4 + i),
            json!({"type": "identify", "messageId": format!("f{i}"),
                   "context": {"library": {"name": "x"}}, "traits": {*field: "theirs"}})
        );
    }
}

#[tokio::test]
async fn sqlite_stored_credentials_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sluice.db").display());
    stored_credentials_are_removed(&url).await;
}

#[tokio::test]
async fn postgres_stored_credentials_are_removed() {
    if let Some(db) = PgDatabase::create().await {
        stored_credentials_are_removed(&db.url).await;
    }
}

#[tokio::test]
async fn sqlite_story() {
    let dir = tempfile::tempdir().unwrap();
    story(&format!(
        "sqlite://{}",
        dir.path().join("sluice.db").display()
    ))
    .await;
}

#[tokio::test]
async fn postgres_story() {
    if let Some(db) = PgDatabase::create().await {
        story(&db.url).await;
    }
}

#[tokio::test]
async fn bad_urls_are_named() {
    let e = Store::connect("mysql://x").await.unwrap_err().to_string();
    assert!(e.contains("unsupported database URL `mysql://x`"), "{e}");
}
