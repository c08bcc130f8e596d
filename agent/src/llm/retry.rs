//! How long a provider keeps trying before it gives up, so a message never blocks its session
//! for long (the session's later messages wait behind it).
//!
//! One model call (the first call, or the repair call) may take several HTTP attempts:
//!
//! - 5xx, 408, a refused connection or a stream cut before any reply text reached the user:
//!   retried after an exponential backoff with jitter (`backoff_base` doubling per attempt, capped
//!   at `backoff_cap`, each wait drawn from its upper half);
//! - 429 with a per-minute quota: retried after the delay the provider asked for (Gemini
//!   `RetryInfo.retryDelay`, OpenAI `retry-after-ms`/`retry-after`), or the backoff when it gave
//!   none, but only when that delay is at most `max_retry_wait`; a longer one returns
//!   [`LlmError::RateLimited`](super::LlmError::RateLimited) at once, so the caller can
//!   requeue the message instead of holding its session;
//! - a timeout is not retried: a model that is slow now is slow again a second later;
//! - everything else (bad key, unknown model, per-day quota, a rejected request) fails at once.
//!
//! At most `max_attempts` attempts, and all of them, waits included, within the call's total
//! timeout (`LLM_TIMEOUT`): an attempt gets only the time that is left, and a wait that would
//! not leave time for another attempt is not taken. A message makes at most two model calls
//! (the answer and one repair), so it holds its session at most twice the total timeout.

use std::time::Duration;

/// Bounds on retrying one model call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// HTTP attempts per model call, the first included (at least 1).
    pub max_attempts: u32,
    /// The first backoff wait; it doubles per attempt.
    pub backoff_base: Duration,
    /// The longest backoff wait.
    pub backoff_cap: Duration,
    /// The longest wait a 429 may ask for and still be waited out here.
    pub max_retry_wait: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, 0.5 s then 1 s backoff (the official OpenAI client's numbers), and 429
    /// delays of up to 10 s waited out: a short burst over a per-minute quota heals within
    /// that, while Gemini's free tier often asks for 30 s or more, which is better spent by the
    /// caller on other sessions.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(4),
            max_retry_wait: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`, after `attempt` failed attempts (1-based): the
    /// capped exponential delay, drawn uniformly from its upper half.
    #[must_use]
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(16);
        let full = self
            .backoff_base
            .saturating_mul(1 << exp)
            .min(self.backoff_cap);
        let half = full / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::random_range(0..=jitter_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_bounds() {
        let p = RetryPolicy::default();
        for _ in 0..100 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(500));
            let second = p.backoff(2);
            assert!(second >= Duration::from_millis(500) && second <= Duration::from_secs(1));
            let late = p.backoff(30);
            assert!(late >= Duration::from_secs(2) && late <= Duration::from_secs(4));
        }
    }
}
