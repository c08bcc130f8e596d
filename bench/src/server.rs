//! The server under test: the real `concierge serve` binary, started as a child process against
//! the local Postgres (a database of the run's own, see [`crate::population`]) and Redis (a key
//! prefix of its own), with the `hash` embedder and a fake Gemini server
//! (`testkit::fake_llm::FakeGemini`, in the harness process) as its LLM, so the real provider
//! code path runs. Its log goes to a file; its standard output is read for the "listening" line.
//!
//! [`Binary::locate`] finds the binary next to the harness's own (`target/release/concierge`
//! when the harness runs from a release build; `just bench` builds both), or at `CONCIERGE_BIN`.
//! [`Server::stop`] sends SIGTERM (the server drains and exits), waits, and deletes the prefix's
//! Redis keys.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fred::prelude::*;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The JWT secret of bench servers (the harness issues its users' tokens with it).
pub const JWT_SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";

/// How long a server may take to print its "listening" line.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The `concierge` binary and the build profile it was made with.
#[derive(Clone, Debug)]
pub struct Binary {
    /// Its path.
    pub path: PathBuf,
    /// `release` or `debug` (the folder it was built into), or `custom` for `CONCIERGE_BIN`.
    pub profile: String,
}

impl Binary {
    /// `CONCIERGE_BIN` if set, else the `concierge` next to the running executable (for a test
    /// binary in `target/<profile>/deps/`, the one in `target/<profile>/`).
    ///
    /// # Errors
    /// When no binary is found (build it with `cargo build --release --bin concierge`).
    pub fn locate() -> anyhow::Result<Self> {
        if let Some(path) = std::env::var_os("CONCIERGE_BIN") {
            return Ok(Self {
                path: PathBuf::from(path),
                profile: "custom".into(),
            });
        }
        let exe = std::env::current_exe().context("the harness's own path")?;
        let mut dir = exe.parent().map(Path::to_path_buf);
        while let Some(d) = dir {
            let candidate = d.join("concierge");
            if candidate.is_file() {
                let profile = d
                    .file_name()
                    .map_or_else(|| "unknown".into(), |n| n.to_string_lossy().into_owned());
                return Ok(Self {
                    path: candidate,
                    profile,
                });
            }
            if d.file_name().is_some_and(|n| n == "target") {
                break;
            }
            dir = d.parent().map(Path::to_path_buf);
        }
        bail!(
            "no `concierge` binary next to {}: build it with `cargo build --release --bin concierge` \
             (or set CONCIERGE_BIN)",
            exe.display()
        )
    }
}

/// How to start a server.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The application role's URL of the run's database.
    pub database_url: String,
    /// The fake LLM's base URL (`GEMINI_BASE_URL`).
    pub llm_base_url: String,
    /// The Redis key prefix (unique per server).
    pub redis_prefix: String,
    /// Where the server's log (standard error) goes.
    pub log_path: PathBuf,
    /// `RUST_LOG`.
    pub log_filter: String,
    /// More environment variables (`WORKER_CONCURRENCY`, ...), set last.
    pub env: Vec<(String, String)>,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The process id.
    pub pid: u32,
    /// Its Redis key prefix.
    pub redis_prefix: String,
    /// From spawning the process to its "listening" line.
    pub listening_after: Duration,
    /// When the process was spawned.
    pub spawned_at: Instant,
    /// Its log file.
    pub log_path: PathBuf,
}

impl Server {
    /// Spawns `concierge serve` and waits for its "listening" line.
    ///
    /// # Errors
    /// When it cannot be spawned, exits, or does not listen within a minute (its log says why).
    pub async fn start(binary: &Binary, options: &ServerOptions) -> anyhow::Result<Self> {
        let log = std::fs::File::create(&options.log_path)
            .with_context(|| format!("creating {}", options.log_path.display()))?;
        let mut command = Command::new(&binary.path);
        command
            .arg("serve")
            // No `.env` of a developer's checkout may change what is measured.
            .env_clear()
            .current_dir(std::env::temp_dir())
            .env("CONCIERGE_ENV", "development")
            .env("DATABASE_URL", &options.database_url)
            .env("REDIS_URL", testkit::redis_url())
            .env("REDIS_KEY_PREFIX", &options.redis_prefix)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("JWT_SECRET", JWT_SECRET)
            .env("EMBEDDER", "hash")
            .env("LLM_PROVIDER", "gemini")
            .env("GEMINI_BASE_URL", &options.llm_base_url)
            .env("GEMINI_API_KEY", testkit::fake_llm::FAKE_GEMINI_KEY)
            .env("WEB_DIR", "/nonexistent")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", &options.log_filter)
            // Capacity is measured, not the abuse limits (their defaults would refuse the load).
            .env("RATE_LIMIT_USER_PER_MINUTE", "0")
            .env("RATE_LIMIT_TENANT_PER_MINUTE", "0")
            .env("TENANT_DAILY_TOKEN_BUDGET", "0")
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        let spawned_at = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.path.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child
            .stdout
            .take()
            .context("the server's standard output")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("Concierge is listening on ") {
                    return Ok(url.trim().to_owned());
                }
            }
            bail!(
                "the server exited before listening; see {}",
                options.log_path.display()
            )
        })
        .await
        .with_context(|| {
            format!(
                "the server did not listen within {START_TIMEOUT:?}; see {}",
                options.log_path.display()
            )
        })??;
        let listening_after = spawned_at.elapsed();
        // Keep draining its standard output so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            child,
            url,
            pid,
            redis_prefix: options.redis_prefix.clone(),
            listening_after,
            spawned_at,
            log_path: options.log_path.clone(),
        })
    }

    /// Polls `/readyz` until it answers 200; returns the time since the process was spawned.
    ///
    /// # Errors
    /// When it is not ready within a minute.
    pub async fn wait_ready(&self) -> anyhow::Result<Duration> {
        let http = reqwest::Client::new();
        let url = format!("{}/readyz", self.url);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(self.spawned_at.elapsed());
            }
            if Instant::now() > deadline {
                bail!("{url} did not answer 200 within {START_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until the server has subscribed to `n` users' event channels (each WebSocket
    /// subscription of a new user subscribes the server's hub to that user's Redis channel),
    /// at most a minute.
    ///
    /// # Errors
    /// When Redis cannot be asked, or fewer channels are subscribed in time.
    pub async fn wait_for_subscribers(&self, n: usize) -> anyhow::Result<()> {
        let client = agent::redis::client(&testkit::redis_url())?;
        client.init().await?;
        let pattern = format!("{}:user:*", self.redis_prefix);
        let deadline = Instant::now() + START_TIMEOUT;
        let result = loop {
            let channels: Vec<String> = client.pubsub_channels(pattern.as_str()).await?;
            if channels.len() >= n {
                break Ok(());
            }
            if Instant::now() > deadline {
                break Err(anyhow::anyhow!(
                    "only {} of {n} user channels subscribed after {START_TIMEOUT:?}",
                    channels.len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        client.quit().await?;
        result
    }

    /// The process's resident set size, in KiB (`VmRSS` of `/proc/<pid>/status`).
    ///
    /// # Errors
    /// When the process is gone.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_kib(self.pid)
    }

    /// The process's open-file limit (soft), from `/proc/<pid>/limits`.
    ///
    /// # Errors
    /// When the process is gone or the file cannot be parsed.
    pub fn open_file_limit(&self) -> anyhow::Result<u64> {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid))?;
        limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok())
            .context("no open-file limit in /proc/<pid>/limits")
    }

    /// Stops the server with SIGTERM (killing it if it does not exit in time) and deletes its
    /// Redis keys.
    ///
    /// # Errors
    /// When Redis cannot be cleaned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Ok(pid) = i32::try_from(self.pid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            eprintln!("[bench] the server did not stop within {STOP_TIMEOUT:?}; killing it");
            let _ = self.child.kill().await;
        }
        delete_keys(&self.redis_prefix).await
    }
}

/// The resident set size of process `pid`, in KiB.
///
/// # Errors
/// When the process is gone.
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

/// Deletes every Redis key under `prefix` (the stream, leases, counters).
///
/// # Errors
/// When Redis cannot be reached.
pub async fn delete_keys(prefix: &str) -> anyhow::Result<()> {
    let client = agent::redis::client(&testkit::redis_url())?;
    client.init().await?;
    let mut keys = Vec::new();
    let mut scan = std::pin::pin!(client.scan_buffered(format!("{prefix}:*"), Some(1000), None));
    while let Some(key) = scan.next().await {
        keys.push(key?);
    }
    for batch in keys.chunks(500) {
        let _: i64 = client.del(batch.to_vec()).await?;
    }
    client.quit().await?;
    Ok(())
}

/// A Redis key prefix for one server of this run.
#[must_use]
pub fn redis_prefix(figure: &str) -> String {
    format!("bench-{figure}-{}", &testkit::redis_prefix()[5..])
}
