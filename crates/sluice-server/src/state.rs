//! What every request handler shares.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sluice_core::Timestamp;
use sluice_store::Store;
use tokio::sync::mpsc;

use crate::live::Live;
use crate::trust::WriteKey;
use crate::writer::Job;

/// Shared by every request handler.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The live scoring state (the writer changes it; readers explain from it).
    pub live: Arc<RwLock<Live>>,
    /// The writer's queue.
    pub writer: mpsc::Sender<Job>,
    /// Active write keys, by the digest of the key.
    pub write_keys: Arc<RwLock<HashMap<String, WriteKey>>>,
    /// Digests of the ids and emails of erased people whose new events are dropped.
    pub suppressed: Arc<RwLock<HashSet<String>>>,
    /// How long a dashboard session lasts.
    pub session_ttl: std::time::Duration,
    /// The bearer token for the management API.
    pub admin_token: Arc<str>,
    /// Prometheus metrics.
    pub metrics: PrometheusHandle,
    /// The service's clock.
    pub clock: Clock,
    /// With `--nats`: the stream ingestion publishes to (workers store and score).
    pub stream: Option<crate::stream::EventStream>,
    /// Rate limits, timeouts and the bound on requests at once.
    pub limits: Arc<crate::limits::Limits>,
}

impl AppState {
    /// The source name of a write key, if it is active now.
    pub fn source_of_key(&self, key: &str) -> Option<String> {
        let now = self.clock.now().millis();
        self.write_keys
            .read()
            .expect("write keys lock")
            .get(&sluice_store::digest(key))
            .filter(|k| k.expires_ms.is_none_or(|at| at > now))
            .map(|k| k.name.clone())
    }

    /// Whether a message is about an erased person who asked not to be tracked again.
    pub fn is_suppressed(&self, message: &sluice_core::Message) -> bool {
        crate::trust::is_suppressed(&self.suppressed.read().expect("suppressions lock"), message)
    }
}

/// Where the service reads the time: the system's clock, or (for tests of SLA deadlines and
/// retries) one that moves only when told to.
#[derive(Debug, Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that stands at `start` until moved.
    pub fn manual(start: Timestamp) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(start.millis()))))
    }

    /// The time now.
    pub fn now(&self) -> Timestamp {
        match &self.0 {
            None => now(),
            Some(at) => Timestamp::from_millis(at.load(Ordering::SeqCst)),
        }
    }

    /// Moves a manual clock forward (the system's clock moves by itself: nothing happens).
    pub fn advance(&self, by: std::time::Duration) {
        if let Some(at) = &self.0 {
            at.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
        }
    }
}

/// The system's time now. The service reads the time at its edge (through its [`Clock`]); the
/// core takes time as a parameter.
pub fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Timestamp::from_millis(millis)
}

/// The process-wide Prometheus recorder (metrics has one global recorder).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// A random token: `prefix` and 32 hexadecimal digits.
pub fn token(prefix: &str) -> String {
    use rand::TryRngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system provides randomness");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

/// Compares secrets without stopping at the first difference, so timing does not reveal how
/// much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
