//! Per-session leases: at most one process works on a session at a time, which (with
//! oldest-first processing) keeps the messages of a session in order across worker processes.
//!
//! Key: `P:lease:<session id>` holding the owning consumer's name, with a TTL of the configured
//! lease time, renewed while the owner works. A process that dies loses its leases when they
//! expire; the stream's reclaim then hands its entries to a live process. Renewal and release
//! only touch a lease the caller still owns (a Lua compare-and-set).

use std::time::Duration;

use entity::SessionId;
use fred::prelude::*;
use fred::types::{Expiration, SetOptions};

/// Renews the lease when the caller still owns it.
const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                     return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";
/// Deletes the lease when the caller still owns it.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then \
                       return redis.call('del', KEYS[1]) else return 0 end";

/// Leases of one owner (one consumer process).
#[derive(Clone, Debug)]
pub struct Leases {
    redis: Pool,
    prefix: String,
    owner: String,
    ttl: Duration,
}

impl Leases {
    /// Leases for `owner`, under `prefix`, lasting `ttl` unless renewed.
    #[must_use]
    pub fn new(redis: Pool, prefix: &str, owner: &str, ttl: Duration) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            owner: owner.to_owned(),
            ttl,
        }
    }

    fn key(&self, session: SessionId) -> String {
        format!("{}:lease:{session}", self.prefix)
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// How long a lease lasts without renewal.
    #[must_use]
    pub const fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Takes the lease of `session` if nobody holds it (or we already do).
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn try_acquire(&self, session: SessionId) -> Result<bool, Error> {
        let key = self.key(session);
        let set: Option<String> = self
            .redis
            .set(
                &key,
                self.owner.as_str(),
                Some(Expiration::PX(self.ttl_ms())),
                Some(SetOptions::NX),
                false,
            )
            .await?;
        if set.is_some() {
            return Ok(true);
        }
        // Already ours (a second entry of a session we work on): renew it.
        self.renew(session).await
    }

    /// Extends our lease of `session`; false when it is no longer ours.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn renew(&self, session: SessionId) -> Result<bool, Error> {
        let renewed: i64 = self
            .redis
            .next()
            .eval(
                RENEW,
                vec![self.key(session)],
                vec![self.owner.clone(), self.ttl_ms().to_string()],
            )
            .await?;
        Ok(renewed == 1)
    }

    /// Gives up our lease of `session` (nothing when it is not ours).
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn release(&self, session: SessionId) -> Result<(), Error> {
        let _: i64 = self
            .redis
            .next()
            .eval(RELEASE, vec![self.key(session)], vec![self.owner.clone()])
            .await?;
        Ok(())
    }
}
