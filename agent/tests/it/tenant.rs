//! The tenant agent registry against Postgres: loading the roster and settings, caching,
//! refresh after invalidate, one load for concurrent first uses, eviction.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::tenant::{TenantAgentConfig, TenantAgentError, TenantAgentRegistry};
use entity::{TenantId, TenantKind, UserId};
use serde_json::json;
use testkit::TestDb;

use crate::support::{add_user, harborview, set_settings, sole};

fn registry(t: &TestDb) -> TenantAgentRegistry {
    TenantAgentRegistry::new(t.db.clone(), TenantAgentConfig::default())
}

fn names(agent: &agent::tenant::TenantAgent) -> Vec<String> {
    agent.roster().iter().map(|u| u.name.clone()).collect()
}

#[tokio::test]
async fn loads_roster_and_settings_and_refreshes_after_invalidate() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({ "disabled_actions": ["log_event"] })).await;
    let hv = harborview(&t.db).await;
    let registry = registry(&t);

    let agent = registry.get(sole.id).await.unwrap();
    assert_eq!(agent.profile().name, "Trattoria Sole");
    assert_eq!(agent.profile().kind, TenantKind::Restaurant);
    assert_eq!(
        names(&agent),
        ["Luca Bianchi", "Maria Rossi", "Sofia Verdi"]
    );
    assert_eq!(
        agent.actions().enabled_names(),
        ["notify_user", "notify_role"]
    );
    let prompt = agent
        .prompt(sole.user("Maria").id, "hi", Vec::new(), Vec::new())
        .unwrap();
    assert!(prompt.actions.iter().all(|a| a.name != "log_event"));
    assert!(
        prompt
            .roster
            .iter()
            .all(|u| !hv.users.iter().any(|h| h.id == u.id)),
        "only the tenant's own users"
    );

    // Cached: the same agent, no second load, even after the data changed.
    add_user(
        &t.db,
        sole.id,
        "Giulia Neri",
        "giulia@sole.example",
        "Waiter",
    )
    .await;
    set_settings(&t.db, sole.id, json!({})).await;
    let again = registry.get(sole.id).await.unwrap();
    assert!(Arc::ptr_eq(&agent, &again));
    assert_eq!(registry.loads(), 1);

    registry.invalidate(sole.id);
    let fresh = registry.get(sole.id).await.unwrap();
    assert!(!Arc::ptr_eq(&agent, &fresh));
    assert_eq!(registry.loads(), 2);
    assert_eq!(
        names(&fresh),
        ["Giulia Neri", "Luca Bianchi", "Maria Rossi", "Sofia Verdi"]
    );
    assert_eq!(
        fresh.actions().enabled_names(),
        ["notify_user", "notify_role", "log_event"]
    );
    // The old agent still works for a message that holds it.
    assert_eq!(agent.roster().len(), 3);

    // Another tenant has its own agent.
    let other = registry.get(hv.id).await.unwrap();
    assert_eq!(names(&other), ["Ana Costa", "James Park", "Tom Weber"]);
    assert_eq!(registry.cached(), 2);
}

#[tokio::test]
async fn concurrent_first_uses_share_one_load() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let registry = Arc::new(registry(&t));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let registry = Arc::clone(&registry);
            tokio::spawn(async move { registry.get(sole.id).await.unwrap() })
        })
        .collect();
    let mut agents = Vec::new();
    for task in tasks {
        agents.push(task.await.unwrap());
    }
    assert!(agents.iter().all(|a| Arc::ptr_eq(a, &agents[0])));
    assert_eq!(registry.loads(), 1);
}

#[tokio::test]
async fn a_new_sender_reloads_once_and_strangers_are_refused() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let hv = harborview(&t.db).await;
    let registry = registry(&t);
    registry.get(sole.id).await.unwrap();

    let giulia = add_user(
        &t.db,
        sole.id,
        "Giulia Neri",
        "giulia@sole.example",
        "Waiter",
    )
    .await;
    let agent = registry.get_for_sender(sole.id, giulia.id).await.unwrap();
    assert!(agent.member(giulia.id).is_some());
    assert_eq!(registry.loads(), 2);
    // Known now: no more loads.
    registry.get_for_sender(sole.id, giulia.id).await.unwrap();
    assert_eq!(registry.loads(), 2);

    for stranger in [hv.user("Ana").id, UserId::new()] {
        let err = registry
            .get_for_sender(sole.id, stranger)
            .await
            .unwrap_err();
        assert!(matches!(err, TenantAgentError::UnknownSender(id) if id == stranger));
        assert!(!err.retryable());
    }
}

#[tokio::test]
async fn unknown_tenants_are_not_found_and_not_cached() {
    let t = TestDb::new().await;
    let registry = registry(&t);
    let missing = TenantId::new();
    let err = registry.get(missing).await.unwrap_err();
    assert!(matches!(err, TenantAgentError::TenantNotFound(id) if id == missing));
    assert_eq!(registry.cached(), 0);
}

#[tokio::test]
async fn idle_agents_are_evicted() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let registry = TenantAgentRegistry::new(
        t.db.clone(),
        TenantAgentConfig {
            idle_ttl: Duration::from_secs(60),
        },
    );
    registry.get(sole.id).await.unwrap();
    assert_eq!(registry.evict_idle(), 0);
    assert_eq!(registry.cached(), 1);
    assert_eq!(
        registry.evict_idle_at(Instant::now() + Duration::from_secs(61)),
        1
    );
    assert_eq!(registry.cached(), 0);
    registry.get(sole.id).await.unwrap();
    assert_eq!(registry.loads(), 2);
}
