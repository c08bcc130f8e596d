//! The inbox: newest first, cursor pagination, totalCount, the unread filter and count, marking
//! one or all read (recipient only).

use serde_json::json;

use crate::app::{TestApp, code, insert_notification};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_pages_newest_first_and_marks_read() {
    let app = TestApp::spawn().await;
    let luca = app.login("luca@sole.example").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            insert_notification(
                &app,
                "luca@sole.example",
                "maria@sole.example",
                &format!("note {i}"),
            )
            .await
            .to_string(),
        );
    }
    insert_notification(
        &app,
        "sofia@sole.example",
        "maria@sole.example",
        "for Sofia",
    )
    .await;

    let q = "query($a: String, $u: Boolean) { notifications(first: 2, after: $a, unreadOnly: $u) { totalCount \
             edges { cursor node { id message read priority from { name email } } } \
             pageInfo { hasNextPage endCursor } } unreadNotificationCount }";
    let page = app.gql(Some(&luca), q, json!({})).await;
    let n = &page["data"]["notifications"];
    assert_eq!(n["totalCount"], 5);
    assert_eq!(n["edges"][0]["node"]["message"], "note 4");
    assert_eq!(n["edges"][1]["node"]["message"], "note 3");
    assert_eq!(n["edges"][0]["node"]["from"]["name"], "Maria Rossi");
    assert_eq!(n["edges"][0]["node"]["priority"], "HIGH");
    assert_eq!(page["data"]["unreadNotificationCount"], 5);
    let next = app
        .gql(Some(&luca), q, json!({ "a": n["pageInfo"]["endCursor"] }))
        .await;
    assert_eq!(
        next["data"]["notifications"]["edges"][0]["node"]["message"],
        "note 2"
    );

    // Mark one read: it leaves the unread filter and the count.
    let m = "mutation($id: ID!) { markNotificationRead(id: $id) { id read from { name } } }";
    let marked = app.gql(Some(&luca), m, json!({ "id": ids[4] })).await;
    assert_eq!(
        marked["data"]["markNotificationRead"]["read"], true,
        "{marked}"
    );
    assert_eq!(
        marked["data"]["markNotificationRead"]["from"]["name"],
        "Maria Rossi"
    );
    let unread = app.gql(Some(&luca), q, json!({ "u": true })).await;
    assert_eq!(unread["data"]["notifications"]["totalCount"], 4);
    assert_eq!(
        unread["data"]["notifications"]["edges"][0]["node"]["message"],
        "note 3"
    );
    assert_eq!(unread["data"]["unreadNotificationCount"], 4);

    // Mark all: four were unread; Sofia's stays unread.
    let all = app
        .gql(
            Some(&luca),
            "mutation { markAllNotificationsRead }",
            json!({}),
        )
        .await;
    assert_eq!(all["data"]["markAllNotificationsRead"], 4);
    assert_eq!(
        app.gql(Some(&luca), "{ unreadNotificationCount }", json!({}))
            .await["data"]["unreadNotificationCount"],
        0
    );
    let sofia = app.login("sofia@sole.example").await;
    assert_eq!(
        app.gql(Some(&sofia), "{ unreadNotificationCount }", json!({}))
            .await["data"]["unreadNotificationCount"],
        1
    );

    // An unknown id is NOT_FOUND.
    let body = app
        .gql(Some(&luca), m, json!({ "id": uuid::Uuid::now_v7() }))
        .await;
    assert_eq!(code(&body), "NOT_FOUND");
}
