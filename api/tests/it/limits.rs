//! Limits: each abusive request gets its error code, and the server keeps serving.

use serde_json::json;

use crate::app::{TestApp, code};

async fn still_serving(app: &TestApp, token: &str) {
    let body = app.gql(Some(token), "{ me { email } }", json!({})).await;
    assert_eq!(
        body["data"]["me"]["email"], "maria@sole.example",
        "the server stopped serving: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abusive_requests_get_their_error_code_and_the_server_keeps_serving() {
    let app = TestApp::spawn().await;
    let token = app.login("maria@sole.example").await;

    // Too deep: nested selections beyond MAX_DEPTH.
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {}name {}}} }} }} }} }}",
        "ofType { ".repeat(14),
        "} ".repeat(14)
    );
    let body = app.gql(Some(&token), &deep, json!({})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{body}"
    );
    still_serving(&app, &token).await;

    // Too complex: three full pages of the inbox with senders.
    let page = "notifications(first: 100) { edges { cursor node { id message priority read createdAt sourceMessageId \
                from { id name email role title createdAt } } } nodes { id message from { id name email } } }";
    let complex = format!("{{ a: {page} b: {page} c: {page} }}");
    let body = app.gql(Some(&token), &complex, json!({})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{body}"
    );
    still_serving(&app, &token).await;

    // Page size.
    for q in [
        "{ notifications(first: 1000) { totalCount } }",
        "{ sessions(first: 101) { nodes { id } } }",
        "{ events(first: -1) { nodes { id } } }",
    ] {
        let body = app.gql(Some(&token), q, json!({})).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{q}: {body}");
    }
    still_serving(&app, &token).await;

    // An 8001-character message.
    let body = app
        .gql(
            Some(&token),
            "mutation($c: String!) { sendMessage(input: { content: $c }) { message { id } } }",
            json!({ "c": "x".repeat(8001) }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    still_serving(&app, &token).await;

    // An alias flood.
    let flood: String = (0..200)
        .map(|i| format!("a{i}: unreadNotificationCount "))
        .collect();
    let body = app
        .gql(Some(&token), &format!("{{ {flood} }}"), json!({}))
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aliases")
    );
    still_serving(&app, &token).await;

    // A batch of too many operations, and a document with too many operations.
    let batch: Vec<_> = (0..11)
        .map(|_| json!({ "query": "{ me { id } }" }))
        .collect();
    let (status, body) = app.post_json(Some(&token), &json!(batch)).await;
    assert_eq!((status, code(&body)), (400, "BAD_USER_INPUT"), "{body}");
    let ops: String = (0..11)
        .map(|i| format!("query Q{i} {{ me {{ id }} }} "))
        .collect();
    let (_, body) = app
        .post_json(
            Some(&token),
            &json!({ "query": ops, "operationName": "Q0" }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // A small batch is fine.
    let (status, body) = app
        .post_json(
            Some(&token),
            &json!([{ "query": "{ me { email } }" }, { "query": "{ tenant { name } }" }]),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body[1]["data"]["tenant"]["name"], "Trattoria Sole");
    still_serving(&app, &token).await;

    // An oversized body, malformed JSON, and invalid variables.
    let (status, text) = app
        .post_raw(vec![b' '; api::graphql::limits::MAX_BODY_BYTES + 1])
        .await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("BAD_USER_INPUT"));
    let (status, text) = app.post_raw(b"{\"query\": ".to_vec()).await;
    assert_eq!(status, 400);
    assert!(text.contains("BAD_USER_INPUT"), "{text}");
    let body = app
        .gql(
            Some(&token),
            "query($n: Int!) { notifications(first: $n) { totalCount } }",
            json!({ "n": "ten" }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = app.gql(Some(&token), "{ me { ", json!({})).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    still_serving(&app, &token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_serves_queries_but_not_mutations_and_graphiql_is_served() {
    let app = TestApp::spawn().await;
    let (status, text) = app.get("/graphql?query=%7B__typename%7D").await;
    assert_eq!(status, 200);
    assert!(text.contains("\"__typename\":\"Query\""), "{text}");
    let (status, text) = app
        .get("/graphql?query=mutation%7BmarkAllNotificationsRead%7D")
        .await;
    assert_eq!(status, 405, "{text}");
    let (status, text) = app.get("/graphiql").await;
    assert_eq!(status, 200);
    assert!(text.to_lowercase().contains("graphiql"));
}

/// The introspection query GraphiQL and codegen send (graphql-js `getIntrospectionQuery` with
/// nine levels of `ofType`, as in graphql-js 17) must pass the depth and complexity limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_full_introspection_query_passes_the_limits() {
    let app = TestApp::spawn().await;
    let type_ref = format!(
        "kind name {}",
        "ofType { kind name ".repeat(9) + &"} ".repeat(9)
    );
    let query = format!(
        "query IntrospectionQuery {{ __schema {{ queryType {{ name }} mutationType {{ name }} subscriptionType {{ name }} \
         types {{ ...FullType }} directives {{ name description locations args {{ ...InputValue }} }} }} }} \
         fragment FullType on __Type {{ kind name description fields(includeDeprecated: true) {{ name description \
         args {{ ...InputValue }} type {{ ...TypeRef }} isDeprecated deprecationReason }} inputFields {{ ...InputValue }} \
         interfaces {{ ...TypeRef }} enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }} \
         possibleTypes {{ ...TypeRef }} }} \
         fragment InputValue on __InputValue {{ name description type {{ ...TypeRef }} defaultValue }} \
         fragment TypeRef on __Type {{ {type_ref} }}"
    );
    let body = app.gql(None, &query, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["__schema"]["types"].as_array().unwrap().len() > 20);
}
