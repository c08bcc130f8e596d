//! Figure B3: ten thousand authenticated WebSocket subscribers on one server process.
//!
//! 10,000 users (10 tenants of 1,000) each open a WebSocket, authenticate in `connection_init`
//! and subscribe to `notifications`. The server's resident memory is read from
//! `/proc/<pid>/status` after the first 100 connections (so one-time costs such as the first
//! query plan are not counted per connection) and again once all are subscribed; the difference
//! divided by the other 9,900 is the memory per idle subscriber connection.
//!
//! Then one notification is published to each of the 10,000 users the way the agent publishes
//! it after a commit (`agent::bus::Publisher::to_user`, a Redis PUBLISH on the user's channel),
//! 64 publishes in flight at a time, and each delivery over its WebSocket is timed from the
//! start of its own publish: Redis, the server's one subscriber connection, its fan-out to the
//! GraphQL subscription, and the socket. The harness's 10,000 client connections run in the
//! same process as the publisher, on the same two cores as the server and Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent::bus::{NotificationPayload, Publisher, UserEvent};
use anyhow::{Context as _, bail};
use entity::{NotificationId, Priority};
use fred::interfaces::ClientLike as _;
use futures::StreamExt;
use tokio::sync::Notify;

use crate::client::{OnNext, Subscription, subscribe};
use crate::harness::{Harness, open_files};
use crate::population;
use crate::report::{Row, Section, latency_histogram, load_average, percentiles_ms};

/// Connections opened before the memory baseline is read.
const WARM_CONNECTIONS: usize = 100;
/// WebSockets opened at once.
const CONNECT_CONCURRENCY: usize = 100;
/// Publishes in flight at once.
const PUBLISH_CONCURRENCY: usize = 64;
/// How long deliveries may take before the figure gives up on the missing ones.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// Arrival times, as nanoseconds since `base` (0: not yet), and a count of extra deliveries.
struct Arrivals {
    base: Instant,
    at: Vec<AtomicU64>,
    received: AtomicU64,
    duplicates: AtomicU64,
    done: Notify,
}

impl Arrivals {
    fn on_next(self: &Arc<Self>, user: usize) -> OnNext {
        let me = self.clone();
        Arc::new(move |_data, at: Instant| {
            let nanos = u64::try_from(at.saturating_duration_since(me.base).as_nanos())
                .unwrap_or(u64::MAX)
                .max(1);
            if me.at[user]
                .compare_exchange(0, nanos, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                let received = me.received.fetch_add(1, Ordering::SeqCst) + 1;
                if received as usize == me.at.len() {
                    me.done.notify_waiters();
                }
            } else {
                me.duplicates.fetch_add(1, Ordering::SeqCst);
            }
        })
    }
}

async fn connect_all(
    url: &str,
    users: &[population::BenchUser],
    offset: usize,
    arrivals: &Arc<Arrivals>,
) -> anyhow::Result<Vec<Subscription>> {
    futures::stream::iter(users.iter().enumerate())
        .map(|(i, u)| {
            subscribe(
                url,
                &u.token,
                "subscription { notifications { id } }",
                arrivals.on_next(offset + i),
            )
        })
        .buffered(CONNECT_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .context("opening subscriber WebSockets")
}

/// What a fan-out measurement saw.
#[derive(Debug)]
pub struct Fanout {
    /// Subscribers connected.
    pub connections: usize,
    /// Server RSS (KiB) after the warm-up connections, and with all of them.
    pub rss_kib: (u64, u64),
    /// The server's and the harness's open-file limits.
    pub open_files: (u64, u64),
    /// Seconds to open and subscribe all connections.
    pub connect_s: f64,
    /// Seconds to publish one notification to each.
    pub publish_s: f64,
    /// Publishes that failed.
    pub publish_failures: usize,
    /// Notifications delivered (first delivery per subscriber).
    pub delivered: u64,
    /// Deliveries beyond the first.
    pub duplicates: u64,
    /// Connections still open at the end.
    pub still_open: usize,
    /// Delivery latencies from each publish (µs).
    pub histogram: hdrhistogram::Histogram<u64>,
}

impl Fanout {
    /// Server memory per connection beyond the warm-up ones, in KiB.
    #[must_use]
    pub fn per_connection_kib(&self, warm: usize) -> f64 {
        #[expect(
            clippy::cast_precision_loss,
            reason = "kilobytes and connection counts"
        )]
        let per = self.rss_kib.1.saturating_sub(self.rss_kib.0) as f64
            / (self.connections.saturating_sub(warm)).max(1) as f64;
        per
    }
}

/// Connects `n` subscribers of `tenants` tenants to a fresh server (reading its memory after
/// `warm` of them and after all), publishes one notification to each, and times the deliveries.
///
/// # Errors
/// When the server cannot be set up, the open-file limits are too low, or the connections
/// cannot be opened.
pub async fn fan_out(
    harness: &Harness,
    figure: &str,
    n: usize,
    tenants: usize,
    warm: usize,
) -> anyhow::Result<Fanout> {
    let population = population::create(&harness.db, figure, tenants, n / tenants, false).await?;
    let users = &population.users;
    let llm = Harness::fake_llm().await;
    let server = harness.server(figure, &llm, "warn", &[]).await?;
    let server_files = server.open_file_limit().unwrap_or(0);
    if (server_files as usize) < n + 100 || (open_files() as usize) < n + 100 {
        bail!(
            "open-file limits too low for {n} connections: harness {}, server {server_files}",
            open_files()
        );
    }
    let arrivals = Arc::new(Arrivals {
        base: Instant::now(),
        at: (0..users.len()).map(|_| AtomicU64::new(0)).collect(),
        received: AtomicU64::new(0),
        duplicates: AtomicU64::new(0),
        done: Notify::new(),
    });
    let started = Instant::now();
    let mut subscriptions = connect_all(&server.url, &users[..warm], 0, &arrivals).await?;
    server.wait_for_subscribers(warm).await?;
    let rss_before = server.rss_kib()?;
    subscriptions.extend(connect_all(&server.url, &users[warm..], warm, &arrivals).await?);
    server.wait_for_subscribers(users.len()).await?;
    let connect_s = started.elapsed().as_secs_f64();
    let rss_after = server.rss_kib()?;

    let redis = agent::redis::pool(&testkit::redis_url(), 4)?;
    redis.wait_for_connect().await?;
    let publisher = Publisher::new(redis.clone(), &server.redis_prefix);
    let published: Vec<AtomicU64> = (0..users.len()).map(|_| AtomicU64::new(0)).collect();
    let publish_started = Instant::now();
    let publish_failures = futures::stream::iter(users.iter().enumerate())
        .map(|(i, u)| {
            let (publisher, published, base) = (&publisher, &published, arrivals.base);
            async move {
                let event = UserEvent::Notification(NotificationPayload {
                    id: NotificationId::new(),
                    from: None,
                    message: "The walk-in freezer is at 5 degrees.".into(),
                    priority: Priority::Normal,
                    read: false,
                    source_message_id: None,
                    created_at: chrono::Utc::now(),
                });
                let nanos = u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX);
                published[i].store(nanos, Ordering::SeqCst);
                publisher.to_user(u.id, &event).await.is_err()
            }
        })
        .buffer_unordered(PUBLISH_CONCURRENCY)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await;
    let publish_s = publish_started.elapsed().as_secs_f64();
    let expected = users.len();
    let all = async {
        loop {
            let notified = arrivals.done.notified();
            if arrivals.received.load(Ordering::SeqCst) as usize >= expected {
                return;
            }
            notified.await;
        }
    };
    let _complete = tokio::time::timeout(DELIVERY_TIMEOUT, all).await.is_ok();
    let still_open = subscriptions.iter().filter(|s| s.is_open()).count();
    let mut histogram = latency_histogram()?;
    for (p, a) in published.iter().zip(&arrivals.at) {
        let (p, a) = (p.load(Ordering::SeqCst), a.load(Ordering::SeqCst));
        if a > 0 {
            histogram.record((a.saturating_sub(p) / 1000).max(1))?;
        }
    }
    drop(subscriptions);
    server.stop().await?;
    let _ = fred::interfaces::ClientLike::quit(&redis).await;
    drop(llm);
    Ok(Fanout {
        connections: users.len(),
        rss_kib: (rss_before, rss_after),
        open_files: (server_files, open_files()),
        connect_s,
        publish_s,
        publish_failures,
        delivered: arrivals.received.load(Ordering::SeqCst),
        duplicates: arrivals.duplicates.load(Ordering::SeqCst),
        still_open,
        histogram,
    })
}

/// Runs the figure.
///
/// # Errors
/// When the measurement fails.
pub async fn b3(harness: &Harness) -> anyhow::Result<Section> {
    let n: usize = if harness.quick { 2_000 } else { 10_000 };
    let tenants = 10;
    let load_before = load_average();
    eprintln!("[bench] B3: {n} subscriber WebSockets, one notification to each");
    let f = fan_out(harness, "b3", n, tenants, WARM_CONNECTIONS).await?;
    let load_after = load_average();
    let per_connection_kib = f.per_connection_kib(WARM_CONNECTIONS);
    let (p50, p99) = percentiles_ms(&f.histogram);
    let all_delivered = f.delivered as usize == n && f.duplicates == 0;
    let rows = vec![
        Row::new(
            "B3",
            format!(
                "{n} concurrent authenticated WebSocket subscribers, one notification to each: p99 delivery"
            ),
            "< 200 ms",
            format!(
                "{p99:.1} ms (p50 {p50:.1} ms; {} of {n} delivered)",
                f.delivered
            ),
            Some(p99 < 200.0 && all_delivered),
        ),
        Row::new(
            "B3",
            "memory per idle subscriber connection (RSS delta / connections)",
            "< 30 KB",
            format!("{per_connection_kib:.1} KiB"),
            Some(per_connection_kib * 1024.0 < 30_000.0),
        ),
    ];
    let body = format!(
        "## B3: {n} WebSocket subscribers on one process\n\n\
         {n} users of {tenants} tenants, one WebSocket each (`graphql-transport-ws`, token in \
         `connection_init`, `subscription {{ notifications {{ id }} }}`), opened {CONNECT_CONCURRENCY} \
         at a time in {connect_s:.1} s. Open-file limits: server {server_files}, harness \
         {harness_files}.\n\n\
         | measure | value |\n| --- | ---: |\n\
         | server RSS after {WARM_CONNECTIONS} connections | {before_mib:.1} MiB |\n\
         | server RSS with all {n} subscribed | {after_mib:.1} MiB |\n\
         | per idle connection ((after - before) / {others}) | **{per_connection_kib:.1} KiB** |\n\
         | notifications published (one per user, {PUBLISH_CONCURRENCY} in flight) | {n} in {publish_s:.2} s, {failures} failed |\n\
         | delivered over the WebSockets | {delivered} ({duplicates} twice; {still_open} sockets still open) |\n\
         | delivery latency from each publish: p50 / p99 / max | {p50:.1} ms / **{p99:.1} ms** / {max:.1} ms |\n\n\
         Load average before / after: {load_before} / {load_after}.\n",
        connect_s = f.connect_s,
        server_files = f.open_files.0,
        harness_files = f.open_files.1,
        before_mib = f.rss_kib.0 as f64 / 1024.0,
        after_mib = f.rss_kib.1 as f64 / 1024.0,
        others = n - WARM_CONNECTIONS,
        publish_s = f.publish_s,
        failures = f.publish_failures,
        delivered = f.delivered,
        duplicates = f.duplicates,
        still_open = f.still_open,
        max = f.histogram.max() as f64 / 1000.0,
    );
    Ok(Section {
        id: "b3",
        body,
        rows,
    })
}
