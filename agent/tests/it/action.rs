//! Executing actions against Postgres as the application role: exactly the expected
//! notifications and events, nothing in another tenant, rejections recorded, and the offline
//! provider's requests carried through to notifications.

use agent::action::ActionRegistry;
use agent::llm::offline::OfflineProvider;
use agent::llm::{LlmProvider, NoDeltas, ProposedAction};
use agent::reply::ActionStatus;
use agent::tenant::{TenantAgentConfig, TenantAgentRegistry};
use entity::{DbError, MessageStatus, Priority, TenantScoped, notification};
use sea_orm::QueryOrder;
use serde_json::{Value, json};
use testkit::TestDb;

use crate::support::{count, delete_user, harborview, new_session, sole, user_message};

fn proposed(kind: &str, params: Value) -> ProposedAction {
    let Value::Object(params) = params else {
        panic!("params must be an object")
    };
    ProposedAction {
        kind: kind.into(),
        params,
    }
}

#[tokio::test]
async fn execution_inserts_exactly_the_expected_rows() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let hv = harborview(&t.db).await;
    let (maria, luca, sofia) = (sole.user("Maria"), sole.user("Luca"), sole.user("Sofia"));
    let session = new_session(&t.db, sole.id, maria.id).await;
    let source = user_message(
        &t.db,
        sole.id,
        maria.id,
        session,
        "...",
        MessageStatus::Processing,
    )
    .await;
    let registry = TenantAgentRegistry::new(t.db.clone(), TenantAgentConfig::default());
    let agent = registry.get(sole.id).await.unwrap();

    let actions = [
        proposed(
            "notify_user",
            json!({ "user_id": luca.id, "message": "Table 5 has a nut allergy", "priority": "high" }),
        ),
        proposed(
            "notify_role",
            json!({ "title": "waiters", "message": "Terrace opens at 6" }),
        ),
        proposed(
            "log_event",
            json!({ "kind": "temperature", "details": "Freezer read -16" }),
        ),
        proposed("delete_everything", json!({})),
    ];
    let txn = t.db.begin_in_tenant(sole.id).await.unwrap();
    let applied = agent
        .actions()
        .apply(&txn, &actions, &agent.action_context(maria.id, source.id))
        .await
        .unwrap();
    txn.commit().await.unwrap();

    let statuses: Vec<ActionStatus> = applied.records.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            ActionStatus::Executed,
            ActionStatus::Executed,
            ActionStatus::Executed,
            ActionStatus::Rejected
        ]
    );
    assert_eq!(
        applied.records[3].error.as_deref(),
        Some("unknown action type \"delete_everything\"")
    );
    assert_eq!(applied.records[0].params["priority"], "HIGH");

    // Exactly two notifications, both in Trattoria Sole, from Maria, caused by her message.
    assert_eq!(
        count(&t.admin, "SELECT count(*) FROM notifications").await,
        2
    );
    let txn = t.db.begin_in_tenant(sole.id).await.unwrap();
    let stored = notification::Entity::find_in_tenant(sole.id)
        .order_by_asc(notification::Column::Id)
        .all(&txn)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(stored, applied.notifications);
    let to: Vec<_> = stored.iter().map(|n| (n.to_user_id, n.priority)).collect();
    assert_eq!(
        to,
        [(luca.id, Priority::High), (sofia.id, Priority::Normal)]
    );
    assert!(stored.iter().all(|n| n.from_user_id == Some(maria.id)
        && n.source_message_id == Some(source.id)
        && !n.read));
    assert_eq!(stored[0].message, "Table 5 has a nut allergy");

    // One event per action, the rejection included; nothing in the other tenant.
    for (kind, n) in [
        ("action.notify_user", 1),
        ("action.notify_role", 1),
        ("agent.log_event", 1),
        ("action.rejected", 1),
    ] {
        let sql = format!(
            "SELECT count(*) FROM events WHERE tenant_id = '{}' AND kind = '{kind}' AND actor_user_id = '{}'",
            sole.id, maria.id
        );
        assert_eq!(count(&t.admin, &sql).await, n, "{kind}");
    }
    let logged = "SELECT count(*) FROM events WHERE kind = 'agent.log_event' \
                  AND payload->>'kind' = 'temperature' AND payload->>'details' = 'Freezer read -16'";
    assert_eq!(count(&t.admin, logged).await, 1);
    let other = format!(
        "SELECT count(*) FROM events WHERE tenant_id = '{}' AND kind LIKE 'a%.%'",
        hv.id
    );
    assert_eq!(count(&t.admin, &other).await, 0);
    assert_eq!(applied.events.len(), 4);
}

#[tokio::test]
async fn a_user_of_another_tenant_is_rejected_like_an_unknown_id() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let hv = harborview(&t.db).await;
    let maria = sole.user("Maria");
    let ana = hv.user("Ana");
    let session = new_session(&t.db, sole.id, maria.id).await;
    let source = user_message(
        &t.db,
        sole.id,
        maria.id,
        session,
        "...",
        MessageStatus::Processing,
    )
    .await;
    let registry = TenantAgentRegistry::new(t.db.clone(), TenantAgentConfig::default());
    let agent = registry.get(sole.id).await.unwrap();

    let nobody = entity::UserId::new();
    let actions = [
        proposed(
            "notify_user",
            json!({ "user_id": ana.id, "message": "Come to the kitchen" }),
        ),
        proposed(
            "notify_user",
            json!({ "user_id": nobody, "message": "Come to the kitchen" }),
        ),
        // By name too: Ana is not in this roster.
        proposed(
            "notify_user",
            json!({ "user_id": "Ana Costa", "message": "Come to the kitchen" }),
        ),
        // A title only the other tenant has.
        proposed(
            "notify_role",
            json!({ "title": "maintenance technician", "message": "Come" }),
        ),
    ];
    let txn = t.db.begin_in_tenant(sole.id).await.unwrap();
    let applied = agent
        .actions()
        .apply(&txn, &actions, &agent.action_context(maria.id, source.id))
        .await
        .unwrap();
    txn.commit().await.unwrap();

    assert!(
        applied
            .records
            .iter()
            .all(|r| r.status == ActionStatus::Rejected)
    );
    assert_eq!(
        applied.records[0].error,
        Some(format!(
            "user_id \"{}\" is not a user of this tenant",
            ana.id
        ))
    );
    assert_eq!(
        applied.records[1].error,
        Some(format!("user_id \"{nobody}\" is not a user of this tenant"))
    );
    assert!(applied.notifications.is_empty());
    assert_eq!(
        count(&t.admin, "SELECT count(*) FROM notifications").await,
        0
    );
    let rejected = format!(
        "SELECT count(*) FROM events WHERE tenant_id = '{}' AND kind = 'action.rejected' \
         AND payload->>'reason' LIKE '%not a user of this tenant%'",
        sole.id
    );
    assert_eq!(count(&t.admin, &rejected).await, 3);
    let ana_seen = format!(
        "SELECT count(*) FROM events WHERE tenant_id = '{}' AND payload->>'reason' LIKE '%maintenance technician%'",
        sole.id
    );
    assert_eq!(count(&t.admin, &ana_seen).await, 1);
    let in_hv = format!(
        "SELECT count(*) FROM events WHERE tenant_id = '{}' AND kind LIKE 'action.%'",
        hv.id
    );
    assert_eq!(count(&t.admin, &in_hv).await, 0);
}

#[tokio::test]
async fn a_recipient_deleted_since_the_roster_was_loaded_fails_without_breaking_the_reply() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let (maria, luca, sofia) = (sole.user("Maria"), sole.user("Luca"), sole.user("Sofia"));
    let session = new_session(&t.db, sole.id, maria.id).await;
    let source = user_message(
        &t.db,
        sole.id,
        maria.id,
        session,
        "...",
        MessageStatus::Processing,
    )
    .await;
    let registry = TenantAgentRegistry::new(t.db.clone(), TenantAgentConfig::default());
    let agent = registry.get(sole.id).await.unwrap();
    delete_user(&t.admin, sofia.id).await;

    let actions = [
        proposed(
            "notify_user",
            json!({ "user_id": sofia.id, "message": "Hi" }),
        ),
        proposed(
            "notify_user",
            json!({ "user_id": luca.id, "message": "Hi" }),
        ),
    ];
    let txn = t.db.begin_in_tenant(sole.id).await.unwrap();
    let applied = agent
        .actions()
        .apply(&txn, &actions, &agent.action_context(maria.id, source.id))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(applied.records[0].status, ActionStatus::Failed);
    assert_eq!(applied.records[1].status, ActionStatus::Executed);
    assert_eq!(
        count(&t.admin, "SELECT count(*) FROM notifications").await,
        1
    );
    assert_eq!(
        count(
            &t.admin,
            "SELECT count(*) FROM events WHERE kind = 'action.failed'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_context_of_another_tenant_is_refused() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let hv = harborview(&t.db).await;
    let maria = sole.user("Maria");
    let session = new_session(&t.db, sole.id, maria.id).await;
    let source = user_message(
        &t.db,
        sole.id,
        maria.id,
        session,
        "...",
        MessageStatus::Processing,
    )
    .await;
    let registry = TenantAgentRegistry::new(t.db.clone(), TenantAgentConfig::default());
    let agent = registry.get(sole.id).await.unwrap();
    let txn = t.db.begin_in_tenant(hv.id).await.unwrap();
    let err = ActionRegistry::builtin()
        .apply(
            &txn,
            &[proposed(
                "log_event",
                json!({ "kind": "x", "details": "y" }),
            )],
            &agent.action_context(maria.id, source.id),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Internal(_)), "{err}");
    drop(txn);
    assert_eq!(
        count(
            &t.admin,
            "SELECT count(*) FROM events WHERE kind LIKE 'a%.%'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn offline_requests_become_notifications_end_to_end() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let (maria, luca, sofia) = (sole.user("Maria"), sole.user("Luca"), sole.user("Sofia"));
    let session = new_session(&t.db, sole.id, maria.id).await;
    let registry = TenantAgentRegistry::new(t.db.clone(), TenantAgentConfig::default());

    let text = "Tell Luca that table 5 has a nut allergy, urgent! And tell all waiters to check table 5's order.";
    let source = user_message(
        &t.db,
        sole.id,
        maria.id,
        session,
        text,
        MessageStatus::Processing,
    )
    .await;
    let agent = registry.get_for_sender(sole.id, maria.id).await.unwrap();
    let prompt = agent
        .prompt(maria.id, text, Vec::new(), Vec::new())
        .unwrap();
    let response = OfflineProvider.generate(&prompt, &NoDeltas).await.unwrap();
    let txn = t.db.begin_in_tenant(sole.id).await.unwrap();
    let applied = agent
        .actions()
        .apply(
            &txn,
            &response.actions,
            &agent.action_context(maria.id, source.id),
        )
        .await
        .unwrap();
    txn.commit().await.unwrap();

    assert!(
        applied
            .records
            .iter()
            .all(|r| r.status == ActionStatus::Executed),
        "{:?}",
        applied.records
    );
    let got: Vec<_> = applied
        .notifications
        .iter()
        .map(|n| (n.to_user_id, n.message.as_str(), n.priority))
        .collect();
    assert_eq!(
        got,
        [
            (luca.id, "Table 5 has a nut allergy", Priority::Urgent),
            (sofia.id, "Please check table 5's order.", Priority::Normal),
        ]
    );
    assert!(
        response
            .reply
            .starts_with("Done - I told Luca Bianchi (urgent): Table 5 has a nut allergy."),
        "{}",
        response.reply
    );
    assert_eq!(
        count(&t.admin, "SELECT count(*) FROM notifications").await,
        2
    );
}

#[tokio::test]
async fn a_group_larger_than_one_insert_batch_gets_every_notification() {
    use chrono::Utc;
    use entity::{Role, UserId, user};
    use sea_orm::{EntityTrait, IntoActiveModel};

    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let maria = sole.user("Maria");
    let txn = t.db.begin_in_tenant(sole.id).await.unwrap();
    let waiters = (0..1500).map(|i| {
        user::Model {
            id: UserId::new(),
            tenant_id: sole.id,
            email: format!("waiter{i}@sole.example"),
            password_hash: "not-a-real-hash".into(),
            role: Role::Staff,
            name: format!("Waiter {i}"),
            title: Some("Waiter".into()),
            created_at: Utc::now(),
        }
        .into_active_model()
    });
    user::Entity::insert_many(waiters)
        .exec_without_returning(&txn)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let session = new_session(&t.db, sole.id, maria.id).await;
    let source = user_message(
        &t.db,
        sole.id,
        maria.id,
        session,
        "...",
        MessageStatus::Processing,
    )
    .await;
    let registry = TenantAgentRegistry::new(t.db.clone(), TenantAgentConfig::default());
    let agent = registry.get(sole.id).await.unwrap();

    let txn = t.db.begin_in_tenant(sole.id).await.unwrap();
    let applied = agent
        .actions()
        .apply(
            &txn,
            &[proposed(
                "notify_role",
                json!({ "title": "waiters", "message": "Briefing at 5" }),
            )],
            &agent.action_context(maria.id, source.id),
        )
        .await
        .unwrap();
    txn.commit().await.unwrap();
    // 1500 new waiters and Sofia.
    assert_eq!(applied.notifications.len(), 1501);
    assert_eq!(
        count(&t.admin, "SELECT count(*) FROM notifications").await,
        1501
    );
}

#[tokio::test]
async fn nul_characters_from_a_model_do_not_break_the_transaction() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let (maria, luca) = (sole.user("Maria"), sole.user("Luca"));
    let session = new_session(&t.db, sole.id, maria.id).await;
    let source = user_message(
        &t.db,
        sole.id,
        maria.id,
        session,
        "...",
        MessageStatus::Processing,
    )
    .await;
    let registry = TenantAgentRegistry::new(t.db.clone(), TenantAgentConfig::default());
    let agent = registry.get(sole.id).await.unwrap();
    let txn = t.db.begin_in_tenant(sole.id).await.unwrap();
    let applied = agent
        .actions()
        .apply(
            &txn,
            &[
                proposed("no\u{0}pe", json!({ "x\u{0}": "y\u{0}" })),
                proposed(
                    "notify_user",
                    json!({ "user_id": luca.id, "message": "Hi\u{0}!" }),
                ),
            ],
            &agent.action_context(maria.id, source.id),
        )
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(applied.records[0].status, ActionStatus::Rejected);
    assert_eq!(applied.records[1].status, ActionStatus::Executed);
    assert_eq!(applied.notifications[0].message, "Hi!");
    assert_eq!(
        count(
            &t.admin,
            "SELECT count(*) FROM events WHERE kind = 'action.rejected'"
        )
        .await,
        1
    );
}
