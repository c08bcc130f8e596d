//! The users that tokens name, remembered for a short while. Every authenticated request must
//! check that its token's user still exists in its tenant and read the stored role; doing that in
//! Postgres costs a tenant transaction (four round trips) per request, more than the rest of a
//! `me` query together. [`UserCache`] keeps each looked-up user for [`UserCache::ttl`]
//! (`AUTH_CACHE_TTL`) and forgets a tenant's users the moment any process announces a change
//! of that tenant (the same `TenantEvent::Changed` that reloads the agents' rosters, sent by
//! `concierge user create` and by knowledge changes), so a change made through Concierge is seen
//! at once and one made behind its back (SQL by hand) within the TTL. `AUTH_CACHE_TTL=0` turns the
//! cache off.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use entity::{Db, TenantId, TenantScoped, UserId, user};

use crate::error::ApiError;

/// At most this many users are remembered; past it the cache starts over (a burst of distinct
/// callers costs one lookup each again, never unbounded memory).
const MAX_USERS: usize = 100_000;

/// Recently looked-up users, by id.
#[derive(Debug)]
pub struct UserCache {
    ttl: Duration,
    users: Mutex<HashMap<UserId, (Instant, user::Model)>>,
}

impl UserCache {
    /// A cache keeping users for `ttl` (zero: never kept).
    #[must_use]
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            users: Mutex::new(HashMap::new()),
        }
    }

    /// How long a looked-up user is kept.
    #[must_use]
    pub const fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The user `id` of `tenant`: remembered if looked up less than the TTL ago, else read in
    /// a transaction scoped to `tenant` (so a token can never reach another tenant's user).
    /// `None` when the tenant has no such user.
    ///
    /// # Errors
    /// Database failures.
    pub async fn get(
        &self,
        db: &Db,
        tenant: TenantId,
        id: UserId,
    ) -> Result<Option<user::Model>, ApiError> {
        if let Some(user) = self.remembered(tenant, id) {
            return Ok(Some(user));
        }
        let txn = db.begin_in_tenant(tenant).await?;
        let user = user::Entity::find_by_id_in_tenant(tenant, id)
            .one(&txn)
            .await?;
        txn.commit().await?;
        if let Some(user) = &user {
            self.remember(user.clone());
        }
        Ok(user)
    }

    fn remembered(&self, tenant: TenantId, id: UserId) -> Option<user::Model> {
        let users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        users
            .get(&id)
            .filter(|(at, user)| at.elapsed() < self.ttl && user.tenant_id == tenant)
            .map(|(_, user)| user.clone())
    }

    fn remember(&self, user: user::Model) {
        if self.ttl.is_zero() {
            return;
        }
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if users.len() >= MAX_USERS {
            users.clear();
        }
        users.insert(user.id, (Instant::now(), user));
    }

    /// Forgets the users of `tenant` (its roster changed).
    pub fn forget_tenant(&self, tenant: TenantId) {
        self.users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (_, user)| user.tenant_id != tenant);
    }

    /// Forgets everyone (change announcements may have been missed).
    pub fn clear(&self) {
        self.users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
