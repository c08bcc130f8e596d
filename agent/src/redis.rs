//! Connections to Redis through fred: a small pool for ordinary commands (XADD, XACK, PUBLISH,
//! token buckets). Blocking reads (XREADGROUP with BLOCK) and pub/sub subscriptions hold their
//! connection, so they get clients of their own, made by [`client`]; never the shared pool.

use std::time::Duration;

use fred::prelude::*;

/// Commands wait at most this long for Redis before failing; a request never hangs on it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

fn config(
    url: &str,
) -> Result<(Config, PerformanceConfig, ConnectionConfig, ReconnectPolicy), Error> {
    let config = Config::from_url(url)?;
    let perf = PerformanceConfig {
        default_command_timeout: COMMAND_TIMEOUT,
        ..Default::default()
    };
    let connection = ConnectionConfig {
        connection_timeout: Duration::from_secs(2),
        internal_command_timeout: COMMAND_TIMEOUT,
        // Small commands must not wait on Nagle's algorithm for the previous one's ACK.
        tcp: TcpConfig {
            nodelay: Some(true),
            ..Default::default()
        },
        ..Default::default()
    };
    // Keep reconnecting forever with a capped backoff: Redis coming back must heal us without
    // a restart.
    let policy = ReconnectPolicy::new_exponential(0, 100, 2_000, 2);
    Ok((config, perf, connection, policy))
}

/// A pool of `size` connections to `url`, connecting in the background.
///
/// # Errors
/// When the URL is invalid.
pub fn pool(url: &str, size: usize) -> Result<Pool, Error> {
    let (config, perf, connection, policy) = config(url)?;
    let pool = Builder::from_config(config)
        .with_performance_config(|p| *p = perf)
        .with_connection_config(|c| *c = connection)
        .set_policy(policy)
        .build_pool(size)?;
    // The returned task drives the connections (and their reconnects) for the pool's life.
    let _driver = pool.connect();
    Ok(pool)
}

/// One dedicated client for a blocking or subscribing use.
///
/// # Errors
/// When the URL is invalid.
pub fn client(url: &str) -> Result<Client, Error> {
    let (config, perf, connection, policy) = config(url)?;
    Builder::from_config(config)
        .with_performance_config(|p| *p = perf)
        .with_connection_config(|c| *c = connection)
        .set_policy(policy)
        .build()
}
