//! The harness measures: a short run against a real server (the debug build of `concierge`, brought
//! up to date first) on the real Postgres and Redis, with tiny rates and counts. It checks that
//! the harness counts and matches what happened (every message sent is answered exactly once,
//! latencies are recorded for each, the server's per-message time split is logged and parsed,
//! every subscriber gets its notification), never how fast.

use std::time::Duration;

use bench::conversation::{Stage, measure_closed, measure_open, parse_splits};
use bench::harness::Harness;
use bench::subscribers::fan_out;

/// Builds the debug `concierge` binary with the whole workspace's features, as `just test`'s
/// build does (there it is a no-op): `cargo nextest run -p bench` alone does not build other
/// packages' binaries, and one left by an older build would measure older code.
fn build_server_binary() {
    // The variables Cargo sets for this test (its package's name, ...) would look like a changed
    // environment to build scripts that read them, and rebuild half the dependency tree.
    let set_by_cargo = std::env::vars().map(|(k, _)| k).filter(|k| {
        [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_",
        ]
        .iter()
        .any(|p| k.starts_with(p))
            || k == "CARGO_TARGET_TMPDIR"
    });
    let mut cargo = std::process::Command::new(env!("CARGO"));
    for k in set_by_cargo {
        cargo.env_remove(k);
    }
    let status = cargo
        .args(["build", "--quiet", "--workspace", "--bins"])
        .status()
        .expect("running cargo build");
    assert!(status.success(), "cargo build --workspace --bins failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_answers_every_message_once_and_measures_each() {
    build_server_binary();
    let harness = Harness::new(true).await.unwrap();
    let llm = Harness::fake_llm().await;
    let stage = Stage::new(
        &harness,
        "it-messages",
        &llm,
        2,
        3,
        "warn,concierge::time_split=debug",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(stage.slots.len(), 6);

    // Open loop: 10 messages per second for 1 second is exactly 10 messages.
    let open = measure_open(&stage, 10.0, Duration::from_secs(1)).await;
    assert_eq!(open.run.sent, 10, "{open:?}");
    assert_eq!(open.run.send_errors, 0, "{open:?}");
    assert!(open.all_answered_once, "{open:?}");
    assert_eq!(open.histogram.len(), 10, "one latency per message");

    // Closed loop: every session sends at least once and waits for its reply.
    let before = stage.tracker.counts().sent;
    let closed = measure_closed(&stage, 6, Duration::ZERO, Duration::from_millis(500)).await;
    assert!(closed.counts.sent >= before + 6, "{closed:?}");
    assert!(closed.all_answered_once, "{closed:?}");
    assert_eq!(closed.counts.duplicates, 0);
    assert_eq!(stage.connected(), 6, "every WebSocket stays open");

    let answered = stage.tracker.counts().answered;
    let log_path = stage.server.log_path.clone();
    stage.stop().await.unwrap();
    // The server logged a time split for every message it answered, with database and LLM time.
    let splits = parse_splits(&std::fs::read_to_string(log_path).unwrap());
    assert_eq!(splits.len() as u64, answered);
    assert!(
        splits
            .iter()
            .all(|s| s.postgres > 0 && s.llm > 0 && s.redis > 0)
    );
    assert!(
        splits
            .iter()
            .all(|s| s.postgres + s.redis + s.llm + s.orchestration <= s.wall + 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_gets_its_notification_once() {
    build_server_binary();
    let harness = Harness::new(true).await.unwrap();
    let fanout = fan_out(&harness, "it-fanout", 30, 3, 10).await.unwrap();
    assert_eq!(fanout.connections, 30);
    assert_eq!(fanout.publish_failures, 0);
    assert_eq!(fanout.delivered, 30, "{fanout:?}");
    assert_eq!(fanout.duplicates, 0);
    assert_eq!(fanout.histogram.len(), 30);
    assert!(fanout.rss_kib.0 > 0 && fanout.rss_kib.1 > 0);
}
