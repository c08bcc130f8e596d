//! `concierge reembed` and the demo seed after the embedder changes, run as processes, with the
//! OpenAI-compatible embedder pointed at a local fake of that API.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use testkit::TestDb;
use testkit::fake_embed::{FAKE_API_KEY, FakeEmbedServer};

use crate::support::{concierge, stderr, stdout};

/// Chunks per embedding model, as the owner role sees them.
async fn models(db: &TestDb) -> Vec<(String, i64)> {
    db.admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT embedding_model AS m, count(*) AS n FROM tenant_knowledge GROUP BY 1 ORDER BY 1",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| (r.try_get("", "m").unwrap(), r.try_get("", "n").unwrap()))
        .collect()
}

#[tokio::test]
async fn reembed_moves_knowledge_to_the_configured_embedder_once() {
    let db = TestDb::new().await;
    let fake = FakeEmbedServer::start().await;
    let base = fake.openai_base_url();
    let openai = [
        ("EMBEDDER", "openai"),
        ("OPENAI_BASE_URL", base.as_str()),
        ("OPENAI_API_KEY", FAKE_API_KEY),
    ];
    let out = concierge(&db, &["seed", "--demo"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let hashed = models(&db).await;
    assert_eq!(hashed.len(), 1);
    assert_eq!(hashed[0].0, "hash-v1");
    let total = hashed[0].1;

    let out = concierge(&db, &["reembed", "--tenant", "sole"], &openai).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(
        line.starts_with("sole: re-embedded ")
            && line.contains("openai/text-embedding-3-small@1536 (0 already current)"),
        "{line}"
    );
    let after = models(&db).await;
    assert_eq!(after.len(), 2, "only sole moved: {after:?}");

    let out = concierge(&db, &["reembed"], &openai).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = stdout(&out);
    assert!(
        lines.contains("harborview: re-embedded ") && lines.contains("sole: re-embedded 0 chunks"),
        "{lines}"
    );
    assert_eq!(
        models(&db).await,
        [("openai/text-embedding-3-small@1536".to_owned(), total)]
    );

    // Seeding again with the old embedder moves the demo knowledge back, and only once.
    let out = concierge(&db, &["seed", "--demo"], &[]).await;
    assert!(
        stdout(&out).contains(&format!(
            "re-embedded {total} demo knowledge chunks with hash-v1"
        )),
        "{}",
        stdout(&out)
    );
    let out = concierge(&db, &["seed", "--demo"], &[]).await;
    assert!(!stdout(&out).contains("re-embedded"), "{}", stdout(&out));

    let out = concierge(&db, &["reembed", "--tenant", "nowhere"], &[]).await;
    assert!(!out.status.success());
    assert_eq!(stderr(&out).trim(), "error: unknown tenant \"nowhere\"");

    // A misconfigured embedder is a one-line error, not a panic.
    let out = concierge(
        &db,
        &["reembed"],
        &[
            ("EMBEDDER", "local"),
            ("LOCAL_EMBEDDER_DIR", "/nonexistent"),
        ],
    )
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.lines().count() == 1 && err.contains("scripts/models.sh"),
        "{err}"
    );
}
