//! Rate limits on `sendMessage`: a token bucket per user and one per tenant, checked before a
//! message is stored. A refused message gets `RATE_LIMITED` with `extensions.retryAfter` (whole
//! seconds) and a message saying when to retry; nothing is stored or queued.
//!
//! **Buckets.** A bucket holds at most `burst` tokens and refills at `per_minute / 60` tokens a
//! second; a message takes one token from the user's bucket and one from the tenant's. Both
//! are checked and taken in ONE Lua script ([`TAKE`]), so concurrent requests on any number of
//! API replicas never overdraw a bucket, and a message refused by one bucket takes nothing
//! from the other. The script reads Redis's own clock (`TIME`), so replicas with skewed clocks
//! agree. When a bucket is empty the script answers how long until both buckets hold a token
//! again: that is the `retryAfter`.
//!
//! **Keys**, under the prefix `P` (`REDIS_KEY_PREFIX`):
//!
//! | key | type | what |
//! | --- | --- | --- |
//! | `P:rate:user:<user id>` | hash `tokens`, `ts` (ms) | one user's bucket |
//! | `P:rate:tenant:<tenant id>` | hash `tokens`, `ts` (ms) | one tenant's bucket (all its users) |
//!
//! Each key expires once its bucket would be full again: an idle user costs Redis nothing.
//!
//! **Redis down: fail open, to local buckets.** `sendMessage` is built to keep accepting
//! messages while Redis is down (they are stored in Postgres and swept into the stream when it
//! is back); a limiter that refused everything without Redis would turn a cache outage into a
//! full outage, and a limiter that allowed everything would lift every limit exactly when the
//! system is weakest. So when Redis does not answer within [`REDIS_TIMEOUT`] (or no connection
//! is up, which is checked without waiting), the same buckets are kept in this process's
//! memory instead. Each replica then enforces the limits on its own (with N replicas a user may
//! get up to N times the rate during the outage), and the local buckets are forgotten when
//! Redis answers again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use entity::{TenantId, UserId};
use fred::prelude::{ClientLike, LuaInterface, Pool};

use crate::error::ApiError;

/// Longest wait for Redis before the local buckets decide: a request must not hang on a Redis
/// that is down (Redis answers in well under a millisecond when up).
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// Local buckets kept during a Redis outage before they are reset (bounds the memory an outage
/// with very many distinct users can take: about 100 bytes each).
const MAX_LOCAL_BUCKETS: usize = 100_000;

/// Takes one token from every bucket in `KEYS`, or none. `ARGV` holds, per key, its refill rate
/// (tokens per millisecond) and its capacity. Returns `{0, 0}` when the tokens were taken, else
/// `{milliseconds until every bucket has a token, 1-based index of the emptiest bucket}`.
pub const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait, which = 0, 0
local tokens = {}
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local have, ts = tonumber(state[1]), tonumber(state[2])
  if have == nil or ts == nil then have, ts = burst, now end
  have = math.min(burst, have + math.max(0, now - ts) * rate)
  tokens[i] = have
  if have < 1 then
    local w = math.ceil((1 - have) / rate)
    if w > wait then wait, which = w, i end
  end
end
if wait > 0 then return {wait, which} end
for i = 1, #KEYS do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i] - 1), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(burst / rate) + 1000)
end
return {0, 0}
";

/// One token bucket's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Sustained rate: tokens added per minute. 0 turns the bucket off.
    pub per_minute: u32,
    /// Capacity: how many messages may be sent at once after a quiet spell (at least 1).
    pub burst: u32,
}

impl Bucket {
    const fn enabled(self) -> bool {
        self.per_minute > 0
    }

    /// Tokens per millisecond.
    fn rate_per_ms(self) -> f64 {
        f64::from(self.per_minute) / 60_000.0
    }

    fn capacity(self) -> f64 {
        f64::from(self.burst.max(1))
    }
}

/// The limits on `sendMessage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Per user (`RATE_LIMIT_USER_PER_MINUTE`, `RATE_LIMIT_USER_BURST`).
    pub user: Bucket,
    /// Per tenant, all its users together (`RATE_LIMIT_TENANT_PER_MINUTE`,
    /// `RATE_LIMIT_TENANT_BURST`).
    pub tenant: Bucket,
}

impl Default for RateLimitConfig {
    /// Generous for people: nobody types 30 messages a minute, and a burst of 15 covers a
    /// client retrying a backlog after a reconnect. A tenant's 600 a minute is 10 messages a
    /// second from all its users together, each an LLM call.
    fn default() -> Self {
        Self {
            user: Bucket {
                per_minute: 30,
                burst: 15,
            },
            tenant: Bucket {
                per_minute: 600,
                burst: 300,
            },
        }
    }
}

/// Which limit refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    User,
    Tenant,
}

impl Scope {
    const fn reason(self) -> &'static str {
        match self {
            Self::User => "you are sending messages faster than the limit",
            Self::Tenant => "your organisation is sending messages faster than its limit",
        }
    }
}

/// Buckets kept in memory while Redis is unreachable.
#[derive(Default)]
struct LocalBuckets {
    /// Key -> (tokens, when they were counted).
    buckets: HashMap<String, (f64, Instant)>,
}

impl LocalBuckets {
    /// The same algorithm as [`TAKE`], on this process's clock.
    fn take(&mut self, wanted: &[(String, Bucket, Scope)], now: Instant) -> Option<(u64, Scope)> {
        if self.buckets.len() >= MAX_LOCAL_BUCKETS {
            self.buckets.clear();
        }
        let mut refused: Option<(u64, Scope)> = None;
        let mut levels = Vec::with_capacity(wanted.len());
        for (key, bucket, scope) in wanted {
            let (have, at) = self
                .buckets
                .get(key)
                .copied()
                .unwrap_or((bucket.capacity(), now));
            let elapsed_ms = now.saturating_duration_since(at).as_secs_f64() * 1000.0;
            let have = (have + elapsed_ms * bucket.rate_per_ms()).min(bucket.capacity());
            levels.push(have);
            if have < 1.0 {
                let wait_ms = ((1.0 - have) / bucket.rate_per_ms()).ceil();
                let wait = Duration::try_from_secs_f64(wait_ms / 1000.0).unwrap_or(Duration::MAX);
                let wait = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                if refused.is_none_or(|(w, _)| wait > w) {
                    refused = Some((wait, *scope));
                }
            }
        }
        if refused.is_some() {
            return refused;
        }
        for ((key, _, _), have) in wanted.iter().zip(levels) {
            self.buckets.insert(key.clone(), (have - 1.0, now));
        }
        None
    }
}

/// The limiter of `sendMessage`; cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    redis: Pool,
    prefix: String,
    config: RateLimitConfig,
    local: Arc<Mutex<LocalBuckets>>,
    /// Whether the local buckets hold anything (so the Redis path never takes their lock).
    local_in_use: Arc<AtomicBool>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter keeping its buckets in `redis` under `prefix`.
    #[must_use]
    pub fn new(redis: Pool, prefix: &str, config: RateLimitConfig) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            config,
            local: Arc::new(Mutex::new(LocalBuckets::default())),
            local_in_use: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `P:rate:user:<id>`.
    #[must_use]
    pub fn user_key(&self, user: UserId) -> String {
        format!("{}:rate:user:{user}", self.prefix)
    }

    /// `P:rate:tenant:<id>`.
    #[must_use]
    pub fn tenant_key(&self, tenant: TenantId) -> String {
        format!("{}:rate:tenant:{tenant}", self.prefix)
    }

    /// Takes a token for one message of `user` in `tenant`.
    ///
    /// # Errors
    /// [`ApiError::RateLimited`] when the user's or the tenant's bucket is empty, with the time
    /// until a retry can succeed. Never fails because Redis is down (see the module docs).
    pub async fn check_message(&self, tenant: TenantId, user: UserId) -> Result<(), ApiError> {
        let wanted: Vec<(String, Bucket, Scope)> = [
            (self.user_key(user), self.config.user, Scope::User),
            (self.tenant_key(tenant), self.config.tenant, Scope::Tenant),
        ]
        .into_iter()
        .filter(|(_, bucket, _)| bucket.enabled())
        .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let refused = match self.take_in_redis(&wanted).await {
            Some(answer) => {
                self.forget_local();
                answer
            }
            None => {
                self.local_in_use.store(true, Ordering::Relaxed);
                self.local
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take(&wanted, Instant::now())
            }
        };
        match refused {
            None => Ok(()),
            Some((wait_ms, scope)) => Err(ApiError::RateLimited {
                reason: scope.reason(),
                retry_after: Duration::from_millis(wait_ms),
            }),
        }
    }

    /// The script's answer, or `None` when Redis is unreachable or slow.
    async fn take_in_redis(
        &self,
        wanted: &[(String, Bucket, Scope)],
    ) -> Option<Option<(u64, Scope)>> {
        let client = self.redis.next_connected();
        if !client.is_connected() {
            return None;
        }
        let keys: Vec<String> = wanted.iter().map(|(k, _, _)| k.clone()).collect();
        let args: Vec<String> = wanted
            .iter()
            .flat_map(|(_, b, _)| [b.rate_per_ms().to_string(), b.capacity().to_string()])
            .collect();
        let call = client.eval::<Vec<i64>, _, _, _>(TAKE, keys, args);
        match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok(answer)) => {
                let (wait, which) = (
                    answer.first().copied().unwrap_or(0),
                    answer.get(1).copied().unwrap_or(0),
                );
                if wait <= 0 {
                    return Some(None);
                }
                let scope = usize::try_from(which - 1)
                    .ok()
                    .and_then(|i| wanted.get(i))
                    .map_or(Scope::User, |(_, _, s)| *s);
                Some(Some((u64::try_from(wait).unwrap_or(1), scope)))
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "rate limiter: Redis failed; using local buckets");
                None
            }
            Err(_) => {
                tracing::warn!("rate limiter: Redis is slow; using local buckets");
                None
            }
        }
    }

    /// Redis answers again: its buckets are the truth, the local ones are forgotten.
    fn forget_local(&self) {
        if self.local_in_use.swap(false, Ordering::Relaxed) {
            self.local
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .buckets
                .clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(per_minute: u32, burst: u32) -> Vec<(String, Bucket, Scope)> {
        vec![
            ("u".into(), Bucket { per_minute, burst }, Scope::User),
            (
                "t".into(),
                Bucket {
                    per_minute: 1,
                    burst: 100,
                },
                Scope::Tenant,
            ),
        ]
    }

    #[test]
    fn local_buckets_allow_the_burst_then_say_when_to_retry() {
        let mut local = LocalBuckets::default();
        let now = Instant::now();
        let w = wanted(60, 3);
        for _ in 0..3 {
            assert_eq!(local.take(&w, now), None);
        }
        let (wait, scope) = local.take(&w, now).unwrap();
        assert_eq!(scope, Scope::User);
        assert_eq!(wait, 1000, "one token a second: the next in 1 s");
        // Half a second later, half a token: 500 ms to go.
        let (wait, _) = local.take(&w, now + Duration::from_millis(500)).unwrap();
        assert_eq!(wait, 500);
        assert_eq!(local.take(&w, now + Duration::from_secs(1)), None);
        // The refusals took nothing from the tenant's bucket: it paid for 4 messages.
        let tenant = local.buckets.get("t").unwrap().0;
        assert!((96.0..96.1).contains(&tenant), "{tenant}");
    }

    #[test]
    fn a_long_pause_refills_to_the_burst_only() {
        let mut local = LocalBuckets::default();
        let now = Instant::now();
        let w = wanted(60, 2);
        assert_eq!(local.take(&w, now), None);
        let later = now + Duration::from_secs(3600);
        assert_eq!(local.take(&w, later), None);
        assert_eq!(local.take(&w, later), None);
        assert!(local.take(&w, later).is_some());
    }
}
