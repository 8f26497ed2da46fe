//! The live scoring state: every lead's traits, account and activity, kept in memory so that an
//! event is scored the moment it is committed. It is derived state: [`Live::load`] rebuilds it
//! from the event log (the source of truth), and the lifecycle stages recorded in the database.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};
use sluice_core::engine::{LeadScore, round3};
use sluice_core::lifecycle::{self, TransitionError};
use sluice_core::{
    Activity, Actor, Attributes, Message, MessageKind, Model, Profile, Qualification, Stage,
    Timestamp,
};
use sluice_store::{AccountRow, LeadRow, Store, StoreError, TransitionRow};

/// Attributes with the time each was last set, so late-arriving old traits never overwrite
/// newer ones.
#[derive(Debug, Default, Clone)]
struct Traits {
    values: Attributes,
    set_at: HashMap<String, i64>,
}

impl Traits {
    fn merge(&mut self, traits: &Attributes, at_ms: i64) {
        for (key, value) in traits {
            if self.set_at.get(key).is_none_or(|&t| t <= at_ms) {
                self.values.insert(key.clone(), value.clone());
                self.set_at.insert(key.clone(), at_ms);
            }
        }
    }

    fn absorb(&mut self, other: Traits) {
        for (key, value) in other.values {
            let at = other.set_at.get(&key).copied().unwrap_or(i64::MIN);
            self.merge(&Attributes::from_iter([(key, value)]), at);
        }
    }
}

/// A lead, live.
#[derive(Debug, Clone)]
struct LiveLead {
    traits: Traits,
    /// The account and when the lead was put in it.
    account: Option<(String, i64)>,
    activity: Activity,
    stage: Stage,
    owner: Option<String>,
    /// Qualification at the last scoring: stage changes happen when it changes.
    qualification: Qualification,
    engagement: f64,
    created_ms: i64,
    last_event_ms: Option<i64>,
}

impl LiveLead {
    fn new(created_ms: i64) -> Self {
        LiveLead {
            traits: Traits::default(),
            account: None,
            activity: Activity::new(),
            stage: Stage::Lead,
            owner: None,
            qualification: Qualification::Lead,
            engagement: 0.0,
            created_ms,
            last_event_ms: None,
        }
    }
}

/// A visitor known only by an anonymous id, until an `identify` or `alias` names them.
#[derive(Debug, Default, Clone)]
struct Visitor {
    activity: Activity,
    traits: Traits,
    groups: Vec<(String, Attributes, i64)>,
    last_event_ms: Option<i64>,
}

#[derive(Debug, Default, Clone)]
struct LiveAccount {
    traits: Traits,
    leads: BTreeSet<String>,
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
        self.identities.extend(other.identities);
        self.transitions.extend(other.transitions);
        self.deleted.extend(other.deleted);
        self.assignments.extend(other.assignments);
        self.account_owners.extend(other.account_owners);
        self.webhooks.extend(other.webhooks);
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

/// The live state of every lead and account under one model.
#[derive(Debug)]
pub struct Live {
    model: Arc<Model>,
    version: String,
    leads: HashMap<String, LiveLead>,
    accounts: HashMap<String, LiveAccount>,
    aliases: HashMap<String, String>,
    visitors: HashMap<String, Visitor>,
    /// Accounts that lost a lead since the last scoring.
    stale_accounts: BTreeSet<String>,
}

/// Events replayed per page at start-up.
const REPLAY_PAGE: i64 = 5_000;

impl Live {
    /// An empty state.
    pub fn new(model: Arc<Model>, version: String) -> Live {
        Live {
            model,
            version,
            leads: HashMap::new(),
            accounts: HashMap::new(),
            aliases: HashMap::new(),
            visitors: HashMap::new(),
            stale_accounts: BTreeSet::new(),
        }
    }

    /// Rebuilds the state from the event log, then restores the stages, owners and last
    /// qualifications recorded for each lead.
    pub async fn load(
        store: &Store,
        model: Arc<Model>,
        version: String,
    ) -> Result<Live, StoreError> {
        let mut live = Live::new(model, version);
        let mut after = 0;
        loop {
            let page = store.events_after(after, REPLAY_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let messages: Vec<(Message, Timestamp)> = page
                .iter()
                .filter_map(|e| {
                    let message = serde_json::from_str::<Message>(&e.message).ok()?;
                    Some((message, Timestamp::from_millis(e.at_ms)))
                })
                .collect();
            live.absorb(messages, &mut Changes::default(), &mut HashSet::new());
        }
        for (lead, at_ms) in store.recycle_resets().await? {
            if let Some(lead) = live.leads.get_mut(&lead) {
                lead.activity.forget_before(Timestamp::from_millis(at_ms));
            }
        }
        let mut after = String::new();
        loop {
            let page = store.leads_after(&after, REPLAY_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            for row in page {
                let lead = live
                    .leads
                    .entry(row.id.clone())
                    .or_insert_with(|| LiveLead::new(row.created_ms));
                lead.stage = row.stage;
                lead.owner = row.owner;
                lead.created_ms = row.created_ms;
                lead.engagement = row.engagement;
                lead.qualification = match row.qualification.as_str() {
                    "mql" => Qualification::Mql,
                    "disqualified" => Qualification::Disqualified,
                    _ => Qualification::Lead,
                };
                if lead.traits.values.is_empty() {
                    lead.traits.merge(&row.attributes, row.created_ms);
                }
            }
        }
        Ok(live)
    }

    /// The model in force.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Its version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How many leads are known.
    pub fn lead_count(&self) -> usize {
        self.leads.len()
    }

    /// The lead an id (lead id, email, anonymous id, earlier id) names, if any.
    pub fn resolve(&self, id: &str) -> Option<&str> {
        // Emails are stored lower-cased; any other id as given.
        let lower = id.to_lowercase();
        [id, lower.as_str()]
            .into_iter()
            .find_map(|candidate| self.leads.get_key_value(self.target(candidate)))
            .map(|(k, _)| k.as_str())
    }

    /// Follows aliases (anonymous id → user id → later user id) to the id they finally name.
    fn target<'a>(&'a self, id: &'a str) -> &'a str {
        let mut current = id;
        // Chains are short; the bound guards against a cycle in bad data.
        for _ in 0..32 {
            match self.aliases.get(current) {
                Some(next) if next != current => current = next,
                _ => break,
            }
        }
        current
    }

    /// A lead's attributes, and its account's id and attributes (for routing).
    pub fn context(&self, id: &str) -> Option<(Attributes, Option<(String, Attributes)>)> {
        let lead = self.leads.get(self.resolve(id)?)?;
        let account = lead.account.as_ref().map(|(a, _)| {
            let traits = self
                .accounts
                .get(a)
                .map(|acc| acc.traits.values.clone())
                .unwrap_or_default();
            (a.clone(), traits)
        });
        Some((lead.traits.values.clone(), account))
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

    /// Every lead's id and attributes (for matching outcomes by CRM id).
    pub fn leads_with_attribute<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a serde_json::Value)> + 'a {
        self.leads
            .iter()
            .filter_map(move |(id, l)| Some((id.as_str(), l.traits.values.get(key)?)))
    }

    /// A lead's attributes.
    pub fn attributes(&self, id: &str) -> Option<&Attributes> {
        self.leads.get(self.resolve(id)?).map(|l| &l.traits.values)
    }

    /// The lead's score now, with its explanation.
    pub fn explain(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Option<(LeadScore, sluice_core::engine::Explanation)> {
        let lead = self.leads.get(self.resolve(id)?)?;
        Some(self.model.explain(self.profile(lead), &lead.activity, now))
    }

    /// Applies a group of new (deduplicated) messages and returns the rows they change,
    /// scored as of `now`.
    pub fn apply(&mut self, messages: Vec<(Message, Timestamp)>, now: Timestamp) -> Changes {
        let mut changes = Changes::default();
        let mut touched = HashSet::new();
        self.absorb(messages, &mut changes, &mut touched);
        let mut touched: Vec<String> = touched.into_iter().collect();
        touched.sort();
        self.rescore(&touched, now, &mut changes);
        changes
    }

    /// Rescores every lead (after a model change, or for decay).
    pub fn rescore_all(&mut self, now: Timestamp) -> Changes {
        let mut changes = Changes::default();
        let mut ids: Vec<String> = self.leads.keys().cloned().collect();
        ids.sort();
        self.rescore(&ids, now, &mut changes);
        changes
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
        let lead = &self.leads[&id];
        lifecycle::check(lead.stage, to, actor, reason)?;
        let policy = self.model.handoff();
        // Sales' rejections are feedback the closed loop counts: only the agreed reasons.
        if actor == Actor::Sales
            && matches!(lead.stage, Stage::Mql | Stage::Sal)
            && matches!(to, Stage::Recycled | Stage::Disqualified)
            && let Some(reason) = reason.map(str::trim)
            && !policy.reject_reasons.iter().any(|r| r == reason)
        {
            return Err(MoveError::Reason {
                given: reason.to_string(),
                allowed: policy.reject_reasons.join(", "),
            });
        }
        if to == Stage::Sql
            && let Some(bant) = self.model.bant_status(&lead.traits.values)
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
        let from = lead.stage;
        let reset = to == Stage::Recycled
            && self.model.handoff().recycle_reset == sluice_core::handoff::RecycleReset::Engagement;
        let mut changes = Changes::default();
        changes.transitions.push(TransitionRow {
            lead_id: id.clone(),
            from,
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
            lead.activity.forget_before(at);
        }
        self.rescore(std::slice::from_ref(&id), now, &mut changes);
        Ok(changes)
    }

    /// Folds messages into the state (no scoring); records what they touched.
    fn absorb(
        &mut self,
        messages: Vec<(Message, Timestamp)>,
        changes: &mut Changes,
        touched: &mut HashSet<String>,
    ) {
        for (message, at) in messages {
            let at_ms = at.millis();
            match message.kind {
                MessageKind::Identify => {
                    let Some(user) = &message.user_id else {
                        // Traits of a visitor already linked to a lead go to that lead.
                        match self.known(&message, at_ms) {
                            Some(lead) => {
                                let live = self.leads.get_mut(&lead).expect("known");
                                live.traits.merge(&message.traits, at_ms);
                                touched.insert(lead);
                            }
                            None => {
                                if let Some(anonymous) = &message.anonymous_id {
                                    self.visitors
                                        .entry(anonymous.clone())
                                        .or_default()
                                        .traits
                                        .merge(&message.traits, at_ms);
                                }
                            }
                        }
                        continue;
                    };
                    let lead = self.lead_for(user, at_ms);
                    if let Some(anonymous) = &message.anonymous_id {
                        self.link(anonymous, &lead, at_ms, changes, touched);
                    }
                    if let Some(Value::String(email)) = message.traits.get("email") {
                        let email = email.trim().to_lowercase();
                        if !email.is_empty()
                            && email != lead
                            && !self.aliases.contains_key(&email)
                            && !self.leads.contains_key(&email)
                        {
                            self.link(&email, &lead, at_ms, changes, touched);
                        }
                    }
                    self.leads
                        .get_mut(&lead)
                        .expect("created")
                        .traits
                        .merge(&message.traits, at_ms);
                    touched.insert(lead);
                }
                MessageKind::Alias => {
                    let (Some(previous), Some(user)) = (&message.previous_id, &message.user_id)
                    else {
                        continue;
                    };
                    let lead = self.lead_for(user, at_ms);
                    self.link(previous, &lead, at_ms, changes, touched);
                    touched.insert(lead);
                }
                MessageKind::Group => {
                    let Some(group) = message.group_id.clone() else {
                        continue;
                    };
                    let account = self.accounts.entry(group.clone()).or_default();
                    account.traits.merge(&message.traits, at_ms);
                    match self.known(&message, at_ms) {
                        Some(lead) => {
                            self.join_account(&lead, &group, at_ms);
                            touched.insert(lead);
                        }
                        None => {
                            if let Some(anonymous) = &message.anonymous_id {
                                let visitor = self.visitors.entry(anonymous.clone()).or_default();
                                visitor.groups.push((group, message.traits.clone(), at_ms));
                            }
                        }
                    }
                    // Every lead of the account is rescored: account traits feed their fit.
                    if let Some(account) = self
                        .accounts
                        .get(&message.group_id.clone().unwrap_or_default())
                    {
                        touched.extend(account.leads.iter().cloned());
                    }
                }
                MessageKind::Track | MessageKind::Page | MessageKind::Screen => {
                    let known = self.known(&message, at_ms);
                    let anonymous = message.anonymous_id.clone();
                    let Some(event) = message.into_event(at) else {
                        continue;
                    };
                    match known {
                        Some(lead) => {
                            let live = self.leads.get_mut(&lead).expect("known");
                            live.activity.record(&self.model, &event);
                            live.last_event_ms = live.last_event_ms.max(Some(at_ms));
                            touched.insert(lead);
                        }
                        None => {
                            let Some(anonymous) = anonymous else { continue };
                            let visitor = self.visitors.entry(anonymous).or_default();
                            visitor.activity.record(&self.model, &event);
                            visitor.last_event_ms = visitor.last_event_ms.max(Some(at_ms));
                        }
                    }
                }
            }
        }
    }

    /// The lead a message is about, creating it for a new `userId`; `None` for a visitor.
    fn known(&mut self, message: &Message, at_ms: i64) -> Option<String> {
        if let Some(user) = &message.user_id {
            return Some(self.lead_for(user, at_ms));
        }
        let target = self.target(message.anonymous_id.as_ref()?);
        self.leads.contains_key(target).then(|| target.to_string())
    }

    /// The lead a user id names (through its aliases), created if new.
    fn lead_for(&mut self, user: &str, at_ms: i64) -> String {
        let id = self.target(user).to_string();
        self.leads
            .entry(id.clone())
            .or_insert_with(|| LiveLead::new(at_ms));
        id
    }

    /// Makes `alias` name `lead`, bringing along what was known under it.
    fn link(
        &mut self,
        alias: &str,
        lead: &str,
        at_ms: i64,
        changes: &mut Changes,
        touched: &mut HashSet<String>,
    ) {
        if alias == lead || self.aliases.get(alias).is_some_and(|l| l == lead) {
            return;
        }
        self.aliases.insert(alias.to_string(), lead.to_string());
        changes
            .identities
            .push((alias.to_string(), lead.to_string(), at_ms));
        // The alias was a lead of its own (an earlier user id): it becomes part of `lead`.
        if let Some(old) = self.leads.remove(alias) {
            let live = self.leads.get_mut(lead).expect("linked to a live lead");
            live.activity.extend(old.activity.hits().iter().copied());
            live.traits.absorb(old.traits);
            live.last_event_ms = live.last_event_ms.max(old.last_event_ms);
            live.created_ms = live.created_ms.min(old.created_ms);
            if let Some((account, since)) = old.account {
                if let Some(a) = self.accounts.get_mut(&account) {
                    a.leads.remove(alias);
                }
                self.stale_accounts.insert(account.clone());
                self.join_account(lead, &account, since);
            }
            touched.remove(alias);
            changes.deleted.push(alias.to_string());
        }
        if let Some(visitor) = self.visitors.remove(alias) {
            let live = self.leads.get_mut(lead).expect("linked to a live lead");
            live.activity
                .extend(visitor.activity.hits().iter().copied());
            live.traits.absorb(visitor.traits);
            live.last_event_ms = live.last_event_ms.max(visitor.last_event_ms);
            for (group, traits, at) in visitor.groups {
                self.accounts
                    .entry(group.clone())
                    .or_default()
                    .traits
                    .merge(&traits, at);
                self.join_account(lead, &group, at);
            }
        }
        touched.insert(lead.to_string());
    }

    fn join_account(&mut self, lead: &str, group: &str, at_ms: i64) {
        let live = self.leads.get_mut(lead).expect("live lead");
        if live
            .account
            .as_ref()
            .is_some_and(|(_, since)| *since > at_ms)
        {
            return;
        }
        if let Some((old, _)) = live.account.replace((group.to_string(), at_ms))
            && let Some(account) = self.accounts.get_mut(&old)
        {
            account.leads.remove(lead);
            // The account it left loses its engagement: rescore it too.
            self.stale_accounts.insert(old);
        }
        self.accounts
            .entry(group.to_string())
            .or_default()
            .leads
            .insert(lead.to_string());
    }

    fn profile<'a>(&'a self, lead: &'a LiveLead) -> Profile<'a> {
        let account = lead
            .account
            .as_ref()
            .and_then(|(id, _)| self.accounts.get(id))
            .map(|a| &a.traits.values);
        Profile {
            lead: &lead.traits.values,
            account,
        }
    }

    /// Scores leads, moves their stages where the score says so, and writes their rows.
    fn rescore(&mut self, ids: &[String], now: Timestamp, changes: &mut Changes) {
        let mut accounts = std::mem::take(&mut self.stale_accounts);
        for id in ids {
            let Some(lead) = self.leads.get(id) else {
                continue;
            };
            let profile = self.profile(lead);
            let score = self.model.score(profile, &lead.activity, now);
            let mut stage = lead.stage;
            // The system moves a lead when its qualification changes, so a person's decision
            // (reopening a disqualified lead, recycling an MQL) stands until the data changes.
            if score.qualification != lead.qualification {
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
                        let (_, explanation) = self.model.explain(profile, &lead.activity, now);
                        json!({"score": score, "explanation": explanation})
                    });
                    changes.transitions.push(TransitionRow {
                        lead_id: id.clone(),
                        from: stage,
                        to,
                        at_ms: now.millis(),
                        actor: Actor::System,
                        reason,
                        model_version: Some(self.version.clone()),
                        detail,
                    });
                    stage = to;
                }
            }
            let row = LeadRow {
                id: id.clone(),
                attributes: lead.traits.values.clone(),
                account_id: lead.account.as_ref().map(|(a, _)| a.clone()),
                stage,
                owner: lead.owner.clone(),
                score: round3(score.score),
                fit: round3(score.fit),
                engagement: round3(score.engagement),
                grade: score.grade.to_string(),
                qualification: score.qualification.as_str().to_string(),
                scored: serde_json::to_value(&score).unwrap_or(Value::Null),
                model_version: self.version.clone(),
                created_ms: lead.created_ms,
                updated_ms: now.millis(),
                last_event_ms: lead.last_event_ms,
            };
            if let Some((account, _)) = &lead.account {
                accounts.insert(account.clone());
            }
            let lead = self.leads.get_mut(id).expect("present");
            lead.stage = stage;
            lead.qualification = score.qualification;
            lead.engagement = score.engagement;
            changes.leads.push(row);
        }
        for id in accounts {
            let Some(account) = self.accounts.get(&id) else {
                continue;
            };
            let engagement: Vec<f64> = account
                .leads
                .iter()
                .filter_map(|l| self.leads.get(l))
                .map(|l| l.engagement)
                .collect();
            let score = self
                .model
                .score_account(&account.traits.values, &engagement);
            changes.accounts.push(AccountRow {
                id: id.clone(),
                attributes: account.traits.values.clone(),
                score: round3(score.score),
                fit: round3(score.fit),
                engagement: round3(score.engagement),
                qualified: score.qualified,
                scored: serde_json::to_value(&score).unwrap_or(Value::Null),
                updated_ms: now.millis(),
            });
        }
    }
}
