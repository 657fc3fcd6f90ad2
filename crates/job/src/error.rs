//! The job library's error: one sentence a user can act on, naming what
//! and where. Typed sources (a located config mistake, a history error)
//! are kept as variants; the rest carry their message with its context
//! prefixed, as `what: why`.

use std::fmt::Display;

/// Why a job or a load could not be done.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A config mistake, located (file:line:column).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Every mistake of a config, located, in file order.
    #[error(transparent)]
    ConfigMistakes(#[from] crate::config::ConfigErrors),
    /// Bad load options (a flag or a scenario key out of range).
    #[error(transparent)]
    Arguments(#[from] crate::scenario::ArgError),
    /// The history store failed.
    #[error(transparent)]
    History(#[from] scalewall_history::HistoryError),
    /// A target URL that cannot be used.
    #[error(transparent)]
    Target(#[from] scalewall_load::target::TargetError),
    /// The load engine could not run a step.
    #[error(transparent)]
    Engine(#[from] scalewall_load::engine::EngineError),
    /// A probe could not take its reading.
    #[error(transparent)]
    Probe(#[from] scalewall_probe::ProbeError),
    /// The runtime suite could not run.
    #[error(transparent)]
    Suite(#[from] scalewall_suite::SuiteError),
    /// Anything else, in words.
    #[error("{0}")]
    Message(String),
}

/// The job library's result.
pub type Result<T, E = JobError> = std::result::Result<T, E>;

impl JobError {
    /// An error from its message.
    pub fn msg(message: impl Into<String>) -> JobError {
        JobError::Message(message.into())
    }
}

/// Adds what was being done to an error's message (`what: why`).
pub trait Context<T> {
    /// Prefixes the error with `what`.
    fn context(self, what: impl Display) -> Result<T>;
    /// Prefixes the error with a lazily built `what`.
    fn with_context<W: Display>(self, what: impl FnOnce() -> W) -> Result<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl Display) -> Result<T> {
        self.map_err(|e| JobError::Message(format!("{what}: {e}")))
    }
    fn with_context<W: Display>(self, what: impl FnOnce() -> W) -> Result<T> {
        self.map_err(|e| JobError::Message(format!("{}: {e}", what())))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl Display) -> Result<T> {
        self.ok_or_else(|| JobError::Message(what.to_string()))
    }
    fn with_context<W: Display>(self, what: impl FnOnce() -> W) -> Result<T> {
        self.ok_or_else(|| JobError::Message(what().to_string()))
    }
}

/// Returns early with a [`JobError::Message`] built like `format!`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::JobError::Message(format!($($arg)*)))
    };
}
