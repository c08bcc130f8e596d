//! Knowledge services against real Postgres as the application role: adding, listing, deleting
//! (another tenant's id is not found), and re-embedding after the embedder changes.

use std::sync::Arc;

use agent::embedding::{Embedder, HashEmbedder};
use agent::knowledge::{self, KnowledgeError, NewKnowledge};
use agent::retrieval::VectorRetriever;
use entity::{TenantScoped, event};
use sea_orm::QueryOrder;
use testkit::TestDb;

use crate::knowledge_support::{RenamedHash, create_tenant, markdown};

fn entry(title: &str, content: &str, category: &str) -> NewKnowledge {
    NewKnowledge {
        title: Some(title.into()),
        content: content.into(),
        category: category.into(),
    }
}

async fn event_kinds(t: &TestDb, tenant: entity::TenantId) -> Vec<String> {
    let txn = t.db.begin_in_tenant(tenant).await.unwrap();
    let kinds = event::Entity::find_in_tenant(tenant)
        .order_by_asc(event::Column::Id)
        .all(&txn)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    txn.commit().await.unwrap();
    kinds
}

#[tokio::test]
async fn added_knowledge_is_listed_by_category_and_page() {
    let t = TestDb::new().await;
    let tenant = create_tenant(&t, "alpha").await;
    let e = HashEmbedder;
    let added = knowledge::add(
        &t.db,
        &e,
        tenant,
        None,
        &entry("Wi-Fi", "The password is on the router.", "faq"),
    )
    .await
    .unwrap();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].embedding_model, "hash-v1");
    let long = "Dogs are welcome on a lead; one dog per unit; no dogs at the pool. ".repeat(50);
    let pets = knowledge::add(&t.db, &e, tenant, None, &entry("Pets", &long, "rules"))
        .await
        .unwrap();
    assert!(pets.len() > 1, "long content is chunked");
    assert_eq!(
        event_kinds(&t, tenant).await,
        ["knowledge.added", "knowledge.added"]
    );

    let all = knowledge::list(&t.db, tenant, None, None, 50)
        .await
        .unwrap();
    assert_eq!(all.entries.len(), 1 + pets.len());
    assert!(!all.has_next_page);
    let rules = knowledge::list(&t.db, tenant, Some("rules"), None, 50)
        .await
        .unwrap();
    assert_eq!(rules.entries.len(), pets.len());
    assert!(
        rules
            .entries
            .iter()
            .all(|k| k.category == "rules" && k.title.as_deref() == Some("Pets"))
    );

    // Keyset pages of one: every entry exactly once, in id order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = knowledge::list(&t.db, tenant, None, after, 1)
            .await
            .unwrap();
        assert_eq!(page.entries.len(), 1);
        seen.push(page.entries[0].id);
        after = Some(page.entries[0].id);
        if !page.has_next_page {
            break;
        }
    }
    let ids: Vec<_> = all.entries.iter().map(|k| k.id).collect();
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn deleting_another_tenants_knowledge_is_not_found() {
    let t = TestDb::new().await;
    let alpha = create_tenant(&t, "alpha").await;
    let beta = create_tenant(&t, "beta").await;
    let e = HashEmbedder;
    let a = knowledge::add(
        &t.db,
        &e,
        alpha,
        None,
        &entry("Hours", "Open 9 to 5.", "schedule"),
    )
    .await
    .unwrap();
    let b = knowledge::add(
        &t.db,
        &e,
        beta,
        None,
        &entry("Hours", "Open 10 to 6.", "schedule"),
    )
    .await
    .unwrap();

    let err = knowledge::delete(&t.db, alpha, None, b[0].id)
        .await
        .unwrap_err();
    assert!(matches!(err, KnowledgeError::NotFound), "{err}");
    assert_eq!(
        knowledge::list(&t.db, beta, None, None, 10)
            .await
            .unwrap()
            .entries
            .len(),
        1
    );

    knowledge::delete(&t.db, alpha, None, a[0].id)
        .await
        .unwrap();
    assert!(
        knowledge::list(&t.db, alpha, None, None, 10)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    assert_eq!(
        event_kinds(&t, alpha).await,
        ["knowledge.added", "knowledge.deleted"]
    );
    assert!(matches!(
        knowledge::delete(&t.db, alpha, None, a[0].id).await,
        Err(KnowledgeError::NotFound)
    ));
    assert_eq!(
        event_kinds(&t, beta).await,
        ["knowledge.added"],
        "nothing recorded for beta"
    );
}

#[tokio::test]
async fn reembedding_moves_a_tenant_to_the_new_model_once() {
    let t = TestDb::new().await;
    let alpha = create_tenant(&t, "alpha").await;
    let beta = create_tenant(&t, "beta").await;
    let doc = markdown(
        "rules",
        &[
            ("Quiet hours", "No noise after 22:00."),
            ("Pool", "The pool opens at 8."),
        ],
    );
    for tenant in [alpha, beta] {
        let chunks = knowledge::chunk_markdown(&doc, None).unwrap();
        knowledge::ingest(&t.db, &HashEmbedder, tenant, None, chunks)
            .await
            .unwrap();
    }
    let new: Arc<dyn Embedder> = Arc::new(RenamedHash("hash-test-v2"));
    let retriever = VectorRetriever::new(new.clone());
    assert!(
        retriever
            .search(&t.db, alpha, "pool", 5, None)
            .await
            .unwrap()
            .is_empty(),
        "vectors of another model are never compared"
    );

    let report = knowledge::reembed(&t.db, new.as_ref(), alpha, None)
        .await
        .unwrap();
    assert_eq!((report.reembedded, report.current), (2, 0));
    let hits = retriever
        .search(&t.db, alpha, "pool", 5, None)
        .await
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].chunk.title.as_deref(), Some("Pool"));
    assert!(hits.iter().all(|h| h.embedding_model == "hash-test-v2"));
    assert!(
        retriever
            .search(&t.db, beta, "pool", 5, None)
            .await
            .unwrap()
            .is_empty(),
        "re-embedding one tenant leaves the others alone"
    );

    let again = knowledge::reembed(&t.db, new.as_ref(), alpha, None)
        .await
        .unwrap();
    assert_eq!((again.reembedded, again.current), (0, 2));
    assert_eq!(
        event_kinds(&t, alpha).await,
        ["knowledge.added", "knowledge.reembedded"]
    );

    let all = knowledge::reembed_all(&t.db, new.as_ref()).await.unwrap();
    let per_tenant: Vec<(String, usize)> = all
        .iter()
        .map(|(t, r)| (t.slug.clone(), r.reembedded))
        .collect();
    assert_eq!(
        per_tenant,
        [("alpha".to_owned(), 0), ("beta".to_owned(), 2)]
    );
    assert_eq!(
        retriever
            .search(&t.db, beta, "pool", 5, None)
            .await
            .unwrap()
            .len(),
        2
    );
}
