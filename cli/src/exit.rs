//! Exit codes scripts can rely on (stable; README "Command line"):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | a negative answer: the key does not exist, a condition (`--if-absent`, `--if-version`, a counter bound) was not met, the lock was not granted in time, the watch timed out |
//! | 2 | bad usage: unknown command or option, a bad value |
//! | 3 | failed outside the store (reading a file or stdin, starting a node) |
//! | 10 + N | the store refused the request with stable error code N (11 invalid_input, 12 not_found, 13 conflict, 14 locked, 15 lease_not_found, 16 compacted, 17 timeout, 18 unavailable, 19 closed, 20 internal, 21 no_space, 22 quota_exceeded, 23 unauthenticated, 24 permission_denied) |
//! | 65 | `clustron node`: a file in the data directory is damaged (do not restart: an operator must act) |
//! | 74 | `clustron node`: the disk failed under the node (EIO, a failed fdatasync; restart once it works) |
//!
//! `lock NAME -- COMMAND` exits with the command's own status (126: it could not be run,
//! 127: not found).

use std::process::ExitCode;

/// How a command that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A negative answer (exit 1).
    No,
    /// A child's exit status (`lock -- COMMAND`).
    Status(u8),
}

impl Outcome {
    pub fn code(self) -> ExitCode {
        match self {
            Outcome::Done => ExitCode::SUCCESS,
            Outcome::No => ExitCode::from(1),
            Outcome::Status(status) => ExitCode::from(status),
        }
    }
}

/// A command that failed: the message and its exit status.
#[derive(Debug)]
pub struct CliError {
    pub status: u8,
    pub message: String,
    /// The store's stable error code, when the store refused.
    pub code: Option<clustron::ErrorCode>,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError { status: 2, message: message.into(), code: None }
    }

    /// A failure with its own exit status (`clustron node`: 65 damaged data, 74 disk failure).
    pub fn status(status: u8, message: impl Into<String>) -> CliError {
        CliError { status, message: message.into(), code: None }
    }

    pub fn failed(message: impl Into<String>) -> CliError {
        CliError { status: 3, message: message.into(), code: None }
    }

    /// Prints the error (as a JSON object on stdout too, for `--json` scripts).
    pub fn report(&self, json: bool) -> ExitCode {
        if json {
            let error = serde_json::json!({"error": {
                "code": self.code.map(clustron::ErrorCode::name),
                "number": self.code.map(clustron::ErrorCode::number),
                "message": self.message,
            }});
            println!("{error}");
        }
        match self.code {
            Some(code) => eprintln!("clustron: {} ({})", self.message, code.name()),
            None => eprintln!("clustron: {}", self.message),
        }
        ExitCode::from(self.status)
    }
}

impl From<clustron::Error> for CliError {
    fn from(error: clustron::Error) -> CliError {
        let code = error.code();
        CliError { status: 10 + code.number() as u8, message: error.message().to_owned(), code: Some(code) }
    }
}

/// Errors of the operator commands (node, members, status, bench) are plain text.
impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::failed(message)
    }
}
