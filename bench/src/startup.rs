//! Figure B6: how fast `concierge serve` starts and how much memory it holds idle, with the
//! `hash` embedder (no local model loaded).
//!
//! Each start is a fresh process against the run's (migrated) database: the time from spawning
//! it to its "Concierge is listening" line, and to the first `/readyz` that answers 200 (polled
//! every 2 ms); then, after two seconds without traffic, its resident memory (`VmRSS`). The
//! server checks its LLM at start (one request to the fake Gemini, which answers at once).

use std::time::Duration;

use crate::harness::Harness;
use crate::report::{Row, Section, load_average};

/// Idle time before the memory is read.
const IDLE: Duration = Duration::from_secs(2);

/// Runs the figure.
///
/// # Errors
/// When a server does not start.
pub async fn b6(harness: &Harness) -> anyhow::Result<Section> {
    let starts = if harness.quick { 1 } else { 3 };
    let llm = Harness::fake_llm().await;
    let load_before = load_average();
    let mut table = String::from(
        "| start | to \"listening\" | to `/readyz` 200 | idle RSS |\n| ---: | ---: | ---: | ---: |\n",
    );
    let (mut worst_ready, mut worst_rss) = (Duration::ZERO, 0_u64);
    for i in 1..=starts {
        let server = harness
            .server(&format!("b6-{i}"), &llm, "warn", &[])
            .await?;
        let ready = server.wait_ready().await?;
        tokio::time::sleep(IDLE).await;
        let rss = server.rss_kib()?;
        table.push_str(&format!(
            "| {i} | {:.0} ms | {:.0} ms | {:.1} MiB |\n",
            server.listening_after.as_secs_f64() * 1000.0,
            ready.as_secs_f64() * 1000.0,
            rss as f64 / 1024.0
        ));
        worst_ready = worst_ready.max(ready);
        worst_rss = worst_rss.max(rss);
        server.stop().await?;
    }
    let load_after = load_average();
    drop(llm);
    let rss_mb = worst_rss as f64 * 1024.0 / 1_000_000.0;
    let ready_s = worst_ready.as_secs_f64();
    let rows = vec![Row::new(
        "B6",
        "`concierge serve` without the local model: idle RSS; start to ready (worst of the starts)",
        "< 80 MB; < 1 s",
        format!("{rss_mb:.1} MB; {:.0} ms", ready_s * 1000.0),
        Some(rss_mb < 80.0 && ready_s < 1.0),
    )];
    let body = format!(
        "## B6: start and idle memory\n\n\
         `concierge serve` with `EMBEDDER=hash`, started {starts} time(s) against the run's \
         migrated database; readiness is the first `/readyz` answering 200 (Postgres and Redis \
         reachable); the memory is `VmRSS` after {idle:.0} s idle.\n\n{table}\n\
         Load average before / after: {load_before} / {load_after}.\n",
        idle = IDLE.as_secs_f64(),
    );
    Ok(Section {
        id: "b6",
        body,
        rows,
    })
}
