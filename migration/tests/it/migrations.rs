//! Migration tests against a real Postgres: up, down and up again on an empty database.
use migration::sea_orm::{self, ConnectionTrait, Database, DbBackend, Statement};
use migration::{Migrator, MigratorTrait};

async fn tables(conn: &sea_orm::DatabaseConnection) -> Vec<String> {
    conn.query_all_raw(Statement::from_string(
        DbBackend::Postgres,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'seaql_migrations' \
         ORDER BY tablename",
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String>("", "tablename").unwrap())
    .collect()
}

#[tokio::test]
async fn up_down_up_on_an_empty_database() {
    // Not a clone of the template: an empty database, as a new deployment has.
    let server = Database::connect(testkit::admin_url("postgres"))
        .await
        .unwrap();
    let name = format!("concierge_t_{}_mig", std::process::id());
    server
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    server
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let conn = Database::connect(testkit::admin_url(&name)).await.unwrap();

    let expected = [
        "events",
        "messages",
        "notifications",
        "sessions",
        "tenant_knowledge",
        "tenant_usage",
        "tenants",
        "users",
    ];
    Migrator::up(&conn, None).await.unwrap();
    assert_eq!(tables(&conn).await, expected);
    let policies: i64 = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_policies WHERE policyname = 'tenant_isolation'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap();
    assert_eq!(policies, 8, "one policy per table");

    Migrator::down(&conn, None).await.unwrap();
    assert!(tables(&conn).await.is_empty(), "down removes every table");

    Migrator::up(&conn, None).await.unwrap();
    assert_eq!(tables(&conn).await, expected);

    conn.close().await.unwrap();
    server
        .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}
