//! Load: sending messages to the agent and matching every `AgentReply` to the message it
//! answers, in two modes.
//!
//! - [`open_loop`]: a **fixed offered rate**. Message `i` is due at `start + i / rate`, whatever
//!   happened to the earlier ones, and its latency is measured from that *intended* send time to
//!   the arrival of its reply over the WebSocket. A stall anywhere (server, database, or the
//!   harness itself falling behind its schedule) therefore shows in the latencies instead of
//!   silently lowering the rate (no coordinated omission).
//! - [`closed_loop`]: maximum throughput. Every slot (a user's session) sends a message, waits
//!   for its reply, and sends the next; replies per second over the measurement window is the
//!   throughput.
//!
//! The [`Tracker`] matches replies to messages. A reply can arrive over the WebSocket *before*
//! the `sendMessage` response that names its message (the agent is that fast), so whichever of
//! the two comes second completes the pair. It also counts what must never happen: a message
//! answered twice, a reply to a message nobody sent. Latencies go to an HDR histogram
//! (microseconds, 3 significant digits).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

use crate::client::{Http, OnNext};
use crate::report::latency_histogram;

/// Longest wait for one reply in the closed loop before the slot gives up on it.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A session the harness sends to, as one of its users.
#[derive(Clone, Debug)]
pub struct Slot {
    /// The user's token.
    pub token: String,
    /// The session.
    pub session: String,
}

struct Pending {
    since: Instant,
    record: bool,
    waiter: Option<oneshot::Sender<()>>,
}

struct State {
    pending: HashMap<String, Pending>,
    early: HashMap<String, Instant>,
    replies: HashMap<String, u32>,
    sent: u64,
    answered: u64,
    duplicates: u64,
    histogram: Histogram<u64>,
}

/// Matches replies to sent messages and records their latencies.
pub struct Tracker {
    state: Mutex<State>,
    changed: Notify,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker").finish_non_exhaustive()
    }
}

/// What the tracker saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Messages accepted by `sendMessage` and registered.
    pub sent: u64,
    /// Of those, answered (first reply).
    pub answered: u64,
    /// Replies beyond the first for a message.
    pub duplicates: u64,
    /// Replies to messages never registered (their `sendMessage` failed or has not returned).
    pub unmatched: u64,
}

impl Tracker {
    /// An empty tracker.
    ///
    /// # Errors
    /// Never in practice (the histogram's bounds are valid).
    pub fn new() -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            state: Mutex::new(State {
                pending: HashMap::new(),
                early: HashMap::new(),
                replies: HashMap::new(),
                sent: 0,
                answered: 0,
                duplicates: 0,
                histogram: latency_histogram()?,
            }),
            changed: Notify::new(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a message accepted by `sendMessage`, whose latency counts from `since` (and is
    /// recorded when `record`); `waiter` is told when it is answered.
    pub fn sent(
        &self,
        message: String,
        since: Instant,
        record: bool,
        waiter: Option<oneshot::Sender<()>>,
    ) {
        let mut s = self.lock();
        s.sent += 1;
        let pending = Pending {
            since,
            record,
            waiter,
        };
        if let Some(at) = s.early.remove(&message) {
            complete(&mut s, pending, at);
            drop(s);
            self.changed.notify_waiters();
        } else {
            s.pending.insert(message, pending);
        }
    }

    /// A reply to `message` arrived at `at`.
    pub fn reply(&self, message: &str, at: Instant) {
        let mut s = self.lock();
        let count = s.replies.entry(message.to_owned()).or_insert(0);
        *count += 1;
        if *count > 1 {
            s.duplicates += 1;
            return;
        }
        match s.pending.remove(message) {
            Some(pending) => {
                complete(&mut s, pending, at);
                drop(s);
                self.changed.notify_waiters();
            }
            None => {
                s.early.insert(message.to_owned(), at);
            }
        }
    }

    /// A WebSocket callback that feeds `conversationEvents` replies to this tracker.
    #[must_use]
    pub fn on_conversation_event(self: &Arc<Self>) -> OnNext {
        let tracker = self.clone();
        Arc::new(move |data: &Value, at: Instant| {
            if let Some(reply_to) = data["conversationEvents"]["replyTo"].as_str() {
                tracker.reply(reply_to, at);
            }
        })
    }

    /// The counts so far.
    #[must_use]
    pub fn counts(&self) -> Counts {
        let s = self.lock();
        Counts {
            sent: s.sent,
            answered: s.answered,
            duplicates: s.duplicates,
            unmatched: s.early.len() as u64,
        }
    }

    /// A copy of the latency histogram (microseconds).
    #[must_use]
    pub fn histogram(&self) -> Histogram<u64> {
        self.lock().histogram.clone()
    }

    /// Clears the latency histogram (after a warm-up).
    pub fn reset_histogram(&self) {
        self.lock().histogram.reset();
    }

    /// Waits until every registered message is answered, at most `timeout`; returns whether they
    /// all were.
    pub async fn wait_all_answered(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            {
                let s = self.lock();
                if s.answered >= s.sent {
                    return true;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}

fn complete(s: &mut State, pending: Pending, at: Instant) {
    s.answered += 1;
    if pending.record {
        let us = at.saturating_duration_since(pending.since).as_micros();
        let _ = s
            .histogram
            .record(u64::try_from(us).unwrap_or(u64::MAX).max(1));
    }
    if let Some(waiter) = pending.waiter {
        let _ = waiter.send(());
    }
}

/// What a load run did.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Messages accepted by `sendMessage` in the measured part.
    pub sent: u64,
    /// `sendMessage` calls that failed.
    pub send_errors: u64,
    /// The first send error, for the log.
    pub first_error: Option<String>,
    /// Replies received during the measurement window (closed loop).
    pub answered_in_window: u64,
    /// The measurement window.
    pub window: Duration,
    /// How far the open loop's scheduler fell behind its schedule at worst.
    pub max_schedule_lag: Duration,
}

impl Run {
    /// Replies per second in the window.
    #[must_use]
    pub fn throughput(&self) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "message counts")]
        let n = self.answered_in_window as f64;
        n / self.window.as_secs_f64().max(1e-9)
    }
}

#[derive(Default)]
struct Errors {
    count: u64,
    first: Option<String>,
}

fn note_error(errors: &Mutex<Errors>, e: &anyhow::Error) {
    let mut errors = errors.lock().unwrap_or_else(PoisonError::into_inner);
    errors.count += 1;
    if errors.first.is_none() {
        errors.first = Some(format!("{e:#}"));
    }
}

/// Sends `rate` messages per second for `duration`, round robin over `slots`, each at its
/// intended time (see the module documentation), with `content(i)` as the text. Latencies are
/// recorded from the intended send times. Returns once every message is sent (not answered:
/// use [`Tracker::wait_all_answered`]).
pub async fn open_loop(
    http: &Http,
    slots: &[Slot],
    tracker: &Arc<Tracker>,
    rate: f64,
    duration: Duration,
    content: fn(usize) -> &'static str,
) -> Run {
    let n = (rate * duration.as_secs_f64()).round();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a positive count of messages"
    )]
    let n = n.max(0.0) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-9));
    let errors = Arc::new(Mutex::new(Errors::default()));
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(n);
    let mut max_lag = Duration::ZERO;
    for i in 0..n {
        #[expect(clippy::cast_possible_truncation, reason = "at most millions")]
        let intended = start + interval * (i as u32);
        tokio::time::sleep_until(intended.into()).await;
        max_lag = max_lag.max(Instant::now().saturating_duration_since(intended));
        let slot = slots[i % slots.len()].clone();
        let (http, tracker, errors) = (http.clone(), tracker.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            match http
                .send_message(&slot.token, Some(&slot.session), content(i))
                .await
            {
                Ok(sent) => tracker.sent(sent.message_id, intended, true, None),
                Err(e) => note_error(&errors, &e),
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(PoisonError::into_inner));
    Run {
        sent: n as u64 - errors.count,
        send_errors: errors.count,
        first_error: errors.first,
        answered_in_window: 0,
        window: duration,
        max_schedule_lag: max_lag,
    }
}

/// Every slot sends, waits for the reply, and sends again, for `warmup` then `duration`;
/// throughput and latencies count only the measurement window after the warm-up.
pub async fn closed_loop(
    http: &Http,
    slots: &[Slot],
    tracker: &Arc<Tracker>,
    warmup: Duration,
    duration: Duration,
    content: fn(usize) -> &'static str,
) -> Run {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let errors = Arc::new(Mutex::new(Errors::default()));
    let sent_in_window = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(slots.len());
    for (k, slot) in slots.iter().cloned().enumerate() {
        let (http, tracker, errors, sent_in_window) = (
            http.clone(),
            tracker.clone(),
            errors.clone(),
            sent_in_window.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = k;
            while Instant::now() < end {
                let since = Instant::now();
                let record = since >= measure_from;
                match http
                    .send_message(&slot.token, Some(&slot.session), content(i))
                    .await
                {
                    Ok(sent) => {
                        if record {
                            sent_in_window.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        let (tx, rx) = oneshot::channel();
                        tracker.sent(sent.message_id, since, record, Some(tx));
                        if tokio::time::timeout(REPLY_TIMEOUT, rx).await.is_err() {
                            note_error(
                                &errors,
                                &anyhow::anyhow!("no reply within {REPLY_TIMEOUT:?}"),
                            );
                        }
                    }
                    Err(e) => {
                        note_error(&errors, &e);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                i += slots_len_hint();
            }
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let at_start = tracker.counts().answered;
    tracker.reset_histogram();
    tokio::time::sleep_until(end.into()).await;
    let at_end = tracker.counts().answered;
    for task in tasks {
        let _ = task.await;
    }
    let errors = std::mem::take(&mut *errors.lock().unwrap_or_else(PoisonError::into_inner));
    Run {
        sent: sent_in_window.load(std::sync::atomic::Ordering::Relaxed),
        send_errors: errors.count,
        first_error: errors.first,
        answered_in_window: at_end - at_start,
        window: duration,
        max_schedule_lag: Duration::ZERO,
    }
}

/// Step between the texts one slot sends (any odd number spreads them over the questions).
const fn slots_len_hint() -> usize {
    7
}
