//! One module per subcommand; each parses its arguments and calls the core.

pub mod backtest;
pub mod company;
pub mod generate;
pub mod handoff;
pub mod import;
pub mod learn;
pub mod model;
pub mod report;
pub mod score;
pub mod serve;
pub mod user;
pub mod worker;
