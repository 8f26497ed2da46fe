//! Sluice's pure core: the model language, the scoring engine and the lifecycle.
//!
//! Nothing here does I/O or reads a clock: time is always a parameter. The service, the CLI
//! and backtests are thin shells around these functions, which is what lets one engine serve
//! live scoring, rescoring and replays of history.

pub mod analytics;
pub mod backtest;
pub mod business_time;
pub mod engine;
pub mod event;
pub mod handoff;
pub mod history;
pub mod lifecycle;
pub mod model;
pub mod outcome;
mod scan;
pub mod table;
pub mod time;

pub use engine::{Activity, LeadScore, Profile, Qualification};
pub use event::{Attributes, Event, EventFields, Message, MessageKind, MessageRef};
pub use lifecycle::{Actor, Stage};
pub use model::{Model, ModelError, ModelErrors};
pub use time::{HalfLife, Span, Timestamp};
