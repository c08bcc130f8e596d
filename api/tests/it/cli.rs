//! The command line of DEMO.md, run as a process: the demo seed is idempotent, bad input exits
//! non-zero with a one-line reason, `token` prints a JWT and `serve` answers health checks.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use testkit::TestDb;

use crate::support::{concierge, spawn_server, stderr, stdout};

async fn count(db: &TestDb, table: &str) -> i64 {
    db.admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT count(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "n")
        .unwrap()
}

#[tokio::test]
async fn seed_demo_twice_gives_two_tenants_and_six_users() {
    let db = TestDb::new().await;
    for _ in 0..2 {
        let out = concierge(&db, &["seed", "--demo"], &[]).await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(count(&db, "tenants").await, 2);
    assert_eq!(count(&db, "users").await, 6);
    let chunks = count(&db, "tenant_knowledge").await;
    assert!(
        chunks > 20,
        "demo knowledge was seeded once ({chunks} chunks)"
    );
    let out = concierge(&db, &["seed", "--demo"], &[]).await;
    assert!(stdout(&out).contains("created 0 tenants, 0 users, 0 knowledge chunks"));
    assert_eq!(count(&db, "tenant_knowledge").await, chunks);
}

#[tokio::test]
async fn bad_input_exits_non_zero_with_a_one_line_reason() {
    let db = TestDb::new().await;
    let ok = concierge(
        &db,
        &[
            "tenant",
            "create",
            "--slug",
            "cafe",
            "--name",
            "Cafe",
            "--kind",
            "restaurant",
        ],
        &[],
    )
    .await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let pw = [("CONCIERGE_PASSWORD", "a-good-password")];
    let user = [
        "user",
        "create",
        "--tenant",
        "cafe",
        "--email",
        "ann@cafe.example",
        "--name",
        "Ann",
        "--role",
        "staff",
    ];
    let ok = concierge(&db, &user, &pw).await;
    assert!(ok.status.success(), "{}", stderr(&ok));

    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                "user",
                "create",
                "--tenant",
                "nope",
                "--email",
                "b@cafe.example",
                "--name",
                "B",
                "--role",
                "staff",
            ],
            pw.to_vec(),
            "unknown tenant",
        ),
        (user.to_vec(), pw.to_vec(), "already exists"),
        (
            vec![
                "user",
                "create",
                "--tenant",
                "cafe",
                "--email",
                "c@cafe.example",
                "--name",
                "C",
                "--role",
                "chef",
            ],
            pw.to_vec(),
            "invalid value 'chef'",
        ),
        (
            vec![
                "user",
                "create",
                "--tenant",
                "cafe",
                "--email",
                "d@cafe.example",
                "--name",
                "D",
                "--role",
                "staff",
            ],
            vec![],
            "CONCIERGE_PASSWORD is not set",
        ),
        (
            vec![
                "user",
                "create",
                "--tenant",
                "cafe",
                "--email",
                "not-an-email",
                "--name",
                "E",
                "--role",
                "staff",
            ],
            pw.to_vec(),
            "invalid email",
        ),
        (
            vec![
                "tenant", "create", "--slug", "cafe", "--name", "Again", "--kind", "other",
            ],
            vec![],
            "already exists",
        ),
        (
            vec![
                "tenant", "create", "--slug", "Bad Slug", "--name", "X", "--kind", "other",
            ],
            vec![],
            "invalid slug",
        ),
        (
            vec!["token", "--email", "nobody@cafe.example"],
            vec![],
            "no user",
        ),
        (vec!["seed"], vec![], "pass --demo"),
    ];
    for (args, env, reason) in cases {
        let out = concierge(&db, &args, &env).await;
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: not one line: {err}"
        );
        assert!(err.contains(reason), "{args:?}: {err}");
    }
    assert_eq!(
        count(&db, "users").await,
        1,
        "nothing was created by the refused commands"
    );
}

#[tokio::test]
async fn token_prints_a_jwt_for_the_user() {
    let db = TestDb::new().await;
    assert!(
        concierge(&db, &["seed", "--demo"], &[])
            .await
            .status
            .success()
    );
    let out = concierge(
        &db,
        &["token", "--email", "maria@sole.example", "--ttl", "1h"],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out);
    let parts: Vec<&str> = token.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
}

#[tokio::test]
async fn serve_answers_healthz_and_readyz() {
    let db = TestDb::new().await;
    let mut server = spawn_server(&db, &[]).await;
    let client = reqwest::Client::new();
    let health = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = client
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["redis"], "ok");
    server.child.kill().await.unwrap();
}

#[tokio::test]
async fn user_create_tells_running_agents_that_the_roster_changed() {
    use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
    let db = TestDb::new().await;
    assert!(
        concierge(&db, &["seed", "--demo"], &[])
            .await
            .status
            .success()
    );
    let prefix = testkit::redis_prefix();
    let subscriber = fred::prelude::Builder::from_config(
        fred::prelude::Config::from_url(&testkit::redis_url()).unwrap(),
    )
    .build_subscriber_client()
    .unwrap();
    subscriber.init().await.unwrap();
    let mut messages = subscriber.message_rx();
    subscriber
        .subscribe(format!("{prefix}:tenants"))
        .await
        .unwrap();
    let out = concierge(
        &db,
        &[
            "user",
            "create",
            "--tenant",
            "sole",
            "--email",
            "zoe@sole.example",
            "--name",
            "Zoe",
            "--role",
            "staff",
        ],
        &[
            ("CONCIERGE_PASSWORD", "a-good-password"),
            ("REDIS_KEY_PREFIX", &prefix),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let message = tokio::time::timeout(std::time::Duration::from_secs(20), messages.recv())
        .await
        .expect("no announcement within 20 s")
        .unwrap();
    let event: agent::bus::TenantEvent =
        serde_json::from_str(&message.value.as_string().unwrap()).unwrap();
    let sole = db.db.find_tenant_by_slug("sole").await.unwrap().unwrap();
    assert_eq!(event, agent::bus::TenantEvent::Changed { tenant_id: sole });
}
