//! The Gemini provider against the fake Gemini server: what it sends (path, key header, body
//! with the system instruction, the history and the converted schema), what it makes of every
//! kind of answer (plain, streamed in pieces split across writes, repaired, blocked, cut), and
//! how it fails (keys, models, quotas, outages, broken streams, timeouts).

use std::time::Duration;

use agent::llm::config::{CallSettings, GeminiConfig};
use agent::llm::generation::{BLOCKED_REPLY, TRUNCATED_REPLY};
use agent::llm::{Finish, GeminiProvider, LlmConfig, LlmError, LlmProvider, Usage};
use secrecy::SecretString;
use serde_json::{Value, json};
use testkit::fake_llm::{FAKE_GEMINI_KEY, FakeGemini, FakeUsage, GeminiReply};

use crate::llm_support::{Deltas, closed_port_url, fast, good_output, luca, prompt};

const MODEL: &str = "gemini-2.5-flash";

fn provider_with(fake: &FakeGemini, key: Option<&str>, call: CallSettings) -> GeminiProvider {
    GeminiProvider::new(
        GeminiConfig {
            api_key: key.map(|k| SecretString::from(k.to_owned())),
            model: MODEL.into(),
            base_url: fake.base_url(),
            thinking_budget: Some(0),
        },
        call,
    )
    .unwrap()
}

fn provider(fake: &FakeGemini, stream: bool) -> GeminiProvider {
    provider_with(fake, Some(FAKE_GEMINI_KEY), fast(stream))
}

#[tokio::test]
async fn plain_answer_sends_the_prompt_and_returns_reply_actions_and_usage() {
    let fake = FakeGemini::start().await;
    let luca = luca();
    let prompt = prompt(&luca);
    let output = good_output(&luca);
    fake.push(GeminiReply::Text {
        text: output.to_string(),
        usage: FakeUsage {
            prompt: 812,
            output: 64,
            thoughts: 17,
        },
    });
    let deltas = Deltas::default();
    let r = provider(&fake, false)
        .generate(&prompt, &deltas)
        .await
        .unwrap();

    assert_eq!(r.finish, Finish::Complete);
    assert_eq!(r.reply, output["reply"].as_str().unwrap());
    assert_eq!(r.actions.len(), 1);
    assert_eq!(r.actions[0].kind, "notify_user");
    assert_eq!(r.actions[0].params["user_id"], json!(luca.id.to_string()));
    assert_eq!(r.actions[0].params["priority"], json!("URGENT"));
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 812,
            output_tokens: 81
        }
    );
    assert_eq!(r.model, "gemini/gemini-2.5-flash");
    assert_eq!(
        deltas.joined(),
        r.reply,
        "without streaming, one delta at the end"
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(req.header("x-goog-api-key"), Some(FAKE_GEMINI_KEY));
    assert!(
        req.query.as_deref().is_none_or(|q| !q.contains("key=")),
        "the key never goes into the URL"
    );
    let body = &req.body;
    assert_eq!(
        body["systemInstruction"]["parts"][0]["text"],
        json!(prompt.system_instruction())
    );
    assert_eq!(
        body["contents"],
        json!([
            { "role": "user", "parts": [ { "text": "Who is cooking tonight?" } ] },
            { "role": "model", "parts": [ { "text": "Luca Bianchi is the head chef tonight." } ] },
            { "role": "user", "parts": [ { "text": prompt.message } ] },
        ])
    );
    let config = &body["generationConfig"];
    assert_eq!(config["responseMimeType"], "application/json");
    assert_eq!(config["temperature"], json!(0.2));
    assert_eq!(config["maxOutputTokens"], json!(2048));
    assert_eq!(config["thinkingConfig"], json!({ "thinkingBudget": 0 }));
    let schema = &config["responseSchema"];
    assert_eq!(schema["type"], "OBJECT");
    assert_eq!(schema["propertyOrdering"], json!(["reply", "actions"]));
    assert_eq!(schema["required"], json!(["reply", "actions"]));
    let variants = schema["properties"]["actions"]["items"]["anyOf"]
        .as_array()
        .unwrap();
    let names: Vec<&Value> = variants
        .iter()
        .map(|v| &v["properties"]["type"]["enum"][0])
        .collect();
    assert_eq!(names, vec!["notify_user", "log_event"]);
    assert_eq!(
        variants[0]["properties"]["priority"]["enum"],
        json!(["LOW", "NORMAL", "HIGH", "URGENT"])
    );
    let schema_text = schema.to_string();
    assert!(
        !schema_text.contains("additionalProperties") && !schema_text.contains("minLength"),
        "nothing outside the OpenAPI subset is sent: {schema_text}"
    );
    assert!(
        req.body_text.find("\"reply\"").unwrap() < req.body_text.find("\"actions\"").unwrap(),
        "reply is listed first, so the model writes it first"
    );
}

#[tokio::test]
async fn streamed_answer_pushes_the_reply_in_order_as_it_arrives() {
    let fake = FakeGemini::start().await;
    fake.set_stream_chunks(9);
    let luca = luca();
    let output = good_output(&luca);
    fake.push(GeminiReply::output(&output));
    let deltas = Deltas::default();
    let r = provider(&fake, true)
        .generate(&prompt(&luca), &deltas)
        .await
        .unwrap();

    assert_eq!(r.finish, Finish::Complete);
    assert_eq!(r.reply, output["reply"].as_str().unwrap());
    assert_eq!(deltas.joined(), r.reply);
    assert!(
        deltas.all().len() >= 3,
        "the reply arrived in several pieces: {:?}",
        deltas.all()
    );
    assert_eq!(r.actions.len(), 1);
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 120,
            output_tokens: 30
        },
        "the last chunk's running totals"
    );
    let req = &fake.requests()[0];
    assert_eq!(
        req.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(req.query.as_deref(), Some("alt=sse"));
}

#[tokio::test]
async fn unusable_output_is_repaired_once_with_usage_summed() {
    let fake = FakeGemini::start().await;
    let luca = luca();
    let output = good_output(&luca);
    fake.push(GeminiReply::text("Sure! Luca has been told."));
    fake.push(GeminiReply::output(&output));
    let deltas = Deltas::default();
    let r = provider(&fake, true)
        .generate(&prompt(&luca), &deltas)
        .await
        .unwrap();

    assert_eq!(r.finish, Finish::Complete);
    assert_eq!(r.actions.len(), 1, "the repaired output's actions");
    assert_eq!(r.reply, output["reply"].as_str().unwrap());
    assert_eq!(deltas.joined(), r.reply);
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 240,
            output_tokens: 60
        }
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let repair = &requests[1];
    assert_eq!(
        repair.path, "/v1beta/models/gemini-2.5-flash:generateContent",
        "the repair call is not streamed"
    );
    let contents = repair.body["contents"].as_array().unwrap();
    assert_eq!(contents.len(), 5);
    assert_eq!(
        contents[3],
        json!({ "role": "model", "parts": [ { "text": "Sure! Luca has been told." } ] })
    );
    let instruction = contents[4]["parts"][0]["text"].as_str().unwrap();
    assert!(instruction.contains("could not be used") && instruction.contains("not valid JSON"));
}

#[tokio::test]
async fn output_that_never_parses_is_shown_without_actions() {
    let fake = FakeGemini::start().await;
    fake.push(GeminiReply::text("The kitchen opens at 5 pm."));
    fake.push(GeminiReply::text("```\nThe kitchen opens at 5 pm.\n```"));
    let deltas = Deltas::default();
    let r = provider(&fake, true)
        .generate(&prompt(&luca()), &deltas)
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::Unparsed);
    assert_eq!(r.reply, "The kitchen opens at 5 pm.");
    assert!(r.actions.is_empty());
    assert_eq!(deltas.joined(), r.reply);
    assert_eq!(fake.request_count(), 2, "one repair call, no more");
}

#[tokio::test]
async fn a_bad_action_list_after_a_streamed_reply_keeps_the_streamed_text() {
    let fake = FakeGemini::start().await;
    let luca = luca();
    // The reply streams fine; the actions are not a list.
    fake.push(GeminiReply::text(
        r#"{"reply": "I told Luca.", "actions": {"type": "notify_user"}}"#,
    ));
    fake.push(GeminiReply::output(&json!({
        "reply": "I told Luca about table 5.",
        "actions": [ { "type": "notify_user", "user_id": luca.id.to_string(), "message": "Table 5: nut allergy" } ],
    })));
    let deltas = Deltas::default();
    let r = provider(&fake, true)
        .generate(&prompt(&luca), &deltas)
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::Complete);
    assert_eq!(r.reply, "I told Luca.", "streamed text is never taken back");
    assert_eq!(deltas.joined(), r.reply);
    assert_eq!(r.actions.len(), 1, "the repaired actions");
}

#[tokio::test]
async fn fenced_json_is_accepted_without_repair() {
    let fake = FakeGemini::start().await;
    let luca = luca();
    let output = good_output(&luca);
    fake.push(GeminiReply::text(&format!("```json\n{output}\n```")));
    let deltas = Deltas::default();
    let r = provider(&fake, true)
        .generate(&prompt(&luca), &deltas)
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::Complete);
    assert_eq!(r.actions.len(), 1);
    assert_eq!(deltas.joined(), r.reply);
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn max_tokens_gives_the_partial_reply_and_no_actions() {
    let fake = FakeGemini::start().await;
    fake.push(GeminiReply::MaxTokens {
        text: r#"{"reply": "The kitchen opens at 5 pm and the walk-in"#.into(),
    });
    let deltas = Deltas::default();
    let r = provider(&fake, true)
        .generate(&prompt(&luca()), &deltas)
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::MaxTokens);
    assert_eq!(r.reply, "The kitchen opens at 5 pm and the walk-in");
    assert!(r.actions.is_empty());
    assert_eq!(deltas.joined(), r.reply);

    fake.push(GeminiReply::ThinkingExhausted);
    let deltas = Deltas::default();
    let r = provider(&fake, false)
        .generate(&prompt(&luca()), &deltas)
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::MaxTokens);
    assert_eq!(r.reply, TRUNCATED_REPLY);
    assert_eq!(
        r.usage.output_tokens, 256,
        "thinking tokens count as output"
    );
    assert_eq!(deltas.joined(), r.reply);
}

#[tokio::test]
async fn blocked_prompts_and_answers_get_a_polite_reply() {
    let fake = FakeGemini::start().await;
    for stream in [false, true] {
        for reply in [
            GeminiReply::PromptBlocked {
                reason: "SAFETY".into(),
            },
            GeminiReply::PromptBlocked {
                reason: "PROHIBITED_CONTENT".into(),
            },
            GeminiReply::CandidateBlocked {
                reason: "SAFETY".into(),
                after: String::new(),
            },
            GeminiReply::CandidateBlocked {
                reason: "RECITATION".into(),
                after: String::new(),
            },
            GeminiReply::CandidateBlocked {
                reason: "SPII".into(),
                after: String::new(),
            },
        ] {
            fake.push(reply.clone());
            let deltas = Deltas::default();
            let r = provider(&fake, stream)
                .generate(&prompt(&luca()), &deltas)
                .await
                .unwrap();
            assert_eq!(r.finish, Finish::Blocked, "{reply:?}");
            assert_eq!(r.reply, BLOCKED_REPLY);
            assert!(r.actions.is_empty());
            assert_eq!(deltas.joined(), r.reply);
        }
    }
    // Blocked after part of the reply was streamed: the refusal follows what was shown.
    fake.push(GeminiReply::CandidateBlocked {
        reason: "SAFETY".into(),
        after: r#"{"reply": "Here is what I found"#.into(),
    });
    let deltas = Deltas::default();
    let r = provider(&fake, true)
        .generate(&prompt(&luca()), &deltas)
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::Blocked);
    assert_eq!(r.reply, format!("Here is what I found\n\n{BLOCKED_REPLY}"));
    assert_eq!(deltas.joined(), r.reply);
}

#[tokio::test]
async fn empty_answers_and_function_calls_are_repaired() {
    let fake = FakeGemini::start().await;
    let luca = luca();
    fake.push(GeminiReply::EmptyStop);
    fake.push(GeminiReply::output(&good_output(&luca)));
    fake.push(GeminiReply::FunctionCall {
        name: "notify_user".into(),
        args: json!({ "user_id": luca.id.to_string() }),
    });
    fake.push(GeminiReply::output(&good_output(&luca)));
    for _ in 0..2 {
        let r = provider(&fake, true)
            .generate(&prompt(&luca), &Deltas::default())
            .await
            .unwrap();
        assert_eq!(r.finish, Finish::Complete);
        assert_eq!(r.actions.len(), 1);
    }
    assert_eq!(fake.request_count(), 4);
    let repair = &fake.requests()[1];
    assert_eq!(
        repair.body["contents"][3]["parts"][0]["text"], "(an empty answer)",
        "an empty model turn would be rejected"
    );
}

#[tokio::test]
async fn a_per_minute_quota_is_waited_out_and_retried() {
    let fake = FakeGemini::start().await;
    let luca = luca();
    fake.push(GeminiReply::RateLimited {
        per_day: false,
        retry_delay: "0.05s".into(),
    });
    fake.push(GeminiReply::output(&good_output(&luca)));
    let r = provider(&fake, true)
        .generate(&prompt(&luca), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::Complete);
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn a_long_retry_delay_is_handed_to_the_caller() {
    let fake = FakeGemini::start().await;
    fake.push(GeminiReply::RateLimited {
        per_day: false,
        retry_delay: "31.402117s".into(),
    });
    let err = provider(&fake, true)
        .generate(&prompt(&luca()), &Deltas::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LlmError::RateLimited {
            retry_after: Duration::from_secs_f64(31.402_117)
        }
    );
    assert!(err.retryable());
    assert_eq!(fake.request_count(), 1, "the session is not held for 31 s");
}

#[tokio::test]
async fn a_per_day_quota_is_exhausted_at_once() {
    let fake = FakeGemini::start().await;
    fake.set_default(GeminiReply::RateLimited {
        per_day: true,
        retry_delay: "0.01s".into(),
    });
    let err = provider(&fake, true)
        .generate(&prompt(&luca()), &Deltas::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::QuotaExhausted(m) if m.contains("quota")),
        "{err:?}"
    );
    assert!(!err.retryable());
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let fake = FakeGemini::start().await;
    let luca = luca();
    fake.push(GeminiReply::unavailable());
    fake.push(GeminiReply::internal());
    fake.push(GeminiReply::output(&good_output(&luca)));
    let r = provider(&fake, true)
        .generate(&prompt(&luca), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::Complete);
    assert_eq!(fake.request_count(), 3);

    for (failure, needle) in [
        (GeminiReply::unavailable(), "overloaded"),
        (GeminiReply::BadGateway, "Bad Gateway"),
        (
            GeminiReply::Error {
                status: 500,
                name: "INTERNAL".into(),
                message: "wrapped in an array".into(),
                in_array: true,
            },
            "wrapped in an array",
        ),
    ] {
        let fake = FakeGemini::start().await;
        fake.set_default(failure);
        let err = provider(&fake, true)
            .generate(&prompt(&luca), &Deltas::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, LlmError::Unavailable(m) if m.contains(needle)),
            "{err:?}"
        );
        assert_eq!(fake.request_count(), 3, "max_attempts, then give up");
    }
}

#[tokio::test]
async fn bad_keys_and_unknown_models_are_refused_with_a_reason() {
    let fake = FakeGemini::start().await;
    let wrong = provider_with(&fake, Some("not-the-key"), fast(true));
    let err = wrong
        .generate(&prompt(&luca()), &Deltas::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::Refused(m) if m.contains("API key is invalid")),
        "{err:?}"
    );
    assert!(!err.retryable());
    assert_eq!(
        wrong.check().await.unwrap_err(),
        err,
        "check reports the same"
    );

    let keyless = provider_with(&fake, None, fast(true));
    let err = keyless.check().await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Refused(m) if m.contains("denied") && m.contains("unregistered callers")),
        "{err:?}"
    );

    fake.retire_model(MODEL);
    let err = provider(&fake, false).check().await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Refused(m) if m.contains("gemini-2.5-flash") && m.contains("ListModels")),
        "{err:?}"
    );
    assert_eq!(fake.request_count(), 4, "refusals are never retried");
}

#[tokio::test]
async fn check_sends_one_tiny_structured_request() {
    let fake = FakeGemini::start().await;
    provider(&fake, true).check().await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0].body;
    assert_eq!(
        requests[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(body["contents"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["generationConfig"]["responseSchema"]["properties"]["actions"]["maxItems"],
        json!(0),
        "no action types: the list must stay empty"
    );

    fake.set_default(GeminiReply::unavailable());
    let err = provider(&fake, true).check().await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Unavailable(m) if m.contains("overloaded")),
        "{err:?}"
    );
    assert_eq!(
        fake.request_count(),
        2,
        "a check is one request, never retried"
    );
}

#[tokio::test]
async fn a_stream_that_fails_before_any_reply_text_is_retried() {
    let luca = luca();
    for failure in [
        GeminiReply::StreamError {
            after: String::new(),
            status: 503,
            bare: false,
        },
        GeminiReply::StreamError {
            after: String::new(),
            status: 500,
            bare: true,
        },
        GeminiReply::StreamCut {
            after: r#"{"actions": []"#.into(),
        },
    ] {
        let fake = FakeGemini::start().await;
        fake.push(failure.clone());
        fake.push(GeminiReply::output(&good_output(&luca)));
        let deltas = Deltas::default();
        let r = provider(&fake, true)
            .generate(&prompt(&luca), &deltas)
            .await
            .unwrap();
        assert_eq!(r.finish, Finish::Complete, "{failure:?}");
        assert_eq!(deltas.joined(), r.reply);
        assert_eq!(fake.request_count(), 2);
    }
}

#[tokio::test]
async fn a_stream_that_fails_after_reply_text_fails_the_call() {
    for failure in [
        GeminiReply::StreamError {
            after: r#"{"reply": "Luca is on"#.into(),
            status: 503,
            bare: false,
        },
        GeminiReply::StreamError {
            after: r#"{"reply": "Luca is on"#.into(),
            status: 500,
            bare: true,
        },
        GeminiReply::StreamCut {
            after: r#"{"reply": "Luca is on"#.into(),
        },
    ] {
        let fake = FakeGemini::start().await;
        fake.set_default(failure.clone());
        let deltas = Deltas::default();
        let err = provider(&fake, true)
            .generate(&prompt(&luca()), &deltas)
            .await
            .unwrap_err();
        assert!(
            matches!(err, LlmError::Unavailable(_)),
            "{failure:?}: {err:?}"
        );
        assert_eq!(deltas.joined(), "Luca is on");
        assert_eq!(
            fake.request_count(),
            1,
            "text already shown is not shown twice"
        );
    }
}

#[tokio::test]
async fn a_slow_server_times_out_without_retry() {
    let fake = FakeGemini::start().await;
    fake.set_delay(Duration::from_secs(30));
    let call = CallSettings {
        timeout: Duration::from_millis(300),
        ..fast(true)
    };
    let err = provider_with(&fake, Some(FAKE_GEMINI_KEY), call)
        .generate(&prompt(&luca()), &Deltas::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::Unavailable(m) if m.contains("in time")),
        "{err:?}"
    );
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    let provider = GeminiProvider::new(
        GeminiConfig {
            api_key: Some(SecretString::from(FAKE_GEMINI_KEY)),
            base_url: closed_port_url("/v1beta").await,
            ..GeminiConfig::default()
        },
        fast(true),
    )
    .unwrap();
    let err = provider.check().await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Unavailable(m) if m.contains("cannot connect")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_configured_provider_answers() {
    let fake = FakeGemini::start().await;
    let base_url = fake.base_url();
    let vars = [
        ("GEMINI_API_KEY", FAKE_GEMINI_KEY),
        ("GEMINI_BASE_URL", base_url.as_str()),
        ("GEMINI_MODEL", "models/gemini-3.5-flash"),
    ];
    let config = LlmConfig::from_lookup(&|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let provider = config.build_provider().unwrap().unwrap();
    assert_eq!(provider.name(), "gemini/gemini-3.5-flash");
    provider.check().await.unwrap();
    let r = provider
        .generate(&prompt(&luca()), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(r.reply, "ok");
    assert_eq!(r.model, "gemini/gemini-3.5-flash");
    assert_eq!(
        fake.requests()[1].path,
        "/v1beta/models/gemini-3.5-flash:streamGenerateContent"
    );
}

#[tokio::test]
async fn a_responder_answers_many_concurrent_requests_from_their_content() {
    let fake = FakeGemini::start().await;
    fake.set_delay(Duration::from_millis(20));
    fake.set_recording(false);
    fake.respond_with(|req| {
        let message = req.last_user_text().unwrap_or_default().to_owned();
        GeminiReply::output(&json!({ "reply": format!("You said: {message}"), "actions": [] }))
    });
    let provider = std::sync::Arc::new(provider(&fake, true));
    let mut tasks = Vec::new();
    for i in 0..32 {
        let provider = std::sync::Arc::clone(&provider);
        tasks.push(tokio::spawn(async move {
            let mut p = prompt(&luca());
            p.message = format!("message {i}");
            let deltas = Deltas::default();
            let r = provider.generate(&p, &deltas).await.unwrap();
            assert_eq!(deltas.joined(), r.reply);
            (i, r.reply)
        }));
    }
    for task in tasks {
        let (i, reply) = task.await.unwrap();
        assert_eq!(reply, format!("You said: message {i}"));
    }
    assert_eq!(fake.request_count(), 32);
    assert!(fake.requests().is_empty(), "recording was off");
}
