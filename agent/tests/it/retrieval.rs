//! Vector search as the application role under row-level security: tenant scoping, model
//! scoping, the category filter, scores, and the HNSW index with iterative scans returning
//! exactly k rows for a tenant holding 1%, 10% or 50% of the table.

use std::collections::HashSet;
use std::sync::Arc;

use agent::embedding::{EMBEDDING_DIM, Embedder, Embedding, HashEmbedder};
use agent::knowledge;
use agent::retrieval::{
    Query, Retriever, SearchTuning, VectorRetriever, explain_nearest, nearest, nearest_exact,
};
use entity::TenantId;
use rand::{RngExt, SeedableRng};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use testkit::TestDb;

use crate::knowledge_support::{RenamedHash, create_tenant, markdown};

async fn seed(t: &TestDb, tenant: TenantId, embedder: &dyn Embedder, doc: &str) {
    let chunks = knowledge::chunk_markdown(doc, None).unwrap();
    knowledge::ingest(&t.db, embedder, tenant, None, chunks)
        .await
        .unwrap();
}

#[tokio::test]
async fn search_stays_inside_the_tenant_and_the_model() {
    let t = TestDb::new().await;
    let alpha = create_tenant(&t, "alpha").await;
    let beta = create_tenant(&t, "beta").await;
    let hash = HashEmbedder;
    seed(
        &t,
        alpha,
        &hash,
        &markdown(
            "schedule",
            &[("Opening hours", "Alpha opens at nine on weekdays.")],
        ),
    )
    .await;
    seed(
        &t,
        alpha,
        &hash,
        &markdown("rules", &[("Pool", "Alpha pool closes at eight.")]),
    )
    .await;
    seed(
        &t,
        beta,
        &hash,
        &markdown(
            "schedule",
            &[("Opening hours", "Beta opens at noon on weekdays.")],
        ),
    )
    .await;
    // Same tenant, another model: must never be compared with hash-v1 queries.
    seed(
        &t,
        alpha,
        &RenamedHash("other-model"),
        &markdown(
            "schedule",
            &[("Opening hours", "Alpha opens at nine on weekdays.")],
        ),
    )
    .await;

    let retriever = VectorRetriever::new(Arc::new(hash));
    // Beta's exact text, asked in alpha: alpha's chunks only.
    let hits = retriever
        .search(&t.db, alpha, "Beta opens at noon on weekdays.", 10, None)
        .await
        .unwrap();
    assert_eq!(hits.len(), 2, "alpha has two hash-v1 chunks: {hits:?}");
    assert!(
        hits.iter()
            .all(|h| h.chunk.content.starts_with("Alpha") && h.embedding_model == "hash-v1")
    );
    assert_eq!(hits[0].chunk.title.as_deref(), Some("Opening hours"));
    assert!(hits[0].chunk.score > hits[1].chunk.score, "best first");
    assert!((0.0..=1.0).contains(&hits[1].chunk.score));

    // The exact text of a chunk scores (almost) 1.
    let exact = retriever
        .search(
            &t.db,
            beta,
            "Opening hours\nBeta opens at noon on weekdays.",
            5,
            None,
        )
        .await
        .unwrap();
    assert_eq!(exact.len(), 1);
    assert!(exact[0].chunk.score > 0.999, "{}", exact[0].chunk.score);

    // Category filter, through the Retriever trait.
    let rules = retriever
        .retrieve(&t.db, alpha, "opening hours", 5, Some("rules"))
        .await
        .unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].category, "rules");
    assert!(
        retriever
            .retrieve(&t.db, alpha, "x", 5, Some("menu"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        retriever
            .retrieve(&t.db, alpha, "x", 0, None)
            .await
            .unwrap()
            .is_empty()
    );

    // The other model's embedder sees only its own chunk.
    let other = VectorRetriever::new(Arc::new(RenamedHash("other-model")));
    let hits = other
        .search(&t.db, alpha, "opening", 10, None)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].embedding_model, "other-model");
}

/// Tenants holding 1%, 10% and 50% of a 2,000-row table, the rest spread over ten others.
const TOTAL: usize = 2_000;
const SHARES: [(&str, usize); 3] = [("one-percent", 20), ("ten-percent", 200), ("half", 1_000)];
const K: usize = 5;
const MODEL: &str = "test-random";

fn random_unit(rng: &mut impl rand::Rng) -> Vec<f32> {
    let v: Vec<f32> = (0..EMBEDDING_DIM)
        .map(|_| rng.random::<f32>() - 0.5)
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// Fills the table as the owner role. The HNSW index is dropped for the bulk insert and then
/// rebuilt from its own definition (read from the catalog), which is far faster than inserting
/// 2,000 rows one by one into the graph.
async fn fill(t: &TestDb) -> Vec<(TenantId, HashSet<uuid::Uuid>)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let indexdef: String = t
        .admin
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'tenant_knowledge_embedding'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "indexdef")
        .unwrap();
    assert!(indexdef.contains("USING hnsw"), "{indexdef}");
    t.admin
        .execute_unprepared("DROP INDEX tenant_knowledge_embedding")
        .await
        .unwrap();

    let mut plan: Vec<(String, usize)> =
        SHARES.iter().map(|(s, n)| ((*s).to_owned(), *n)).collect();
    let filler = TOTAL - SHARES.iter().map(|(_, n)| n).sum::<usize>();
    plan.extend((0..10).map(|i| (format!("filler-{i}"), filler / 10)));
    let mut tenants = Vec::new();
    for (slug, n) in plan {
        let tenant = create_tenant(t, &slug).await;
        let mut ids = HashSet::new();
        for batch in (0..n).collect::<Vec<_>>().chunks(100) {
            let mut sql = String::from(
                "INSERT INTO tenant_knowledge (id, tenant_id, title, content, category, embedding, embedding_model) VALUES ",
            );
            let mut values = Vec::new();
            for (j, _) in batch.iter().enumerate() {
                let id = uuid::Uuid::now_v7();
                ids.insert(id);
                if j > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "('{id}', '{tenant}', 'chunk', 'text', 'faq', ${}, '{MODEL}')",
                    j + 1
                ));
                values.push(sea_orm::prelude::PgVector::from(random_unit(&mut rng)).into());
            }
            t.admin
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    values,
                ))
                .await
                .unwrap();
        }
        tenants.push((tenant, ids));
    }
    t.admin.execute_unprepared(&indexdef).await.unwrap();
    t.admin
        .execute_unprepared("ANALYZE tenant_knowledge")
        .await
        .unwrap();
    tenants.truncate(SHARES.len());
    tenants
}

/// Rows the plan's top node returned, from its `(actual ... rows=N loops=1)`.
fn limit_rows(plan: &str) -> usize {
    let first = plan.lines().next().unwrap();
    assert!(first.trim_start().starts_with("Limit"), "{plan}");
    let at = first.find("rows=").unwrap() + 5;
    first[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn hnsw_with_iterative_scan_returns_exactly_k_at_every_tenant_share() {
    let t = TestDb::new().await;
    let tenants = fill(&t).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let shipped = SearchTuning::default();
    let forced = SearchTuning {
        exact_up_to: 0,
        ..SearchTuning::default()
    };
    let mut plain_scan_short = 0;
    for ((slug, _), (tenant, ids)) in SHARES.iter().zip(&tenants) {
        for _ in 0..5 {
            let vector = Embedding::padded(random_unit(&mut rng)).unwrap();
            let q = Query {
                model: MODEL,
                vector: &vector,
                limit: K,
                category: None,
            };

            // The search as shipped (Postgres picks the plan): exactly k of the tenant's rows.
            let hits = nearest(&t.db, *tenant, &q, shipped).await.unwrap();
            assert_eq!(hits.len(), K, "{slug}");
            assert!(
                hits.iter().all(|h| ids.contains(&h.chunk.id.uuid())),
                "{slug}: own rows only"
            );
            assert!(
                hits.windows(2)
                    .all(|w| w[0].chunk.score >= w[1].chunk.score)
            );
            // A tenant above the exact-search threshold (500 chunks) goes through the index;
            // smaller ones are read exactly.
            let plan = explain_nearest(&t.db, *tenant, &q, shipped).await.unwrap();
            let through_index = plan.contains("Index Scan using tenant_knowledge_embedding");
            assert_eq!(through_index, *slug == "half", "{slug}:\n{plan}");

            // Through the HNSW index at every share, as the application role under RLS: the
            // iterative scan alone fills k (the Limit node returns k rows, no fallback needed).
            let plan = explain_nearest(&t.db, *tenant, &q, forced).await.unwrap();
            assert!(
                plan.contains("Index Scan using tenant_knowledge_embedding"),
                "{slug}:\n{plan}"
            );
            assert_eq!(limit_rows(&plan), K, "{slug}:\n{plan}");
            let hits = nearest(&t.db, *tenant, &q, forced).await.unwrap();
            assert_eq!(hits.len(), K, "{slug}");
            assert!(hits.iter().all(|h| ids.contains(&h.chunk.id.uuid())));

            // Without iterative scans the same index scan filters its 40 candidates after the
            // fact: a small tenant gets fewer than k rows (the hazard the design avoids).
            if *slug == "one-percent" {
                let txn = t.db.begin_in_tenant(*tenant).await.unwrap();
                txn.execute_unprepared(
                    "SET LOCAL hnsw.iterative_scan = off; SET LOCAL enable_sort = off",
                )
                .await
                .unwrap();
                let rows = txn
                    .query_all_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "SELECT id FROM tenant_knowledge WHERE tenant_id = $2 AND embedding_model = $3 \
                         ORDER BY embedding <=> $1 LIMIT 5",
                        [
                            sea_orm::prelude::PgVector::from(vector.clone()).into(),
                            tenant.uuid().into(),
                            MODEL.into(),
                        ],
                    ))
                    .await
                    .unwrap();
                txn.commit().await.unwrap();
                if rows.len() < K {
                    plain_scan_short += 1;
                }
            }
        }
    }
    assert!(
        plain_scan_short > 0,
        "the plain scan should come up short for the 1% tenant"
    );
}

#[tokio::test]
async fn when_the_scan_budget_runs_out_the_exact_fallback_still_returns_k() {
    let t = TestDb::new().await;
    let tenants = fill(&t).await;
    let (tenant, ids) = &tenants[0];
    let mut rng = rand::rngs::StdRng::seed_from_u64(13);
    let vector = Embedding::padded(random_unit(&mut rng)).unwrap();
    let q = Query {
        model: MODEL,
        vector: &vector,
        limit: K,
        category: None,
    };
    // A budget of one tuple cannot find 5 rows of a 1% tenant in the index...
    let starved = SearchTuning {
        ef_search: 1,
        max_scan_tuples: 1,
        exact_up_to: 0,
    };
    let plan = explain_nearest(&t.db, *tenant, &q, starved).await.unwrap();
    assert!(limit_rows(&plan) < K, "{plan}");
    // ...so the search falls back to the exact scan, which agrees with nearest_exact.
    let hits = nearest(&t.db, *tenant, &q, starved).await.unwrap();
    let exact = nearest_exact(&t.db, *tenant, &q).await.unwrap();
    assert_eq!(hits.len(), K);
    assert!(hits.iter().all(|h| ids.contains(&h.chunk.id.uuid())));
    let got: Vec<_> = hits.iter().map(|h| h.chunk.id).collect();
    let want: Vec<_> = exact.iter().map(|h| h.chunk.id).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn every_search_is_planned_for_its_tenant() {
    // One connection, so every search reuses the driver's cached prepared statement: Postgres
    // would switch it to a generic, tenant-blind plan after five executions unless the search
    // forces custom plans.
    let t = TestDb::new().await;
    let alpha = create_tenant(&t, "alpha").await;
    seed(
        &t,
        alpha,
        &HashEmbedder,
        &markdown(
            "rules",
            &[
                ("Pool", "The pool opens at eight."),
                ("Parking", "Level -1."),
            ],
        ),
    )
    .await;
    let db = entity::Db::connect(
        &t.app_url(),
        &entity::db::PoolOptions {
            max_connections: 1,
            ..entity::db::PoolOptions::default()
        },
    )
    .await
    .unwrap();
    // Through the index (the statement whose plan depends on the tenant), however small.
    let retriever = VectorRetriever::new(Arc::new(HashEmbedder)).with_tuning(SearchTuning {
        exact_up_to: 0,
        ..SearchTuning::default()
    });
    for _ in 0..10 {
        assert_eq!(
            retriever
                .search(&db, alpha, "pool", 1, None)
                .await
                .unwrap()
                .len(),
            1
        );
    }
    let row = db
        .connection()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements \
             WHERE statement LIKE '%ORDER BY embedding <=> $1 LIMIT $4%' \
               AND statement NOT LIKE '%pg_prepared_statements%'",
        ))
        .await
        .unwrap()
        .expect("the search statement is prepared on the connection");
    let generic: i64 = row.try_get("", "generic_plans").unwrap();
    let custom: i64 = row.try_get("", "custom_plans").unwrap();
    assert_eq!(generic, 0, "no tenant-blind generic plan ({custom} custom)");
    assert!(custom >= 10, "{custom} custom plans");
}
