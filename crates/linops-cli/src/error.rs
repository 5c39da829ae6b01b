//! The command line's one error type: a file (or a parameter) and what went wrong with it, printed
//! as one line `linops: <file>: <what went wrong>`.

use std::fmt;

/// What failed and where; `main` prints it as one line and exits with status 1.
#[derive(Debug)]
pub struct CliError {
    /// The file or parameter the problem is about (`None`: the command as a whole).
    pub what: Option<String>,
    /// The problem, in one line.
    pub msg: String,
}

impl CliError {
    /// An error about `what` (a file name, or an option such as `-k`).
    pub fn new(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Self {
            what: Some(what.into()),
            msg: msg.into(),
        }
    }

    /// Wraps a library error, naming the file it came from.
    pub fn lib(what: impl Into<String>, e: linops::Error) -> Self {
        Self::new(what, e.to_string())
    }

    /// Wraps an I/O error, naming the file.
    pub fn io(what: impl Into<String>, e: std::io::Error) -> Self {
        Self::new(what, e.to_string())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line whatever the message holds.
        let msg = self.msg.replace('\n', " ");
        match &self.what {
            Some(w) => write!(f, "linops: {w}: {msg}"),
            None => write!(f, "linops: {msg}"),
        }
    }
}

impl std::error::Error for CliError {}

/// The command line's result type.
pub type CliResult<T> = Result<T, CliError>;
