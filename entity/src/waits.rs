//! Time a task spends waiting on other services, split by service: Postgres, Redis and the LLM.
//! The agent's turn pipeline measures each message with [`measure`] and reports its time split
//! (see `agent::turn`), so that "our" time (orchestration: everything that is neither the
//! database, nor Redis, nor the model) can be told apart from the services' time; the benchmarks
//! (`just bench`, figure B4) read it.
//!
//! How it works: [`measure`] runs a future with a task-local accumulator; [`timed`] adds the
//! wall time of the future it wraps to the accumulator of the task it runs in, and does nothing
//! outside a [`measure`] (it costs two clock reads). [`crate::Db::begin_in_tenant`] and every
//! statement and commit of a [`crate::TenantTxn`] are wrapped, so all tenant-scoped database work
//! is counted (including the wait for a pooled connection); the agent wraps its Redis commands and
//! its LLM calls. Work moved to another task (`tokio::spawn`) is not counted unless the measured
//! task waits for it inside a [`timed`].

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, Instant};

/// A service a task waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Postgres (statements, commits, waiting for a pooled connection).
    Postgres,
    /// Redis (publish, stream and lease commands).
    Redis,
    /// The language model (the whole call, retries included).
    Llm,
}

/// Time spent waiting on each service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Waits {
    /// Waiting on Postgres.
    pub postgres: Duration,
    /// Waiting on Redis.
    pub redis: Duration,
    /// Waiting on the language model.
    pub llm: Duration,
}

impl Waits {
    /// The sum of the three.
    #[must_use]
    pub fn total(&self) -> Duration {
        self.postgres + self.redis + self.llm
    }
}

#[derive(Default)]
struct Accumulator {
    postgres: Cell<Duration>,
    redis: Cell<Duration>,
    llm: Cell<Duration>,
}

tokio::task_local! {
    static WAITS: Accumulator;
}

/// Runs `future`, returning its output and the time it spent inside [`timed`] sections, by
/// service.
pub async fn measure<F: Future>(future: F) -> (F::Output, Waits) {
    WAITS
        .scope(Accumulator::default(), async move {
            let output = future.await;
            let waits = WAITS
                .try_with(|a| Waits {
                    postgres: a.postgres.get(),
                    redis: a.redis.get(),
                    llm: a.llm.get(),
                })
                .unwrap_or_default();
            (output, waits)
        })
        .await
}

/// Runs `future` and, inside a [`measure`], counts its wall time as waiting on `service`.
pub async fn timed<F: Future>(service: Service, future: F) -> F::Output {
    let started = Instant::now();
    let output = future.await;
    let elapsed = started.elapsed();
    let _outside_measure = WAITS.try_with(|a| {
        let cell = match service {
            Service::Postgres => &a.postgres,
            Service::Redis => &a.redis,
            Service::Llm => &a.llm,
        };
        cell.set(cell.get() + elapsed);
    });
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_are_counted_by_service_inside_measure_only() {
        let pause = || tokio::time::sleep(Duration::from_millis(5));
        // Outside a measure nothing is recorded and nothing fails.
        timed(Service::Redis, pause()).await;
        let ((), waits) = measure(async {
            timed(Service::Postgres, pause()).await;
            timed(Service::Postgres, pause()).await;
            timed(Service::Llm, pause()).await;
            pause().await;
        })
        .await;
        assert!(waits.postgres >= Duration::from_millis(10));
        assert!(waits.llm >= Duration::from_millis(5));
        assert_eq!(waits.redis, Duration::ZERO);
        assert_eq!(waits.total(), waits.postgres + waits.llm);
    }
}
