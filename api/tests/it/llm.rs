//! `concierge llm check`, run as a process: it names the configured provider and reports
//! whether one tiny request to it works, against a fake Gemini server.

use testkit::TestDb;
use testkit::fake_llm::{FAKE_GEMINI_KEY, FakeGemini};

use crate::support::{concierge, stderr, stdout};

#[tokio::test]
async fn llm_check_reports_the_provider_and_whether_it_works() {
    let db = TestDb::new().await;
    let out = concierge(&db, &["llm", "check"], &[]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("LLM provider: offline"),
        "{}",
        stdout(&out)
    );

    let fake = FakeGemini::start().await;
    let base_url = fake.base_url();
    let gemini = |key: &'static str| {
        vec![
            ("GEMINI_API_KEY", key),
            ("GEMINI_BASE_URL", base_url.as_str()),
        ]
    };
    let out = concierge(&db, &["llm", "check"], &gemini(FAKE_GEMINI_KEY)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("LLM provider: gemini/gemini-2.5-flash at http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("gemini/gemini-2.5-flash works"), "{text}");
    assert_eq!(fake.request_count(), 1);

    let out = concierge(&db, &["llm", "check"], &gemini("a-wrong-key")).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("API key is invalid"), "{err}");
    assert!(!err.contains("a-wrong-key"), "the key is never printed");

    let out = concierge(&db, &["llm", "check"], &[("LLM_PROVIDER", "gemini")]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("needs GEMINI_API_KEY"),
        "{}",
        stderr(&out)
    );
}

#[cfg(test)]
mod through_graphql {
    //! The server configured for `gemini`, against the fake: the reply streams in as deltas,
    //! then the final reply (whose text is their concatenation) with the executed action; the
    //! colleague gets the notification; an output targeting another tenant's user is REJECTED.

    use serde_json::{Value, json};
    use testkit::fake_llm::{FAKE_GEMINI_KEY, FakeGemini, GeminiReply};

    use crate::app::{TestApp, WsClient, count, user_ids, wait_for_subscribers};

    const EVENTS: &str = "subscription { conversationEvents { __typename \
        ... on AgentReplyDelta { delta } \
        ... on AgentReply { message { content provider actions { type status error } } } } }";

    async fn gemini_app(fake: &FakeGemini) -> TestApp {
        let base = fake.base_url();
        TestApp::spawn_with(&[
            ("LLM_PROVIDER", "gemini"),
            ("GEMINI_API_KEY", FAKE_GEMINI_KEY),
            ("GEMINI_BASE_URL", base.as_str()),
        ])
        .await
    }

    /// Deltas until the final reply; returns (deltas, final reply event).
    async fn collect(ws: &mut WsClient) -> (Vec<String>, Value) {
        let mut deltas = Vec::new();
        loop {
            let m = ws.recv_json().await;
            let e = &m["payload"]["data"]["conversationEvents"];
            match e["__typename"].as_str() {
                Some("AgentReplyDelta") => deltas.push(e["delta"].as_str().unwrap().to_owned()),
                Some("AgentReply") => return (deltas, e.clone()),
                _ => {}
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gemini_reply_streams_in_then_acts() {
        let fake = FakeGemini::start().await;
        let app = gemini_app(&fake).await;
        let (luca, _) = user_ids(&app, "luca@sole.example").await;
        let (maria_id, _) = user_ids(&app, "maria@sole.example").await;
        let reply = "Done: I told Luca that table 5 has a nut allergy, and asked him to use the purple board.";
        fake.set_stream_chunks(6);
        fake.push(GeminiReply::output(&json!({
            "reply": reply,
            "actions": [{ "type": "notify_user", "user_id": luca, "message": "Table 5 has a nut allergy", "priority": "HIGH" }]
        })));
        let maria = app.login("maria@sole.example").await;
        let luca_token = app.login("luca@sole.example").await;
        let mut maria_ws = WsClient::init(&app.ws_url(), &maria).await;
        maria_ws.subscribe("c", EVENTS, json!({})).await;
        let mut luca_ws = WsClient::init(&app.ws_url(), &luca_token).await;
        luca_ws
            .subscribe(
                "n",
                "subscription { notifications { message priority from { name } } }",
                json!({}),
            )
            .await;
        wait_for_subscribers(&app, maria_id, 1).await;
        wait_for_subscribers(&app, luca, 1).await;

        let sent = app
            .gql(Some(&maria), "mutation { sendMessage(input: { content: \"Tell Luca that table 5 has a nut allergy\" }) { message { id } } }", json!({}))
            .await;
        assert!(sent["errors"].is_null(), "{sent}");
        let (deltas, final_reply) = collect(&mut maria_ws).await;
        assert!(deltas.len() > 1, "the reply streamed in pieces: {deltas:?}");
        let message = &final_reply["message"];
        assert_eq!(
            message["content"],
            deltas.concat(),
            "the final reply is the concatenated deltas"
        );
        assert_eq!(message["content"], reply);
        assert_eq!(message["provider"], "gemini/gemini-2.5-flash");
        assert_eq!(message["actions"][0]["status"], "EXECUTED", "{final_reply}");

        let got = luca_ws.recv_json().await;
        assert_eq!(
            got["payload"]["data"]["notifications"],
            json!({ "message": "Table 5 has a nut allergy", "priority": "HIGH", "from": { "name": "Maria Rossi" } })
        );

        // The request Gemini got: the tenant's system instruction, the schema, the message.
        let requests = fake.requests();
        let request = requests.last().unwrap();
        assert!(request.system_text().unwrap().contains("Trattoria Sole"));
        assert_eq!(
            request.last_user_text(),
            Some("Tell Luca that table 5 has a nut allergy")
        );
        assert_eq!(
            request.body["generationConfig"]["responseMimeType"],
            "application/json"
        );
        // Usage is recorded per message and summed per tenant.
        assert_eq!(
            count(
                &app,
                "tenant_usage WHERE messages = 1 AND prompt_tokens > 0"
            )
            .await,
            1
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_gemini_output_targeting_another_tenant_is_rejected() {
        let fake = FakeGemini::start().await;
        let app = gemini_app(&fake).await;
        let (james, _) = user_ids(&app, "james@harborview.example").await;
        let (maria_id, _) = user_ids(&app, "maria@sole.example").await;
        fake.push(GeminiReply::output(&json!({
            "reply": "Sent to James.",
            "actions": [{ "type": "notify_user", "user_id": james, "message": "Here are Sole's supplier prices", "priority": "NORMAL" }]
        })));
        let maria = app.login("maria@sole.example").await;
        let mut ws = WsClient::init(&app.ws_url(), &maria).await;
        ws.subscribe("c", EVENTS, json!({})).await;
        wait_for_subscribers(&app, maria_id, 1).await;
        app.gql(Some(&maria), "mutation { sendMessage(input: { content: \"Send our supplier prices to James\" }) { message { id } } }", json!({}))
            .await;
        let (deltas, final_reply) = collect(&mut ws).await;
        let action = &final_reply["message"]["actions"][0];
        assert_eq!(action["status"], "REJECTED", "{final_reply}");
        assert_eq!(
            final_reply["message"]["content"],
            deltas.concat(),
            "the note about the rejection streamed too"
        );
        assert_eq!(count(&app, "notifications").await, 0);
    }
}
