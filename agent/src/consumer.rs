//! The Redis Streams consumer: reads the message stream through the consumer group `agents`
//! (see [`crate::stream`] for the contract), and runs the messages of many sessions at once while
//! keeping each session's messages strictly in order, also with several processes.
//!
//! How the parts fit:
//!
//! - **Reading.** One dedicated client (a blocking XREADGROUP holds its connection, so never the
//!   shared pool) reads up to as many entries as may still be held locally
//!   ([`ConsumerConfig::max_held`]) and hands each to the worker of its session.
//! - **Sessions.** One task per session with held entries. It takes the session's lease
//!   ([`crate::lease`]; waits, with backoff, while another process holds it), then asks the
//!   [`SessionHandler`] to process the session's *oldest unfinished* message until none is left:
//!   work is ordered by Postgres, not by which process got which entry, so order holds across
//!   processes. Then it acks every entry it held and releases the lease. An entry counts as
//!   covered only by a look that began after it arrived: one that arrives while the last look
//!   finds nothing starts another round. A message is processed under one of
//!   [`ConsumerConfig::concurrency`] permits, so different sessions and tenants never wait for
//!   each other beyond that limit.
//! - **Nothing lost.** An entry is acked only after its message has an outcome. Entries of a
//!   process that died stay pending and are taken over with XAUTOCLAIM once idle for
//!   [`ConsumerConfig::reclaim_idle`] ([`Consumer::reclaim`]). Messages whose entry never reached
//!   the stream (Redis was down) or was lost with Redis are re-enqueued by [`Consumer::sweep`]
//!   from Postgres. Processing a message twice is harmless: the handler acks a message that
//!   already has its outcome, and the one-reply-per-message index makes the commit exactly-once.
//! - **Failures.** The handler decides retry or failure (attempts are counted on the message in
//!   Postgres; after the configured number it ends FAILED, the dead letter). A retry keeps the
//!   session's order: the session waits, other sessions go on.
//!
//! [`Consumer::process_next`] is one read round, for tests to drive; [`Consumer::run`] adds the
//! loops and shutdown handling.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use entity::{Db, MessageId, MessageStatus, SessionId};
use fred::prelude::*;
use fred::types::Value as RedisValue;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lease::Leases;
use crate::stream::{self, FIELD, GROUP, StreamEntry, StreamKeys};
use crate::telemetry;

/// Settings of the consumer.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    /// Messages processed at once by this process (`WORKER_CONCURRENCY`).
    pub concurrency: usize,
    /// Entries held in memory at once (read but not yet acked).
    pub max_held: usize,
    /// How long one XREADGROUP blocks waiting for entries (short enough to notice shutdown).
    pub read_block: Duration,
    /// An entry pending this long on any consumer is taken over (its consumer is presumed dead).
    pub reclaim_idle: Duration,
    /// How often pending entries are checked for takeover.
    pub reclaim_interval: Duration,
    /// How often Postgres is checked for messages missing from the stream.
    pub sweep_interval: Duration,
    /// A QUEUED message older than this is re-enqueued by the sweep.
    pub sweep_min_age: Duration,
    /// How long a session lease lasts without renewal.
    pub lease_ttl: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            // Most of a message's time is the LLM call, which holds a permit and nothing else
            // (no database connection): a low limit would serialise sessions behind a slow model.
            concurrency: 1024,
            max_held: 4096,
            read_block: Duration::from_secs(1),
            reclaim_idle: Duration::from_secs(60),
            reclaim_interval: Duration::from_secs(10),
            sweep_interval: Duration::from_secs(15),
            sweep_min_age: Duration::from_secs(30),
            lease_ttl: Duration::from_secs(30),
        }
    }
}

/// Asks for the session to be tried again later (a transient failure: LLM or database down).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// When to try again.
    pub after: Duration,
    /// Why, for the log.
    pub reason: String,
}

/// Processes the messages of a session; implemented by the agent's turn pipeline.
#[async_trait]
pub trait SessionHandler: Send + Sync + 'static {
    /// Processes the oldest user message of `entry`'s session that has no outcome yet: claims it,
    /// answers it or fails it for good. Returns the message that got its outcome, or `None` when
    /// the session has no unfinished message.
    ///
    /// # Errors
    /// [`Retry`] when the message must be tried again later (it keeps no outcome meanwhile).
    async fn process_oldest(&self, entry: &StreamEntry) -> Result<Option<MessageId>, Retry>;
}

/// Reading or acking the stream failed.
#[derive(Debug, thiserror::Error)]
#[error("stream consumer: {0}")]
pub struct ConsumerError(String);

impl From<Error> for ConsumerError {
    fn from(e: Error) -> Self {
        Self(e.to_string())
    }
}

/// An entry held by a session worker until its session is done.
struct Held {
    id: String,
    entry: StreamEntry,
}

struct Shared<H> {
    handler: Arc<H>,
    redis: Pool,
    keys: StreamKeys,
    leases: Leases,
    permits: Arc<Semaphore>,
    held: AtomicUsize,
    /// Signalled when held entries are released, so a full reader can read again.
    room: Notify,
    sessions: Mutex<HashMap<SessionId, mpsc::UnboundedSender<Held>>>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

/// The consumer of one process.
pub struct Consumer<H> {
    shared: Arc<Shared<H>>,
    reader: Client,
    name: String,
    config: ConsumerConfig,
    db: Db,
}

impl<H> std::fmt::Debug for Consumer<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<H: SessionHandler> Consumer<H> {
    /// A consumer named `name` (unique per process) reading through `reader`, a client of its
    /// own. Call [`Consumer::ensure_group`] before reading.
    #[must_use]
    pub fn new(
        handler: Arc<H>,
        db: Db,
        redis: Pool,
        reader: Client,
        prefix: &str,
        name: &str,
        config: ConsumerConfig,
    ) -> Self {
        let shared = Arc::new(Shared {
            handler,
            leases: Leases::new(redis.clone(), prefix, name, config.lease_ttl),
            redis,
            keys: StreamKeys::new(prefix),
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            held: AtomicUsize::new(0),
            room: Notify::new(),
            sessions: Mutex::new(HashMap::new()),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
        });
        Self {
            shared,
            reader,
            name: name.to_owned(),
            config,
            db,
        }
    }

    /// This consumer's name in the group.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Entries read but not yet acked.
    #[must_use]
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::Relaxed)
    }

    /// Creates the stream and the consumer group if they do not exist.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn ensure_group(&self) -> Result<(), ConsumerError> {
        let created: Result<String, Error> = self
            .shared
            .redis
            .xgroup_create(&self.shared.keys.stream, GROUP, "0", true)
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if e.details().contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// One read round: reads new entries (blocking up to [`ConsumerConfig::read_block`]) and hands
    /// them to their sessions' workers. Returns how many entries were read.
    ///
    /// # Errors
    /// When Redis fails (a missing group is recreated).
    pub async fn process_next(&self) -> Result<usize, ConsumerError> {
        let room = self.config.max_held.saturating_sub(self.held());
        if room == 0 {
            // Everything we may hold is held: wait for a session to finish instead of reading.
            self.shared.room.notified().await;
            return Ok(0);
        }
        let block = u64::try_from(self.config.read_block.as_millis()).unwrap_or(1000);
        let read: Result<RedisValue, Error> = self
            .reader
            .xreadgroup(
                GROUP,
                self.name.as_str(),
                Some(room as u64),
                Some(block),
                false,
                &self.shared.keys.stream,
                ">",
            )
            .await;
        let value = match read {
            Ok(value) => value,
            Err(e) if e.details().contains("NOGROUP") => {
                tracing::warn!("the consumer group is gone (Redis lost its data?); recreating it");
                self.ensure_group().await?;
                return Ok(0);
            }
            Err(e) => return Err(e.into()),
        };
        let entries = parse_read(value);
        let n = entries.len();
        telemetry::stream_entries(telemetry::STREAM_READ, n);
        self.dispatch_all(entries).await;
        Ok(n)
    }

    /// Takes over entries that have been pending on any consumer for longer than
    /// [`ConsumerConfig::reclaim_idle`]. Returns how many were taken over.
    ///
    /// # Errors
    /// When Redis fails.
    pub async fn reclaim(&self) -> Result<usize, ConsumerError> {
        let idle = u64::try_from(self.config.reclaim_idle.as_millis()).unwrap_or(u64::MAX);
        let mut start = "0-0".to_owned();
        let mut total = 0;
        loop {
            let value: RedisValue = self
                .shared
                .redis
                .next()
                .xautoclaim(
                    &self.shared.keys.stream,
                    GROUP,
                    self.name.as_str(),
                    idle,
                    start.as_str(),
                    Some(100),
                    false,
                )
                .await?;
            let (next, entries) = parse_autoclaim(value);
            total += entries.len();
            telemetry::stream_entries(telemetry::STREAM_RECLAIMED, entries.len());
            if !entries.is_empty() {
                tracing::info!(
                    entries = entries.len(),
                    "took over pending entries of an idle consumer"
                );
            }
            self.dispatch_all(entries).await;
            if next == "0-0" || next.is_empty() {
                break;
            }
            start = next;
        }
        Ok(total)
    }

    /// Re-enqueues messages that are QUEUED in Postgres for longer than
    /// [`ConsumerConfig::sweep_min_age`] (their entry may never have reached the stream), and
    /// PROCESSING ones idle for longer than the reclaim time plus a lease (their entry may have
    /// been lost with Redis). Duplicates are harmless. Returns how many were enqueued.
    ///
    /// # Errors
    /// When Postgres or Redis fails.
    pub async fn sweep(&self) -> Result<usize, ConsumerError> {
        let processing_age = self.config.reclaim_idle + self.config.lease_ttl * 2;
        let found = self
            .db
            .find_unfinished_messages(self.config.sweep_min_age, 500)
            .await
            .map_err(|e| ConsumerError(e.to_string()))?;
        let mut enqueued = 0;
        for m in found {
            if m.status == MessageStatus::Processing && m.message_id.age() < processing_age {
                continue;
            }
            let entry = StreamEntry {
                tenant_id: m.tenant_id,
                user_id: m.user_id,
                session_id: m.session_id,
                message_id: m.message_id,
                traceparent: None,
            };
            stream::enqueue(
                &self.shared.redis,
                &self.shared.keys,
                &entry,
                Duration::from_secs(5),
            )
            .await
            .map_err(|e| ConsumerError(e.to_string()))?;
            enqueued += 1;
        }
        if enqueued > 0 {
            telemetry::stream_entries(telemetry::STREAM_SWEPT, enqueued);
            tracing::info!(enqueued, "sweep re-enqueued unfinished messages");
        }
        Ok(enqueued)
    }

    /// Hands entries to their sessions' workers; acks malformed ones (they can never be processed).
    async fn dispatch_all(&self, entries: Vec<(String, Option<StreamEntry>)>) {
        let mut poison = Vec::new();
        for (id, entry) in entries {
            match entry {
                Some(entry) => self.dispatch(id, entry),
                None => poison.push(id),
            }
        }
        if !poison.is_empty() {
            telemetry::stream_entries(telemetry::STREAM_MALFORMED, poison.len());
            tracing::warn!(entries = ?poison, "malformed stream entries dropped");
            let acked: Result<i64, Error> = self
                .shared
                .redis
                .next()
                .xack(&self.shared.keys.stream, GROUP, poison)
                .await;
            if let Err(e) = acked {
                tracing::warn!(error = %e, "could not ack malformed entries");
            }
        }
    }

    /// Hands an entry to the worker of its session, starting one if needed.
    fn dispatch(&self, id: String, entry: StreamEntry) {
        self.shared.held.fetch_add(1, Ordering::Relaxed);
        let session = entry.session_id;
        let held = Held { id, entry };
        let start = {
            let mut sessions = self
                .shared
                .sessions
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match sessions.get(&session) {
                Some(tx) => match tx.send(held) {
                    Ok(()) => None,
                    Err(mpsc::error::SendError(held)) => Some(held),
                },
                None => Some(held),
            }
            .map(|held| {
                let (tx, rx) = mpsc::unbounded_channel();
                sessions.insert(session, tx);
                (held, rx)
            })
        };
        if let Some((first, rx)) = start {
            let shared = self.shared.clone();
            self.shared
                .tasks
                .spawn(session_worker(shared, session, first, rx));
        }
    }

    /// Reads, reclaims and sweeps until `shutdown` is cancelled, then stops reading and waits for
    /// the sessions in progress to finish their current message (at most `drain_timeout`); no
    /// session starts another message after the signal. Entries not processed stay pending for
    /// another process.
    ///
    /// A read in flight is never cancelled: Redis hands the entries to this consumer as soon as it
    /// answers, and a dropped answer would leave them pending until the reclaim. So reclaim and
    /// sweep run on their own timers, and shutdown is noticed between reads (each blocks at most
    /// [`ConsumerConfig::read_block`]).
    pub async fn run(self, shutdown: CancellationToken, drain_timeout: Duration) {
        if let Err(e) = self.ensure_group().await {
            tracing::warn!(error = %e, "could not create the consumer group yet; retrying while reading");
        }
        let this = Arc::new(self);
        // From the signal on, no session starts another message (the ones in progress finish);
        // entries read meanwhile stay pending for another process.
        let stop_sessions = {
            let (shutdown, stop) = (shutdown.clone(), this.shared.stop.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = shutdown.cancelled() => stop.cancel(),
                    () = stop.cancelled() => {}
                }
            })
        };
        let reclaim = tokio::spawn(every(this.config.reclaim_interval, shutdown.clone(), {
            let this = this.clone();
            move || {
                let this = this.clone();
                async move {
                    if let Err(e) = this.reclaim().await {
                        tracing::warn!(error = %e, "reclaim failed");
                    }
                }
            }
        }));
        let sweep = tokio::spawn(every(this.config.sweep_interval, shutdown.clone(), {
            let this = this.clone();
            move || {
                let this = this.clone();
                async move {
                    if let Err(e) = this.sweep().await {
                        tracing::warn!(error = %e, "sweep failed");
                    }
                }
            }
        }));
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            let read = tokio::select! {
                // Only a wait for room may be abandoned: no read is in flight then.
                () = shutdown.cancelled(), if this.held() >= this.config.max_held => break,
                read = this.process_next() => read,
            };
            match read {
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "reading the stream failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    let _ = this.ensure_group().await;
                }
            }
        }
        let _ = tokio::join!(reclaim, sweep);
        this.shared.stop.cancel();
        let _ = stop_sessions.await;
        this.shared.tasks.close();
        if tokio::time::timeout(drain_timeout, this.shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "sessions still in progress at the end of the drain time; their entries stay pending"
            );
        }
    }
}

/// Runs `job` every `period` until `shutdown` is cancelled (a run in progress finishes first).
async fn every<F, Fut>(period: Duration, shutdown: CancellationToken, job: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => job().await,
        }
    }
}

/// Works through one session: see the module documentation.
async fn session_worker<H: SessionHandler>(
    shared: Arc<Shared<H>>,
    session: SessionId,
    first: Held,
    mut rx: mpsc::UnboundedReceiver<Held>,
) {
    let mut held = vec![first];
    loop {
        while let Ok(more) = rx.try_recv() {
            held.push(more);
        }
        let Some(sample) = held.first().map(|h| h.entry.clone()) else {
            break;
        };
        if !acquire(&shared, session).await {
            // Stopping: leave the entries pending for another process.
            break;
        }
        let done = work(&shared, &sample, &mut rx, &mut held).await;
        if let Err(e) = shared.leases.release(session).await {
            tracing::warn!(session.id = %session, error = %e, "could not release the session lease; it expires on its own");
        }
        if !done {
            break;
        }
        ack(&shared, &held).await;
        release(&shared, held.len());
        held.clear();
        // Exit only if nothing arrived meanwhile (checked under the dispatch lock).
        let mut sessions = shared
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match rx.try_recv() {
            Ok(more) => held.push(more),
            Err(_) => {
                sessions.remove(&session);
                return;
            }
        }
    }
    // Stopped without finishing: hand back the count and forget the session.
    release(&shared, held.len());
    shared
        .sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&session);
}

/// Gives back room for `n` entries to the reader.
fn release<H>(shared: &Shared<H>, n: usize) {
    shared.held.fetch_sub(n, Ordering::Relaxed);
    shared.room.notify_one();
}

/// Waits for the session's lease; false when stopping.
async fn acquire<H>(shared: &Shared<H>, session: SessionId) -> bool {
    let mut backoff = Duration::from_millis(25);
    loop {
        match shared.leases.try_acquire(session).await {
            Ok(true) => return true,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(session.id = %session, error = %e, "could not take the session lease")
            }
        }
        tokio::select! {
            () = shared.stop.cancelled() => return false,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

/// Processes the session's unfinished messages, oldest first, while holding its lease. Returns
/// false when stopped before the session was done.
async fn work<H: SessionHandler>(
    shared: &Shared<H>,
    sample: &StreamEntry,
    rx: &mut mpsc::UnboundedReceiver<Held>,
    held: &mut Vec<Held>,
) -> bool {
    let session = sample.session_id;
    let mut renew = tokio::time::interval(shared.leases.ttl() / 3);
    renew.tick().await;
    loop {
        if shared.stop.is_cancelled() {
            return false;
        }
        // The entries that arrived before this look are covered by it (a message is committed
        // before its entry is appended). One arriving during the look is not: its message may
        // have committed after the look began, so it stays in `rx` for the next round.
        while let Ok(more) = rx.try_recv() {
            held.push(more);
        }
        let outcome = {
            let Ok(_permit) = shared.permits.clone().acquire_owned().await else {
                return false;
            };
            let process = shared.handler.process_oldest(sample);
            tokio::pin!(process);
            loop {
                tokio::select! {
                    outcome = &mut process => break outcome,
                    _ = renew.tick() => {
                        if let Ok(false) = shared.leases.renew(session).await {
                            tracing::warn!(session.id = %session, "lost the session lease while working");
                        }
                    }
                }
            }
        };
        match outcome {
            Ok(Some(_)) => {}
            Ok(None) => return true,
            Err(retry) => {
                tracing::warn!(session.id = %session, reason = %retry.reason, retry_in = ?retry.after, "message will be retried");
                tokio::select! {
                    () = shared.stop.cancelled() => return false,
                    () = tokio::time::sleep(retry.after) => {}
                }
                let _ = shared.leases.renew(session).await;
            }
        }
    }
}

async fn ack<H>(shared: &Shared<H>, held: &[Held]) {
    if held.is_empty() {
        return;
    }
    let ids: Vec<String> = held.iter().map(|h| h.id.clone()).collect();
    let acked: Result<i64, Error> = shared
        .redis
        .next()
        .xack(&shared.keys.stream, GROUP, ids)
        .await;
    if let Err(e) = acked {
        // The entries stay pending; after a takeover their messages are found finished and acked.
        tracing::warn!(error = %e, "could not ack entries");
    }
}

/// An entry id and the entry, `None` when malformed.
type Parsed = (String, Option<StreamEntry>);

/// `[[stream, [[id, [field, value, ...]], ...]]]` (or nil) -> entries.
fn parse_read(value: RedisValue) -> Vec<Parsed> {
    let RedisValue::Array(streams) = value else {
        return Vec::new();
    };
    streams
        .into_iter()
        .filter_map(|s| match s {
            RedisValue::Array(mut pair) if pair.len() == 2 => pair.pop(),
            _ => None,
        })
        .flat_map(parse_entries)
        .collect()
}

/// `[next, [[id, [field, value, ...]], ...], deleted?]` -> (next, entries).
fn parse_autoclaim(value: RedisValue) -> (String, Vec<Parsed>) {
    let RedisValue::Array(parts) = value else {
        return (String::new(), Vec::new());
    };
    let mut parts = parts.into_iter();
    let next = parts.next().and_then(|v| v.as_string()).unwrap_or_default();
    let entries = parts.next().map(parse_entries).unwrap_or_default();
    (next, entries)
}

fn parse_entries(value: RedisValue) -> Vec<Parsed> {
    let RedisValue::Array(entries) = value else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|e| {
            let RedisValue::Array(parts) = e else {
                return None;
            };
            let mut parts = parts.into_iter();
            let id = parts.next()?.as_string()?;
            let RedisValue::Array(fields) = parts.next()? else {
                return None;
            };
            let json = fields
                .chunks(2)
                .find(|kv| {
                    kv.first()
                        .and_then(RedisValue::as_str)
                        .is_some_and(|k| k == FIELD)
                })
                .and_then(|kv| kv.get(1))
                .and_then(RedisValue::as_string);
            let entry = json
                .as_deref()
                .and_then(|j| serde_json::from_str::<StreamEntry>(j).ok());
            Some((id, entry))
        })
        .collect()
}
