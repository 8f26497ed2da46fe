//! Streaming ingestion on NATS JetStream. With `--nats`, the service acknowledges a request once
//! its messages are durably in a JetStream stream; `sluice worker` processes the stream with a
//! durable pull consumer and acknowledges each message only after the transaction that stores
//! and scores it commits. Subjects are partitioned by the lead the message names, so one lead's
//! messages stay in order within the stream.
//!
//! Nothing is lost or counted twice: a worker that stops before its commit leaves its messages
//! unacknowledged, and JetStream delivers them again (to it or to another worker); a message
//! stored before is recognised by its `messageId` (the event log's key), and a repeat sent
//! within the stream's duplicate window is dropped by JetStream itself (`Nats-Msg-Id`).

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_core::Timestamp;
use tokio::sync::{mpsc, oneshot};

use crate::writer::{Accepted, Ack, Job, Submission};

/// Partitions of the stream's subjects.
pub const PARTITIONS: u64 = 16;

/// Where the stream is, and how workers read it.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// The server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The stream's name; its subjects are `<name, lower-cased>.<partition>`.
    pub stream: String,
    /// How long a delivered message may wait for its acknowledgement before JetStream delivers
    /// it again.
    pub ack_wait: Duration,
}

impl NatsConfig {
    /// The default stream at `url`.
    pub fn new(url: &str) -> NatsConfig {
        NatsConfig {
            url: url.to_string(),
            stream: "SLUICE_EVENTS".into(),
            ack_wait: Duration::from_secs(30),
        }
    }

    fn subject(&self, partition: u64) -> String {
        format!("{}.{partition}", self.stream.to_lowercase())
    }
}

/// One message in the stream: what the HTTP layer accepted.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    /// The write key's name.
    source: String,
    /// When it arrived (ms).
    received: i64,
    /// The message as it is stored.
    message: Box<serde_json::value::RawValue>,
}

/// A connection to the stream.
#[derive(Clone)]
pub struct EventStream {
    config: NatsConfig,
    js: jetstream::Context,
    stream: stream::Stream,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("config", &self.config)
            .finish()
    }
}

/// Why the stream cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("NATS JetStream at {url}: {message}")]
pub struct StreamError {
    url: String,
    message: String,
}

impl EventStream {
    /// Connects, creating the stream if it does not exist (file storage, a two-minute
    /// duplicate window).
    pub async fn connect(config: NatsConfig) -> Result<EventStream, StreamError> {
        let fail = |e: &dyn std::fmt::Display| StreamError {
            url: config.url.clone(),
            message: e.to_string(),
        };
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(config.url.as_str())
            .await
            .map_err(|e| fail(&e))?;
        let js = jetstream::new(client);
        let stream = js
            .get_or_create_stream(stream::Config {
                name: config.stream.clone(),
                subjects: vec![format!("{}.*", config.stream.to_lowercase())],
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(|e| fail(&e))?;
        Ok(EventStream { config, js, stream })
    }

    /// Puts a request's messages in the stream, each on its lead's partition; returns once
    /// JetStream has stored them all.
    pub async fn publish(&self, messages: Vec<Accepted>, source: &str) -> Result<Ack, String> {
        let mut pending = Vec::with_capacity(messages.len());
        for a in messages {
            let key = a
                .message
                .user_id
                .as_deref()
                .or(a.message.anonymous_id.as_deref())
                .unwrap_or(&a.message_id);
            let partition = partition_of(&sluice_core::history::canonical_id(key));
            let envelope = Envelope {
                source: source.to_string(),
                received: a.received.millis(),
                message: serde_json::value::RawValue::from_string(a.raw)
                    .map_err(|e| e.to_string())?,
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", a.message_id.as_str());
            let payload = serde_json::to_vec(&envelope).map_err(|e| e.to_string())?;
            let ack = self
                .js
                .publish_with_headers(self.config.subject(partition), headers, payload.into())
                .await
                .map_err(|e| e.to_string())?;
            pending.push(ack);
        }
        let mut ack = Ack {
            new: 0,
            duplicates: 0,
        };
        for future in pending {
            match future.await.map_err(|e| e.to_string())?.duplicate {
                true => ack.duplicates += 1,
                false => ack.new += 1,
            }
        }
        Ok(ack)
    }

    /// Whether the connection to the server is up (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        matches!(
            self.js.client().connection_state(),
            async_nats::connection::State::Connected
        )
    }

    /// Processes the stream until it fails: fetches up to `batch` messages, hands them to the
    /// writer as one submission per source, and acknowledges them once it has committed them.
    /// A batch the writer refuses is left unacknowledged, so JetStream delivers it again.
    pub async fn work(&self, writer: mpsc::Sender<Job>, batch: usize) -> Result<(), StreamError> {
        let fail = |e: &dyn std::fmt::Display| StreamError {
            url: self.config.url.clone(),
            message: e.to_string(),
        };
        let name = format!("{}-workers", self.config.stream.to_lowercase());
        let consumer: consumer::PullConsumer = self
            .stream
            .get_or_create_consumer(
                &name,
                consumer::pull::Config {
                    durable_name: Some(name.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.config.ack_wait,
                    max_ack_pending: 100_000,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| fail(&e))?;
        loop {
            let mut fetched = consumer
                .fetch()
                .max_messages(batch)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .map_err(|e| fail(&e))?;
            let mut delivered = Vec::new();
            while let Some(message) = futures_util::StreamExt::next(&mut fetched).await {
                delivered.push(message.map_err(|e| fail(&e))?);
            }
            if delivered.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            let mut by_source: Vec<(String, Vec<Accepted>)> = Vec::new();
            for message in &delivered {
                let Some((source, accepted)) = unpack(&message.payload) else {
                    // Not a message this stream carries: nothing to store.
                    tracing::warn!(subject = %message.subject, "skipping an unreadable stream message");
                    continue;
                };
                match by_source.iter_mut().find(|(s, _)| *s == source) {
                    Some((_, list)) => list.push(accepted),
                    None => by_source.push((source, vec![accepted])),
                }
            }
            let mut stored = true;
            for (source, messages) in by_source {
                let (done, outcome) = oneshot::channel();
                let job = Job::Ingest(Submission {
                    messages,
                    source,
                    done,
                });
                if writer.send(job).await.is_err() {
                    return Err(fail(&"the writer stopped"));
                }
                stored &= matches!(outcome.await, Ok(Ok(_)));
            }
            if !stored {
                // Delivered again after the acknowledgement wait.
                continue;
            }
            for message in delivered {
                message.ack().await.map_err(|e| fail(&e))?;
            }
        }
    }

    /// Deletes the stream (for tests and tear-downs).
    pub async fn delete(&self) -> Result<(), String> {
        self.js
            .delete_stream(&self.config.stream)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The partition of a lead's messages.
pub fn partition_of(key: &str) -> u64 {
    // FNV-1a: stable across processes and versions (std's hasher is not).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % PARTITIONS
}

/// A stream message back as the writer takes it.
fn unpack(payload: &[u8]) -> Option<(String, Accepted)> {
    let envelope: Envelope = serde_json::from_slice(payload).ok()?;
    let value: Map<String, Value> = serde_json::from_str(envelope.message.get()).ok()?;
    let received = Timestamp::from_millis(envelope.received);
    let accepted = crate::ingest::prepare_accepted(value, received).ok()?;
    Some((envelope.source, accepted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest;
    use serde_json::json;
    use sluice_core::MessageKind;

    /// A message in the stream as `publish` puts it there.
    fn packed(a: &Accepted) -> Vec<u8> {
        let envelope = Envelope {
            source: "web".to_string(),
            received: a.received.millis(),
            message: serde_json::value::RawValue::from_string(a.raw.clone()).unwrap(),
        };
        serde_json::to_vec(&envelope).unwrap()
    }

    /// Messages the service accepts at Segment's size limit reach the writer: the limit counts
    /// what the sender sent, and the stored form also holds the `messageId` and `receivedAt`
    /// Sluice added, and a batch's `context`. (The worker used to check the limit again on the
    /// stored form, and drop such messages after they had been acknowledged.)
    #[test]
    fn messages_at_the_size_limit_are_unpacked() {
        let received = Timestamp::from_millis(1_780_000_000_000);
        let sized = |mut message: Value, size: usize| {
            let len = message.to_string().len();
            message["properties"]["notes"] = Value::from("x".repeat(size - len));
            assert_eq!(message.to_string().len(), size);
            message
        };
        let track = json!({"type": "track", "event": "Form Submitted", "userId": "u",
            "timestamp": "2026-10-01T10:00:00Z", "properties": {"notes": ""}});
        let single = sized(track.clone(), ingest::MESSAGE_LIMIT);
        let batch = json!({
            "batch": [sized(track, ingest::MESSAGE_LIMIT - 1000)],
            "context": {"library": {"name": "analytics-python"}, "page": {"title": "y".repeat(5000)}},
        });
        for (body, kind) in [(single, Some(MessageKind::Track)), (batch, None)] {
            let body = body.as_object().unwrap().clone();
            let (accepted, _) =
                ingest::messages(body, kind, received, ingest::Times::Trust).unwrap();
            assert_eq!(accepted.len(), 1);
            let a = &accepted[0];
            assert!(a.raw.len() > ingest::MESSAGE_LIMIT);
            let (source, again) = unpack(&packed(a)).expect("the worker takes it");
            assert_eq!(source, "web");
            assert_eq!(
                (again.raw, again.message_id, again.at, again.received),
                (a.raw.clone(), a.message_id.clone(), a.at, a.received)
            );
        }
    }
}
