//! The database handle and the tenant-scoped transaction.
//!
//! [`Db::begin_in_tenant`] opens a transaction and sets `app.tenant_id` for it with
//! `set_config(..., true)` (transaction-local, so a pooled connection never carries one tenant's
//! scope into the next transaction). The row-level security policies of every tenant table
//! compare against that setting; with it unset they match nothing. The application connects as a
//! role that owns no table and cannot bypass RLS, so even a query that forgot its `tenant_id`
//! filter cannot see another tenant's rows.
//!
//! Cross-tenant lookups are the explicit, narrow methods at the end of [`Db`]; each calls one
//! `SECURITY DEFINER` function created by the migrations and returns only what its caller needs.
//!
//! Opening a tenant transaction and everything done in it counts as waiting on Postgres for
//! [`crate::waits`] (the per-message time split of the agent).

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, QueryResult, RuntimeErr, Statement, TransactionTrait,
};

use crate::enums::MessageStatus;
use crate::ids::{MessageId, SessionId, TenantId, UserId};
use crate::waits::{Service, timed};

/// What went wrong talking to the database, as callers need to tell it apart.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A unique constraint refused the write (duplicate email, slug, idempotency key, ...).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or the pool is exhausted; worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a schema mismatch. The text is for logs, not for clients.
    #[error("database error: {0}")]
    Internal(String),
}

impl From<DbErr> for DbError {
    fn from(err: DbErr) -> Self {
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(what)) = err.sql_err() {
            return Self::Conflict(what);
        }
        match &err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable(err.to_string()),
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))
                if is_connection_error(e) =>
            {
                Self::Unavailable(err.to_string())
            }
            _ => Self::Internal(err.to_string()),
        }
    }
}

fn is_connection_error(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        // Postgres shutting down or restarting: admin_shutdown, crash_shutdown, cannot_connect_now.
        Error::Database(db) => matches!(db.code().as_deref(), Some("57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// Options of the connection pool.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long to wait for a free connection before failing with [`DbError::Unavailable`].
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 32,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The application's handle on Postgres: a pool of connections as the application role.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    /// Connects a pool to `url`.
    ///
    /// # Errors
    /// [`DbError::Unavailable`] when the server cannot be reached or refuses the credentials.
    pub async fn connect(url: &str, options: &PoolOptions) -> Result<Self, DbError> {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.max_connections(options.max_connections)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_timeout(options.acquire_timeout)
            .sqlx_logging(false);
        let conn = sea_orm::Database::connect(opts)
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        Ok(Self { conn })
    }

    /// Wraps an existing connection.
    #[must_use]
    pub const fn from_connection(conn: DatabaseConnection) -> Self {
        Self { conn }
    }

    /// The raw pool, for work that is not tenant data (health checks, migrations in tests).
    #[must_use]
    pub const fn connection(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Starts a transaction scoped to `tenant`: row-level security shows it only that tenant's
    /// rows and refuses writes of rows of any other tenant. Dropping it without
    /// [`TenantTxn::commit`] rolls it back.
    ///
    /// # Errors
    /// When no connection can be had or the scope cannot be set.
    pub async fn begin_in_tenant(&self, tenant: TenantId) -> Result<TenantTxn, DbError> {
        timed(Service::Postgres, async {
            let txn = self.conn.begin().await?;
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT set_config('app.tenant_id', $1, true)",
                [tenant.to_string().into()],
            ))
            .await?;
            Ok(TenantTxn { txn, tenant })
        })
        .await
    }

    /// Checks that the database answers (`SELECT 1`).
    ///
    /// # Errors
    /// When it does not.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.conn.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    /// Checks that row-level security applies to this connection's role on the tenant tables:
    /// the role must not own them, be a superuser or have BYPASSRLS. The server refuses to start
    /// otherwise, because the second wall of tenant isolation would silently be down.
    ///
    /// # Errors
    /// [`DbError::Internal`] naming the problem (also when the schema is not migrated yet).
    pub async fn check_row_security(&self) -> Result<(), DbError> {
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT to_regclass('public.messages') IS NOT NULL AS migrated, current_user::text AS role",
            ))
            .await?
            .ok_or_else(|| DbError::Internal("no answer to the role check".into()))?;
        let migrated: bool = row.try_get("", "migrated")?;
        let role: String = row.try_get("", "role")?;
        if !migrated {
            return Err(DbError::Internal(
                "the database has no Concierge tables: run `concierge migrate` first".into(),
            ));
        }
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT bool_and(row_security_active(t)) AS active FROM unnest(ARRAY[
                   'tenants', 'users', 'sessions', 'messages', 'notifications',
                   'tenant_knowledge', 'events', 'tenant_usage']::regclass[]) AS t",
            ))
            .await?
            .ok_or_else(|| DbError::Internal("no answer to the row security check".into()))?;
        let active: Option<bool> = row.try_get("", "active")?;
        if active == Some(true) {
            Ok(())
        } else {
            Err(DbError::Internal(format!(
                "row-level security does not apply to database role {role:?} (it owns the tables, \
                 is a superuser or has BYPASSRLS): connect DATABASE_URL as the application role \
                 (concierge_app or a member of it)"
            )))
        }
    }

    /// Login's one cross-tenant lookup: the user with this email (case-insensitive), whichever
    /// tenant they belong to, with exactly what login needs.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn find_login(&self, email: &str) -> Result<Option<LoginRecord>, DbError> {
        let row = self
            .conn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT user_id, tenant_id, password_hash FROM concierge_find_login($1)",
                [email.to_owned().into()],
            ))
            .await?;
        row.map(|row| -> Result<LoginRecord, DbErr> {
            Ok(LoginRecord {
                user_id: UserId(row.try_get("", "user_id")?),
                tenant_id: TenantId(row.try_get("", "tenant_id")?),
                password_hash: row.try_get("", "password_hash")?,
            })
        })
        .transpose()
        .map_err(DbError::from)
    }

    /// The id of the tenant with this slug (the CLI names tenants by slug).
    ///
    /// # Errors
    /// When the database fails.
    pub async fn find_tenant_by_slug(&self, slug: &str) -> Result<Option<TenantId>, DbError> {
        let row = self
            .conn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT concierge_tenant_by_slug($1) AS id",
                [slug.to_owned().into()],
            ))
            .await?;
        let id: Option<uuid::Uuid> = match row {
            Some(row) => row.try_get("", "id")?,
            None => None,
        };
        Ok(id.map(TenantId))
    }

    /// User messages of any tenant that have no outcome yet (QUEUED or PROCESSING) and are
    /// older than `min_age`, oldest first. The agent's sweep re-enqueues them: their stream entry
    /// may never have been written (Redis was down between the insert and the XADD) or may have
    /// been lost with a Redis that restarted without its data.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn find_unfinished_messages(
        &self,
        min_age: Duration,
        limit: u32,
    ) -> Result<Vec<UnfinishedMessage>, DbError> {
        let rows = self
            .conn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT tenant_id, session_id, message_id, user_id, status \
                 FROM concierge_unfinished_messages($1, $2)",
                [min_age.as_secs_f64().into(), i64::from(limit).into()],
            ))
            .await?;
        rows.iter()
            .map(|row| -> Result<UnfinishedMessage, DbErr> {
                Ok(UnfinishedMessage {
                    tenant_id: TenantId(row.try_get("", "tenant_id")?),
                    session_id: SessionId(row.try_get("", "session_id")?),
                    message_id: MessageId(row.try_get("", "message_id")?),
                    user_id: UserId(row.try_get("", "user_id")?),
                    status: row.try_get("", "status")?,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(DbError::from)
    }

    /// Every tenant's id and slug, by slug: for operator tasks over all tenants (re-embedding
    /// all knowledge), which then work on each tenant in its own scope.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn list_tenants(&self) -> Result<Vec<TenantRef>, DbError> {
        let rows = self
            .conn
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT id, slug FROM concierge_list_tenants()",
            ))
            .await?;
        rows.iter()
            .map(|row| -> Result<TenantRef, DbErr> {
                Ok(TenantRef {
                    id: TenantId(row.try_get("", "id")?),
                    slug: row.try_get("", "slug")?,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(DbError::from)
    }
}

/// A tenant as cross-tenant operator tasks see it: which one, and its slug for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRef {
    /// The tenant.
    pub id: TenantId,
    /// Its slug.
    pub slug: String,
}

/// What login needs to know about a user before the tenant is known.
#[derive(Clone, Debug)]
pub struct LoginRecord {
    /// The user.
    pub user_id: UserId,
    /// Their tenant.
    pub tenant_id: TenantId,
    /// The argon2id PHC string to verify the password against.
    pub password_hash: String,
}

/// A user message without an outcome, and the ids that locate it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnfinishedMessage {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its session.
    pub session_id: SessionId,
    /// The message.
    pub message_id: MessageId,
    /// Its sender.
    pub user_id: UserId,
    /// QUEUED or PROCESSING.
    pub status: MessageStatus,
}

/// A transaction in which row-level security shows only one tenant's rows. Use it wherever a
/// SeaORM query takes a connection (`.one(&txn)`); [`TenantTxn::tenant`] says which tenant.
pub struct TenantTxn {
    txn: DatabaseTransaction,
    tenant: TenantId,
}

impl std::fmt::Debug for TenantTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTxn")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl TenantTxn {
    /// The tenant this transaction is scoped to.
    #[must_use]
    pub const fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Commits the transaction.
    ///
    /// # Errors
    /// When the commit fails (the work is then rolled back).
    pub async fn commit(self) -> Result<(), DbError> {
        timed(Service::Postgres, self.txn.commit())
            .await
            .map_err(DbError::from)
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for TenantTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        timed(Service::Postgres, self.txn.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        timed(Service::Postgres, self.txn.execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        timed(Service::Postgres, self.txn.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        timed(Service::Postgres, self.txn.query_all_raw(stmt)).await
    }
}
