//! Figure B5: throughput of an authenticated GraphQL query, `{ me { id name } }`, over HTTP.
//!
//! A closed loop: 64 concurrent clients (keep-alive connections, 64 users of 8 tenants, each
//! with its own token) each send the query, read the answer, and send again, for a warm-up and
//! then the measurement window. Every answer is checked (`me.id` present); requests per second
//! is the number of checked answers completed in the window divided by its length. The clients
//! run in the harness process on the same two cores as the server and Postgres.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::client::Http;
use crate::harness::Harness;
use crate::population;
use crate::report::{Row, Section, latency_histogram, load_average, percentiles_ms};

/// Concurrent clients.
const CLIENTS: usize = 64;

struct Tally {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    histogram: Histogram<u64>,
}

/// Runs the figure.
///
/// # Errors
/// When the server cannot be set up.
pub async fn b5(harness: &Harness) -> anyhow::Result<Section> {
    let (warmup, duration) = if harness.quick {
        (Duration::from_secs(1), Duration::from_secs(3))
    } else {
        (Duration::from_secs(3), Duration::from_secs(15))
    };
    let population = population::create(&harness.db, "b5", 8, CLIENTS / 8, false).await?;
    let llm = Harness::fake_llm().await;
    let server = harness.server("b5", &llm, "warn", &[]).await?;
    let http = Http::new(&server.url)?;
    let load_before = load_average();
    eprintln!("[bench] B5: {CLIENTS} clients querying `me` for {duration:?}");
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for user in population.users.iter().cloned() {
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally {
                ok: 0,
                errors: 0,
                first_error: None,
                histogram: latency_histogram()?,
            };
            while Instant::now() < end {
                let sent = Instant::now();
                let result = http.me(&user.token).await;
                let done = Instant::now();
                if sent < measure_from || done > end {
                    continue;
                }
                match result {
                    Ok(_) => {
                        tally.ok += 1;
                        let us = u64::try_from((done - sent).as_micros()).unwrap_or(u64::MAX);
                        tally.histogram.record(us.max(1))?;
                    }
                    Err(e) => {
                        tally.errors += 1;
                        tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
            }
            anyhow::Ok(tally)
        }));
    }
    let mut total = Tally {
        ok: 0,
        errors: 0,
        first_error: None,
        histogram: latency_histogram()?,
    };
    for task in tasks {
        let tally = task.await??;
        total.ok += tally.ok;
        total.errors += tally.errors;
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
        total.histogram.add(&tally.histogram)?;
    }
    let load_after = load_average();
    server.stop().await?;
    drop(llm);
    #[expect(clippy::cast_precision_loss, reason = "request counts")]
    let rate = total.ok as f64 / duration.as_secs_f64();
    let (p50, p99) = percentiles_ms(&total.histogram);
    let rows = vec![Row::new(
        "B5",
        "GraphQL `me` query throughput, authenticated",
        ">= 15,000 req/s",
        format!("{rate:.0} req/s"),
        Some(rate >= 15_000.0 && total.errors == 0),
    )];
    let body = format!(
        "## B5: authenticated `me` queries\n\n\
         {CLIENTS} clients in a closed loop (each its own keep-alive connection and user), \
         `POST /graphql` with `{{ me {{ id name }} }}` and `Authorization: Bearer`, {secs:.0} s \
         after {warm:.0} s of warm-up.\n\n\
         | requests/s | latency p50 | p99 | errors |\n| ---: | ---: | ---: | ---: |\n\
         | **{rate:.0}** | {p50:.2} ms | {p99:.2} ms | {errors}{first} |\n\n\
         Load average before / after: {load_before} / {load_after}.\n",
        secs = duration.as_secs_f64(),
        warm = warmup.as_secs_f64(),
        errors = total.errors,
        first = total
            .first_error
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default(),
    );
    Ok(Section {
        id: "b5",
        body,
        rows,
    })
}
