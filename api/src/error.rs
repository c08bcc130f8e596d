//! [`ApiError`]: every failure a client or the command line can see, with its GraphQL
//! `extensions.code` and its log level. Internal details are logged once where the error is
//! handled and never shown to the client.

use std::time::Duration;

use entity::DbError;

/// A failure as the caller sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid token.
    #[error("authentication required: missing, invalid or expired token")]
    Unauthenticated,
    /// Valid token, but the caller's role may not do this.
    #[error("not allowed for your role")]
    Forbidden,
    /// No such thing in the caller's tenant (also when it exists in another tenant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The input is wrong; the message says what to change.
    #[error("{0}")]
    Invalid(String),
    /// Too many requests, or a budget is used up; the message says which, and when to retry.
    #[error("{reason}; retry {}", agent::budget::in_words(*.retry_after))]
    RateLimited {
        /// Which limit refused the request, in words.
        reason: &'static str,
        /// When a retry may succeed.
        retry_after: Duration,
    },
    /// A dependency (Postgres, Redis) is down; the detail is for the logs.
    #[error("service temporarily unavailable, please retry")]
    Unavailable(String),
    /// A bug; the detail is for the logs.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// The GraphQL `extensions.code` of this error.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Invalid(_) => "BAD_USER_INPUT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// Logs the error at the level it deserves: server-side faults as errors or warnings,
    /// client mistakes at debug.
    pub fn log(&self) {
        match self {
            Self::Internal(detail) => tracing::error!(error.detail = %detail, "internal error"),
            Self::Unavailable(detail) => {
                tracing::warn!(error.detail = %detail, "dependency unavailable")
            }
            other => tracing::debug!(error.code = other.code(), error = %other, "request refused"),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Conflict(what) => Self::Invalid(format!("already exists ({what})")),
            DbError::Unavailable(detail) => Self::Unavailable(detail),
            DbError::Internal(detail) => Self::Internal(detail),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        DbError::from(err).into()
    }
}

impl From<agent::knowledge::KnowledgeError> for ApiError {
    fn from(err: agent::knowledge::KnowledgeError) -> Self {
        use agent::embedding::EmbedError;
        use agent::knowledge::KnowledgeError;
        match err {
            KnowledgeError::Invalid(msg) => Self::Invalid(msg),
            KnowledgeError::NotFound => Self::NotFound("knowledge"),
            KnowledgeError::Db(db) => db.into(),
            KnowledgeError::Embed(EmbedError::Unavailable(d)) => Self::Unavailable(d),
            KnowledgeError::Embed(other) => Self::Internal(other.to_string()),
        }
    }
}
