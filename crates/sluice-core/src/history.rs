//! The history pipeline: what a stream of Segment messages says about each lead and account.
//!
//! Every reader of history (`sluice score`, `backtest`, `learn`, the service's live state and
//! its reports) folds messages through the rules written here, once:
//!
//! - **Identity.** Ids are compared as given, but for emails (ids with `@`), which are
//!   lower-cased ([`canonical_id`]). An `identify` links its `anonymousId` to its `userId`, an `alias` its
//!   `previousId` to its `userId`, and an `identify`'s `email` trait (lower-cased) to its
//!   `userId`; a leads file's row is an `identify` of its own. When one id is linked twice, the
//!   link with the later time wins (at the same time, the greater target id), whatever the order
//!   the messages arrive in. Links are followed to the end; a cycle in bad data makes every id on
//!   it stand for the least id on it ([`Links::resolve`]).
//! - **Traits.** Each trait keeps the value set last by event time; at the same millisecond, the
//!   greater value (compared by its JSON text) wins ([`Traits`]). Merging is commutative, so the
//!   order of the messages never matters.
//! - **Accounts.** The latest `group` call (or `identify` with an `account_id` trait) names a
//!   lead's account (at the same time, the greater
//!   account id); `group` traits are account traits, by the same rule.
//! - **Leads.** Every id stands for the lead its links resolve to (its *root*). A root is a lead
//!   when one of its ids was sent as a `userId` or listed in a leads file; otherwise it is an
//!   anonymous visitor, whose activity waits until an `identify` or `alias` names it.
//!
//! The per-id state is kept apart until it is needed ([`History::finish`]), because a later
//! message may say which lead an id stands for.

use std::collections::{BTreeMap, HashMap};

use rustc_hash::FxHashMap;
use serde::Serialize;
use serde_json::Value;

use crate::engine::Activity;
use crate::event::{Attributes, Event, Message, MessageKind};
use crate::time::Timestamp;

/// Whether a value set at `new` replaces one set at `old`: later wins; at the same time, the
/// greater JSON text.
pub fn supersedes(new: (Timestamp, &Value), old: (Timestamp, &Value)) -> bool {
    match new.0.cmp(&old.0) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => value_text(new.1) > value_text(old.1),
    }
}

fn value_text(value: &Value) -> String {
    serde_json::to_string(value).expect("JSON values serialize")
}

/// Attributes with the times they were set: last-writer-wins by event time, ties by value.
/// Each trait keeps its recent history too (up to [`Traits::HISTORY`] values), so a report can
/// ask what a lead looked like before a moment ([`Traits::as_of`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traits(BTreeMap<String, Vec<(Timestamp, Value)>>);

impl Traits {
    /// Values kept per trait.
    pub const HISTORY: usize = 16;

    /// No traits.
    pub fn new() -> Self {
        Traits::default()
    }

    /// Sets the traits of one message, sent at `at`.
    pub fn set(&mut self, traits: &Attributes, at: Timestamp) {
        for (key, value) in traits {
            self.set_one(key, value, at);
        }
    }

    /// Records one trait's value set at `at`; the value in force is the one set last.
    pub fn set_one(&mut self, key: &str, value: &Value, at: Timestamp) {
        let history = match self.0.get_mut(key) {
            Some(history) => history,
            None => {
                self.0.insert(key.to_string(), vec![(at, value.clone())]);
                return;
            }
        };
        // In the order `supersedes` gives: by time, then by value.
        let pos = history.partition_point(|(t, v)| !supersedes((*t, v), (at, value)));
        if pos > 0 && history[pos - 1].1 == *value {
            // The value was already in force from an earlier time.
            return;
        }
        if pos < history.len() && history[pos] == (at, value.clone()) {
            return;
        }
        history.insert(pos, (at, value.clone()));
        if pos + 1 < history.len() && history[pos + 1].1 == *value {
            history.remove(pos + 1);
        }
        if history.len() > Self::HISTORY {
            history.remove(0);
        }
    }

    /// Adds another id's traits.
    pub fn absorb(&mut self, other: &Traits) {
        for (key, history) in &other.0 {
            for (at, value) in history {
                self.set_one(key, value, *at);
            }
        }
    }

    /// The current values.
    pub fn values(&self) -> Attributes {
        self.0
            .iter()
            .filter_map(|(k, h)| Some((k.clone(), h.last()?.1.clone())))
            .collect()
    }

    /// The values set before `t`.
    pub fn as_of(&self, t: Timestamp) -> Attributes {
        self.0
            .iter()
            .filter_map(|(k, h)| {
                let before = h.partition_point(|(at, _)| *at < t);
                Some((k.clone(), h[..before].last()?.1.clone()))
            })
            .collect()
    }

    /// The value of one trait.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).and_then(|h| h.last()).map(|(_, v)| v)
    }

    /// Every value kept: a trait's name, when the value was set, the value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Timestamp, &Value)> {
        self.0
            .iter()
            .flat_map(|(k, h)| h.iter().map(move |(at, v)| (k.as_str(), *at, v)))
    }

    /// Whether no trait is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Trait sets in the order they apply: one set per distinct time, merged at equal times by the
/// same rule as [`Traits`]. Applying them in order with `extend` gives exactly
/// [`Traits::values`] of the same sets.
pub fn timeline(mut sets: Vec<(Timestamp, Attributes)>) -> Vec<(Timestamp, Attributes)> {
    sets.sort_by_key(|(at, _)| *at);
    let mut out: Vec<(Timestamp, Attributes)> = Vec::with_capacity(sets.len());
    for (at, set) in sets {
        match out.last_mut() {
            Some((last_at, last)) if *last_at == at => {
                for (key, value) in set {
                    match last.get(&key) {
                        Some(old) if !supersedes((at, &value), (at, old)) => {}
                        _ => {
                            last.insert(key, value);
                        }
                    }
                }
            }
            _ => out.push((at, set)),
        }
    }
    out
}

/// The links between ids: which id each one stands for, and since when.
#[derive(Debug, Clone, Default)]
pub struct Links {
    links: FxHashMap<String, (Timestamp, String)>,
}

impl Links {
    /// No links.
    pub fn new() -> Self {
        Links::default()
    }

    /// Records that `from` stands for `to` since `at`; returns whether that changed what
    /// `from` stands for. The later link wins; at the same time, the greater `to`.
    pub fn link(&mut self, from: &str, to: &str, at: Timestamp) -> bool {
        if from == to {
            return false;
        }
        match self.links.get_mut(from) {
            Some(link) => {
                if (at, to) > (link.0, link.1.as_str()) {
                    let changed = link.1 != to;
                    *link = (at, to.to_string());
                    changed
                } else {
                    false
                }
            }
            None => {
                self.links.insert(from.to_string(), (at, to.to_string()));
                true
            }
        }
    }

    /// The id `id` directly stands for, if any. An id with capitals also matches a link of
    /// its lower-cased form (emails are linked lower-cased).
    pub fn next(&self, id: &str) -> Option<&str> {
        let direct = self.links.get(id).map(|(_, to)| to.as_str());
        direct.or_else(|| {
            id.chars()
                .any(char::is_uppercase)
                .then(|| {
                    self.links
                        .get(&id.to_lowercase())
                        .map(|(_, to)| to.as_str())
                })
                .flatten()
        })
    }

    /// The link recorded for `id`: since when, and to which id.
    pub fn get(&self, id: &str) -> Option<(Timestamp, &str)> {
        self.links.get(id).map(|(at, to)| (*at, to.as_str()))
    }

    /// The id `id` finally stands for (its root), following links to the end. On a cycle
    /// every id of it stands for the least id of the cycle.
    pub fn resolve<'a>(&'a self, id: &'a str) -> &'a str {
        let mut current = id;
        let mut path: Vec<&str> = Vec::new();
        loop {
            let Some(next) = self.next(current).filter(|next| *next != current) else {
                return current;
            };
            path.push(current);
            if let Some(start) = path.iter().position(|id| *id == next) {
                return path[start..].iter().min().copied().unwrap_or(current);
            }
            current = next;
        }
    }

    /// Forgets the link of `from` (a cache letting an id go).
    pub fn remove(&mut self, from: &str) {
        self.links.remove(from);
    }

    /// Every link, as (from, at, to).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Timestamp, &str)> {
        self.links
            .iter()
            .map(|(from, (at, to))| (from.as_str(), *at, to.as_str()))
    }
}

/// An id as every reader of history compares it: an email (an id with `@`) lower-cased, any
/// other id as given.
pub fn canonical_id(id: &str) -> std::borrow::Cow<'_, str> {
    if id.contains('@') && id.chars().any(char::is_uppercase) {
        std::borrow::Cow::Owned(id.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(id)
    }
}

/// Puts a message's ids in their [`canonical_id`] form.
pub fn canonicalize(message: &mut Message) {
    for id in [
        &mut message.user_id,
        &mut message.anonymous_id,
        &mut message.previous_id,
    ]
    .into_iter()
    .flatten()
    {
        if let std::borrow::Cow::Owned(lower) = canonical_id(id) {
            *id = lower;
        }
    }
}

/// The identity links one message makes, as (from, to): `identify` links its anonymous id and
/// its email trait to its user id, `alias` its previous id.
pub fn message_links(message: &Message) -> Vec<(String, String)> {
    let mut links = Vec::new();
    let Some(user) = &message.user_id else {
        return links;
    };
    match message.kind {
        MessageKind::Identify => {
            if let Some(anonymous) = &message.anonymous_id {
                links.push((anonymous.clone(), user.clone()));
            }
            if let Some(email) = email_link(&message.traits, user) {
                links.push((email, user.clone()));
            }
        }
        MessageKind::Alias => {
            if let Some(previous) = &message.previous_id {
                links.push((previous.clone(), user.clone()));
            }
        }
        _ => {}
    }
    links
}

/// The lower-cased email of a set of traits, when it names the lead `user` by another id.
pub fn email_link(traits: &Attributes, user: &str) -> Option<String> {
    let Some(Value::String(email)) = traits.get("email") else {
        return None;
    };
    let email = email.trim().to_lowercase();
    (!email.is_empty() && email != user).then_some(email)
}

/// The account an `identify` (or a leads file's row) names through its `account_id` trait:
/// it counts as a `group` call at the same time.
pub fn identify_account(traits: &Attributes) -> Option<String> {
    match traits.get("account_id")? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Which account wins: the later `group` call; at the same time, the greater id.
pub fn later_group(
    a: Option<(Timestamp, String)>,
    b: Option<(Timestamp, String)>,
) -> Option<(Timestamp, String)> {
    a.max(b)
}

/// What each id gathers from its events beyond identity and traits (an [`Activity`] per
/// model, actions for learning...), merged when ids join one lead.
pub trait Gather: Default {
    /// Adds what another id of the same lead gathered.
    fn absorb(&mut self, other: Self);
}

impl Gather for () {
    fn absorb(&mut self, _: Self) {}
}

impl Gather for Activity {
    fn absorb(&mut self, other: Self) {
        if self.is_empty() {
            *self = other;
        } else {
            self.extend(other.hits().iter().copied());
        }
    }
}

impl<T: Gather> Gather for Vec<T> {
    fn absorb(&mut self, other: Self) {
        if self.is_empty() {
            *self = other;
            return;
        }
        for (mine, theirs) in self.iter_mut().zip(other) {
            mine.absorb(theirs);
        }
    }
}

/// What the messages say about one id.
#[derive(Debug, Clone, Default)]
pub struct Trail<T> {
    /// Whether the id was sent as a `userId` or listed in a leads file: then it is a lead.
    pub user: bool,
    /// The earliest time a message named it as a `userId`.
    pub first_seen: Option<Timestamp>,
    /// The latest `track`, `page` or `screen` event.
    pub last_event: Option<Timestamp>,
    /// The creation time a leads file gives it.
    pub created: Option<Timestamp>,
    /// Trait sets and when they were set.
    pub traits: Vec<(Timestamp, Attributes)>,
    /// `group` calls: when, and the account.
    pub groups: Vec<(Timestamp, String)>,
    /// What the caller gathers from its events.
    pub data: T,
}

impl<T: Gather> Trail<T> {
    fn absorb(&mut self, other: Trail<T>) {
        self.user |= other.user;
        self.first_seen = min_opt(self.first_seen, other.first_seen);
        self.last_event = self.last_event.max(other.last_event);
        self.created = min_opt(self.created, other.created);
        self.traits.extend(other.traits);
        self.groups.extend(other.groups);
        self.data.absorb(other.data);
    }
}

fn min_opt(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The time a leads file's row applies at, when it has no creation time: before any event.
pub const BEFORE_EVERYTHING: Timestamp = Timestamp::from_millis(i64::MIN);

/// Counts of what a history read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Messages folded in.
    pub messages: u64,
    /// `track`, `page` and `screen` events handed to the caller.
    pub events: u64,
    /// Messages that name no id at all (skipped).
    pub without_id: u64,
}

/// A history being read: per id, what the messages say; the links between ids; accounts.
#[derive(Debug)]
pub struct History<T> {
    links: Links,
    trails: FxHashMap<String, Trail<T>>,
    /// Ids of leads files' rows, in the order first listed.
    listed: Vec<String>,
    accounts: HashMap<String, Traits>,
    /// What was read.
    pub counts: Counts,
}

impl<T: Gather> Default for History<T> {
    fn default() -> Self {
        History {
            links: Links::new(),
            trails: FxHashMap::default(),
            listed: Vec::new(),
            accounts: HashMap::new(),
            counts: Counts::default(),
        }
    }
}

impl<T: Gather> History<T> {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    /// A leads file's row: an `identify` of `id` with the row's columns as traits, at its
    /// creation time (`created`), else before every event. Its `account_id` column names its
    /// account as a `group` call at the same time would.
    pub fn lead(&mut self, id: String, attributes: Attributes, created: Option<Timestamp>) {
        let id = canonical_id(&id).into_owned();
        let at = created.unwrap_or(BEFORE_EVERYTHING);
        if let Some(email) = email_link(&attributes, &id) {
            self.links.link(&email, &id, at);
        }
        let account = identify_account(&attributes);
        if !self.trails.contains_key(&id) {
            self.listed.push(id.clone());
        }
        let trail = self.trails.entry(id).or_default();
        trail.user = true;
        trail.created = min_opt(trail.created, created);
        trail.traits.push((at, attributes));
        if let Some(account) = account {
            trail.groups.push((at, account));
        }
    }

    /// An accounts file's row: the account's traits, before every event.
    pub fn account(&mut self, id: String, attributes: &Attributes) {
        self.accounts
            .entry(id)
            .or_default()
            .set(attributes, BEFORE_EVERYTHING);
    }

    /// Folds one message in, at its event time. For a `track`, `page` or `screen` call,
    /// returns the event and what its id gathers, for the caller to record it; the id may
    /// turn out to stand for another lead, which [`History::finish`] sorts out.
    pub fn message(&mut self, mut message: Message, at: Timestamp) -> Option<(Event, &mut T)> {
        if let Some(event) = message.take_event(at) {
            let data = self.event(
                message.user_id.as_deref(),
                message.anonymous_id.as_deref(),
                at,
            )?;
            return Some((event, data));
        }
        self.counts.messages += 1;
        canonicalize(&mut message);
        for (from, to) in message_links(&message) {
            self.links.link(&from, &to, at);
        }
        let user = message.user_id.is_some();
        let Some(id) = message.user_id.take().or(message.anonymous_id.take()) else {
            self.counts.without_id += 1;
            return None;
        };
        let trail = self.trails.entry(id).or_default();
        if user {
            trail.user = true;
            trail.first_seen = min_opt(trail.first_seen, Some(at));
        }
        match message.kind {
            MessageKind::Identify => {
                if let Some(account) = identify_account(&message.traits) {
                    trail.groups.push((at, account));
                }
                if !message.traits.is_empty() {
                    trail.traits.push((at, std::mem::take(&mut message.traits)));
                }
                None
            }
            MessageKind::Alias => None,
            MessageKind::Group => {
                let group = message.group_id.take()?;
                if !message.traits.is_empty() {
                    self.accounts
                        .entry(group.clone())
                        .or_default()
                        .set(&message.traits, at);
                }
                trail.groups.push((at, group));
                None
            }
            MessageKind::Track | MessageKind::Page | MessageKind::Screen => {
                let event = message.into_event(at)?;
                trail.last_event = trail.last_event.max(Some(at));
                self.counts.events += 1;
                Some((event, &mut trail.data))
            }
        }
    }

    /// Folds in a (checked) `track`, `page` or `screen` call by its ids alone: what
    /// [`History::message`] does with it, without building its event. Returns what its id
    /// gathers, for the caller to record the event's hits.
    pub fn event(
        &mut self,
        user_id: Option<&str>,
        anonymous_id: Option<&str>,
        at: Timestamp,
    ) -> Option<&mut T> {
        self.counts.messages += 1;
        let user = user_id.is_some();
        let Some(id) = user_id.or(anonymous_id).map(canonical_id) else {
            self.counts.without_id += 1;
            return None;
        };
        // Looked up by reference first: most messages name an id seen before.
        if !self.trails.contains_key(id.as_ref()) {
            self.trails.insert(id.to_string(), Trail::default());
        }
        let trail = self.trails.get_mut(id.as_ref()).expect("just inserted");
        if user {
            trail.user = true;
            trail.first_seen = min_opt(trail.first_seen, Some(at));
        }
        trail.last_event = trail.last_event.max(Some(at));
        self.counts.events += 1;
        Some(&mut trail.data)
    }

    /// The id `id` stands for, as far as the messages so far say.
    pub fn resolve<'a>(&'a self, id: &'a str) -> &'a str {
        self.links.resolve(id)
    }

    /// Joins every id to the lead it stands for. Leads come in the order the leads files list
    /// them, then the others by id, so the result never depends on the messages' order.
    pub fn finish(self) -> Stitched<T> {
        let History {
            links,
            trails,
            listed,
            accounts,
            counts,
        } = self;
        let mut by_id: Vec<(String, Trail<T>)> = trails.into_iter().collect();
        by_id.sort_by(|a, b| a.0.cmp(&b.0));
        let mut roots: FxHashMap<String, Trail<T>> = FxHashMap::default();
        let mut members: FxHashMap<String, Vec<String>> = FxHashMap::default();
        for (id, trail) in by_id {
            let root = links.resolve(&id).to_string();
            members.entry(root.clone()).or_default().push(id);
            match roots.get_mut(&root) {
                Some(merged) => merged.absorb(trail),
                None => {
                    roots.insert(root, trail);
                }
            }
        }
        let mut order: Vec<String> = Vec::with_capacity(roots.len());
        let mut placed: std::collections::HashSet<String> = std::collections::HashSet::new();
        for id in &listed {
            let root = links.resolve(id).to_string();
            if placed.insert(root.clone()) {
                order.push(root);
            }
        }
        let listed_roots = order.len();
        let mut rest: Vec<String> = roots
            .iter()
            .filter(|(root, trail)| trail.user && !placed.contains(*root))
            .map(|(root, _)| root.clone())
            .collect();
        rest.sort();
        order.extend(rest);
        let visitors = roots.values().filter(|t| !t.user).count();
        let mut leads = Vec::with_capacity(order.len());
        let mut index = HashMap::with_capacity(order.len());
        for root in order {
            let trail = roots.remove(&root).expect("a root of its own");
            let traits = timeline(trail.traits);
            let mut values = Traits::new();
            for (at, set) in &traits {
                values.set(set, *at);
            }
            let mut groups = trail.groups;
            groups.sort();
            index.insert(root.clone(), leads.len());
            leads.push(LeadTrail {
                ids: members.remove(&root).unwrap_or_default(),
                id: root,
                first_seen: trail.first_seen,
                last_event: trail.last_event,
                created: trail.created,
                attributes: values.values(),
                account: groups.last().map(|(_, g)| g.clone()),
                traits,
                groups,
                data: trail.data,
            });
        }
        let accounts = accounts
            .into_iter()
            .map(|(id, traits)| (id, traits.values()))
            .collect();
        Stitched {
            leads,
            listed: listed_roots,
            visitors,
            accounts,
            links,
            index,
            counts,
        }
    }
}

/// One lead, with everything its ids said.
#[derive(Debug, Clone)]
pub struct LeadTrail<T> {
    /// The lead's id (the root its ids resolve to).
    pub id: String,
    /// Every id that stands for it (its own included), sorted.
    pub ids: Vec<String>,
    /// The earliest time a message named one of its ids as a `userId`.
    pub first_seen: Option<Timestamp>,
    /// Its latest event.
    pub last_event: Option<Timestamp>,
    /// The creation time its leads file row gives.
    pub created: Option<Timestamp>,
    /// Its attributes now (every trait set, by the rule of [`Traits`]).
    pub attributes: Attributes,
    /// Its trait sets in the order they apply ([`timeline`]).
    pub traits: Vec<(Timestamp, Attributes)>,
    /// Its account now: the latest `group` call (at the same time, the greater id).
    pub account: Option<String>,
    /// Its `group` calls in time order.
    pub groups: Vec<(Timestamp, String)>,
    /// What its ids gathered, merged.
    pub data: T,
}

/// A history read to the end: its leads, accounts and links.
#[derive(Debug)]
pub struct Stitched<T> {
    /// The leads: those of the leads files first, in their order, then the others by id.
    pub leads: Vec<LeadTrail<T>>,
    /// How many of them the leads files listed.
    pub listed: usize,
    /// Anonymous visitors never identified.
    pub visitors: usize,
    /// Accounts' attributes (accounts files, then `group` traits).
    pub accounts: HashMap<String, Attributes>,
    /// The links between ids.
    pub links: Links,
    index: HashMap<String, usize>,
    /// What was read.
    pub counts: Counts,
}

impl<T> Stitched<T> {
    /// The lead an id (a lead id, an email, an anonymous id, an earlier id) stands for.
    pub fn find(&self, id: &str) -> Option<usize> {
        let id = canonical_id(id);
        let id = id.as_ref();
        let root = self.links.resolve(id);
        self.index.get(root).copied().or_else(|| {
            let lower = id.to_lowercase();
            (lower != id)
                .then(|| self.index.get(self.links.resolve(&lower)).copied())
                .flatten()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Attributes {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_cycle_resolves_to_its_least_id() {
        let mut links = Links::new();
        links.link("b", "c", Timestamp::from_millis(1));
        links.link("c", "a", Timestamp::from_millis(2));
        links.link("a", "b", Timestamp::from_millis(3));
        links.link("z", "b", Timestamp::from_millis(3));
        for id in ["a", "b", "c", "z"] {
            assert_eq!(links.resolve(id), "a");
        }
    }

    #[test]
    fn the_later_link_wins_whatever_the_order() {
        let (t1, t2) = (Timestamp::from_millis(1), Timestamp::from_millis(2));
        let mut one = Links::new();
        one.link("anon", "u1", t1);
        one.link("anon", "u2", t2);
        let mut two = Links::new();
        two.link("anon", "u2", t2);
        two.link("anon", "u1", t1);
        assert_eq!(one.resolve("anon"), "u2");
        assert_eq!(two.resolve("anon"), "u2");
        // At the same time, the greater id.
        let mut three = Links::new();
        three.link("anon", "u2", t1);
        three.link("anon", "u1", t1);
        assert_eq!(three.resolve("anon"), "u2");
    }

    #[test]
    fn traits_at_the_same_time_merge_by_value_in_any_order() {
        let t = Timestamp::from_millis(5);
        let a = attrs(json!({"title": "CTO", "size": 5}));
        let b = attrs(json!({"size": 3}));
        let mut one = Traits::new();
        one.set(&a, t);
        one.set(&b, t);
        let mut two = Traits::new();
        two.set(&b, t);
        two.set(&a, t);
        assert_eq!(one, two);
        assert_eq!(one.get("size"), Some(&json!(5)));
        let mut folded = Attributes::new();
        for (_, set) in timeline(vec![(t, b), (t, a)]) {
            folded.extend(set);
        }
        assert_eq!(folded, one.values());
    }

    #[test]
    fn traits_remember_what_they_were() {
        let mut traits = Traits::new();
        traits.set_one("title", &json!("Analyst"), Timestamp::from_millis(10));
        traits.set_one("title", &json!("Director"), Timestamp::from_millis(30));
        traits.set_one("title", &json!("Manager"), Timestamp::from_millis(20));
        assert_eq!(traits.get("title"), Some(&json!("Director")));
        let at = |ms| {
            traits
                .as_of(Timestamp::from_millis(ms))
                .get("title")
                .cloned()
        };
        assert_eq!(at(5), None);
        assert_eq!(at(15), Some(json!("Analyst")));
        assert_eq!(at(25), Some(json!("Manager")));
        assert_eq!(at(31), Some(json!("Director")));
    }
}
