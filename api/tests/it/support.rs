//! Helpers shared by the integration tests: running the `concierge` binary against a test
//! database.

use std::process::Output;

use testkit::TestDb;

/// Runs `concierge args...` against `db` with extra environment variables.
pub async fn concierge(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_concierge"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", db.app_url())
        .env("DATABASE_ADMIN_URL", db.admin_url())
        .env("REDIS_URL", testkit::redis_url())
        .env("REDIS_KEY_PREFIX", testkit::redis_prefix())
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.expect("running concierge")
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `concierge serve` process on a free port.
pub struct ServerProcess {
    /// The process (killed on drop).
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

/// Starts `concierge serve` against `db` on a free port, with extra environment, and waits
/// until it says it listens.
pub async fn spawn_server(db: &TestDb, env: &[(&str, &str)]) -> ServerProcess {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_concierge"));
    command
        .arg("serve")
        .env("DATABASE_URL", db.app_url())
        .env("REDIS_URL", testkit::redis_url())
        .env("REDIS_KEY_PREFIX", testkit::redis_prefix())
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting concierge serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await.expect("reading server output") {
            if let Some(url) = line.strip_prefix("Concierge is listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("concierge serve exited before listening");
    };
    let url = tokio::time::timeout(std::time::Duration::from_secs(60), wait)
        .await
        .expect("concierge serve did not start within 60 s");
    ServerProcess { child, url }
}

/// A `concierge worker` process.
pub struct WorkerProcess {
    /// The process (killed on drop).
    pub child: tokio::process::Child,
}

impl WorkerProcess {
    /// Kills the process with SIGKILL, as a crash would, and waits for it to exit.
    pub async fn kill9(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child
            .wait()
            .await
            .expect("waiting for the killed worker");
    }
}

/// Starts `concierge worker` against `db` and the Redis `prefix`, with extra environment, and
/// waits until it says it runs.
pub async fn spawn_worker(db: &TestDb, prefix: &str, env: &[(&str, &str)]) -> WorkerProcess {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_concierge"));
    command
        .arg("worker")
        .env("DATABASE_URL", db.app_url())
        .env("REDIS_URL", testkit::redis_url())
        .env("REDIS_KEY_PREFIX", prefix)
        .env("LLM_PROVIDER", "offline")
        .env("EMBEDDER", "hash")
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting concierge worker");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let wait = async {
        while let Some(line) = lines.next_line().await.expect("reading worker output") {
            if line.starts_with("Concierge worker is running") {
                return;
            }
        }
        panic!("concierge worker exited before running");
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), wait)
        .await
        .expect("concierge worker did not start within 60 s");
    // Keep draining its output so the pipe never fills.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    WorkerProcess { child }
}

/// A `concierge serve` or `concierge worker` process started with a clean environment, whose
/// log (standard error) is captured line by line.
pub struct LoggedProcess {
    /// The process (killed on drop).
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:<port>` for `serve`.
    pub url: Option<String>,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl LoggedProcess {
    /// Starts `concierge <subcommand>` with only `PATH` and `env` in its environment and waits
    /// until it says it is ready.
    pub async fn start(subcommand: &str, env: &[(&str, &str)]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_concierge"));
        command
            .arg(subcommand)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting concierge");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let mut stderr = tokio::io::BufReader::new(child.stderr.take().expect("piped")).lines();
        let keep = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
        let ready = async {
            while let Some(line) = stdout.next_line().await.expect("reading output") {
                if let Some(url) = line.strip_prefix("Concierge is listening on ") {
                    return Some(url.trim().to_owned());
                }
                if line.starts_with("Concierge worker is running") {
                    return None;
                }
            }
            panic!("concierge {subcommand} exited before it was ready");
        };
        let url = tokio::time::timeout(std::time::Duration::from_secs(60), ready)
            .await
            .expect("concierge did not get ready within 60 s");
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Self {
            child,
            url,
            log,
            lines,
        }
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The whole log of a process that has exited (waits, at most 30 s, for its last line).
    pub async fn full_log(&mut self) -> String {
        let drained = async { while self.lines.recv().await.is_some() {} };
        tokio::time::timeout(std::time::Duration::from_secs(30), drained)
            .await
            .expect("the log did not end within 30 s of the exit");
        self.log()
    }

    /// Waits (at most 30 s) for a log line containing `needle`.
    pub async fn wait_for_log(&mut self, needle: &str) {
        let wait = async {
            while let Some(line) = self.lines.recv().await {
                if line.contains(needle) {
                    return;
                }
            }
            panic!("the process ended without logging {needle:?}");
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("nothing logged {needle:?} within 30 s"));
    }
}
