//! Checkers of recorded histories.

pub mod register;
