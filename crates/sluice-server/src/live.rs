//! The live scoring state: a bounded cache over the durable scoring state in the database.
//!
//! What the event log says about each id (a `userId`, an `anonymousId`, an email) is a *trail*:
//! its link to another id, its traits with their set times, its latest `group` call and the
//! engagement rules its events matched. Trails follow the rules of the one history pipeline
//! (`sluice_core::history`): the later link wins whatever the arrival order, a cycle resolves to
//! its least id, traits are last-writer-wins by event time. A lead is the root its ids resolve
//! to; its score is computed from the union of its ids' trails.
//!
//! The writer keeps trails in the database in the same transaction as the events
//! ([`Changes::trails`]), so nothing replays the log: before it applies messages it loads what
//! they touch ([`preload`]); readers load what they show ([`view`]). The cache holds whole
//! leads (every id of a root, or none), at most [`Live::capacity`] of them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use serde_json::{Value, json};
use sluice_core::analytics::Utm;
use sluice_core::engine::{Hit, LeadScore, round3};
use sluice_core::history::{
    Links, Traits, canonical_id, canonicalize, identify_account, message_links,
};
use sluice_core::lifecycle::{self, TransitionError};
use sluice_core::{
    Activity, Actor, Attributes, Message, MessageKind, Model, Profile, Qualification, Stage,
    Timestamp,
};
use sluice_store::{AccountRow, LeadRow, Store, StoreError, TrailRow, TransitionRow};

/// Leads kept in memory by default.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// What the messages say about one id.
#[derive(Debug, Clone)]
struct Trail {
    root: String,
    user: bool,
    first_seen: Option<i64>,
    last_event: Option<i64>,
    traits: Traits,
    group: Option<(Timestamp, String)>,
    activity: Activity,
    /// The first UTM campaign its messages carried (for first-touch attribution).
    first_touch: Option<(i64, Value)>,
    /// When each event name was first seen.
    events: BTreeMap<String, i64>,
}

impl Trail {
    fn new(id: &str) -> Self {
        Trail {
            root: id.to_string(),
            user: false,
            first_seen: None,
            last_event: None,
            traits: Traits::new(),
            group: None,
            activity: Activity::new(),
            first_touch: None,
            events: BTreeMap::new(),
        }
    }
}

/// What the lifecycle and the last scoring recorded about a lead.
#[derive(Debug, Clone)]
struct LeadMeta {
    stage: Stage,
    owner: Option<String>,
    /// Qualification at the last scoring: stage changes happen when it changes.
    qualification: Qualification,
    engagement: f64,
    created_ms: i64,
    /// The account it was last scored in.
    account: Option<String>,
    /// Engagement before this time is forgotten (a recycle that resets engagement).
    reset: Option<Timestamp>,
    /// When the cache last used it.
    used: u64,
}

impl LeadMeta {
    fn new(created_ms: i64) -> Self {
        LeadMeta {
            stage: Stage::Lead,
            owner: None,
            qualification: Qualification::Lead,
            engagement: 0.0,
            created_ms,
            account: None,
            reset: None,
            used: 0,
        }
    }

    fn from_row(row: &LeadRow) -> Self {
        LeadMeta {
            stage: row.stage,
            owner: row.owner.clone(),
            qualification: match row.qualification.as_str() {
                "mql" => Qualification::Mql,
                "disqualified" => Qualification::Disqualified,
                _ => Qualification::Lead,
            },
            engagement: row.engagement,
            created_ms: row.created_ms,
            account: row.account_id.clone(),
            reset: None,
            used: 0,
        }
    }
}

/// An account: its traits, and the engagement of each of its leads (all of them, loaded whole).
#[derive(Debug, Clone, Default)]
struct AccountState {
    traits: Traits,
    leads: BTreeMap<String, f64>,
}

/// A lead as its ids add up.
struct Merged {
    attributes: Attributes,
    activity: Activity,
    account: Option<String>,
    first_seen: Option<i64>,
    last_event: Option<i64>,
}

/// What a group of messages changed, to be written in the same transaction as the messages.
#[derive(Debug, Default)]
pub struct Changes {
    /// Leads to upsert.
    pub leads: Vec<LeadRow>,
    /// Accounts to upsert.
    pub accounts: Vec<AccountRow>,
    /// New aliases: (alias, lead, at).
    pub identities: Vec<(String, String, i64)>,
    /// Stage changes.
    pub transitions: Vec<TransitionRow>,
    /// Leads merged into others (by `alias`), to delete.
    pub deleted: Vec<String>,
    /// New assignments of leads to reps (each also sets the lead's owner).
    pub assignments: Vec<sluice_store::AssignmentRow>,
    /// Accounts given an owner: (account, rep).
    pub account_owners: Vec<(String, String)>,
    /// Webhook events beyond the stage changes (assignments, SLA warnings, outcomes...).
    pub webhooks: Vec<sluice_store::OutboundEvent>,
    /// Trails to upsert (the durable scoring state).
    pub trails: Vec<TrailRow>,
    /// Account traits to upsert: (account, traits with their set times as JSON).
    pub account_traits: Vec<(String, String)>,
    /// Only the leads' scores changed (a decay pass): their report facts stand.
    pub scores_only: bool,
}

impl Changes {
    /// Adds another change's rows after this one's.
    pub fn absorb(&mut self, other: Changes) {
        // A lead rescored twice: the later row wins.
        for lead in other.leads {
            self.leads.retain(|l| l.id != lead.id);
            self.leads.push(lead);
        }
        for account in other.accounts {
            self.accounts.retain(|a| a.id != account.id);
            self.accounts.push(account);
        }
        for trail in other.trails {
            self.trails.retain(|t| t.id != trail.id);
            self.trails.push(trail);
        }
        for traits in other.account_traits {
            self.account_traits.retain(|t| t.0 != traits.0);
            self.account_traits.push(traits);
        }
        self.identities.extend(other.identities);
        self.transitions.extend(other.transitions);
        self.deleted.extend(other.deleted);
        self.assignments.extend(other.assignments);
        self.account_owners.extend(other.account_owners);
        self.webhooks.extend(other.webhooks);
        self.scores_only &= other.scores_only;
    }
}

/// Why a manual stage change was refused.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// No such lead.
    #[error("no lead `{0}`")]
    NoLead(String),
    /// The lifecycle forbids it.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A rejection's reason is not one of the model's.
    #[error("reason `{given}` is not one of the model's reject_reasons: {allowed}")]
    Reason {
        /// What was given.
        given: String,
        /// The reasons allowed.
        allowed: String,
    },
    /// `sql` needs the model's BANT criteria met.
    #[error(
        "`sql` needs BANT completeness of {needed}, and the lead has {has} (capture {missing})"
    )]
    Bant {
        /// Required.
        needed: f64,
        /// Current.
        has: f64,
        /// Criteria without full credit.
        missing: String,
    },
}

/// The live state of the leads in the cache, under one model.
#[derive(Debug)]
pub struct Live {
    model: Arc<Model>,
    version: String,
    links: Links,
    trails: HashMap<String, Trail>,
    /// Root → its ids (for every cached root, complete).
    members: HashMap<String, BTreeSet<String>>,
    /// Roots that are leads.
    leads: HashMap<String, LeadMeta>,
    accounts: HashMap<String, AccountState>,
    /// Accounts whose leads or traits changed since the last scoring.
    stale_accounts: BTreeSet<String>,
    /// Trails and account traits changed since they were last written.
    dirty: HashSet<String>,
    dirty_accounts: HashSet<String>,
    tick: u64,
    capacity: usize,
    rescoring: Rescoring,
    /// The last state change (by any process on the database) this cache has caught up with.
    synced: i64,
}

/// A pass that rescores every lead from its stored state, in batches between other work
/// (after a model is put in force, or for decay).
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Rescoring {
    /// `activation` or `decay`; empty before the first pass.
    pub reason: String,
    /// The model version the pass scores with.
    pub model_version: String,
    /// Leads to rescore (counted when the pass began).
    pub total: u64,
    /// Leads rescored so far.
    pub done: u64,
    /// When the pass began.
    #[schema(value_type = Option<String>)]
    pub started_at: Option<Timestamp>,
    /// When it ended (`null` while it runs).
    #[schema(value_type = Option<String>)]
    pub finished_at: Option<Timestamp>,
}

impl Live {
    /// An empty cache.
    pub fn new(model: Arc<Model>, version: String) -> Live {
        Live {
            model,
            version,
            links: Links::new(),
            trails: HashMap::new(),
            members: HashMap::new(),
            leads: HashMap::new(),
            accounts: HashMap::new(),
            stale_accounts: BTreeSet::new(),
            dirty: HashSet::new(),
            dirty_accounts: HashSet::new(),
            tick: 0,
            capacity: DEFAULT_CAPACITY,
            rescoring: Rescoring::default(),
            synced: 0,
        }
    }

    /// The last state change this cache has caught up with.
    pub fn synced(&self) -> i64 {
        self.synced
    }

    /// Caught up with the state changes up to `seq`.
    pub fn set_synced(&mut self, seq: i64) {
        self.synced = seq;
    }

    /// Drops what another process changed: the whole lead of every cached id named (every id
    /// of its root, so the cache still holds leads whole), and the accounts named. They are
    /// read again from the database when next needed.
    pub fn forget(&mut self, ids: &[String], accounts: &[String]) {
        for id in ids {
            let Some(root) = self.trails.get(id).map(|t| t.root.clone()) else {
                continue;
            };
            if let Some(members) = self.members.remove(&root) {
                for member in members {
                    self.trails.remove(&member);
                    self.links.remove(&member);
                    self.dirty.remove(&member);
                }
            }
            if let Some(meta) = self.leads.remove(&root)
                && let Some(account) = meta.account
            {
                self.accounts.remove(&account);
            }
        }
        for account in accounts {
            self.accounts.remove(account);
            self.dirty_accounts.remove(account);
        }
    }

    /// The latest rescoring pass.
    pub fn rescoring(&self) -> &Rescoring {
        &self.rescoring
    }

    /// The latest rescoring pass, to update.
    pub fn rescoring_mut(&mut self) -> &mut Rescoring {
        &mut self.rescoring
    }

    /// The model in force.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Its version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Leads kept in memory at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets how many leads the cache keeps.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
    }

    /// How many leads are in memory.
    pub fn cached_leads(&self) -> usize {
        self.leads.len()
    }

    /// Puts another model in force. Every trail's hits were matched under the old one, so the
    /// cache starts empty: trails are matched again as they are loaded.
    pub fn set_model(&mut self, model: Arc<Model>, version: String) {
        let capacity = self.capacity;
        let rescoring = std::mem::take(&mut self.rescoring);
        let synced = self.synced;
        *self = Live::new(model, version);
        self.capacity = capacity;
        self.rescoring = rescoring;
        self.synced = synced;
    }

    /// Forgets everything (after a failed commit: the database is the truth).
    pub fn clear(&mut self) {
        let (model, version) = (Arc::clone(&self.model), self.version.clone());
        self.set_model(model, version);
    }

    /// Lets the least recently used leads go when the cache holds more than its capacity.
    /// Only call it when everything changed was written.
    pub fn trim(&mut self) {
        // What is not written yet stays.
        if !self.dirty.is_empty() || self.members.len() <= self.capacity {
            return;
        }
        let keep = self.capacity - self.capacity / 10;
        let mut roots: Vec<(u64, String)> = self
            .members
            .keys()
            .map(|r| (self.leads.get(r).map_or(0, |l| l.used), r.clone()))
            .collect();
        roots.sort_unstable();
        let evict = roots.len().saturating_sub(keep);
        for (_, root) in roots.into_iter().take(evict) {
            if let Some(ids) = self.members.remove(&root) {
                for id in ids {
                    self.trails.remove(&id);
                    self.links.remove(&id);
                }
            }
            self.leads.remove(&root);
        }
        if self.accounts.len() > self.capacity {
            self.accounts.clear();
        }
    }

    /// Whether an id's trail is in memory.
    fn cached(&self, id: &str) -> bool {
        self.trails.contains_key(id)
    }

    /// The root an id stands for, in the cache.
    fn root_of(&self, id: &str) -> Option<&str> {
        self.trails.get(id).map(|t| t.root.as_str())
    }

    /// The lead an id (lead id, email, anonymous id, earlier id) names, if it is in memory.
    pub fn resolve(&self, id: &str) -> Option<&str> {
        // Emails are linked lower-cased; any other id as given.
        let lower = id.to_lowercase();
        [id, lower.as_str()]
            .into_iter()
            .filter_map(|candidate| self.root_of(candidate))
            .find_map(|root| self.leads.get_key_value(root))
            .map(|(k, _)| k.as_str())
    }

    /// A lead's attributes, and its account's id and attributes (for routing).
    pub fn context(&self, id: &str) -> Option<(Attributes, Option<(String, Attributes)>)> {
        let root = self.resolve(id)?;
        let merged = self.merged(root)?;
        let account = merged.account.map(|a| {
            let traits = self
                .accounts
                .get(&a)
                .map(|acc| acc.traits.values())
                .unwrap_or_default();
            (a, traits)
        });
        Some((merged.attributes, account))
    }

    /// A lead's stage and owner.
    pub fn stage_and_owner(&self, id: &str) -> Option<(Stage, Option<&str>)> {
        let lead = self.leads.get(self.resolve(id)?)?;
        Some((lead.stage, lead.owner.as_deref()))
    }

    /// Records a lead's new owner (stored by the assignment itself).
    pub fn set_owner(&mut self, id: &str, owner: Option<String>) {
        if let Some(lead) = self.leads.get_mut(id) {
            lead.owner = owner;
        }
    }

    /// A lead's attributes.
    pub fn attributes(&self, id: &str) -> Option<Attributes> {
        self.merged(self.resolve(id)?).map(|m| m.attributes)
    }

    /// The lead's score now, with its explanation.
    pub fn explain(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Option<(LeadScore, sluice_core::engine::Explanation)> {
        let root = self.resolve(id)?;
        let merged = self.merged(root)?;
        let account = self.account_traits(&merged);
        let profile = Profile {
            lead: &merged.attributes,
            account: account.as_ref(),
        };
        Some(self.model.explain(profile, &merged.activity, now))
    }

    /// Applies a group of new (deduplicated) messages and returns the rows they change,
    /// scored as of `now`. What they touch must have been loaded ([`preload`]).
    pub fn apply(&mut self, messages: Vec<(Message, Timestamp)>, now: Timestamp) -> Changes {
        let mut changes = Changes::default();
        let mut touched = BTreeSet::new();
        self.absorb(messages, &mut changes, &mut touched);
        let touched: Vec<String> = touched.into_iter().collect();
        self.rescore(&touched, now, &mut changes);
        self.flush(&mut changes);
        // A lead merged into another in this group is deleted, not written.
        changes.deleted.retain(|d| !self.leads.contains_key(d));
        changes.leads.retain(|l| self.leads.contains_key(&l.id));
        changes
    }

    /// Rescores these leads (for decay, or under a new model). They must have been loaded.
    /// `untouched` (an activation pass only): the MQLs sales has not touched, which go back to
    /// `lead` if the model in force no longer qualifies them.
    pub fn rescore_leads(
        &mut self,
        ids: &[String],
        now: Timestamp,
        untouched: Option<&HashSet<String>>,
    ) -> Changes {
        let mut changes = Changes::default();
        let roots: BTreeSet<String> = ids
            .iter()
            .filter_map(|id| self.resolve(id).map(str::to_string))
            .collect();
        let roots: Vec<String> = roots.into_iter().collect();
        self.rescore_under(&roots, now, &mut changes, untouched);
        self.flush(&mut changes);
        changes
    }

    /// When the model of this state first qualifies a lead, from its first sight up to `to`
    /// (a backtest of a lead as read into a [`view`]).
    pub fn first_mql(&self, id: &str, to: Timestamp) -> Option<Timestamp> {
        let root = self.resolve(id)?.to_string();
        let merged = self.merged(&root)?;
        let from = self
            .leads
            .get(&root)
            .map_or(to.millis(), |m| m.created_ms)
            .min(merged.first_seen.unwrap_or(i64::MAX))
            .min(to.millis());
        let from = Timestamp::from_millis(from);
        let account = self.account_traits(&merged);
        let profile = Profile {
            lead: &merged.attributes,
            account: account.as_ref(),
        };
        sluice_core::backtest::first_mql(&self.model, profile, &merged.activity, from, to)
    }

    /// A manual stage change by a person (or an outcome): checked against the lifecycle and,
    /// for `sql`, against the model's BANT criteria.
    pub fn transition(
        &mut self,
        id: &str,
        to: Stage,
        actor: Actor,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Changes, MoveError> {
        self.transition_at(id, to, actor, reason, now, now)
    }

    /// A stage change that happened at `at` (an outcome's date), scored as of `now`.
    pub fn transition_at(
        &mut self,
        id: &str,
        to: Stage,
        actor: Actor,
        reason: Option<&str>,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Changes, MoveError> {
        let id = self
            .resolve(id)
            .ok_or_else(|| MoveError::NoLead(id.to_string()))?
            .to_string();
        let stage = self.leads[&id].stage;
        lifecycle::check(stage, to, actor, reason)?;
        let policy = self.model.handoff();
        // Sales' rejections are feedback the closed loop counts: only the agreed reasons.
        if actor == Actor::Sales
            && matches!(stage, Stage::Mql | Stage::Sal)
            && matches!(to, Stage::Recycled | Stage::Disqualified)
            && let Some(reason) = reason.map(str::trim)
            && !policy.reject_reasons.iter().any(|r| r == reason)
        {
            return Err(MoveError::Reason {
                given: reason.to_string(),
                allowed: policy.reject_reasons.join(", "),
            });
        }
        if to == Stage::Sql {
            let attributes = self.merged(&id).map(|m| m.attributes).unwrap_or_default();
            if let Some(bant) = self.model.bant_status(&attributes)
                && !bant.meets_sql
            {
                let missing: Vec<&str> = bant
                    .criteria
                    .iter()
                    .filter(|c| c.credit < 1.0)
                    .map(|c| c.id)
                    .collect();
                return Err(MoveError::Bant {
                    needed: self.model.bant().map_or(0.0, |b| b.sql_min),
                    has: round3(bant.completeness),
                    missing: missing.join(", "),
                });
            }
        }
        let reset = to == Stage::Recycled
            && self.model.handoff().recycle_reset == sluice_core::handoff::RecycleReset::Engagement;
        let mut changes = Changes::default();
        changes.transitions.push(TransitionRow {
            lead_id: id.clone(),
            from: stage,
            to,
            at_ms: at.millis(),
            actor,
            reason: reason.map(str::to_string),
            model_version: Some(self.version.clone()),
            detail: reset.then(|| json!({"reset": "engagement"})),
        });
        let lead = self.leads.get_mut(&id).expect("resolved above");
        lead.stage = to;
        if reset {
            lead.reset = Some(lead.reset.map_or(at, |r| r.max(at)));
        }
        self.rescore(std::slice::from_ref(&id), now, &mut changes);
        self.flush(&mut changes);
        Ok(changes)
    }

    /// The trail of an id, created (standing for itself) if new.
    fn trail_mut(&mut self, id: &str) -> &mut Trail {
        if !self.trails.contains_key(id) {
            self.trails.insert(id.to_string(), Trail::new(id));
            self.members
                .entry(id.to_string())
                .or_default()
                .insert(id.to_string());
        }
        self.trails.get_mut(id).expect("inserted above")
    }

    /// Folds messages into the trails (no scoring); records the roots they touched.
    fn absorb(
        &mut self,
        messages: Vec<(Message, Timestamp)>,
        changes: &mut Changes,
        touched: &mut BTreeSet<String>,
    ) {
        for (mut message, at) in messages {
            canonicalize(&mut message);
            for (from, to) in message_links(&message) {
                self.link(&from, &to, at, changes, touched);
            }
            let user = message.user_id.is_some();
            let Some(id) = message.user_id.take().or(message.anonymous_id.take()) else {
                continue;
            };
            let at_ms = at.millis();
            self.dirty.insert(id.clone());
            let model = Arc::clone(&self.model);
            let campaign = Utm::from_context(&message.context)
                .and_then(|_| message.context.get("campaign").cloned());
            let trail = self.trail_mut(&id);
            if let Some(campaign) = campaign
                && trail.first_touch.as_ref().is_none_or(|(t, _)| at_ms < *t)
            {
                trail.first_touch = Some((at_ms, campaign));
            }
            if user {
                trail.user = true;
                trail.first_seen = Some(trail.first_seen.map_or(at_ms, |t| t.min(at_ms)));
            }
            match message.kind {
                MessageKind::Identify => {
                    trail.traits.set(&message.traits, at);
                    if let Some(account) = identify_account(&message.traits) {
                        let candidate = Some((at, account.clone()));
                        if candidate > trail.group {
                            trail.group = candidate;
                        }
                        self.accounts.entry(account.clone()).or_default();
                        self.stale_accounts.insert(account);
                    }
                }
                MessageKind::Alias => {}
                MessageKind::Group => {
                    let Some(group) = message.group_id.take() else {
                        continue;
                    };
                    let candidate = Some((at, group.clone()));
                    if candidate > trail.group {
                        trail.group = candidate;
                    }
                    let account = self.accounts.entry(group.clone()).or_default();
                    if !message.traits.is_empty() {
                        account.traits.set(&message.traits, at);
                        self.dirty_accounts.insert(group.clone());
                        // Account traits feed the fit of every lead of the account.
                        touched.extend(account.leads.keys().cloned());
                    }
                    self.stale_accounts.insert(group);
                }
                MessageKind::Track | MessageKind::Page | MessageKind::Screen => {
                    let Some(event) = message.into_event(at) else {
                        continue;
                    };
                    trail.activity.record(&model, &event);
                    trail.last_event = trail.last_event.max(Some(at_ms));
                    let first = trail.events.entry(event.name).or_insert(at_ms);
                    *first = (*first).min(at_ms);
                }
            }
            let root = self.trails[&id].root.clone();
            touched.insert(root);
        }
    }

    /// Records that `from` stands for `to` since `at`; when that changes what `from` stands
    /// for, the ids that reach the lead through it follow.
    fn link(
        &mut self,
        from: &str,
        to: &str,
        at: Timestamp,
        changes: &mut Changes,
        touched: &mut BTreeSet<String>,
    ) {
        if from == to {
            return;
        }
        self.trail_mut(to);
        let old_root = self.trail_mut(from).root.clone();
        let target_root = self.trails[to].root.clone();
        let before = self.links.get(from).map(|(at, to)| (at, to.to_string()));
        let changed = self.links.link(from, to, at);
        if self.links.get(from).map(|(at, to)| (at, to.to_string())) == before {
            return;
        }
        self.dirty.insert(from.to_string());
        if !changed {
            return;
        }
        // Every id that may route through `from` stood for its old root (or the target's,
        // when the new link closes a cycle): their roots are recomputed.
        let mut affected: BTreeSet<String> = BTreeSet::new();
        for root in [&old_root, &target_root] {
            if let Some(ids) = self.members.get(root) {
                affected.extend(ids.iter().cloned());
            }
        }
        let mut moved_from: BTreeSet<String> = BTreeSet::new();
        for id in affected {
            let new_root = self.links.resolve(&id).to_string();
            let trail = self.trails.get_mut(&id).expect("a member is cached");
            if trail.root == new_root {
                continue;
            }
            let old = std::mem::replace(&mut trail.root, new_root.clone());
            self.dirty.insert(id.clone());
            if let Some(ids) = self.members.get_mut(&old) {
                ids.remove(&id);
            }
            self.members.entry(new_root.clone()).or_default().insert(id);
            moved_from.insert(old);
            touched.insert(new_root);
        }
        let root = self.trails[from].root.clone();
        changes
            .identities
            .push((from.to_string(), root, at.millis()));
        for old in moved_from {
            let gone = self.members.get(&old).is_none_or(BTreeSet::is_empty);
            if !gone {
                touched.insert(old);
                continue;
            }
            self.members.remove(&old);
            touched.remove(&old);
            // The root was a lead of its own: it is now part of another.
            if let Some(meta) = self.leads.remove(&old) {
                let new_root = self.links.resolve(&old).to_string();
                match self.leads.get_mut(&new_root) {
                    Some(survivor) => {
                        survivor.created_ms = survivor.created_ms.min(meta.created_ms);
                    }
                    None => {
                        self.leads.insert(new_root, meta.clone());
                    }
                }
                if let Some(account) = &meta.account
                    && let Some(state) = self.accounts.get_mut(account)
                {
                    state.leads.remove(&old);
                    self.stale_accounts.insert(account.clone());
                }
                changes.deleted.push(old);
            }
        }
    }

    /// The lead a root stands for, as its ids add up; `None` for an anonymous visitor.
    fn merged(&self, root: &str) -> Option<Merged> {
        let ids = self.members.get(root)?;
        let trails: Vec<&Trail> = ids.iter().filter_map(|id| self.trails.get(id)).collect();
        if !trails.iter().any(|t| t.user) {
            return None;
        }
        let mut traits = Traits::new();
        let mut hits: Vec<Hit> = Vec::new();
        let mut group = None;
        let (mut first_seen, mut last_event) = (None::<i64>, None::<i64>);
        for t in &trails {
            traits.absorb(&t.traits);
            hits.extend_from_slice(t.activity.hits());
            group = group.max(t.group.clone());
            first_seen = match (first_seen, t.first_seen) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            last_event = last_event.max(t.last_event);
        }
        let mut activity = Activity::new();
        activity.extend(hits);
        if let Some(reset) = self.leads.get(root).and_then(|l| l.reset) {
            activity.forget_before(reset);
        }
        let account = group
            .map(|(_, g)| g)
            .or_else(|| self.leads.get(root).and_then(|l| l.account.clone()));
        Some(Merged {
            attributes: traits.values(),
            activity,
            account,
            first_seen,
            last_event,
        })
    }

    /// The attributes of a lead's account, if it has one.
    fn account_traits(&self, merged: &Merged) -> Option<Attributes> {
        let account = self.accounts.get(merged.account.as_ref()?)?;
        Some(account.traits.values())
    }

    /// Scores leads, moves their stages where the score says so, and writes their rows.
    fn rescore(&mut self, roots: &[String], now: Timestamp, changes: &mut Changes) {
        self.rescore_under(roots, now, changes, None);
    }

    /// [`Live::rescore`]; with `untouched` (a change of model), an MQL in it that the model in
    /// force does not qualify goes back to `lead`.
    fn rescore_under(
        &mut self,
        roots: &[String],
        now: Timestamp,
        changes: &mut Changes,
        untouched: Option<&HashSet<String>>,
    ) {
        self.tick += 1;
        for root in roots {
            let Some(merged) = self.merged(root) else {
                continue;
            };
            let tick = self.tick;
            let meta = self.leads.entry(root.clone()).or_insert_with(|| {
                LeadMeta::new(merged.first_seen.unwrap_or_else(|| now.millis()))
            });
            meta.used = tick;
            let (stage_before, qualification_before) = (meta.stage, meta.qualification);
            let meta_created = meta.created_ms;
            let account_before = meta.account.clone();
            let account_traits = self.account_traits(&merged);
            let profile = Profile {
                lead: &merged.attributes,
                account: account_traits.as_ref(),
            };
            let score = self.model.score(profile, &merged.activity, now);
            let mut stage = stage_before;
            // A change of model takes back the MQLs it no longer qualifies, unless sales has
            // touched them (the caller knows which it has not).
            if stage == Stage::Mql
                && score.qualification == Qualification::Lead
                && untouched.is_some_and(|u| u.contains(root))
                && lifecycle::check(Stage::Mql, Stage::Lead, Actor::System, Some("model")).is_ok()
            {
                changes.transitions.push(TransitionRow {
                    lead_id: root.clone(),
                    from: Stage::Mql,
                    to: Stage::Lead,
                    at_ms: now.millis(),
                    actor: Actor::System,
                    reason: Some(format!(
                        "no longer qualified under model version {}",
                        self.version
                    )),
                    model_version: Some(self.version.clone()),
                    detail: None,
                });
                stage = Stage::Lead;
            }
            // The system moves a lead when its qualification changes, so a person's decision
            // (reopening a disqualified lead, recycling an MQL) stands until the data changes.
            if score.qualification != qualification_before {
                let (to, reason) = match score.qualification {
                    Qualification::Mql => (Stage::Mql, None),
                    Qualification::Disqualified => {
                        let reasons: Vec<&str> = score
                            .disqualified
                            .iter()
                            .map(|d| d.reason.as_str())
                            .collect();
                        (Stage::Disqualified, Some(reasons.join(", ")))
                    }
                    Qualification::Lead => (stage, None),
                };
                if to != stage
                    && lifecycle::check(stage, to, Actor::System, reason.as_deref()).is_ok()
                {
                    let detail = (to == Stage::Mql).then(|| {
                        let (_, explanation) = self.model.explain(profile, &merged.activity, now);
                        json!({"score": score, "explanation": explanation})
                    });
                    // A lead's first MQL is dated when the model first qualifies it on its
                    // events (as `sluice backtest` dates it), not when they were processed:
                    // history imported today keeps its own dates. Later moves are dated now.
                    let at = match (to, stage) {
                        (Stage::Mql, Stage::Lead) => sluice_core::backtest::first_mql(
                            &self.model,
                            profile,
                            &merged.activity,
                            Timestamp::from_millis(meta_created.min(now.millis())),
                            now,
                        )
                        .unwrap_or(now),
                        _ => now,
                    };
                    changes.transitions.push(TransitionRow {
                        lead_id: root.clone(),
                        from: stage,
                        to,
                        at_ms: at.millis(),
                        actor: Actor::System,
                        reason,
                        model_version: Some(self.version.clone()),
                        detail,
                    });
                    stage = to;
                }
            }
            let meta = self.leads.get_mut(root).expect("inserted above");
            meta.stage = stage;
            meta.qualification = score.qualification;
            meta.engagement = score.engagement;
            meta.account = merged.account.clone();
            let row = LeadRow {
                id: root.clone(),
                attributes: merged.attributes,
                account_id: merged.account.clone(),
                stage,
                owner: meta.owner.clone(),
                score: round3(score.score),
                fit: round3(score.fit),
                engagement: round3(score.engagement),
                grade: score.grade.to_string(),
                qualification: score.qualification.as_str().to_string(),
                scored: serde_json::to_value(&score).unwrap_or(Value::Null),
                model_version: self.version.clone(),
                created_ms: meta.created_ms,
                updated_ms: now.millis(),
                last_event_ms: merged.last_event,
            };
            if account_before != merged.account
                && let Some(old) = account_before
            {
                if let Some(state) = self.accounts.get_mut(&old) {
                    state.leads.remove(root);
                }
                self.stale_accounts.insert(old);
            }
            if let Some(account) = &merged.account {
                self.accounts
                    .entry(account.clone())
                    .or_default()
                    .leads
                    .insert(root.clone(), score.engagement);
                self.stale_accounts.insert(account.clone());
            }
            changes.leads.retain(|l| l.id != *root);
            changes.leads.push(row);
        }
        for id in std::mem::take(&mut self.stale_accounts) {
            let Some(account) = self.accounts.get(&id) else {
                continue;
            };
            let engagement: Vec<f64> = account.leads.values().copied().collect();
            let attributes = account.traits.values();
            let score = self.model.score_account(&attributes, &engagement);
            changes.accounts.retain(|a| a.id != id);
            changes.accounts.push(AccountRow {
                id: id.clone(),
                attributes,
                score: round3(score.score),
                fit: round3(score.fit),
                engagement: round3(score.engagement),
                qualified: score.qualified,
                scored: serde_json::to_value(&score).unwrap_or(Value::Null),
                updated_ms: now.millis(),
            });
        }
    }

    /// Moves the changed trails and account traits into `changes`, to be written.
    fn flush(&mut self, changes: &mut Changes) {
        let mut ids: Vec<String> = self.dirty.drain().collect();
        ids.sort();
        for id in ids {
            if let Some(trail) = self.trails.get(&id) {
                let row = self.trail_row(&id, trail);
                changes.trails.retain(|t| t.id != id);
                changes.trails.push(row);
            }
        }
        let mut accounts: Vec<String> = self.dirty_accounts.drain().collect();
        accounts.sort();
        for id in accounts {
            if let Some(state) = self.accounts.get(&id) {
                changes.account_traits.retain(|t| t.0 != id);
                changes
                    .account_traits
                    .push((id.clone(), encode_traits(&state.traits)));
            }
        }
    }

    fn trail_row(&self, id: &str, trail: &Trail) -> TrailRow {
        TrailRow {
            id: id.to_string(),
            root: trail.root.clone(),
            link: self
                .links
                .get(id)
                .map(|(at, to)| (to.to_string(), at.millis())),
            user: trail.user,
            first_seen: trail.first_seen,
            last_event: trail.last_event,
            traits: encode_traits(&trail.traits),
            group: trail.group.as_ref().map(|(at, g)| (g.clone(), at.millis())),
            hits: encode_hits(trail.activity.hits()),
            model_version: self.version.clone(),
            first_touch: trail
                .first_touch
                .as_ref()
                .map(|(at, c)| json!([at, c]).to_string()),
            seen: self.seen(trail),
        }
    }

    /// When each event name and engagement rule was first seen, as the reports read it:
    /// `{"e": {name: ms}, "r": {rule id: ms}}`.
    fn seen(&self, trail: &Trail) -> String {
        let rules = &self.model.engagement().rules;
        let mut first: BTreeMap<&str, i64> = BTreeMap::new();
        for hit in trail.activity.hits() {
            if let Some(rule) = rules.get(hit.rule as usize) {
                first.entry(rule.id.as_str()).or_insert(hit.at.millis());
            }
        }
        json!({"e": trail.events, "r": first}).to_string()
    }

    /// Takes in what [`load`] read; what is already cached stays as it is.
    fn insert(&mut self, loaded: Loaded) {
        for row in loaded.trails {
            if self.trails.contains_key(&row.id) {
                continue;
            }
            if let Some((to, at)) = &row.link {
                self.links.link(&row.id, to, Timestamp::from_millis(*at));
            }
            self.members
                .entry(row.root.clone())
                .or_default()
                .insert(row.id.clone());
            let activity = match loaded.rematched.get(&row.id) {
                Some(activity) => activity.clone(),
                None => {
                    let mut activity = Activity::new();
                    activity.extend(decode_hits(&row.hits));
                    activity
                }
            };
            if loaded.rematched.contains_key(&row.id) {
                self.dirty.insert(row.id.clone());
            }
            self.trails.insert(
                row.id.clone(),
                Trail {
                    root: row.root,
                    user: row.user,
                    first_seen: row.first_seen,
                    last_event: row.last_event,
                    traits: decode_traits(&row.traits),
                    group: row.group.map(|(g, at)| (Timestamp::from_millis(at), g)),
                    activity,
                    first_touch: row.first_touch.as_deref().and_then(decode_first_touch),
                    events: decode_seen(&row.seen).0,
                },
            );
        }
        for row in loaded.leads {
            if self.leads.contains_key(&row.id) {
                continue;
            }
            let mut meta = LeadMeta::from_row(&row);
            meta.reset = loaded.resets.get(&row.id).copied();
            meta.used = self.tick;
            self.leads.insert(row.id, meta);
        }
        for (id, state) in loaded.accounts {
            self.accounts.entry(id).or_insert(state);
        }
    }
}

/// What [`load`] read from the database.
#[derive(Debug, Default)]
struct Loaded {
    trails: Vec<TrailRow>,
    leads: Vec<LeadRow>,
    resets: HashMap<String, Timestamp>,
    accounts: HashMap<String, AccountState>,
    /// Trails whose hits were matched under another model, matched again from their events.
    rematched: HashMap<String, Activity>,
}

/// Reads what scoring the ids and accounts named needs: every id of the leads they stand
/// for, the leads' stages, the accounts (with the engagement of all their leads), and, for
/// accounts named, their leads too. `known` says what the cache holds already.
#[allow(clippy::too_many_arguments)] // the cache checks are closures of their own
async fn load(
    store: &Store,
    model: &Model,
    version: &str,
    ids: Vec<String>,
    accounts: Vec<String>,
    refit: &HashSet<String>,
    known: &(dyn Fn(&str) -> bool + Sync),
    known_account: &(dyn Fn(&str) -> bool + Sync),
) -> Result<Loaded, StoreError> {
    let mut loaded = Loaded::default();
    let mut seen_roots: HashSet<String> = HashSet::new();
    let mut wanted: Vec<String> = ids.into_iter().filter(|id| !known(id)).collect();
    wanted.sort();
    wanted.dedup();
    let mut accounts: Vec<String> = accounts.into_iter().filter(|a| !known_account(a)).collect();
    // Two rounds: the leads named, then the leads of the accounts whose traits change (their
    // fit may change). Other accounts need only their traits and their leads' engagement.
    for round in 0..2 {
        if !wanted.is_empty() {
            let direct = if round == 0 {
                store.trails(&wanted).await?
            } else {
                Vec::new()
            };
            let mut roots: Vec<String> = direct
                .iter()
                .map(|t| t.root.clone())
                .chain((round == 1).then(|| wanted.clone()).into_iter().flatten())
                .filter(|r| !known(r) && seen_roots.insert(r.clone()))
                .collect();
            roots.sort();
            roots.dedup();
            if !roots.is_empty() {
                let trails = store.trails_of_roots(&roots).await?;
                let leads = store.leads_by_id(&roots).await?;
                for (lead, at) in store.recycle_resets_of(&roots).await? {
                    loaded.resets.insert(lead, Timestamp::from_millis(at));
                }
                for t in &trails {
                    if let Some((g, _)) = &t.group {
                        accounts.push(g.clone());
                    }
                }
                for l in &leads {
                    if let Some(a) = &l.account_id {
                        accounts.push(a.clone());
                    }
                }
                loaded.trails.extend(trails);
                loaded.leads.extend(leads);
            }
        }
        accounts.sort();
        accounts.dedup();
        accounts.retain(|a| !known_account(a) && !loaded.accounts.contains_key(a));
        if accounts.is_empty() {
            break;
        }
        let named = std::mem::take(&mut accounts);
        for (id, traits) in store.account_traits(&named).await? {
            loaded.accounts.entry(id).or_default().traits = decode_traits(&traits);
        }
        let mut members = Vec::new();
        for (account_id, lead, engagement) in store.account_members(&named).await? {
            loaded
                .accounts
                .entry(account_id.clone())
                .or_default()
                .leads
                .insert(lead.clone(), engagement);
            if refit.contains(&account_id) {
                members.push(lead);
            }
        }
        for id in named {
            loaded.accounts.entry(id).or_default();
        }
        wanted = members;
    }
    let stale: Vec<String> = loaded
        .trails
        .iter()
        .filter(|t| t.model_version != version)
        .map(|t| t.id.clone())
        .collect();
    if !stale.is_empty() {
        for id in &stale {
            loaded.rematched.insert(id.clone(), Activity::new());
        }
        for stored in store.events_of_trails(&stale).await? {
            let Ok(message) = serde_json::from_str::<Message>(&stored.message) else {
                continue;
            };
            let id = message.user_id.clone().or(message.anonymous_id.clone());
            let at = Timestamp::from_millis(stored.at_ms);
            if let (Some(id), Some(event)) = (id, message.into_event(at))
                && let Some(activity) = loaded.rematched.get_mut(&id)
            {
                activity.record(model, &event);
            }
        }
    }
    Ok(loaded)
}

/// Loads into the shared cache what applying these messages needs. Only the writer calls it
/// (it is the only one changing the cache, so what it read stays true until it writes).
pub async fn preload(store: &Store, live: &RwLock<Live>, named: Named) -> Result<(), StoreError> {
    let Named {
        ids,
        accounts,
        refit,
    } = named;
    let (model, version) = {
        let live = live.read().expect("live state lock");
        (Arc::clone(live.model()), live.version().to_string())
    };
    // The leads of an account whose traits may change are rescored: load them too.
    let mut ids = ids;
    {
        let live = live.read().expect("live state lock");
        for a in &refit {
            if let Some(state) = live.accounts.get(a) {
                ids.extend(state.leads.keys().cloned());
            }
        }
    }
    let known = |id: &str| live.read().expect("live state lock").cached(id);
    let known_account = |a: &str| {
        live.read()
            .expect("live state lock")
            .accounts
            .contains_key(a)
    };
    let loaded = load(
        store,
        &model,
        &version,
        ids,
        accounts,
        &refit,
        &known,
        &known_account,
    )
    .await?;
    live.write().expect("live state lock").insert(loaded);
    Ok(())
}

/// What a group of messages (or a lookup) names, for [`preload`].
#[derive(Debug, Default)]
pub struct Named {
    /// Ids: user ids, anonymous ids, emails, earlier ids.
    pub ids: Vec<String>,
    /// Accounts whose state scoring needs.
    pub accounts: Vec<String>,
    /// Accounts whose traits change: all their leads are rescored, so loaded.
    pub refit: HashSet<String>,
}

impl Named {
    /// Just these ids (a lookup by id).
    pub fn ids(ids: Vec<String>) -> Named {
        Named {
            ids,
            ..Named::default()
        }
    }
}

/// What a group of messages names, for [`preload`].
pub fn named_by(messages: &[&Message]) -> Named {
    let mut ids = Vec::new();
    let mut accounts = Vec::new();
    let mut refit = HashSet::new();
    let canonical = |id: &String| canonical_id(id).into_owned();
    for m in messages {
        ids.extend(m.user_id.iter().map(canonical));
        ids.extend(m.anonymous_id.iter().map(canonical));
        for (from, to) in message_links(m) {
            ids.push(canonical(&from));
            ids.push(canonical(&to));
        }
        if let Some(group) = &m.group_id {
            accounts.push(group.clone());
            if !m.traits.is_empty() {
                refit.insert(group.clone());
            }
        }
        if m.kind == MessageKind::Identify {
            accounts.extend(identify_account(&m.traits));
        }
    }
    ids.sort();
    ids.dedup();
    accounts.sort();
    accounts.dedup();
    Named {
        ids,
        accounts,
        refit,
    }
}

/// The ids to look up for an id given by a person: as given, and lower-cased (emails).
pub fn lookup_ids(id: &str) -> Vec<String> {
    let mut ids = vec![id.to_string()];
    let lower = id.to_lowercase();
    if lower != id {
        ids.push(lower);
    }
    ids
}

/// The lead an id (lead id, email, anonymous id, earlier id) names: from the cache, else from
/// the durable state.
pub async fn resolve(
    store: &Store,
    live: &RwLock<Live>,
    id: &str,
) -> Result<Option<String>, StoreError> {
    if let Some(lead) = live.read().expect("live state lock").resolve(id) {
        return Ok(Some(lead.to_string()));
    }
    let ids = lookup_ids(id);
    let mut roots: Vec<String> = Vec::new();
    for candidate in &ids {
        if let Some(t) = store.trails(std::slice::from_ref(candidate)).await?.pop() {
            roots.push(t.root);
        }
    }
    // A lead stored before the durable state existed has no trail: its id is its own.
    roots.extend(ids);
    for root in roots {
        if store.lead(&root).await?.is_some() {
            return Ok(Some(root));
        }
    }
    Ok(None)
}

/// Every id that stands for a lead (its own among them).
pub async fn ids_of(store: &Store, lead: &str) -> Result<Vec<String>, StoreError> {
    let mut ids: Vec<String> = store
        .trails_of_roots(&[lead.to_string()])
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect();
    ids.extend(store.aliases_of(lead).await?);
    ids.push(lead.to_string());
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// A detached state holding just the leads these ids name, read from the database (for
/// readers: the API and the dashboard).
pub async fn view(store: &Store, live: &RwLock<Live>, ids: &[&str]) -> Result<Live, StoreError> {
    let (model, version) = {
        let live = live.read().expect("live state lock");
        (Arc::clone(live.model()), live.version().to_string())
    };
    let wanted: Vec<String> = ids.iter().flat_map(|id| lookup_ids(id)).collect();
    let loaded = load(
        store,
        &model,
        &version,
        wanted,
        Vec::new(),
        &HashSet::new(),
        &|_| false,
        &|_| false,
    )
    .await?;
    let mut fresh = Live::new(model, version);
    fresh.insert(loaded);
    fresh.dirty.clear();
    Ok(fresh)
}

/// Builds the durable state of a database written before it existed, from its event log (once:
/// afterwards the writer keeps it). Returns how many trails were written.
pub async fn backfill(
    store: &Store,
    model: Arc<Model>,
    version: String,
) -> Result<usize, StoreError> {
    const PAGE: i64 = 5_000;
    if store.trail_count().await? > 0 || store.event_count().await? == 0 {
        return Ok(0);
    }
    let mut live = Live::new(model, version);
    live.set_capacity(usize::MAX);
    let mut after = 0;
    let mut changes = Changes::default();
    let mut touched = BTreeSet::new();
    loop {
        let page = store.events_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let messages: Vec<(Message, Timestamp)> = page
            .iter()
            .filter_map(|e| {
                let message = serde_json::from_str::<Message>(&e.message).ok()?;
                Some((message, Timestamp::from_millis(e.at_ms)))
            })
            .collect();
        live.absorb(messages, &mut changes, &mut touched);
    }
    let mut state = Changes::default();
    live.flush(&mut state);
    let n = state.trails.len();
    let mut tx = store.begin().await?;
    tx.upsert_trails(&state.trails).await?;
    tx.upsert_account_traits(&state.account_traits).await?;
    tx.commit().await?;
    Ok(n)
}

/// Traits with their set times, as `[[name, ms, value], ...]`.
fn encode_traits(traits: &Traits) -> String {
    let list: Vec<Value> = traits
        .iter()
        .map(|(k, at, v)| json!([k, at.millis(), v]))
        .collect();
    Value::Array(list).to_string()
}

/// Traits stored with their set times ([`encode_traits`]).
pub fn decode_traits(text: &str) -> Traits {
    let mut traits = Traits::new();
    if let Ok(Value::Array(list)) = serde_json::from_str::<Value>(text) {
        for entry in list {
            if let Value::Array(entry) = entry
                && let [Value::String(key), at, value] = entry.as_slice()
                && let Some(at) = at.as_i64()
            {
                traits.set_one(key, value, Timestamp::from_millis(at));
            }
        }
    }
    traits
}

/// A stored first touch: when, and the campaign.
pub fn decode_first_touch(text: &str) -> Option<(i64, Value)> {
    match serde_json::from_str::<Value>(text).ok()? {
        Value::Array(pair) => match pair.as_slice() {
            [at, campaign] => Some((at.as_i64()?, campaign.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// A stored `seen`: event names and engagement rule ids, each with when it was first seen.
pub fn decode_seen(text: &str) -> (BTreeMap<String, i64>, BTreeMap<String, i64>) {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let read = |key: &str| -> BTreeMap<String, i64> {
        value
            .get(key)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_i64()?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    (read("e"), read("r"))
}

/// 20 bytes a hit: time (ms), rule index, `once_per` key; base64.
fn encode_hits(hits: &[Hit]) -> String {
    let mut bytes = Vec::with_capacity(hits.len() * 20);
    for h in hits {
        bytes.extend_from_slice(&h.at.millis().to_le_bytes());
        bytes.extend_from_slice(&h.rule.to_le_bytes());
        bytes.extend_from_slice(&h.key.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

fn decode_hits(text: &str) -> Vec<Hit> {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(text) else {
        return Vec::new();
    };
    bytes
        .chunks_exact(20)
        .map(|c| Hit {
            at: Timestamp::from_millis(i64::from_le_bytes(c[0..8].try_into().expect("8 bytes"))),
            rule: u32::from_le_bytes(c[8..12].try_into().expect("4 bytes")),
            key: u64::from_le_bytes(c[12..20].try_into().expect("8 bytes")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_and_traits_survive_storage() {
        let hits = vec![
            Hit {
                at: Timestamp::from_millis(-5),
                rule: 3,
                key: u64::MAX,
            },
            Hit {
                at: Timestamp::from_millis(1_700_000_000_000),
                rule: 0,
                key: 0,
            },
        ];
        assert_eq!(decode_hits(&encode_hits(&hits)), hits);
        let mut traits = Traits::new();
        traits.set(
            &json!({"title": "CTO", "n": 3})
                .as_object()
                .cloned()
                .unwrap(),
            Timestamp::from_millis(7),
        );
        assert_eq!(decode_traits(&encode_traits(&traits)), traits);
    }
}
