//! Clustron's Jepsen-style suite: what a run records ([`history`]) and what checks it
//! ([`check`]). The history format is documented in [`history`] so that users can record
//! their own deployments and check them with the same code.

pub mod check;
pub mod history;
