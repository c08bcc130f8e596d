//! The retry policy of the HTTP embedders (Gemini, OpenAI-compatible), following the providers'
//! own SDKs (`../shared/reference/llm-wire.md` §4.2): retry only transient failures (transport
//! errors, 408, 429 per-minute quotas, 500, 502, 503, 504), with exponential backoff and full
//! jitter, waiting at least as long as the server asked (`RetryInfo.retryDelay`, `retry-after`,
//! `retry-after-ms`) but never longer than [`RetryPolicy::max_delay`]. Everything else (bad key,
//! unknown model, bad input, a per-day quota) fails at once: retrying cannot fix it.

use std::future::Future;
use std::time::Duration;

use rand::RngExt;

use super::EmbedError;

/// How often and how long to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retry).
    pub attempts: u32,
    /// Backoff before the first retry; doubles with each further one.
    pub base_delay: Duration,
    /// Upper bound of any single wait, the server's requested delay included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 500 ms doubling, at most 20 s per wait: rides out a provider's short
    /// overload or a per-minute quota without holding an ingest for minutes.
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

/// The outcome of one attempt.
#[derive(Debug)]
pub enum Attempt<T> {
    /// It worked.
    Done(T),
    /// A transient failure: try again, after at least `after` if the server said so.
    Retry {
        /// What went wrong (returned when no attempt is left).
        error: EmbedError,
        /// The delay the server asked for.
        after: Option<Duration>,
    },
    /// A failure retrying cannot fix.
    Fail(EmbedError),
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based): full jitter over an exponential ceiling,
    /// raised to the server's request, capped at [`RetryPolicy::max_delay`].
    #[must_use]
    pub fn delay(&self, retry: u32, server: Option<Duration>) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_delay);
        let jittered = ceiling.mul_f64(rand::rng().random::<f64>());
        jittered.max(server.unwrap_or_default()).min(self.max_delay)
    }

    /// Runs `attempt` until it is done, fails for good, or the attempts are used up.
    ///
    /// # Errors
    /// The last attempt's error.
    pub async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, EmbedError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let mut retry = 0;
        loop {
            match attempt().await {
                Attempt::Done(value) => return Ok(value),
                Attempt::Fail(error) => return Err(error),
                Attempt::Retry { error, after } => {
                    if retry + 1 >= self.attempts {
                        return Err(error);
                    }
                    let wait = self.delay(retry, after);
                    tracing::warn!(error = %error, retry = retry + 1, wait_ms = wait.as_millis(), "embedding request failed; retrying");
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
            }
        }
    }
}

/// Whether an HTTP status is worth retrying (besides 429, which depends on the quota).
#[must_use]
pub fn transient_status(status: u16) -> bool {
    matches!(status, 408 | 500 | 502 | 503 | 504)
}

/// Classifies a transport error (no HTTP response): always transient.
#[must_use]
pub fn transport_failure<T>(provider: &str, err: &reqwest::Error) -> Attempt<T> {
    Attempt::Retry {
        error: EmbedError::Unavailable(format!("{provider}: {}", without_url(err))),
        after: None,
    }
}

/// A reqwest error's text without the URL (which may carry a key in a query string).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

/// Parses a protobuf Duration string such as `"31s"` or `"29.723877525s"`.
#[must_use]
pub fn parse_proto_duration(raw: &str) -> Option<Duration> {
    let secs: f64 = raw.trim().strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn delays_grow_respect_the_server_and_stay_capped() {
        let p = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        for retry in 0..10 {
            assert!(p.delay(retry, None) <= Duration::from_secs(2));
        }
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(60))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn proto_durations_parse() {
        assert_eq!(parse_proto_duration("31s"), Some(Duration::from_secs(31)));
        assert_eq!(
            parse_proto_duration("1.5s"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_proto_duration("soon"), None);
        assert_eq!(parse_proto_duration("-1s"), None);
    }

    #[tokio::test]
    async fn retries_transient_failures_until_the_attempts_run_out() {
        let p = RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        };
        let calls = AtomicU32::new(0);
        let result: Result<(), EmbedError> = p
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Attempt::Retry {
                    error: EmbedError::Unavailable("down".into()),
                    after: None,
                }
            })
            .await;
        assert!(matches!(result, Err(EmbedError::Unavailable(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let result: Result<u8, EmbedError> = p
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Attempt::Fail(EmbedError::Refused("bad key".into()))
            })
            .await;
        assert!(matches!(result, Err(EmbedError::Refused(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a refusal is not retried");
    }
}
