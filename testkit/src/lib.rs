//! Test support for the workspace's integration tests: real Postgres and Redis, isolated per test.
//!
//! - [`TestDb::new`] gives each test its own database, cloned (in ~50 ms) from a template that
//!   has every migration applied. The template is built once per migration fingerprint and shared
//!   by all test processes (creation is serialised by an advisory lock), so tests run in parallel
//!   and never share state. The database is dropped when the [`TestDb`] is.
//! - [`redis_prefix`] gives each test its own Redis key prefix; [`redis_server::RedisServer`] a
//!   Redis of its own, for tests that stop and start it; [`pg_server::PgServer`] likewise a
//!   PostgreSQL of its own (with [`pg_server::PgServer::test_db`] on it).
//! - [`fake_llm`] runs local fake Gemini and OpenAI-compatible servers (for the LLM providers'
//!   tests, end-to-end tests and benchmarks).
//! - [`fake_embed::FakeEmbedServer`] is a local fake of the Gemini and OpenAI embedding APIs.
//!
//! The services come from `just services`; `CONCIERGE_PG_PORT` and `CONCIERGE_REDIS_PORT` (the
//! same variables the services script reads) point the tests elsewhere.

pub mod fake_embed;
pub mod fake_llm;
pub mod pg_server;
pub mod redis_server;

use std::time::{SystemTime, UNIX_EPOCH};

use entity::Db;
use entity::db::PoolOptions;
use migration::MigratorTrait;
use rand::RngExt;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// The template database for the current migrations.
const TEMPLATE: &str = concat!("concierge_tmpl_", env!("MIGRATIONS_FINGERPRINT"));
/// Test databases are named `concierge_t_<unix seconds>_<random>`; ones older than this many
/// seconds are left-overs of killed test runs and are dropped by the next run.
const STALE_AFTER_SECS: u64 = 3 * 3600;

fn pg_port() -> String {
    std::env::var("CONCIERGE_PG_PORT").unwrap_or_else(|_| "55432".into())
}

/// URL of the owner role (`concierge`) on database `db`.
#[must_use]
pub fn admin_url(db: &str) -> String {
    admin_url_on(&pg_port(), db)
}

/// URL of the application role (`concierge_app`) on database `db`.
#[must_use]
pub fn app_url(db: &str) -> String {
    app_url_on(&pg_port(), db)
}

fn admin_url_on(port: &str, db: &str) -> String {
    format!("postgres://concierge:concierge@127.0.0.1:{port}/{db}")
}

fn app_url_on(port: &str, db: &str) -> String {
    format!("postgres://concierge_app:concierge_app@127.0.0.1:{port}/{db}")
}

/// URL of the test Redis.
#[must_use]
pub fn redis_url() -> String {
    let port = std::env::var("CONCIERGE_REDIS_PORT").unwrap_or_else(|_| "56379".into());
    format!("redis://127.0.0.1:{port}")
}

/// A fresh key prefix, so that a test's streams, channels and counters are its own.
#[must_use]
pub fn redis_prefix() -> String {
    format!(
        "test-{:012x}",
        rand::rng().random::<u64>() & 0xffff_ffff_ffff
    )
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A database of one's own, migrated, dropped on drop.
#[derive(Debug)]
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// The application role's pool on it (row-level security applies).
    pub db: Db,
    /// The owner role's connection on it (no row-level security), for setting up and checking.
    pub admin: DatabaseConnection,
    /// The port of the Postgres server it lives on.
    port: String,
}

impl TestDb {
    /// Creates a fresh, migrated database.
    ///
    /// # Panics
    /// When Postgres is not reachable (run `just services`) or the clone fails.
    #[expect(
        clippy::expect_used,
        reason = "test support: failing loudly is the point"
    )]
    pub async fn new() -> Self {
        let server = Database::connect(admin_url("postgres"))
            .await
            .expect("Postgres is not reachable on the test port: run `just services`");
        ensure_template(&server).await;
        let name = format!(
            "concierge_t_{}_{:08x}",
            unix_now(),
            rand::rng().random::<u32>()
        );
        server
            .execute_unprepared(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{TEMPLATE}\" STRATEGY FILE_COPY"
            ))
            .await
            .expect("cloning the template database");
        server.close().await.ok();
        let db = Db::connect(
            &app_url(&name),
            &PoolOptions {
                max_connections: 10,
                ..PoolOptions::default()
            },
        )
        .await
        .expect("connecting as the application role");
        let admin = Database::connect(admin_url(&name))
            .await
            .expect("connecting as the owner role");
        Self {
            name,
            db,
            admin,
            port: pg_port(),
        }
    }

    /// A database named `name` that already exists and is migrated, on the server at `port`
    /// (see [`pg_server::PgServer::test_db`]); dropped on drop like the others.
    ///
    /// # Panics
    /// When it cannot be connected to.
    #[expect(
        clippy::expect_used,
        reason = "test support: failing loudly is the point"
    )]
    pub(crate) async fn existing(port: u16, name: String) -> Self {
        let port = port.to_string();
        let db = Db::connect(
            &app_url_on(&port, &name),
            &PoolOptions {
                max_connections: 10,
                ..PoolOptions::default()
            },
        )
        .await
        .expect("connecting as the application role");
        let admin = Database::connect(admin_url_on(&port, &name))
            .await
            .expect("connecting as the owner role");
        Self {
            name,
            db,
            admin,
            port,
        }
    }

    /// URL of the application role on this database.
    #[must_use]
    pub fn app_url(&self) -> String {
        app_url_on(&self.port, &self.name)
    }

    /// URL of the owner role on this database.
    #[must_use]
    pub fn admin_url(&self) -> String {
        admin_url_on(&self.port, &self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let server_url = admin_url_on(&self.port, "postgres");
        // Drop may run inside or outside a runtime: do the async work on a thread of its own.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(server) = Database::connect(server_url).await {
                    let _ = server
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    server.close().await.ok();
                }
            });
        });
        let _ = dropper.join();
    }
}

/// Builds the template once per migration fingerprint, under an advisory lock so concurrent test
/// processes wait for the one that builds it; drops stale test databases on the way.
#[expect(
    clippy::expect_used,
    reason = "test support: failing loudly is the point"
)]
async fn ensure_template(server: &DatabaseConnection) {
    // Session-level advisory lock on a dedicated connection (the pool would hand the unlock to
    // another connection).
    let lock = Database::connect(admin_url("postgres"))
        .await
        .expect("lock connection");
    lock.execute_unprepared("SELECT pg_advisory_lock(727274)")
        .await
        .expect("advisory lock");
    let exists = server
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT 1 FROM pg_database WHERE datname = '{TEMPLATE}' AND datistemplate"),
        ))
        .await
        .expect("looking for the template")
        .is_some();
    if !exists {
        let building = format!("{TEMPLATE}_building");
        server
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"
            ))
            .await
            .expect("dropping a half-built template");
        server
            .execute_unprepared(&format!("CREATE DATABASE \"{building}\""))
            .await
            .expect("creating the template");
        let conn = Database::connect(admin_url(&building))
            .await
            .expect("connecting to the template");
        migration::Migrator::up(&conn, None)
            .await
            .expect("migrating the template");
        conn.close().await.ok();
        server
            .execute_unprepared(&format!(
                "ALTER DATABASE \"{building}\" RENAME TO \"{TEMPLATE}\";
                 ALTER DATABASE \"{TEMPLATE}\" IS_TEMPLATE true;"
            ))
            .await
            .expect("publishing the template");
        drop_stale(server).await;
    }
    lock.execute_unprepared("SELECT pg_advisory_unlock(727274)")
        .await
        .ok();
    lock.close().await.ok();
}

/// Drops left-over test databases of killed runs and templates of older migrations.
async fn drop_stale(server: &DatabaseConnection) {
    let Ok(rows) = server
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'concierge\\_t\\_%' \
             OR datname LIKE 'concierge\\_tmpl\\_%'",
        ))
        .await
    else {
        return;
    };
    let now = unix_now();
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let stale = if let Some(rest) = name.strip_prefix("concierge_t_") {
            rest.split('_')
                .next()
                .and_then(|t| t.parse::<u64>().ok())
                .is_some_and(|t| now.saturating_sub(t) > STALE_AFTER_SECS)
        } else {
            name != TEMPLATE
        };
        if stale {
            let sql = format!(
                "ALTER DATABASE \"{name}\" IS_TEMPLATE false; DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            );
            let _ = server.execute_unprepared(&sql).await;
        }
    }
}
