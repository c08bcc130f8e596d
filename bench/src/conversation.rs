//! Figures B1, B2 and B4: messages through the whole product. A user sends `sendMessage` over
//! HTTP; the server stores it, queues it on the Redis stream; the agent runtime (in the same
//! `concierge serve` process) claims it, retrieves knowledge, calls the LLM (the fake Gemini,
//! over HTTP, streaming), commits the reply and publishes it; the user receives `AgentReply`
//! over a WebSocket subscription (`conversationEvents`). Every figure sends to one session per
//! user, users spread over many tenants, each tenant with the demo knowledge of a restaurant or
//! a property.
//!
//! - **B1**: the LLM answers at once. Throughput: a closed loop over many sessions (each sends,
//!   waits for its reply, sends again). Latency: an open loop at 500 messages per second
//!   offered, each message timed from its intended send time to its `AgentReply`.
//! - **B2**: the LLM takes one second. A closed loop over 1,000 sessions: with enough
//!   concurrency in the runtime this approaches 1,000 messages per second.
//! - **B4**: the server logs each message's time split (wall time of the turn, and the time
//!   spent waiting on Postgres, Redis and the LLM: `entity::waits`, logged by `agent::turn`
//!   under `concierge::time_split`), at a moderate open-loop rate; orchestration is what is left.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::Value;

use crate::client::{Http, Subscription, subscribe};
use crate::harness::Harness;
use crate::load::{Run, Slot, Tracker, closed_loop, open_loop};
use crate::population::{self, QUESTIONS};
use crate::report::{Row, Section, latency_histogram, load_average, percentiles_ms};
use crate::server::Server;

/// What the harness subscribes to: only the reply's `replyTo` is needed.
const SUBSCRIPTION: &str = "subscription { conversationEvents { ... on AgentReply { replyTo } } }";
/// WebSockets opened at once while setting up.
const CONNECT_CONCURRENCY: usize = 64;
/// How long the last replies of a run may take to arrive.
const DRAIN: Duration = Duration::from_secs(30);

fn question(i: usize) -> &'static str {
    QUESTIONS[i % QUESTIONS.len()]
}

/// A server with users connected and one session per user, warmed up.
pub struct Stage {
    /// The server.
    pub server: Server,
    /// HTTP client.
    pub http: Http,
    /// Matches replies to messages.
    pub tracker: Arc<Tracker>,
    /// One session per user, users interleaved across tenants.
    pub slots: Vec<Slot>,
    subscriptions: Vec<Subscription>,
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage")
            .field("server", &self.server.url)
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Stage {
    /// Creates `tenants` x `users_per_tenant` users, starts a server with `env`, connects every
    /// user's subscription, and starts one session per user with a first message (which also
    /// warms the server's caches: tenant agents, session memory, prepared statements).
    ///
    /// # Errors
    /// When setting up fails or the first messages are not all answered.
    pub async fn new(
        harness: &Harness,
        figure: &str,
        llm: &testkit::fake_llm::FakeGemini,
        tenants: usize,
        users_per_tenant: usize,
        log_filter: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let population =
            population::create(&harness.db, figure, tenants, users_per_tenant, true).await?;
        let server = harness.server(figure, llm, log_filter, env).await?;
        let http = Http::new(&server.url)?;
        let tracker = Tracker::new()?;
        // Users interleaved across tenants: user 0 of every tenant, then user 1, ...
        let mut order: Vec<usize> = (0..population.users.len()).collect();
        order.sort_by_key(|&k| (k % users_per_tenant, k / users_per_tenant));
        let users: Vec<_> = order
            .into_iter()
            .map(|k| population.users[k].clone())
            .collect();
        let on_next = tracker.on_conversation_event();
        let subscriptions: Vec<Subscription> = futures::stream::iter(users.iter())
            .map(|u| subscribe(&server.url, &u.token, SUBSCRIPTION, on_next.clone()))
            .buffered(CONNECT_CONCURRENCY)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()
            .context("connecting the users' WebSockets")?;
        server.wait_for_subscribers(users.len()).await?;
        // One session per user, started by a first message.
        let sessions: Vec<anyhow::Result<String>> = futures::stream::iter(users.iter().enumerate())
            .map(|(i, u)| {
                let (http, tracker) = (http.clone(), tracker.clone());
                async move {
                    let since = std::time::Instant::now();
                    let sent = http.send_message(&u.token, None, question(i)).await?;
                    tracker.sent(sent.message_id, since, false, None);
                    Ok(sent.session_id)
                }
            })
            .buffered(CONNECT_CONCURRENCY)
            .collect()
            .await;
        let mut slots = Vec::with_capacity(users.len());
        for (u, session) in users.iter().zip(sessions) {
            slots.push(Slot {
                token: u.token.clone(),
                session: session.context("starting a session")?,
            });
        }
        if !tracker.wait_all_answered(DRAIN).await {
            bail!(
                "warm-up: not every first message was answered: {:?}; see {}",
                tracker.counts(),
                server.log_path.display()
            );
        }
        Ok(Self {
            server,
            http,
            tracker,
            slots,
            subscriptions,
        })
    }

    /// Whether every user's WebSocket is still open.
    #[must_use]
    pub fn connected(&self) -> usize {
        self.subscriptions.iter().filter(|s| s.is_open()).count()
    }

    /// Stops the server.
    ///
    /// # Errors
    /// When Redis cannot be cleaned.
    pub async fn stop(self) -> anyhow::Result<()> {
        drop(self.subscriptions);
        self.server.stop().await
    }
}

/// The outcome of one load run, checked: every message sent answered exactly once.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The run.
    pub run: Run,
    /// Latencies (µs).
    pub histogram: Histogram<u64>,
    /// Messages sent in the whole stage so far, answered, answered twice, replies to nothing.
    pub counts: crate::load::Counts,
    /// Whether everything sent was answered, exactly once, within the drain time.
    pub all_answered_once: bool,
}

async fn settle(stage: &Stage, run: Run) -> Checked {
    let drained = stage.tracker.wait_all_answered(DRAIN).await;
    let counts = stage.tracker.counts();
    Checked {
        run,
        histogram: stage.tracker.histogram(),
        all_answered_once: drained
            && counts.answered == counts.sent
            && counts.duplicates == 0
            && counts.unmatched == 0,
        counts,
    }
}

/// Open loop at `rate` for `duration`, then waits for the stragglers.
pub async fn measure_open(stage: &Stage, rate: f64, duration: Duration) -> Checked {
    stage.tracker.reset_histogram();
    let run = open_loop(
        &stage.http,
        &stage.slots,
        &stage.tracker,
        rate,
        duration,
        question,
    )
    .await;
    settle(stage, run).await
}

/// Closed loop over the first `sessions` slots.
pub async fn measure_closed(
    stage: &Stage,
    sessions: usize,
    warmup: Duration,
    duration: Duration,
) -> Checked {
    let slots = &stage.slots[..sessions.min(stage.slots.len())];
    let run = closed_loop(
        &stage.http,
        slots,
        &stage.tracker,
        warmup,
        duration,
        question,
    )
    .await;
    settle(stage, run).await
}

fn check_line(c: &Checked) -> String {
    format!(
        "{} sent, {} answered, {} answered twice, {} replies to unknown messages, {} send errors{}",
        c.counts.sent,
        c.counts.answered,
        c.counts.duplicates,
        c.counts.unmatched,
        c.run.send_errors,
        c.run
            .first_error
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    )
}

/// Figure B1.
///
/// # Errors
/// When the stage cannot be set up.
pub async fn b1(harness: &Harness) -> anyhow::Result<Section> {
    let (tenants, per_tenant, sessions, warmup, duration, open_for) = if harness.quick {
        (
            20,
            10,
            64,
            Duration::from_secs(1),
            Duration::from_secs(4),
            Duration::from_secs(4),
        )
    } else {
        (
            50,
            10,
            256,
            Duration::from_secs(3),
            Duration::from_secs(20),
            Duration::from_secs(20),
        )
    };
    let rate = 500.0;
    let llm = Harness::fake_llm().await;
    let stage = Stage::new(harness, "b1", &llm, tenants, per_tenant, "warn", &[]).await?;
    let load_before = load_average();
    eprintln!("[bench] B1: open loop at {rate} msg/s for {open_for:?}");
    let open = measure_open(&stage, rate, open_for).await;
    eprintln!("[bench] B1: closed loop over {sessions} sessions for {duration:?}");
    let closed = measure_closed(&stage, sessions, warmup, duration).await;
    let load_after = load_average();
    stage.stop().await?;
    drop(llm);

    let (p50, p99) = percentiles_ms(&open.histogram);
    let (cp50, cp99) = percentiles_ms(&closed.histogram);
    let throughput = closed.run.throughput();
    let rows = vec![
        Row::new(
            "B1",
            "sendMessage -> AgentReply over WebSocket, LLM instant: sustained messages/s (closed loop)",
            ">= 1,500 msg/s",
            format!("{throughput:.0} msg/s"),
            Some(throughput >= 1500.0 && closed.all_answered_once),
        ),
        Row::new(
            "B1",
            "same, latency at 500 msg/s offered (open loop): p50 / p99",
            "< 10 ms / < 50 ms",
            format!("{p50:.1} ms / {p99:.1} ms"),
            Some(p50 < 10.0 && p99 < 50.0 && open.all_answered_once),
        ),
    ];
    let body = format!(
        "## B1: messages through the agent, LLM answering at once\n\n\
         {users} users ({tenants} tenants x {per_tenant}, each tenant with the demo knowledge of a \
         restaurant or a property), one session each, each user subscribed to `conversationEvents` \
         over its own WebSocket. The fake Gemini answers at once, streamed in one piece. Server \
         defaults otherwise (`WORKER_CONCURRENCY`, `DATABASE_MAX_CONNECTIONS`).\n\n\
         | run | offered | messages/s answered | latency p50 | p99 | max |\n\
         | --- | --- | ---: | ---: | ---: | ---: |\n\
         | open loop, {open_s:.0} s | {rate:.0} msg/s | {open_tp:.0} | {p50:.1} ms | {p99:.1} ms | {omax:.1} ms |\n\
         | closed loop, {sessions} sessions, {closed_s:.0} s after {warm_s:.0} s warm-up | as fast as answered | **{throughput:.0}** | {cp50:.1} ms | {cp99:.1} ms | {cmax:.1} ms |\n\n\
         Checks: open loop: {open_check}; closed loop: {closed_check}. The open loop's scheduler \
         fell behind its schedule by at most {lag:.1} ms (that delay is inside the latencies). \
         Load average before / after: {load_before} / {load_after}.\n",
        users = tenants * per_tenant,
        open_s = open_for.as_secs_f64(),
        open_tp = open.run.sent as f64 / open_for.as_secs_f64(),
        omax = open.histogram.max() as f64 / 1000.0,
        closed_s = duration.as_secs_f64(),
        warm_s = warmup.as_secs_f64(),
        cmax = closed.histogram.max() as f64 / 1000.0,
        open_check = check_line(&open),
        closed_check = check_line(&closed),
        lag = open.run.max_schedule_lag.as_secs_f64() * 1000.0,
    );
    Ok(Section {
        id: "b1",
        body,
        rows,
    })
}

/// Figure B2.
///
/// # Errors
/// When the stage cannot be set up.
pub async fn b2(harness: &Harness) -> anyhow::Result<Section> {
    let sessions = 1000;
    let (warmup, duration) = if harness.quick {
        (Duration::from_secs(2), Duration::from_secs(5))
    } else {
        (Duration::from_secs(3), Duration::from_secs(20))
    };
    let delay = Duration::from_secs(1);
    let llm = Harness::fake_llm().await;
    let stage = Stage::new(harness, "b2", &llm, 100, sessions / 100, "warn", &[]).await?;
    llm.set_delay(delay);
    let load_before = load_average();
    eprintln!(
        "[bench] B2: closed loop over {sessions} sessions, LLM taking {delay:?}, for {duration:?}"
    );
    let closed = measure_closed(&stage, sessions, warmup, duration).await;
    let load_after = load_average();
    stage.stop().await?;
    drop(llm);
    let throughput = closed.run.throughput();
    let (p50, p99) = percentiles_ms(&closed.histogram);
    let rows = vec![Row::new(
        "B2",
        "LLM takes 1 s: messages/s with 1,000 concurrent sessions",
        ">= 500 msg/s",
        format!("{throughput:.0} msg/s"),
        Some(throughput >= 500.0 && closed.all_answered_once),
    )];
    let body = format!(
        "## B2: 1,000 concurrent sessions, LLM taking one second\n\n\
         1,000 users (100 tenants x 10), one session each, each on its own WebSocket; each sends a \
         message, waits for its `AgentReply`, and sends the next (closed loop). The fake Gemini \
         waits {delay_s:.1} s before answering. The ideal is 1,000 messages/s (every session always \
         waiting on the model).\n\n\
         | sessions | window | messages/s answered | latency p50 | p99 |\n\
         | ---: | --- | ---: | ---: | ---: |\n\
         | {sessions} | {secs:.0} s after {warm:.0} s warm-up | **{throughput:.0}** | {p50:.0} ms | {p99:.0} ms |\n\n\
         Checks: {check}. Load average before / after: {load_before} / {load_after}.\n",
        delay_s = delay.as_secs_f64(),
        secs = duration.as_secs_f64(),
        warm = warmup.as_secs_f64(),
        check = check_line(&closed),
    );
    Ok(Section {
        id: "b2",
        body,
        rows,
    })
}

/// One message's time split, from the server's log (microseconds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Wall time of the turn.
    pub wall: u64,
    /// Waiting on Postgres.
    pub postgres: u64,
    /// Waiting on Redis.
    pub redis: u64,
    /// Waiting on the LLM.
    pub llm: u64,
    /// The rest.
    pub orchestration: u64,
}

/// The time splits in a server's JSON log.
#[must_use]
pub fn parse_splits(log: &str) -> Vec<Split> {
    log.lines()
        .filter(|l| l.contains("concierge::time_split"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            Some(Split {
                wall: v["wall_us"].as_u64()?,
                postgres: v["postgres_us"].as_u64()?,
                redis: v["redis_us"].as_u64()?,
                llm: v["llm_us"].as_u64()?,
                orchestration: v["orchestration_us"].as_u64()?,
            })
        })
        .collect()
}

/// Figure B4.
///
/// # Errors
/// When the stage cannot be set up or the server logged no time splits.
pub async fn b4(harness: &Harness) -> anyhow::Result<Section> {
    let rate = 100.0;
    let duration = if harness.quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(20)
    };
    let llm = Harness::fake_llm().await;
    let stage = Stage::new(
        harness,
        "b4",
        &llm,
        20,
        10,
        "warn,concierge::time_split=debug",
        &[],
    )
    .await?;
    let skip = stage.tracker.counts().answered;
    let load_before = load_average();
    eprintln!("[bench] B4: open loop at {rate} msg/s for {duration:?}, time split logged");
    let open = measure_open(&stage, rate, duration).await;
    let load_after = load_average();
    let log_path = stage.server.log_path.clone();
    stage.stop().await?;
    drop(llm);
    let log = std::fs::read_to_string(&log_path)?;
    let all = parse_splits(&log);
    #[expect(clippy::cast_possible_truncation, reason = "a few thousand messages")]
    let splits: Vec<Split> = all.iter().copied().skip(skip as usize).collect();
    if splits.is_empty() {
        bail!(
            "the server logged no time splits (target concierge::time_split); see {}",
            log_path.display()
        );
    }
    let mut hists: Vec<Histogram<u64>> = (0..5)
        .map(|_| latency_histogram())
        .collect::<Result<_, _>>()?;
    for s in &splits {
        for (h, v) in hists
            .iter_mut()
            .zip([s.wall, s.postgres, s.redis, s.llm, s.orchestration])
        {
            h.record(v.max(1))?;
        }
    }
    let ms = |us: f64| us / 1000.0;
    let line = |name: &str, h: &Histogram<u64>| {
        format!(
            "| {name} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms |\n",
            ms(h.mean()),
            ms(h.value_at_quantile(0.5) as f64),
            ms(h.value_at_quantile(0.99) as f64),
            ms(h.max() as f64)
        )
    };
    let orchestration_p99 = ms(hists[4].value_at_quantile(0.99) as f64);
    let rows = vec![Row::new(
        "B4",
        format!(
            "orchestration per message (wall - LLM - Postgres - Redis), p99, at {rate:.0} msg/s"
        ),
        "< 1 ms",
        format!(
            "{orchestration_p99:.2} ms (p50 {:.2} ms)",
            ms(hists[4].value_at_quantile(0.5) as f64)
        ),
        Some(orchestration_p99 < 1.0),
    )];
    let mut table =
        String::from("| part | mean | p50 | p99 | max |\n| --- | ---: | ---: | ---: | ---: |\n");
    for (name, h) in [
        "wall time of the turn",
        "Postgres",
        "Redis",
        "LLM (fake, instant)",
        "**orchestration** (the rest)",
    ]
    .iter()
    .zip(&hists)
    {
        table.push_str(&line(name, h));
    }
    let body = format!(
        "## B4: where a message's time goes\n\n\
         The turn pipeline times each message it answers (`agent::turn`, logged at DEBUG under \
         `concierge::time_split`): the wall time from claiming the message to publishing the reply, \
         and, inside it, the time spent waiting on Postgres (every statement and commit of its \
         tenant transactions, including the wait for a pooled connection), on Redis (publishes) and \
         on the LLM call (`entity::waits`). Orchestration is the rest: our code (prompt, parsing, \
         validation, serialisation) and the time our tasks wait for a CPU. It does not include the \
         stream consumer's own Redis work per session (read, lease, ack). {n} messages at {rate:.0} \
         msg/s offered (open loop, {secs:.0} s), 200 users of 20 tenants; the fake LLM answers at \
         once.\n\n{table}\n\
         End-to-end in the same run: p50 {e50:.1} ms, p99 {e99:.1} ms (sendMessage to AgentReply). \
         Checks: {check}. Load average before / after: {load_before} / {load_after}.\n",
        n = splits.len(),
        secs = duration.as_secs_f64(),
        e50 = percentiles_ms(&open.histogram).0,
        e99 = percentiles_ms(&open.histogram).1,
        check = check_line(&open),
    );
    Ok(Section {
        id: "b4",
        body,
        rows,
    })
}
