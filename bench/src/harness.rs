//! What the figures that drive a real server share: the `concierge` binary, the run's database
//! (a fresh one cloned from the migrated template by `testkit::TestDb`, dropped when the run
//! ends), where the servers' logs go, and the fake LLM.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use testkit::TestDb;
use testkit::fake_llm::FakeGemini;

use crate::server::{Binary, Server, ServerOptions, redis_prefix};

/// Open files the harness wants: ten thousand WebSockets (B3) plus slack.
pub const WANTED_OPEN_FILES: u64 = 12_000;

/// The run's shared parts.
#[derive(Debug)]
pub struct Harness {
    /// The server binary.
    pub binary: Binary,
    /// The run's database, dropped with the harness.
    pub db: Arc<TestDb>,
    /// Where server logs go.
    pub log_dir: PathBuf,
    /// Smaller, shorter figures.
    pub quick: bool,
}

impl Harness {
    /// Finds the binary, raises the open-file limit, and creates the run's database.
    ///
    /// # Errors
    /// When the binary is missing or the log folder cannot be made.
    pub async fn new(quick: bool) -> anyhow::Result<Self> {
        let binary = Binary::locate()?;
        raise_open_files(WANTED_OPEN_FILES);
        let log_dir = binary
            .path
            .parent()
            .and_then(|p| p.parent())
            .map_or_else(std::env::temp_dir, |target| target.join("bench-logs"));
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("creating {}", log_dir.display()))?;
        let db = Arc::new(TestDb::new().await);
        eprintln!(
            "[bench] server binary {} ({} build), database {}, logs in {}",
            binary.path.display(),
            binary.profile,
            db.name,
            log_dir.display()
        );
        Ok(Self {
            binary,
            db,
            log_dir,
            quick,
        })
    }

    /// Starts a fake Gemini that answers at once with `{"reply": "ok", "actions": []}` in one
    /// streamed piece, recording nothing (a benchmark sends thousands of requests).
    pub async fn fake_llm() -> FakeGemini {
        let fake = FakeGemini::start().await;
        fake.set_recording(false);
        fake.set_stream_chunks(1);
        fake
    }

    /// Starts a server for `figure` answering with `llm`, logging at `log_filter`, with extra
    /// environment variables.
    ///
    /// # Errors
    /// When it does not start (its log in [`Harness::log_dir`] says why).
    pub async fn server(
        &self,
        figure: &str,
        llm: &FakeGemini,
        log_filter: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Server> {
        let options = ServerOptions {
            database_url: self.db.app_url(),
            llm_base_url: llm.base_url(),
            redis_prefix: redis_prefix(figure),
            log_path: self.log_dir.join(format!("{figure}.log")),
            log_filter: log_filter.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        Server::start(&self.binary, &options).await
    }
}

/// Raises this process's soft open-file limit towards `wanted` (up to the hard limit); servers
/// started afterwards inherit it.
fn raise_open_files(wanted: u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < wanted => {
            let target = wanted.min(hard);
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
                eprintln!("[bench] could not raise the open-file limit to {target}: {e}");
            }
            if target < wanted {
                eprintln!(
                    "[bench] the open-file limit is {target} (hard limit): B3's ten thousand \
                     connections may not fit"
                );
            }
        }
        Ok(_) => {}
        Err(e) => eprintln!("[bench] could not read the open-file limit: {e}"),
    }
}

/// The current open-file limit of this process (soft).
#[must_use]
pub fn open_files() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(0, |(soft, _)| soft)
}
