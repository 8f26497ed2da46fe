//! Report facts: what the funnel and attribution reports count about each lead, kept in one
//! row per lead (`lead_facts`) so a report reads one row per lead and nothing else.
//!
//! Whatever changes a lead's facts marks its row in the same transaction (the writer's
//! [`crate::writer::write`], outcomes, activities). [`refresh`] rebuilds marked rows from what
//! the writer maintains (the lead, its trails, stage moves, outcomes and activities, its
//! account's traits); the service runs it in the background, and a report runs it first, so a
//! report always counts the current state. A rebuild is stored only if nothing marked the row
//! again meanwhile.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_core::analytics::{FeatureKind, Journey, LeadFacts, OutcomeKind, Utm, categorical};
use sluice_core::model::Vars;
use sluice_core::{Attributes, Model, Stage, Timestamp};
use sluice_store::{FactsRow, FeatureKey, ReportOutcome, StageMove, Store, StoreError};

/// Leads rebuilt per round.
const BATCH: i64 = 1_000;

/// A lead's facts as stored: names rather than indices, so they do not depend on which other
/// leads a report covers.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Record<'a> {
    /// The lead.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// When it was first seen (ms).
    pub at: i64,
    /// `lead_source`.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub s: Option<Cow<'a, str>>,
    /// First touch: UTM source, medium, campaign.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub t: Option<[Option<Cow<'a, str>>; 3]>,
    /// Grade at its first MQL.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub g: Option<Cow<'a, str>>,
    /// Model version of its first MQL.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub v: Option<Cow<'a, str>>,
    /// Stage moves: stage, when.
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub m: Vec<(Cow<'a, str>, i64)>,
    /// Outcomes: kind, when, amount.
    #[serde(borrow, default, skip_serializing_if = "Vec::is_empty")]
    pub o: Vec<(Cow<'a, str>, i64, Option<f64>)>,
    /// Contacted by a rep.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub c: bool,
}

/// What a lead showed before its cut-off, for attribution. Stored apart from the [`Record`]
/// (the funnel does not read it), as ids of the catalogue of report features
/// ([`Store::report_feature_ids`]).
#[derive(Debug, Default)]
pub struct Features {
    /// Event names seen before the cut-off.
    pub e: Vec<String>,
    /// Engagement rules matched before the cut-off.
    pub r: Vec<String>,
    /// Fit rules that held at the cut-off.
    pub x: Vec<String>,
    /// Categorical attribute values at the cut-off (the account's as `account.<name>`).
    pub a: Vec<(String, String)>,
}

impl Features {
    /// The features as the catalogue names them.
    fn keys(self) -> impl Iterator<Item = FeatureKey> {
        let named = |kind: FeatureKind| {
            move |name: String| FeatureKey {
                kind,
                name,
                value: None,
            }
        };
        let e = self.e.into_iter().map(named(FeatureKind::Event));
        let r = self.r.into_iter().map(named(FeatureKind::EngagementRule));
        let x = self.x.into_iter().map(named(FeatureKind::FitRule));
        let a = self.a.into_iter().map(|(name, value)| FeatureKey {
            kind: FeatureKind::Attribute,
            name,
            value: Some(value),
        });
        e.chain(r).chain(x).chain(a)
    }
}

impl Record<'_> {
    /// The lead's journey from its creation, stage moves and outcomes.
    pub fn journey(&self, created_ms: i64) -> Journey {
        let mut journey = Journey::new(Timestamp::from_millis(created_ms));
        for (stage, at) in &self.m {
            if let Ok(stage) = stage.parse::<Stage>() {
                journey.moved(stage, Timestamp::from_millis(*at));
            }
        }
        for (kind, at, _) in &self.o {
            if let Ok(kind) = kind.parse::<OutcomeKind>() {
                journey.outcome(kind, Timestamp::from_millis(*at));
            }
        }
        journey
    }

    /// The facts the funnel counts (features are the caller's: they index a catalogue).
    pub fn lead_facts(&self) -> LeadFacts {
        let created_ms = self.at;
        let mut facts = LeadFacts::new(Timestamp::from_millis(created_ms));
        facts.journey = self.journey(created_ms);
        facts.source = self.s.as_deref().map(str::to_string);
        facts.first_touch = self.t.as_ref().map(|[source, medium, name]| Utm {
            source: source.as_deref().map(str::to_string),
            medium: medium.as_deref().map(str::to_string),
            name: name.as_deref().map(str::to_string),
        });
        facts.grade = self.g.as_deref().map(str::to_string);
        facts.model_version = self.v.as_deref().map(str::to_string);
        for (kind, _, amount) in &self.o {
            match kind.parse::<OutcomeKind>() {
                Ok(OutcomeKind::Opportunity) => facts.pipeline += amount.unwrap_or(0.0),
                Ok(OutcomeKind::Won) => facts.bookings += amount.unwrap_or(0.0),
                _ => {}
            }
        }
        facts.contacted = self.c;
        facts
    }
}

/// One rebuild at a time in a process: a report waiting for the background rebuild then finds
/// its work done.
static REBUILDING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Rebuilds every marked lead's facts under `model`; returns how many were rebuilt.
pub async fn refresh(store: &Store, model: &Model) -> Result<usize, StoreError> {
    let _one_at_a_time = REBUILDING.lock().await;
    let mut done = 0;
    let mut after = String::new();
    loop {
        let marked = store.dirty_facts(&after, BATCH).await?;
        let Some(last) = marked.last() else {
            // Rows marked again while a round ran are left for the next call.
            return Ok(done);
        };
        after = last.0.clone();
        done += rebuild(store, model, &marked).await?;
    }
}

/// Rebuilds the facts of these (lead, mark) pairs.
async fn rebuild(
    store: &Store,
    model: &Model,
    marked: &[(String, i64)],
) -> Result<usize, StoreError> {
    let ids: Vec<String> = marked.iter().map(|(id, _)| id.clone()).collect();
    let leads = store.leads_by_id(&ids).await?;
    let trails = store.trails_of_roots(&ids).await?;
    // Records made under an id that has since joined a lead count for that lead.
    let mut root_of: HashMap<String, String> =
        ids.iter().map(|id| (id.clone(), id.clone())).collect();
    let mut own_trails: HashMap<&str, Vec<&sluice_store::TrailRow>> = HashMap::new();
    for t in &trails {
        root_of.insert(t.id.clone(), t.root.clone());
        own_trails.entry(t.root.as_str()).or_default().push(t);
    }
    let all: Vec<String> = root_of.keys().cloned().collect();
    let mut moves: HashMap<String, Vec<StageMove>> = HashMap::new();
    for m in store.stage_moves_of(&all).await? {
        let root = root_of.get(&m.lead_id).cloned().unwrap_or_default();
        moves.entry(root).or_default().push(m);
    }
    let mut outcomes: HashMap<String, Vec<ReportOutcome>> = HashMap::new();
    for o in store.outcomes_of_leads(&all).await? {
        let root = root_of.get(&o.lead_id).cloned().unwrap_or_default();
        outcomes.entry(root).or_default().push(o);
    }
    let contacted: HashSet<String> = store
        .contacted_of(&all)
        .await?
        .into_iter()
        .filter_map(|id| root_of.get(&id).cloned())
        .collect();
    let account_ids: Vec<String> = leads
        .iter()
        .filter_map(|l| l.account_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let accounts: HashMap<String, Attributes> = store
        .accounts_by_id(&account_ids)
        .await?
        .into_iter()
        .map(|a| (a.id, a.attributes))
        .collect();

    let version = model.version().to_string();
    let mut rows = Vec::with_capacity(leads.len());
    // Every lead's features, named, then numbered by the catalogue in one call.
    let mut keys = Vec::new();
    let mut ends = Vec::with_capacity(leads.len());
    let by_id: HashMap<&str, &sluice_store::LeadRow> =
        leads.iter().map(|l| (l.id.as_str(), l)).collect();
    let mut gone = Vec::new();
    for (id, dirty) in marked {
        let Some(lead) = by_id.get(id.as_str()) else {
            gone.push((id.clone(), *dirty));
            continue;
        };
        let lead_moves = moves.get(id).map(Vec::as_slice).unwrap_or_default();
        let lead_outcomes = outcomes.get(id).map(Vec::as_slice).unwrap_or_default();
        let own = own_trails
            .get(id.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (record, features) = record_of(
            model,
            lead,
            lead_moves,
            lead_outcomes,
            contacted.contains(id),
            own,
            lead.account_id.as_ref().and_then(|a| accounts.get(a)),
        );
        keys.extend(features.keys());
        ends.push(keys.len());
        rows.push(FactsRow {
            lead_id: id.clone(),
            dirty: *dirty,
            created_ms: lead.created_ms,
            model_version: version.clone(),
            facts: serde_json::to_string(&record).expect("facts serialise"),
            feature_ids: Vec::new(),
        });
    }
    let ids = store.report_feature_ids(&keys).await?;
    let mut start = 0;
    for (row, end) in rows.iter_mut().zip(ends) {
        row.feature_ids = ids[start..end].to_vec();
        row.feature_ids.sort_unstable();
        row.feature_ids.dedup();
        start = end;
    }
    store.put_facts(&rows, &gone).await?;
    Ok(marked.len())
}

/// One lead's facts from what the writer maintains.
fn record_of<'a>(
    model: &'a Model,
    lead: &'a sluice_store::LeadRow,
    moves: &'a [StageMove],
    outcomes: &'a [ReportOutcome],
    contacted: bool,
    trails: &[&sluice_store::TrailRow],
    account: Option<&Attributes>,
) -> (Record<'a>, Features) {
    let mut features = Features::default();
    let mut record = Record {
        id: Cow::Borrowed(lead.id.as_str()),
        at: lead.created_ms,
        s: match lead.attributes.get("lead_source") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(Cow::Borrowed(s.trim())),
            _ => None,
        },
        m: moves
            .iter()
            .map(|m| (Cow::Borrowed(m.to.as_str()), m.at_ms))
            .collect(),
        o: outcomes
            .iter()
            .map(|o| (Cow::Borrowed(o.kind.as_str()), o.at_ms, o.amount))
            .collect(),
        c: contacted,
        ..Record::default()
    };
    if let Some(first) = moves
        .iter()
        .filter(|m| m.to == Stage::Mql)
        .min_by_key(|m| (m.at_ms, m.seq))
    {
        record.g = first.grade.as_deref().map(Cow::Borrowed);
        record.v = first.model_version.as_deref().map(Cow::Borrowed);
    }
    let touch = trails
        .iter()
        .filter_map(|t| crate::live::decode_first_touch(t.first_touch.as_deref()?))
        .min_by_key(|(at, _)| *at);
    if let Some((_, campaign)) = touch {
        let context: Attributes = [("campaign".to_string(), campaign)].into_iter().collect();
        if let Some(utm) = Utm::from_context(&context) {
            record.t = Some([
                utm.source.map(Cow::Owned),
                utm.medium.map(Cow::Owned),
                utm.name.map(Cow::Owned),
            ]);
        }
    }

    let cutoff = record.journey(lead.created_ms).cutoff().map(|c| c.millis());
    let before = |ms: i64| cutoff.is_none_or(|c| ms < c);
    let mut events = std::collections::BTreeSet::new();
    let mut rules = std::collections::BTreeSet::new();
    for t in trails {
        let (seen_events, seen_rules) = crate::live::decode_seen(&t.seen);
        events.extend(
            seen_events
                .into_iter()
                .filter(|(_, ms)| before(*ms))
                .map(|(n, _)| n),
        );
        rules.extend(
            seen_rules
                .into_iter()
                .filter(|(_, ms)| before(*ms))
                .map(|(r, _)| r),
        );
    }
    features.e = events.into_iter().collect();
    features.r = rules.into_iter().collect();

    // What it looked like before its cut-off: later traits would leak the outcome into its
    // features.
    let as_of;
    let attributes = match cutoff {
        Some(cutoff) => {
            let mut traits = sluice_core::history::Traits::new();
            for t in trails {
                traits.absorb(&crate::live::decode_traits(&t.traits));
            }
            as_of = traits.as_of(Timestamp::from_millis(cutoff));
            &as_of
        }
        None => &lead.attributes,
    };
    let vars = Vars {
        lead: Some(attributes),
        account,
        event: None,
    };
    features.x = model
        .fit()
        .rules
        .iter()
        .filter(|rule| rule.when.matches(vars))
        .map(|rule| rule.id.clone())
        .collect();
    let empty = Attributes::new();
    features.a = categorical(attributes, "")
        .chain(categorical(account.unwrap_or(&empty), "account."))
        .collect();
    (record, features)
}

/// Refreshes facts in the background: after every `every`, rebuilds what was marked since.
pub fn spawn(
    store: Store,
    live: std::sync::Arc<std::sync::RwLock<crate::live::Live>>,
    every: std::time::Duration,
) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let model = live.read().expect("live state lock").model().clone();
            if let Err(e) = refresh(&store, &model).await {
                tracing::warn!(error = %e, "rebuilding report facts failed; retrying later");
            }
        }
    });
}
