//! Deterministic synthetic company generator.
