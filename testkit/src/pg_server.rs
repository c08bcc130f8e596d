//! A PostgreSQL server of a test's own, for tests that stop and restart Postgres (the shared one
//! of `just services` must stay up for every other test running at the same time).
//!
//! It is the installed PostgreSQL 15 (`/usr/lib/postgresql/15/bin`, as `scripts/services.sh`
//! installs it) with a cluster made by `initdb` in a temporary directory, listening on a free
//! port of 127.0.0.1 only, with trust authentication (nobody else can reach it), the roles of
//! `scripts/services.sh` (`concierge` owns and migrates, `concierge_app` is what the application
//! logs in as) and pgvector in `template1`. When the tests run as root the server runs as the
//! `postgres` OS user (initdb refuses root), like the services script does.
//!
//! [`PgServer::stop`] is a crash (`pg_ctl stop -m immediate`: no shutdown checkpoint, crash
//! recovery on the next start) and [`PgServer::resume`] starts it again on the same port with
//! the same data. Commits are synchronous, so everything committed survives the crash. The
//! server and its directory go away when the value is dropped.

#![expect(
    clippy::panic,
    reason = "test support: a server that cannot start must fail the test loudly"
)]

use std::path::PathBuf;
use std::process::Stdio;

use migration::MigratorTrait;
use rand::RngExt;
use sea_orm::{ConnectionTrait, Database};
use tokio::process::Command;

use crate::TestDb;

/// Where Debian's PostgreSQL 15 binaries live.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A private PostgreSQL server.
#[derive(Debug)]
pub struct PgServer {
    port: u16,
    dir: PathBuf,
    running: bool,
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A PostgreSQL tool, run as the `postgres` OS user when we are root.
fn tool(name: &str) -> Command {
    let program = format!("{PG_BIN}/{name}");
    if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", &program]);
        cmd
    } else {
        Command::new(program)
    }
}

async fn run(mut cmd: Command, what: &str) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl PgServer {
    /// Creates a cluster on a free port, starts it, and creates the roles and pgvector.
    ///
    /// # Panics
    /// When PostgreSQL 15 is not installed (run `just services`) or does not start.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port: {e}"));
        let dir = std::env::temp_dir().join(format!(
            "concierge-pg-{port}-{:08x}",
            rand::rng().random::<u32>()
        ));
        let data = dir.join("data");
        let mut initdb = tool("initdb");
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"])
            .args(["--locale=C.UTF-8", "--no-sync"]);
        run(initdb, "initdb").await;
        let settings = format!(
            "\n# A test's private server\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = ''\nmax_connections = 100\nshared_buffers = 32MB\n\
             fsync = off\nsynchronous_commit = on\n"
        );
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)
            .unwrap_or_else(|e| panic!("reading {}: {e}", conf.display()));
        text.push_str(&settings);
        std::fs::write(&conf, text).unwrap_or_else(|e| panic!("writing {}: {e}", conf.display()));
        let mut server = Self {
            port,
            dir,
            running: false,
        };
        server.resume().await;
        let superuser = Database::connect(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
            .await
            .unwrap_or_else(|e| panic!("connecting to the private Postgres: {e}"));
        superuser
            .execute_unprepared(
                "CREATE ROLE concierge LOGIN CREATEDB CREATEROLE PASSWORD 'concierge';
                 CREATE ROLE concierge_app LOGIN NOBYPASSRLS PASSWORD 'concierge_app';
                 GRANT concierge_app TO concierge WITH ADMIN OPTION;",
            )
            .await
            .unwrap_or_else(|e| panic!("creating the roles: {e}"));
        superuser.close().await.ok();
        let template1 =
            Database::connect(format!("postgres://postgres@127.0.0.1:{port}/template1"))
                .await
                .unwrap_or_else(|e| panic!("connecting to template1: {e}"));
        template1
            .execute_unprepared("CREATE EXTENSION IF NOT EXISTS vector")
            .await
            .unwrap_or_else(|e| panic!("creating pgvector (is it installed?): {e}"));
        template1.close().await.ok();
        server
    }

    /// The port it listens on (127.0.0.1).
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// A fresh, migrated database on this server (created by the owner role, as `concierge
    /// migrate` would), with the application role's pool on it.
    ///
    /// # Panics
    /// When the server is down or the migrations fail.
    pub async fn test_db(&self) -> TestDb {
        let name = format!("concierge_t_{:08x}", rand::rng().random::<u32>());
        let owner = Database::connect(format!(
            "postgres://concierge:concierge@127.0.0.1:{}/postgres",
            self.port
        ))
        .await
        .unwrap_or_else(|e| panic!("connecting as the owner role: {e}"));
        owner
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("creating the database: {e}"));
        owner.close().await.ok();
        let conn = Database::connect(format!(
            "postgres://concierge:concierge@127.0.0.1:{}/{name}",
            self.port
        ))
        .await
        .unwrap_or_else(|e| panic!("connecting to the new database: {e}"));
        migration::Migrator::up(&conn, None)
            .await
            .unwrap_or_else(|e| panic!("migrating: {e}"));
        conn.close().await.ok();
        TestDb::existing(self.port, name).await
    }

    /// Crashes the server: `pg_ctl stop -m immediate` (every connection is cut, nothing is
    /// checkpointed; the next start recovers from the WAL).
    pub async fn stop(&mut self) {
        if self.running {
            let mut stop = tool("pg_ctl");
            stop.arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"]);
            run(stop, "pg_ctl stop").await;
            self.running = false;
        }
    }

    /// Starts the server (again), on the same port with the same data, and waits until it
    /// accepts connections.
    ///
    /// # Panics
    /// When it does not start within 60 s.
    pub async fn resume(&mut self) {
        let mut start = tool("pg_ctl");
        start
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(["-w", "-t", "60", "start"]);
        run(start, "pg_ctl start").await;
        self.running = true;
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let program = format!("{PG_BIN}/pg_ctl");
            let data = self.dir.join("data");
            let mut stop = if running_as_root() {
                let mut cmd = std::process::Command::new("runuser");
                cmd.args(["-u", "postgres", "--", &program]);
                cmd
            } else {
                std::process::Command::new(program)
            };
            let _ = stop
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
