//! The writer: one task owns the database writes and the live state. Requests hand it their
//! messages and wait; it commits many requests' messages in one transaction (group commit),
//! scores them, and only then answers each request. An event is acknowledged only once it is
//! durably stored, and storing is fast because fsyncs are shared.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use serde::Serialize;
use sluice_core::{Actor, Message, Model, Stage, Timestamp};
use sluice_store::{ModelRow, NewEvent, OutcomeRow, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::live::{Changes, Live, MoveError, Named, lookup_ids};
use crate::state::Clock;
use crate::webhooks::event;

/// A message accepted by the HTTP layer, waiting to be stored.
#[derive(Debug)]
pub struct Accepted {
    /// The parsed message.
    pub message: Message,
    /// Its id (the sender's `messageId`, or one derived from its content).
    pub message_id: String,
    /// The message as stored (JSON).
    pub raw: String,
    /// When it happened.
    pub at: Timestamp,
    /// When it arrived.
    pub received: Timestamp,
}

/// One request's messages.
#[derive(Debug)]
pub struct Submission {
    /// The messages.
    pub messages: Vec<Accepted>,
    /// The write key's name.
    pub source: String,
    /// Where to send the outcome.
    pub done: oneshot::Sender<Result<Ack, String>>,
}

/// Work for the writer, done in arrival order.
#[derive(Debug)]
pub enum Job {
    /// Store and score a request's messages (grouped with others).
    Ingest(Submission),
    /// Move a lead to a stage.
    Move {
        /// The lead (or one of its aliases).
        lead: String,
        /// Where to.
        to: Stage,
        /// Who.
        actor: Actor,
        /// Why.
        reason: Option<String>,
        /// The rep making the move (accepting: the lead becomes theirs).
        rep: Option<String>,
        /// The outcome: the lead's new row and the transition.
        reply: oneshot::Sender<Result<Changes, MoveFailure>>,
    },
    /// Give a lead to a rep by hand.
    Assign {
        /// The lead (or one of its aliases).
        lead: String,
        /// The rep (known: checked by the caller) and their team.
        rep: String,
        /// The rep's team.
        team: String,
        /// Who.
        actor: Actor,
        /// The assignment made.
        reply: oneshot::Sender<Result<Changes, MoveFailure>>,
    },
    /// Record outcomes (checked, matched to leads) and move their leads' stages.
    Outcomes {
        /// The outcomes.
        outcomes: Vec<OutcomeRow>,
        /// What was stored and moved.
        reply: oneshot::Sender<Result<OutcomeAck, String>>,
    },
    /// One run of the SLA scheduler.
    SlaTick {
        /// What it did, or why not.
        reply: Option<oneshot::Sender<Result<crate::handoff::TickReport, String>>>,
    },
    /// Rescore every lead at the current time, so stored scores show decay: a pass of
    /// batches between other work.
    RescoreAll {
        /// `decay`, or `activation` (leads last scored by another model).
        reason: &'static str,
        /// Done (with how many leads were rescored), or why not.
        reply: Option<oneshot::Sender<Result<usize, String>>>,
    },
    /// One batch of a rescoring pass: the leads after `after`, in id order.
    RescoreBatch {
        /// The last lead id of the batch before.
        after: String,
        /// Leads rescored so far in this pass.
        done: usize,
        /// Told when the pass ends.
        reply: Option<oneshot::Sender<Result<usize, String>>>,
    },
    /// Erase a person (see `Tx::erase_lead`): every process on the database drops its cache.
    Erase {
        /// The lead.
        lead: String,
        /// Every id of the person.
        ids: Vec<String>,
        /// Keep their ids' digests so that new events for them are dropped.
        suppress: bool,
        /// What was erased.
        reply: oneshot::Sender<Result<sluice_store::Erasure, String>>,
    },
    /// Put a model in force: store it as the active one, then rescore every lead under it
    /// from its stored state, in batches between other work (ingestion goes on).
    SetModel {
        /// The model.
        model: Arc<Model>,
        /// Its stored form (marked active).
        row: ModelRow,
        /// Done (with how many leads were rescored), or why not.
        reply: oneshot::Sender<Result<usize, String>>,
    },
}

/// Why a move did not happen.
#[derive(Debug)]
pub enum MoveFailure {
    /// Refused by the lifecycle or BANT.
    Refused(MoveError),
    /// Storage failed.
    Storage(String),
}

/// What happened to a request's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// Stored for the first time.
    pub new: usize,
    /// Already stored (a retry): counted once.
    pub duplicates: usize,
}

/// What recording outcomes did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeAck {
    /// Outcomes stored for the first time.
    pub new: u64,
    /// Outcomes already stored (a repeat): counted once.
    pub duplicates: u64,
    /// Stage moves they caused.
    pub moved: u64,
}

/// Most messages committed in one transaction.
const GROUP_LIMIT: usize = 20_000;

/// Starts the writer; returns the queue to submit to.
pub fn spawn(store: Store, live: Arc<RwLock<Live>>, clock: Clock) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(4096);
    tokio::spawn(run(rx, tx.downgrade(), store, live, clock));
    tx
}

/// Leads per batch of a rescoring pass.
const RESCORE_BATCH: i64 = 1_000;

async fn run(
    mut rx: mpsc::Receiver<Job>,
    queue: mpsc::WeakSender<Job>,
    store: Store,
    live: Arc<RwLock<Live>>,
    clock: Clock,
) {
    let mut pending: Option<Job> = None;
    // After a storage failure the live state may hold what was not stored: it is rebuilt from
    // the database before any further work, and work is refused until that succeeds.
    let mut healthy = true;
    loop {
        let job = match pending.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        if !healthy {
            healthy = rebuild(&store, &live).await;
            if !healthy {
                refuse(job);
                // What queued up meanwhile is answered now too, not after a database wait
                // each: with storage down, every caller hears so at once.
                while let Ok(job) = rx.try_recv() {
                    refuse(job);
                }
                continue;
            }
        }
        let first = match job {
            Job::Ingest(submission) => submission,
            Job::Move {
                lead,
                to,
                actor,
                reason,
                rep,
                reply,
            } => {
                let now = clock.now();
                let result = move_lead(
                    &store,
                    &live,
                    &lead,
                    (to, actor, reason.as_deref()),
                    rep,
                    now,
                )
                .await;
                healthy = !matches!(result, Err(MoveFailure::Storage(_)));
                let _ = reply.send(result);
                continue;
            }
            Job::Assign {
                lead,
                rep,
                team,
                actor,
                reply,
            } => {
                let result = assign(&store, &live, &clock, &lead, rep, team, actor).await;
                healthy = !matches!(result, Err(MoveFailure::Storage(_)));
                let _ = reply.send(result);
                continue;
            }
            Job::Outcomes { outcomes, reply } => {
                let result = store_outcomes(&store, &live, outcomes, clock.now()).await;
                healthy = result.is_ok();
                let _ = reply.send(result.map_err(|e| e.to_string()));
                continue;
            }
            Job::SlaTick { reply } => {
                let result = crate::handoff::sla_tick(&store, &live, clock.now()).await;
                if let Err(e) = &result {
                    tracing::error!(error = %e, "the SLA scheduler failed");
                    healthy = false;
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result.map_err(|e| e.to_string()));
                }
                continue;
            }
            Job::Erase {
                lead,
                ids,
                suppress,
                reply,
            } => {
                let result = erase(&store, &live, &lead, &ids, suppress.then(|| clock.now())).await;
                healthy = result.is_ok();
                let _ = reply.send(result.map_err(|e| e.to_string()));
                continue;
            }
            Job::SetModel { model, row, reply } => {
                match set_model(&store, &live, model, row).await {
                    Ok(()) => {
                        begin_pass(&store, &live, &clock, &queue, "activation", Some(reply)).await
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
                continue;
            }
            Job::RescoreAll { reason, reply } => {
                // One pass at a time: a pass under way already covers decay.
                let running = live
                    .read()
                    .expect("live state lock")
                    .rescoring()
                    .finished_at
                    .is_none()
                    && !live
                        .read()
                        .expect("live state lock")
                        .rescoring()
                        .reason
                        .is_empty();
                if running {
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(0));
                    }
                    continue;
                }
                begin_pass(&store, &live, &clock, &queue, reason, reply).await;
                continue;
            }
            Job::RescoreBatch { after, done, reply } => {
                match rescore_batch(&store, &live, &clock, &after).await {
                    Ok(None) => {
                        let mut live = live.write().expect("live state lock");
                        live.rescoring_mut().finished_at = Some(clock.now());
                        if let Some(reply) = reply {
                            let _ = reply.send(Ok(done));
                        }
                    }
                    Ok(Some((last, n))) => {
                        live.write().expect("live state lock").rescoring_mut().done += n as u64;
                        let next = Job::RescoreBatch {
                            after: last,
                            done: done + n,
                            reply,
                        };
                        // At the back of the queue: what came in meanwhile goes first.
                        if let Some(queue) = queue.upgrade() {
                            tokio::spawn(async move {
                                let _ = queue.send(next).await;
                            });
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "rescoring failed");
                        healthy = false;
                        if let Some(reply) = reply {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
                continue;
            }
        };
        let mut group = vec![first];
        let mut size = group[0].messages.len();
        // Whatever queued up while the last commit ran goes into this one.
        while size < GROUP_LIMIT {
            match rx.try_recv() {
                Ok(Job::Ingest(next)) => {
                    size += next.messages.len();
                    group.push(next);
                }
                Ok(other) => {
                    pending = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        metrics::gauge!("sluice_ingest_queue_depth").set(rx.len() as f64);
        // A request that stopped waiting (its answer timed out) was told 503 and will retry:
        // storing it now would only make the retry a duplicate.
        let waiting = group.len();
        group.retain(|submission| !submission.done.is_closed());
        if group.len() < waiting {
            metrics::counter!("sluice_ingest_abandoned_total")
                .increment((waiting - group.len()) as u64);
            if group.is_empty() {
                continue;
            }
        }
        let size: usize = group.iter().map(|s| s.messages.len()).sum();
        let started = Instant::now();
        match commit(&store, &live, &clock, &mut group).await {
            Ok(acks) => {
                metrics::histogram!("sluice_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!("sluice_commit_messages").record(size as f64);
                for (submission, ack) in group.into_iter().zip(acks) {
                    let _ = submission.done.send(Ok(ack));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; rebuilding the live state from storage");
                healthy = rebuild(&store, &live).await;
                for submission in group {
                    let _ = submission
                        .done
                        .send(Err("storage is unavailable; retry".to_string()));
                }
            }
        }
    }
}

/// After a failed commit the live state may hold changes that were not stored: the cache is
/// dropped (the database is the truth, and is read again as needed). Returns whether storage
/// answers again.
async fn rebuild(store: &Store, live: &RwLock<Live>) -> bool {
    live.write().expect("live state lock").clear();
    match store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "storage is unavailable; refusing work until it answers");
            false
        }
    }
}

/// Answers a job that cannot be done while storage is failing.
fn refuse(job: Job) {
    let message = "storage is unavailable; retry".to_string();
    match job {
        Job::Ingest(submission) => {
            let _ = submission.done.send(Err(message));
        }
        Job::Move { reply, .. } | Job::Assign { reply, .. } => {
            let _ = reply.send(Err(MoveFailure::Storage(message)));
        }
        Job::Outcomes { reply, .. } => {
            let _ = reply.send(Err(message));
        }
        Job::SlaTick { reply } => {
            if let Some(reply) = reply {
                let _ = reply.send(Err(message));
            }
        }
        Job::SetModel { reply, .. } => {
            let _ = reply.send(Err(message));
        }
        Job::Erase { reply, .. } => {
            let _ = reply.send(Err(message));
        }
        Job::RescoreAll { reply, .. } | Job::RescoreBatch { reply, .. } => {
            if let Some(reply) = reply {
                let _ = reply.send(Err(message));
            }
        }
    }
}

/// Moves a lead: `(to, actor, reason)`; `rep` is the rep making the move.
pub(crate) async fn move_lead(
    store: &Store,
    live: &RwLock<Live>,
    lead: &str,
    (to, actor, reason): (Stage, Actor, Option<&str>),
    rep: Option<String>,
    now: Timestamp,
) -> Result<Changes, MoveFailure> {
    let storage = |e: StoreError| MoveFailure::Storage(e.to_string());
    let mut tx = begin_synced(store, live).await.map_err(storage)?;
    crate::live::preload(store, live, Named::ids(lookup_ids(lead)))
        .await
        .map_err(storage)?;
    let (from, owner) = {
        let live = live.read().expect("live state lock");
        let (stage, owner) = live
            .stage_and_owner(lead)
            .ok_or_else(|| MoveFailure::Refused(MoveError::NoLead(lead.to_string())))?;
        (stage, owner.map(str::to_string))
    };
    let mut changes = live
        .write()
        .expect("live state lock")
        .transition(lead, to, actor, reason, now)
        .map_err(MoveFailure::Refused)?;
    let stored = async {
        let id = changes.transitions[0].lead_id.clone();
        crate::handoff::assign_new_mqls(store, live, &mut changes, now).await?;
        feedback_events(&mut changes, from, rep.as_deref().or(owner.as_deref()));
        if to == Stage::Sal {
            let taker = rep.clone().or(owner.clone());
            if let Some(taker) = &taker
                && owner.as_deref() != Some(taker)
            {
                let team = store.rep(taker).await?.map(|r| r.team_id);
                let assignment = sluice_core::handoff::Assignment {
                    rep: Some(taker.clone()),
                    team,
                    rule: "manual".into(),
                    why: format!("accepted by `{taker}`"),
                };
                let mut live = live.write().expect("live state lock");
                crate::handoff::record(&mut changes, &mut live, &id, &assignment, actor, now);
            }
            // The first rep to accept a lead of an account without an owner owns the account,
            // so the account's next leads go to them.
            let account = live
                .read()
                .expect("live state lock")
                .context(&id)
                .and_then(|(_, account)| account.map(|(a, _)| a));
            if let (Some(taker), Some(account)) = (taker, account)
                && live
                    .read()
                    .expect("live state lock")
                    .model()
                    .handoff()
                    .account_owner
                && store.account_owner(&account).await?.is_none()
            {
                changes.account_owners.push((account, taker));
            }
        }
        write(&mut tx, live, &changes).await?;
        tx.commit().await
    };
    // On failure the caller rebuilds the live state before any further work.
    stored
        .await
        .map_err(|e| MoveFailure::Storage(e.to_string()))?;
    Ok(changes)
}

/// Starts a rescoring pass: its first batch goes to the back of the queue.
async fn begin_pass(
    store: &Store,
    live: &RwLock<Live>,
    clock: &Clock,
    queue: &mpsc::WeakSender<Job>,
    reason: &str,
    reply: Option<oneshot::Sender<Result<usize, String>>>,
) {
    let total = match store.lead_count().await {
        Ok(n) => n.max(0) as u64,
        Err(e) => {
            if let Some(reply) = reply {
                let _ = reply.send(Err(e.to_string()));
            }
            return;
        }
    };
    {
        let mut live = live.write().expect("live state lock");
        let version = live.version().to_string();
        *live.rescoring_mut() = crate::live::Rescoring {
            reason: reason.to_string(),
            model_version: version,
            total,
            done: 0,
            started_at: Some(clock.now()),
            finished_at: None,
        };
    }
    let first = Job::RescoreBatch {
        after: String::new(),
        done: 0,
        reply,
    };
    if let Some(queue) = queue.upgrade() {
        tokio::spawn(async move {
            let _ = queue.send(first).await;
        });
    }
}

/// Rescores the batch of leads after `after` at the current time; returns the batch's last
/// id and size, or `None` when no lead is left.
async fn rescore_batch(
    store: &Store,
    live: &RwLock<Live>,
    clock: &Clock,
    after: &str,
) -> Result<Option<(String, usize)>, String> {
    let stored = async {
        let ids = store.lead_ids_after(after, RESCORE_BATCH).await?;
        let Some(last) = ids.last().cloned() else {
            return Ok(None);
        };
        let mut tx = begin_synced(store, live).await?;
        crate::live::preload(store, live, Named::ids(ids.clone())).await?;
        let now = clock.now();
        // Under a new model, MQLs it no longer qualifies go back to `lead` unless sales has
        // touched them (see docs/governance.md).
        let activation = live.read().expect("live state lock").rescoring().reason == "activation";
        let untouched = match activation {
            true => {
                let mqls: Vec<String> = {
                    let live = live.read().expect("live state lock");
                    ids.iter()
                        .filter(|id| {
                            live.stage_and_owner(id)
                                .is_some_and(|(s, _)| s == Stage::Mql)
                        })
                        .cloned()
                        .collect()
                };
                let touched: HashSet<String> =
                    store.touched_by_sales(&mqls).await?.into_iter().collect();
                Some(
                    mqls.into_iter()
                        .filter(|id| !touched.contains(id))
                        .collect::<HashSet<_>>(),
                )
            }
            false => None,
        };
        let mut changes = {
            let mut live = live.write().expect("live state lock");
            let mut changes = live.rescore_leads(&ids, now, untouched.as_ref());
            // Decay moves scores, not what the reports count (stage moves are marked anyway);
            // under a new model the fit rules may hold differently.
            changes.scores_only = live.rescoring().reason == "decay";
            changes
        };
        crate::handoff::assign_new_mqls(store, live, &mut changes, now).await?;
        write(&mut tx, live, &changes).await?;
        tx.commit().await?;
        live.write().expect("live state lock").trim();
        count_mqls(&changes);
        Ok::<_, StoreError>(Some((last, ids.len())))
    };
    // On failure the caller drops the cache before any further work.
    stored.await.map_err(|e| e.to_string())
}

/// Starts a transaction that changes the scoring state: takes the state lock (so the commits
/// of every process on the database happen one at a time), then drops from the cache whatever
/// other processes changed since this one last caught up, and puts in force a model another
/// process activated. Everything read into the cache afterwards is current until the commit.
pub async fn begin_synced(
    store: &Store,
    live: &RwLock<Live>,
) -> Result<sluice_store::Tx, StoreError> {
    let mut tx = store.begin().await?;
    tx.lock_state().await?;
    let after = live.read().expect("live state lock").synced();
    let (changes, missed) = tx.state_changes_after(after).await?;
    let Some(&(last, _)) = changes.last() else {
        return Ok(tx);
    };
    let mut ids = Vec::new();
    let mut accounts = Vec::new();
    let mut model = false;
    let mut clear = false;
    for (_, text) in &changes {
        let changed: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let strings = |key: &str| -> Vec<String> {
            changed[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        ids.extend(strings("i"));
        accounts.extend(strings("a"));
        model |= changed.get("m").is_some();
        clear |= changed.get("clear").is_some();
    }
    let active = match model {
        true => store.active_model().await?,
        false => None,
    };
    let mut live = live.write().expect("live state lock");
    match active.and_then(|row| {
        sluice_core::Model::from_toml(&row.source, "active model")
            .ok()
            .map(|m| (m, row.version))
    }) {
        Some((model, version)) if version != live.version() => {
            live.set_model(Arc::new(model), version)
        }
        _ if missed || clear => {
            store.forget_report_feature_ids();
            live.clear()
        }
        _ => live.forget(&ids, &accounts),
    }
    live.set_synced(last);
    Ok(tx)
}

/// Erases a person in one transaction; every process drops its cache (the person may be in
/// any of them), this one at once and the others before their next commit.
async fn erase(
    store: &Store,
    live: &RwLock<Live>,
    lead: &str,
    ids: &[String],
    suppress: Option<sluice_core::Timestamp>,
) -> Result<sluice_store::Erasure, StoreError> {
    let mut tx = begin_synced(store, live).await?;
    let anonymous = crate::state::token("erased_");
    let erasure = tx
        .erase_lead(lead, ids, &anonymous, suppress.map(|t| t.millis()))
        .await?;
    let seq = tx.record_state_change(r#"{"clear":true}"#).await?;
    tx.commit().await?;
    // Catalogue ids it deleted are forgotten here; other processes forget theirs on `clear`.
    store.forget_report_feature_ids();
    let mut live = live.write().expect("live state lock");
    live.clear();
    live.set_synced(seq);
    Ok(erasure)
}

/// Stores the model as the active one and puts it in force; the rescoring pass follows.
async fn set_model(
    store: &Store,
    live: &RwLock<Live>,
    model: Arc<Model>,
    row: ModelRow,
) -> Result<(), String> {
    let mut tx = begin_synced(store, live).await.map_err(|e| e.to_string())?;
    tx.save_model(&row).await.map_err(|e| e.to_string())?;
    // Other processes put it in force too, before their next commit.
    let changed = serde_json::json!({"m": row.version}).to_string();
    let seq = tx
        .record_state_change(&changed)
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    live.write().expect("live state lock").set_synced(seq);
    live.write()
        .expect("live state lock")
        .set_model(model, row.version.clone());
    Ok(())
}

/// Stores a group of requests' messages in one transaction and scores the new ones. The
/// messages are moved out of the submissions (into the live state); the submissions keep
/// their reply channels.
async fn commit(
    store: &Store,
    live: &RwLock<Live>,
    clock: &Clock,
    group: &mut [Submission],
) -> Result<Vec<Ack>, StoreError> {
    let messages: Vec<&Message> = group
        .iter()
        .flat_map(|s| s.messages.iter().map(|a| &a.message))
        .collect();
    let named = crate::live::named_by(&messages);
    drop(messages);
    let mut tx = begin_synced(store, live).await?;
    crate::live::preload(store, live, named).await?;
    let mut seen = HashSet::new();
    let mut events = Vec::new();
    for submission in group.iter_mut() {
        for a in &mut submission.messages {
            if seen.insert(a.message_id.clone()) {
                events.push(NewEvent {
                    message_id: a.message_id.clone(),
                    kind: a.message.kind.as_str().to_string(),
                    user_id: a.message.user_id.clone(),
                    anonymous_id: a.message.anonymous_id.clone(),
                    at_ms: a.at.millis(),
                    received_ms: a.received.millis(),
                    source: submission.source.clone(),
                    message: std::mem::take(&mut a.raw),
                });
            }
        }
    }
    let new = tx.append(&events).await?;
    drop(events);
    let mut fresh = Vec::with_capacity(new.len());
    let mut counted = HashSet::new();
    let mut acks = Vec::with_capacity(group.len());
    for submission in group.iter_mut() {
        let mut ack = Ack {
            new: 0,
            duplicates: 0,
        };
        for a in submission.messages.drain(..) {
            if new.contains(&a.message_id) && counted.insert(a.message_id) {
                fresh.push((a.message, a.at));
                ack.new += 1;
            } else {
                ack.duplicates += 1;
            }
        }
        acks.push(ack);
    }
    let scoring = Instant::now();
    let accepted = fresh.len();
    let changes = live
        .write()
        .expect("live state lock")
        .apply(fresh, clock.now());
    metrics::histogram!("sluice_scoring_seconds").record(scoring.elapsed().as_secs_f64());
    let mut changes = changes;
    crate::handoff::assign_new_mqls(store, live, &mut changes, clock.now()).await?;
    write(&mut tx, live, &changes).await?;
    tx.commit().await?;
    live.write().expect("live state lock").trim();
    metrics::counter!("sluice_events_accepted_total").increment(accepted as u64);
    metrics::counter!("sluice_events_duplicate_total").increment((seen.len() - accepted) as u64);
    count_mqls(&changes);
    Ok(acks)
}

/// Counts the MQLs a committed change created, whatever made them (events, a rescoring pass).
fn count_mqls(changes: &Changes) {
    let mqls = changes
        .transitions
        .iter()
        .filter(|t| t.to == Stage::Mql)
        .count();
    metrics::counter!("sluice_mqls_created_total").increment(mqls as u64);
}

/// Stores and scores messages outside the HTTP path (imports), in one transaction, exactly as
/// ingestion does. Only for a process that owns the database alone (no service running on it).
pub async fn store_batch(
    store: &Store,
    live: &RwLock<Live>,
    messages: Vec<Accepted>,
    source: &str,
) -> Result<Ack, StoreError> {
    store_batch_at(store, live, messages, source, &Clock::system()).await
}

/// [`store_batch`], scored as of `clock`'s time (a history replayed in order).
pub(crate) async fn store_batch_at(
    store: &Store,
    live: &RwLock<Live>,
    messages: Vec<Accepted>,
    source: &str,
    clock: &Clock,
) -> Result<Ack, StoreError> {
    let (done, _) = oneshot::channel();
    let mut submission = Submission {
        messages,
        source: source.to_string(),
        done,
    };
    let acks = commit(store, live, clock, std::slice::from_mut(&mut submission)).await?;
    Ok(acks[0])
}

/// Adds `lead.accepted` / `lead.rejected` for sales' feedback in a change.
fn feedback_events(changes: &mut Changes, from: Stage, rep: Option<&str>) {
    for t in &changes.transitions {
        let kind = match (from, t.to, t.actor) {
            (Stage::Mql, Stage::Sal, _) => "lead.accepted",
            (Stage::Mql | Stage::Sal, Stage::Recycled | Stage::Disqualified, Actor::Sales) => {
                "lead.rejected"
            }
            _ => continue,
        };
        let at = Timestamp::from_millis(t.at_ms);
        changes.webhooks.push(event(
            kind,
            at,
            serde_json::json!({
                "lead_id": t.lead_id,
                "from": t.from,
                "to": t.to,
                "rep": rep,
                "reason": t.reason,
                "at": at,
            }),
        ));
    }
}

/// Gives a lead to a rep by hand.
async fn assign(
    store: &Store,
    live: &RwLock<Live>,
    clock: &Clock,
    lead: &str,
    rep: String,
    team: String,
    actor: Actor,
) -> Result<Changes, MoveFailure> {
    let now = clock.now();
    let storage = |e: StoreError| MoveFailure::Storage(e.to_string());
    let mut tx = begin_synced(store, live).await.map_err(storage)?;
    crate::live::preload(store, live, Named::ids(lookup_ids(lead)))
        .await
        .map_err(storage)?;
    let mut changes = Changes::default();
    {
        let mut live = live.write().expect("live state lock");
        let id = live
            .resolve(lead)
            .ok_or_else(|| MoveFailure::Refused(MoveError::NoLead(lead.to_string())))?
            .to_string();
        let assignment = sluice_core::handoff::Assignment {
            why: format!("assigned to `{rep}` by {actor}"),
            rep: Some(rep),
            team: Some(team),
            rule: "manual".into(),
        };
        crate::handoff::record(&mut changes, &mut live, &id, &assignment, actor, now);
    }
    let stored = async {
        write(&mut tx, live, &changes).await?;
        tx.commit().await
    };
    stored
        .await
        .map_err(|e| MoveFailure::Storage(e.to_string()))?;
    Ok(changes)
}

/// Records outcomes and moves their leads: an opportunity to `opportunity` (from any open
/// stage: the CRM is the record of opportunities), a win or loss through `opportunity` to
/// `won` / `lost`. Repeats are stored once and move nothing. Only for the process that owns
/// the live state (the writer, or an import with the service stopped).
pub async fn store_outcomes(
    store: &Store,
    live: &RwLock<Live>,
    outcomes: Vec<OutcomeRow>,
    now: Timestamp,
) -> Result<OutcomeAck, StoreError> {
    let mut ack = OutcomeAck::default();
    let ids: Vec<String> = outcomes
        .iter()
        .flat_map(|o| lookup_ids(&o.lead_id))
        .collect();
    let mut tx = begin_synced(store, live).await?;
    crate::live::preload(store, live, Named::ids(ids)).await?;
    let mut changes = Changes::default();
    for outcome in &outcomes {
        if tx.insert_outcomes(std::slice::from_ref(outcome)).await? == 0 {
            ack.duplicates += 1;
            continue;
        }
        ack.new += 1;
        let at = Timestamp::from_millis(outcome.at_ms);
        let target = match outcome.kind.as_str() {
            "won" => Stage::Won,
            "lost" => Stage::Lost,
            _ => Stage::Opportunity,
        };
        let mut live = live.write().expect("live state lock");
        let Some((stage, _)) = live.stage_and_owner(&outcome.lead_id) else {
            continue;
        };
        let mut path = Vec::new();
        if stage != Stage::Opportunity && stage != target {
            path.push(Stage::Opportunity);
        }
        if target != Stage::Opportunity {
            path.push(target);
        }
        for to in path {
            match live.transition_at(
                &outcome.lead_id,
                to,
                Actor::System,
                outcome.reason.as_deref().or(Some("outcome")),
                at,
                now,
            ) {
                Ok(moved) => {
                    ack.moved += 1;
                    changes.absorb(moved);
                }
                // A closed or disqualified lead keeps its stage; the outcome is still counted.
                Err(_) => break,
            }
        }
        changes.webhooks.push(event(
            "lead.outcome",
            at,
            serde_json::json!({
                "lead_id": outcome.lead_id,
                "type": outcome.kind,
                "amount": outcome.amount,
                "reason": outcome.reason,
                "at": at,
            }),
        ));
    }
    write(&mut tx, live, &changes).await?;
    tx.commit().await?;
    Ok(ack)
}

/// Writes what a change touched, within a transaction.
pub async fn write(
    tx: &mut sluice_store::Tx,
    live: &RwLock<Live>,
    changes: &Changes,
) -> Result<(), StoreError> {
    // Other processes on the database drop what this changes from their caches.
    let ids: HashSet<&str> = changes
        .trails
        .iter()
        .map(|t| t.id.as_str())
        .chain(changes.leads.iter().map(|l| l.id.as_str()))
        .chain(changes.deleted.iter().map(String::as_str))
        .chain(changes.transitions.iter().map(|t| t.lead_id.as_str()))
        .chain(changes.assignments.iter().map(|a| a.lead_id.as_str()))
        .collect();
    let accounts: HashSet<&str> = changes
        .accounts
        .iter()
        .map(|a| a.id.as_str())
        .chain(changes.account_traits.iter().map(|(id, _)| id.as_str()))
        .chain(changes.account_owners.iter().map(|(id, _)| id.as_str()))
        .collect();
    if !ids.is_empty() || !accounts.is_empty() {
        let changed = serde_json::json!({"i": ids, "a": accounts}).to_string();
        let seq = tx.record_state_change(&changed).await?;
        live.write().expect("live state lock").set_synced(seq);
    }
    // What the reports count about these leads changed: their facts are rebuilt. (A lead's
    // events always rewrite its row; anonymous visitors have no facts.)
    let rows = changes.leads.iter().filter(|_| !changes.scores_only);
    let touched: Vec<String> = rows
        .map(|l| l.id.clone())
        .chain(changes.transitions.iter().map(|t| t.lead_id.clone()))
        .chain(changes.deleted.iter().cloned())
        .collect();
    tx.mark_facts(&touched).await?;
    let accounts: Vec<String> = changes
        .account_traits
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    tx.mark_facts_of_accounts(&accounts).await?;
    tx.upsert_trails(&changes.trails).await?;
    tx.upsert_account_traits(&changes.account_traits).await?;
    tx.upsert_identities(&changes.identities).await?;
    tx.delete_leads(&changes.deleted).await?;
    tx.upsert_leads(&changes.leads).await?;
    tx.upsert_accounts(&changes.accounts).await?;
    tx.insert_transitions(&changes.transitions).await?;
    tx.insert_assignments(&changes.assignments).await?;
    for (account, rep) in &changes.account_owners {
        tx.set_account_owner(account, rep).await?;
    }
    tx.enqueue_webhooks(&changes.webhooks).await?;
    tx.enqueue_webhooks(&crate::webhooks::events_for(changes))
        .await?;
    Ok(())
}
