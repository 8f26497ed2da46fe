//! One module per subcommand; each parses its arguments and calls the core.

pub mod generate;
pub mod model;
pub mod score;
