//! Tenant isolation through the API: for every query and mutation, the right user sees their
//! data, a user of the other tenant gets NOT_FOUND or an empty result (never the data), and
//! MANAGER-only fields give FORBIDDEN to other roles.

use serde_json::{Value, json};

use crate::app::{TestApp, code, insert_notification};

/// Maria's session and message, a notification for Luca, and a Sole knowledge chunk.
struct SoleData {
    session: String,
    message: String,
    notification: String,
    knowledge: String,
}

async fn sole_data(app: &TestApp, maria: &str) -> SoleData {
    let sent = app
        .gql(
            Some(maria),
            "mutation { sendMessage(input: { content: \"The walk-in freezer code is 4711\" }) \
             { message { id } session { id } } }",
            json!({}),
        )
        .await;
    let notification = insert_notification(
        app,
        "luca@sole.example",
        "maria@sole.example",
        "Secret sauce is ready",
    )
    .await;
    let knowledge = app
        .gql(
            Some(maria),
            "{ knowledge(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    SoleData {
        session: sent["data"]["sendMessage"]["session"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        message: sent["data"]["sendMessage"]["message"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        notification: notification.to_string(),
        knowledge: knowledge["data"]["knowledge"]["nodes"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    }
}

fn text(v: &Value) -> String {
    v.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_of_the_other_tenant_never_return_sole_data() {
    let app = TestApp::spawn().await;
    let maria = app.login("maria@sole.example").await;
    let james = app.login("james@harborview.example").await;
    let data = sole_data(&app, &maria).await;

    // me / tenant / colleagues: each sees their own.
    let q = "{ me { email } tenant { name } colleagues { email } }";
    let mine = app.gql(Some(&maria), q, json!({})).await;
    assert_eq!(mine["data"]["tenant"]["name"], "Trattoria Sole");
    assert_eq!(mine["data"]["colleagues"].as_array().unwrap().len(), 3);
    let theirs = app.gql(Some(&james), q, json!({})).await;
    assert_eq!(theirs["data"]["tenant"]["name"], "Harbor View Apartments");
    assert!(!text(&theirs).contains("sole.example"), "{theirs}");

    // sessions: Maria sees hers; James sees none of them.
    let q = "{ sessions { nodes { id title } } }";
    assert!(text(&app.gql(Some(&maria), q, json!({})).await).contains(&data.session));
    let theirs = app.gql(Some(&james), q, json!({})).await;
    assert_eq!(theirs["data"]["sessions"]["nodes"], json!([]));

    // conversation: Maria reads it; James (other tenant) and Luca (same tenant, not the owner)
    // get NOT_FOUND, exactly like an id that does not exist.
    let q = "query($s: ID!) { conversation(sessionId: $s) { nodes { id content } } }";
    let mine = app.gql(Some(&maria), q, json!({ "s": data.session })).await;
    assert_eq!(
        mine["data"]["conversation"]["nodes"][0]["id"],
        data.message.as_str()
    );
    let luca = app.login("luca@sole.example").await;
    for token in [&james, &luca] {
        let body = app.gql(Some(token), q, json!({ "s": data.session })).await;
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
        assert!(!text(&body).contains("4711"));
    }
    let unknown = app
        .gql(Some(&maria), q, json!({ "s": uuid::Uuid::now_v7() }))
        .await;
    assert_eq!(code(&unknown), "NOT_FOUND");

    // notifications and the unread count: Luca sees his; James sees nothing.
    let q = "{ notifications { totalCount nodes { id message } } unreadNotificationCount }";
    let lucas = app.gql(Some(&luca), q, json!({})).await;
    assert_eq!(lucas["data"]["notifications"]["totalCount"], 1);
    assert_eq!(lucas["data"]["unreadNotificationCount"], 1);
    let theirs = app.gql(Some(&james), q, json!({})).await;
    assert_eq!(theirs["data"]["notifications"]["totalCount"], 0);
    assert_eq!(theirs["data"]["unreadNotificationCount"], 0);

    // knowledge, searchKnowledge, events: only Harbor View's for James.
    let q = "{ knowledge(first: 100) { nodes { id content } } events(first: 100) { nodes { kind payload } } \
             searchKnowledge(query: \"nut allergy walnut pesto\", limit: 10) { knowledge { id content } } }";
    let theirs = app.gql(Some(&james), q, json!({})).await;
    assert!(theirs["errors"].is_null(), "{theirs}");
    assert!(
        !theirs["data"]["knowledge"]["nodes"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let all = text(&theirs);
    for sole_word in ["Trattoria", "walnut", "Luca", &data.knowledge] {
        assert!(!all.contains(sole_word), "James saw {sole_word}: {all}");
    }
    let mine = text(&app.gql(Some(&maria), q, json!({})).await);
    assert!(mine.contains("walnut") && mine.contains(&data.knowledge));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_on_the_other_tenants_ids_are_not_found_and_change_nothing() {
    let app = TestApp::spawn().await;
    let maria = app.login("maria@sole.example").await;
    let james = app.login("james@harborview.example").await;
    let data = sole_data(&app, &maria).await;

    // sendMessage into Maria's session.
    let q = "mutation($s: ID!) { sendMessage(input: { content: \"hello\", sessionId: $s }) { message { id } } }";
    let body = app.gql(Some(&james), q, json!({ "s": data.session })).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");

    // markNotificationRead of Luca's notification, by James and by Maria (not the recipient).
    let q = "mutation($id: ID!) { markNotificationRead(id: $id) { id read } }";
    for token in [&james, &maria] {
        let body = app
            .gql(Some(token), q, json!({ "id": data.notification }))
            .await;
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
    }
    // markAllNotificationsRead touches only the caller's.
    let body = app
        .gql(
            Some(&james),
            "mutation { markAllNotificationsRead }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["markAllNotificationsRead"], 0);
    let luca = app.login("luca@sole.example").await;
    assert_eq!(
        app.gql(Some(&luca), "{ unreadNotificationCount }", json!({}))
            .await["data"]["unreadNotificationCount"],
        1
    );

    // deleteKnowledge of a Sole chunk.
    let q = "mutation($id: ID!) { deleteKnowledge(id: $id) }";
    let body = app
        .gql(Some(&james), q, json!({ "id": data.knowledge }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let still = crate::app::count(
        &app,
        &format!("tenant_knowledge WHERE id = '{}'", data.knowledge),
    )
    .await;
    assert_eq!(still, 1);

    // addKnowledge by James lands in Harbor View only.
    let q = "mutation { addKnowledge(input: { title: \"Gym\", content: \"The gym opens at 6.\", category: \"rules\" }) { id } }";
    let body = app.gql(Some(&james), q, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let mine = text(
        &app.gql(
            Some(&maria),
            "{ knowledge(first: 100) { nodes { content } } }",
            json!({}),
        )
        .await,
    );
    assert!(!mine.contains("The gym opens"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_only_fields_are_forbidden_to_other_roles() {
    let app = TestApp::spawn().await;
    let maria = app.login("maria@sole.example").await;
    let data = sole_data(&app, &maria).await;
    let luca = app.login("luca@sole.example").await;
    let tom = app.login("tom@harborview.example").await;
    let calls = [
        ("{ knowledge { nodes { id } } }".to_owned(), json!({})),
        (
            "{ searchKnowledge(query: \"hours\") { score } }".to_owned(),
            json!({}),
        ),
        ("{ events { nodes { id } } }".to_owned(), json!({})),
        (
            "mutation { addKnowledge(input: { content: \"x\", category: \"faq\" }) { id } }"
                .to_owned(),
            json!({}),
        ),
        (
            "mutation($id: ID!) { deleteKnowledge(id: $id) }".to_owned(),
            json!({ "id": data.knowledge }),
        ),
    ];
    for (q, vars) in &calls {
        for token in [&luca, &tom] {
            let body = app.gql(Some(token), q, vars.clone()).await;
            assert_eq!(code(&body), "FORBIDDEN", "{q}: {body}");
        }
        let body = app.gql(Some(&maria), q, vars.clone()).await;
        assert!(body["errors"].is_null(), "{q} as manager: {body}");
    }
}
