//! The HTTP side shared by the network providers: the reqwest client with its connect timeout,
//! and [`Failure`], the classification of one failed HTTP attempt that decides between
//! retrying and giving up (see [`retry`](super::retry) for the policy).

use std::time::Duration;

use super::LlmError;

/// How long a 429 that names no delay is assumed to last when it is reported to the caller:
/// the length of a per-minute quota window.
pub const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Longest excerpt of an error body quoted in an error message: enough for the provider's own
/// sentence, short enough for a log line.
const SNIPPET_CHARS: usize = 300;

/// Why one HTTP attempt failed, and whether another attempt may help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A server error, a timeout, a refused connection, a cut stream.
    Transient {
        /// What happened.
        detail: String,
        /// Whether retrying at once may help (not after a timeout).
        retry: bool,
        /// A delay the server asked for.
        retry_after: Option<Duration>,
    },
    /// A per-minute quota: retry after the delay.
    RateLimited {
        /// What the provider said.
        detail: String,
        /// The delay the provider asked for.
        retry_after: Option<Duration>,
    },
    /// A per-day quota or billing problem.
    QuotaExhausted(String),
    /// A request the provider will never accept as sent (key, model, parameters).
    Refused(String),
}

impl Failure {
    /// A transient failure worth retrying.
    pub fn transient(detail: impl Into<String>) -> Self {
        Self::Transient {
            detail: detail.into(),
            retry: true,
            retry_after: None,
        }
    }

    /// The error the caller sees once no attempt is left.
    #[must_use]
    pub fn into_error(self) -> LlmError {
        match self {
            Self::Transient { detail, .. } => LlmError::Unavailable(detail),
            Self::RateLimited { retry_after, .. } => LlmError::RateLimited {
                retry_after: retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
            },
            Self::QuotaExhausted(detail) => LlmError::QuotaExhausted(detail),
            Self::Refused(detail) => LlmError::Refused(detail),
        }
    }

    /// Classifies a reqwest error (connecting, sending, reading the body).
    #[must_use]
    pub fn from_reqwest(e: &reqwest::Error, provider: &str) -> Self {
        let root = root_cause(e);
        if e.is_timeout() {
            Self::Transient {
                detail: format!("{provider} did not answer in time ({root})"),
                retry: false,
                retry_after: None,
            }
        } else if e.is_connect() {
            Self::transient(format!("cannot connect to {provider}: {root}"))
        } else if e.is_builder() {
            Self::Refused(format!("invalid {provider} request: {root}"))
        } else {
            Self::transient(format!("connection to {provider} failed: {root}"))
        }
    }
}

/// The innermost cause of an error, which says what actually went wrong ("connection refused").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut current = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Builds the HTTP client of a provider. Per-request timeouts are set on each request (the
/// time left of the call's budget), so only the connect timeout is set here.
///
/// # Errors
/// [`LlmError::Refused`] when the TLS backend cannot be initialised.
pub fn client(connect_timeout: Duration) -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .user_agent(concat!("concierge/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LlmError::Refused(format!("cannot build the HTTP client: {e}")))
}

/// The start of an error body, for messages: one line, at most a few hundred characters.
#[must_use]
pub fn snippet(body: &str) -> String {
    let one_line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= SNIPPET_CHARS {
        one_line
    } else {
        let cut: String = one_line.chars().take(SNIPPET_CHARS).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_one_short_line() {
        assert_eq!(snippet("Bad\n  Gateway\n"), "Bad Gateway");
        let long = "x".repeat(1000);
        assert_eq!(snippet(&long).chars().count(), SNIPPET_CHARS + 3);
    }

    #[test]
    fn rate_limits_without_delay_report_a_minute() {
        let e = Failure::RateLimited {
            detail: "slow down".into(),
            retry_after: None,
        }
        .into_error();
        assert_eq!(
            e,
            LlmError::RateLimited {
                retry_after: DEFAULT_RATE_LIMIT_WAIT
            }
        );
    }
}
