//! Row-level security: with `app.tenant_id` set to one tenant, the application role sees none of
//! the other tenant's rows in any table and cannot write rows of another tenant; with no tenant
//! set it sees nothing. The fixtures are written as the owner role, which RLS does not restrict.

use entity::{Db, MessageId, SessionId, TenantId, UserId};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use testkit::TestDb;

const TABLES: [&str; 7] = [
    "tenants",
    "users",
    "sessions",
    "messages",
    "notifications",
    "tenant_knowledge",
    "events",
];

/// One tenant with a row in every table.
#[derive(Clone, Copy)]
struct Fixture {
    tenant: TenantId,
    user: UserId,
    session: SessionId,
    message: MessageId,
}

async fn exec(conn: &impl ConnectionTrait, sql: &str) -> Result<u64, sea_orm::DbErr> {
    conn.execute_unprepared(sql)
        .await
        .map(|r| r.rows_affected())
}

async fn fixture(admin: &DatabaseConnection, slug: &str) -> Fixture {
    let f = Fixture {
        tenant: TenantId::new(),
        user: UserId::new(),
        session: SessionId::new(),
        message: MessageId::new(),
    };
    let (t, u, s, m) = (f.tenant, f.user, f.session, f.message);
    exec(
        admin,
        &format!(
            "INSERT INTO tenants (id, slug, name, kind) VALUES ('{t}', '{slug}', '{slug}', 'OTHER');
             INSERT INTO users (id, tenant_id, email, password_hash, role, name)
                 VALUES ('{u}', '{t}', '{slug}@x.example', 'h', 'STAFF', 'U');
             INSERT INTO sessions (id, tenant_id, user_id, title) VALUES ('{s}', '{t}', '{u}', 'S');
             INSERT INTO messages (id, tenant_id, user_id, session_id, role, content, status)
                 VALUES ('{m}', '{t}', '{u}', '{s}', 'USER', 'hello', 'QUEUED');
             INSERT INTO notifications (id, tenant_id, from_user_id, to_user_id, message)
                 VALUES ('{}', '{t}', '{u}', '{u}', 'note');
             INSERT INTO tenant_knowledge (id, tenant_id, content, category, embedding, embedding_model)
                 VALUES ('{}', '{t}', 'fact', 'faq', array_fill(0.1, ARRAY[1536])::vector, 'test');
             INSERT INTO events (id, tenant_id, kind) VALUES ('{}', '{t}', 'test');
             INSERT INTO tenant_usage (tenant_id, day, messages) VALUES ('{t}', current_date, 1);",
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7()
        ),
    )
    .await
    .unwrap();
    f
}

async fn count(conn: &impl ConnectionTrait, table: &str) -> i64 {
    conn.query_one_raw(Statement::from_string(
        DbBackend::Postgres,
        format!("SELECT count(*) AS n FROM {table}"),
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get("", "n")
    .unwrap()
}

async fn two_tenants() -> (TestDb, Fixture, Fixture) {
    let t = TestDb::new().await;
    let a = fixture(&t.admin, "alpha").await;
    let b = fixture(&t.admin, "beta").await;
    (t, a, b)
}

#[tokio::test]
async fn a_tenant_scope_sees_only_its_own_rows_in_every_table() {
    let (t, a, b) = two_tenants().await;
    for (scope, other) in [(a, b), (b, a)] {
        let txn = t.db.begin_in_tenant(scope.tenant).await.unwrap();
        for table in TABLES {
            assert_eq!(
                count(&txn, table).await,
                1,
                "{table} as tenant {}",
                scope.tenant
            );
        }
        // Even a lookup by the other tenant's id, without any tenant filter, finds nothing.
        let n = count(&txn, &format!("users WHERE id = '{}'", other.user)).await;
        assert_eq!(n, 0);
    }
}

#[tokio::test]
async fn without_a_tenant_scope_the_app_role_sees_nothing() {
    let (t, _, _) = two_tenants().await;
    for table in TABLES {
        assert_eq!(
            count(t.db.connection(), table).await,
            0,
            "{table} without a tenant"
        );
    }
    // The owner does see everything: it is the application role that is restricted.
    assert_eq!(count(&t.admin, "users").await, 2);
}

#[tokio::test]
async fn the_app_role_cannot_write_rows_of_another_tenant() {
    let (t, a, b) = two_tenants().await;
    let txn = t.db.begin_in_tenant(a.tenant).await.unwrap();
    // Insert a row claiming the other tenant: refused by the policy's WITH CHECK.
    let insert = exec(
        &txn,
        &format!(
            "INSERT INTO events (id, tenant_id, kind) VALUES ('{}', '{}', 'x')",
            uuid::Uuid::now_v7(),
            b.tenant
        ),
    )
    .await;
    let err = insert.unwrap_err().to_string();
    assert!(err.contains("row-level security"), "{err}");
    drop(txn);

    let txn = t.db.begin_in_tenant(a.tenant).await.unwrap();
    // Update and delete of the other tenant's rows touch nothing.
    assert_eq!(
        exec(
            &txn,
            &format!(
                "UPDATE messages SET content = 'x' WHERE id = '{}'",
                b.message
            )
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!(
        exec(
            &txn,
            &format!("DELETE FROM sessions WHERE id = '{}'", b.session)
        )
        .await
        .unwrap(),
        0
    );
    // Moving an own row into the other tenant is refused.
    let moved = exec(
        &txn,
        &format!("UPDATE events SET tenant_id = '{}'", b.tenant),
    )
    .await;
    assert!(
        moved
            .unwrap_err()
            .to_string()
            .contains("row-level security")
    );
    drop(txn);
    assert_eq!(
        count(
            &t.admin,
            &format!("messages WHERE content = 'hello' AND id = '{}'", b.message)
        )
        .await,
        1
    );
}

#[tokio::test]
async fn the_scope_does_not_leak_to_the_next_transaction_on_a_pooled_connection() {
    let (t, a, _) = two_tenants().await;
    let db = Db::connect(
        &t.app_url(),
        &entity::db::PoolOptions {
            max_connections: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let txn = db.begin_in_tenant(a.tenant).await.unwrap();
    assert_eq!(count(&txn, "users").await, 1);
    txn.commit().await.unwrap();
    // Same (only) connection, no scope: nothing.
    assert_eq!(count(db.connection(), "users").await, 0);
}

#[tokio::test]
async fn composite_foreign_keys_refuse_references_across_tenants() {
    let (t, a, b) = two_tenants().await;
    // Even the owner, whom RLS does not restrict, cannot point a row of A at a user of B.
    let cross = [
        format!(
            "INSERT INTO notifications (id, tenant_id, from_user_id, to_user_id, message) \
             VALUES ('{}', '{}', '{}', '{}', 'x')",
            uuid::Uuid::now_v7(),
            a.tenant,
            a.user,
            b.user
        ),
        format!(
            "INSERT INTO messages (id, tenant_id, user_id, session_id, role, content, status) \
             VALUES ('{}', '{}', '{}', '{}', 'USER', 'x', 'QUEUED')",
            uuid::Uuid::now_v7(),
            a.tenant,
            a.user,
            b.session
        ),
        format!(
            "INSERT INTO events (id, tenant_id, actor_user_id, kind) VALUES ('{}', '{}', '{}', 'x')",
            uuid::Uuid::now_v7(),
            a.tenant,
            b.user
        ),
    ];
    for sql in cross {
        let err = exec(&t.admin, &sql).await.unwrap_err().to_string();
        assert!(err.contains("foreign key"), "{sql}: {err}");
    }
}

#[tokio::test]
async fn client_message_ids_are_unique_per_user_and_replies_unique_per_message() {
    let (t, a, _) = two_tenants().await;
    let insert = |id: uuid::Uuid, key: &str| {
        format!(
            "INSERT INTO messages (id, tenant_id, user_id, session_id, role, content, status, client_message_id) \
             VALUES ('{id}', '{}', '{}', '{}', 'USER', 'x', 'QUEUED', '{key}')",
            a.tenant, a.user, a.session
        )
    };
    exec(&t.admin, &insert(uuid::Uuid::now_v7(), "k1"))
        .await
        .unwrap();
    let err = exec(&t.admin, &insert(uuid::Uuid::now_v7(), "k1"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("messages_client_message_id"),
        "{err}"
    );

    let reply = |id: uuid::Uuid| {
        format!(
            "INSERT INTO messages (id, tenant_id, user_id, session_id, role, content, status, reply_to_id) \
             VALUES ('{id}', '{}', '{}', '{}', 'ASSISTANT', 'hi', 'COMPLETE', '{}')",
            a.tenant, a.user, a.session, a.message
        )
    };
    exec(&t.admin, &reply(uuid::Uuid::now_v7())).await.unwrap();
    let err = exec(&t.admin, &reply(uuid::Uuid::now_v7()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("messages_one_reply"), "{err}");
}

#[tokio::test]
async fn the_cross_tenant_functions_return_only_what_their_caller_needs() {
    let (t, a, b) = two_tenants().await;
    let login = t.db.find_login("BETA@x.example").await.unwrap().unwrap();
    assert_eq!((login.user_id, login.tenant_id), (b.user, b.tenant));
    assert!(t.db.find_login("nobody@x.example").await.unwrap().is_none());
    assert_eq!(
        t.db.find_tenant_by_slug("alpha").await.unwrap(),
        Some(a.tenant)
    );
    assert_eq!(t.db.find_tenant_by_slug("gamma").await.unwrap(), None);
    let unfinished =
        t.db.find_unfinished_messages(std::time::Duration::ZERO, 10)
            .await
            .unwrap();
    let ids: Vec<MessageId> = unfinished.iter().map(|m| m.message_id).collect();
    assert!(ids.contains(&a.message) && ids.contains(&b.message));
    // The application role is the one row-level security applies to; the owner is refused.
    t.db.check_row_security().await.unwrap();
    let owner = Db::from_connection(t.admin.clone());
    assert!(owner.check_row_security().await.is_err());
}
