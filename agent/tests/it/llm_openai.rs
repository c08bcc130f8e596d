//! The OpenAI-compatible provider against the fake OpenAI server: what it sends (path, bearer
//! key, messages, the strict schema in the nested `json_schema.schema` form, the token-limit
//! parameter), how it adapts to servers that reject parameters, what it makes of every kind of
//! answer, and how it fails.

use std::time::Duration;

use agent::llm::config::{CallSettings, JsonMode, OpenAiConfig, TokenParam};
use agent::llm::generation::{BLOCKED_REPLY, UNPARSED_REPLY};
use agent::llm::{Finish, LlmConfig, LlmError, LlmProvider, OpenAiProvider, Usage};
use secrecy::SecretString;
use serde_json::json;
use testkit::fake_llm::{
    ErrorStyle, FAKE_OPENAI_KEY, FakeOpenAi, FakeUsage, OpenAiQuirks, OpenAiReply,
};

use crate::llm_support::{Deltas, closed_port_url, fast, good_output, luca, prompt};

const MODEL: &str = "gpt-4.1-mini";

fn config(fake: &FakeOpenAi, token_param: TokenParam, json_mode: JsonMode) -> OpenAiConfig {
    OpenAiConfig {
        api_key: Some(SecretString::from(FAKE_OPENAI_KEY)),
        model: MODEL.into(),
        base_url: fake.base_url(),
        token_param,
        json_mode,
    }
}

fn provider(fake: &FakeOpenAi, stream: bool) -> OpenAiProvider {
    OpenAiProvider::new(
        config(fake, TokenParam::MaxCompletionTokens, JsonMode::JsonSchema),
        fast(stream),
    )
    .unwrap()
}

#[tokio::test]
async fn plain_answer_sends_the_prompt_and_returns_reply_actions_and_usage() {
    let fake = FakeOpenAi::start().await;
    let luca = luca();
    let prompt = prompt(&luca);
    let output = good_output(&luca);
    fake.push(OpenAiReply::Text {
        content: output.to_string(),
        usage: FakeUsage {
            prompt: 700,
            output: 50,
            thoughts: 20,
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
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 700,
            output_tokens: 70
        }
    );
    assert_eq!(r.model, "openai/gpt-4.1-mini");
    assert_eq!(deltas.joined(), r.reply);

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {FAKE_OPENAI_KEY}").as_str())
    );
    let body = &req.body;
    assert_eq!(body["model"], MODEL);
    assert_eq!(
        body["messages"],
        json!([
            { "role": "system", "content": prompt.system_instruction() },
            { "role": "user", "content": "Who is cooking tonight?" },
            { "role": "assistant", "content": "Luca Bianchi is the head chef tonight." },
            { "role": "user", "content": prompt.message },
        ])
    );
    assert_eq!(body["max_completion_tokens"], json!(2048));
    assert!(body.get("max_tokens").is_none());
    assert_eq!(body["temperature"], json!(0.2));
    assert!(body.get("stream").is_none());
    let format = &body["response_format"];
    assert_eq!(format["type"], "json_schema");
    assert_eq!(format["json_schema"]["name"], "concierge_reply");
    assert_eq!(format["json_schema"]["strict"], json!(true));
    let schema = &format["json_schema"]["schema"];
    assert_eq!(schema["additionalProperties"], json!(false));
    let notify = &schema["properties"]["actions"]["items"]["anyOf"][0];
    assert_eq!(
        notify["required"],
        json!(["type", "user_id", "message", "priority"]),
        "strict mode: every property required"
    );
    assert_eq!(
        notify["properties"]["priority"]["anyOf"][1],
        json!({ "type": "null" }),
        "the optional priority may be null"
    );
    assert!(
        req.body_text.find("\"reply\"").unwrap() < req.body_text.find("\"actions\"").unwrap(),
        "reply is listed first, so the model writes it first"
    );
}

#[tokio::test]
async fn streamed_answer_pushes_the_reply_in_order_with_usage() {
    let fake = FakeOpenAi::start().await;
    fake.set_stream_chunks(7);
    let luca = luca();
    let output = good_output(&luca);
    fake.push(OpenAiReply::Text {
        content: output.to_string(),
        usage: FakeUsage {
            prompt: 333,
            output: 44,
            thoughts: 0,
        },
    });
    let deltas = Deltas::default();
    let r = provider(&fake, true)
        .generate(&prompt(&luca), &deltas)
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::Complete);
    assert_eq!(r.reply, output["reply"].as_str().unwrap());
    assert_eq!(deltas.joined(), r.reply);
    assert!(deltas.all().len() >= 3, "{:?}", deltas.all());
    assert_eq!(
        r.usage,
        Usage {
            prompt_tokens: 333,
            output_tokens: 44
        },
        "from the usage chunk before [DONE]"
    );
    let body = &fake.requests()[0].body;
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({ "include_usage": true }));
}

#[tokio::test]
async fn a_rejected_token_parameter_is_switched_once_and_remembered() {
    let fake = FakeOpenAi::start().await;
    fake.set_quirks(OpenAiQuirks {
        reject_max_tokens: true,
        ..OpenAiQuirks::default()
    });
    let switching = OpenAiProvider::new(
        config(&fake, TokenParam::MaxTokens, JsonMode::JsonSchema),
        fast(true),
    )
    .unwrap();
    switching.check().await.unwrap();
    let r = switching
        .generate(&prompt(&luca()), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(r.reply, "ok");
    let requests = fake.requests();
    assert_eq!(
        requests.len(),
        3,
        "one rejected request, then two good ones"
    );
    assert_eq!(requests[0].body["max_tokens"], json!(2048));
    for later in &requests[1..] {
        assert!(later.body.get("max_tokens").is_none());
        assert_eq!(later.body["max_completion_tokens"], json!(2048));
    }

    // The other way round: a local server that does not know the new name.
    let fake = FakeOpenAi::start().await;
    fake.set_quirks(OpenAiQuirks {
        reject_max_completion_tokens: true,
        ..OpenAiQuirks::default()
    });
    provider(&fake, true).check().await.unwrap();
    assert_eq!(fake.requests()[1].body["max_tokens"], json!(2048));
}

#[tokio::test]
async fn a_server_without_json_schema_gets_json_object_and_the_schema_in_the_prompt() {
    let fake = FakeOpenAi::start().await;
    fake.set_quirks(OpenAiQuirks {
        reject_json_schema: true,
        reject_temperature: true,
        reject_stream_options: true,
        ..OpenAiQuirks::default()
    });
    let luca = luca();
    fake.set_default(OpenAiReply::output(&good_output(&luca)));
    let adapting = provider(&fake, true);
    let r = adapting
        .generate(&prompt(&luca), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::Complete);
    assert_eq!(r.actions.len(), 1);
    let requests = fake.requests();
    assert_eq!(requests.len(), 4, "three rejections, each adapted once");
    let last = &requests[3].body;
    assert_eq!(last["response_format"], json!({ "type": "json_object" }));
    assert!(last.get("temperature").is_none());
    assert!(last.get("stream_options").is_none());
    let system = last["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("must match this JSON Schema") && system.contains("notify_user"));

    adapting
        .generate(&prompt(&luca), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(fake.request_count(), 5, "remembered: no more rejections");
}

#[tokio::test]
async fn json_object_mode_can_be_configured() {
    let fake = FakeOpenAi::start().await;
    let provider = OpenAiProvider::new(
        config(&fake, TokenParam::MaxTokens, JsonMode::JsonObject),
        fast(false),
    )
    .unwrap();
    provider
        .generate(&prompt(&luca()), &Deltas::default())
        .await
        .unwrap();
    let body = &fake.requests()[0].body;
    assert_eq!(body["response_format"], json!({ "type": "json_object" }));
    assert_eq!(body["max_tokens"], json!(2048));
}

#[tokio::test]
async fn length_content_filter_and_refusal_end_without_actions() {
    let fake = FakeOpenAi::start().await;
    for stream in [false, true] {
        fake.push(OpenAiReply::Length {
            content: r#"{"reply": "Table 5 is"#.into(),
        });
        let deltas = Deltas::default();
        let r = provider(&fake, stream)
            .generate(&prompt(&luca()), &deltas)
            .await
            .unwrap();
        assert_eq!(
            (r.finish, r.reply.as_str()),
            (Finish::MaxTokens, "Table 5 is")
        );
        assert_eq!(deltas.joined(), r.reply);

        for reply in [
            OpenAiReply::ContentFilter {
                after: String::new(),
            },
            OpenAiReply::Refusal {
                text: "I'm sorry, I cannot help with that.".into(),
            },
        ] {
            fake.push(reply);
            let deltas = Deltas::default();
            let r = provider(&fake, stream)
                .generate(&prompt(&luca()), &deltas)
                .await
                .unwrap();
            assert_eq!(r.finish, Finish::Blocked);
            assert_eq!(r.reply, BLOCKED_REPLY);
            assert!(r.actions.is_empty());
            assert_eq!(deltas.joined(), r.reply);
        }
    }
}

#[tokio::test]
async fn a_tool_call_instead_of_content_is_repaired_then_given_up() {
    let fake = FakeOpenAi::start().await;
    fake.set_default(OpenAiReply::ToolCall {
        name: "notify_user".into(),
        arguments: r#"{"user_id": "x", "message": "hi"}"#.into(),
    });
    let deltas = Deltas::default();
    let r = provider(&fake, true)
        .generate(&prompt(&luca()), &deltas)
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::Unparsed);
    assert_eq!(r.reply, UNPARSED_REPLY, "nothing readable came back");
    assert!(r.actions.is_empty(), "never an action from unparsed output");
    assert_eq!(deltas.joined(), r.reply);
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn rate_limits_wait_for_retry_after_and_quota_fails_at_once() {
    let fake = FakeOpenAi::start().await;
    fake.push(OpenAiReply::RateLimited { retry_after_ms: 30 });
    let r = provider(&fake, true)
        .generate(&prompt(&luca()), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(r.reply, "ok");
    assert_eq!(fake.request_count(), 2);

    let fake = FakeOpenAi::start().await;
    fake.push(OpenAiReply::RateLimited {
        retry_after_ms: 45_000,
    });
    let err = provider(&fake, true)
        .generate(&prompt(&luca()), &Deltas::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        LlmError::RateLimited {
            retry_after: Duration::from_secs(45)
        }
    );
    assert_eq!(fake.request_count(), 1);

    let fake = FakeOpenAi::start().await;
    fake.set_default(OpenAiReply::InsufficientQuota);
    let err = provider(&fake, true)
        .generate(&prompt(&luca()), &Deltas::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LlmError::QuotaExhausted(m) if m.contains("quota")),
        "{err:?}"
    );
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn every_servers_error_shape_is_understood() {
    for (style, status, retried) in [
        (ErrorStyle::OpenAi, 500, true),
        (ErrorStyle::VllmNested, 500, true),
        (ErrorStyle::VllmFlat, 400, false),
        (ErrorStyle::LlamaCpp, 503, true),
        (ErrorStyle::Ollama, 500, true),
    ] {
        let fake = FakeOpenAi::start().await;
        fake.set_default(OpenAiReply::Error {
            status,
            style,
            message: format!("distinctive message of {style:?}"),
        });
        let err = provider(&fake, true)
            .generate(&prompt(&luca()), &Deltas::default())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("distinctive message of {style:?}")),
            "{text}"
        );
        if retried {
            assert!(matches!(err, LlmError::Unavailable(_)), "{err:?}");
            assert_eq!(fake.request_count(), 3, "{style:?}");
        } else {
            assert!(matches!(err, LlmError::Refused(_)), "{err:?}");
            assert_eq!(fake.request_count(), 1, "{style:?}");
        }
    }
    let fake = FakeOpenAi::start().await;
    fake.set_default(OpenAiReply::BadGateway);
    let err = provider(&fake, false).check().await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Unavailable(m) if m.contains("502 Bad Gateway")),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_keys_and_unknown_models_are_refused_with_a_reason() {
    let fake = FakeOpenAi::start().await;
    let wrong = OpenAiProvider::new(
        OpenAiConfig {
            api_key: Some(SecretString::from("sk-wrong")),
            ..config(&fake, TokenParam::MaxTokens, JsonMode::JsonSchema)
        },
        fast(true),
    )
    .unwrap();
    let err = wrong.check().await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Refused(m) if m.contains("OPENAI_API_KEY") && m.contains("Incorrect API key")),
        "{err:?}"
    );

    fake.retire_model(MODEL);
    let err = provider(&fake, true).check().await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Refused(m) if m.contains("gpt-4.1-mini") && m.contains("does not exist")),
        "{err:?}"
    );
    assert_eq!(fake.request_count(), 2, "refusals are never retried");
}

#[tokio::test]
async fn a_local_server_needs_no_key() {
    let fake = FakeOpenAi::start().await;
    fake.set_required_key(None);
    let base_url = fake.base_url();
    let vars = [
        ("LLM_PROVIDER", "openai"),
        ("OPENAI_BASE_URL", base_url.as_str()),
        ("OPENAI_MODEL", "llama3.2"),
    ];
    let config = LlmConfig::from_lookup(&|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let provider = config.build_provider().unwrap().unwrap();
    provider.check().await.unwrap();
    let r = provider
        .generate(&prompt(&luca()), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(
        (r.reply.as_str(), r.model.as_str()),
        ("ok", "openai/llama3.2")
    );
    let req = &fake.requests()[1];
    assert_eq!(req.header("authorization"), None);
    assert_eq!(
        req.body["max_tokens"],
        json!(2048),
        "local servers read max_tokens"
    );
}

#[tokio::test]
async fn stream_errors_before_the_reply_are_retried_and_after_it_fail() {
    let luca = luca();
    for bare in [false, true] {
        let fake = FakeOpenAi::start().await;
        fake.push(OpenAiReply::StreamError {
            after: String::new(),
            bare,
        });
        fake.push(OpenAiReply::output(&good_output(&luca)));
        let r = provider(&fake, true)
            .generate(&prompt(&luca), &Deltas::default())
            .await
            .unwrap();
        assert_eq!(r.finish, Finish::Complete);
        assert_eq!(fake.request_count(), 2);

        let fake = FakeOpenAi::start().await;
        fake.set_default(OpenAiReply::StreamError {
            after: r#"{"reply": "Luca works"#.into(),
            bare,
        });
        let deltas = Deltas::default();
        let err = provider(&fake, true)
            .generate(&prompt(&luca), &deltas)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, LlmError::Unavailable(m) if m.contains("server had an error")),
            "{err:?}"
        );
        assert_eq!(deltas.joined(), "Luca works");
        assert_eq!(fake.request_count(), 1);
    }

    let fake = FakeOpenAi::start().await;
    fake.push(OpenAiReply::StreamCut {
        after: String::new(),
    });
    fake.push(OpenAiReply::output(&good_output(&luca)));
    let r = provider(&fake, true)
        .generate(&prompt(&luca), &Deltas::default())
        .await
        .unwrap();
    assert_eq!(r.finish, Finish::Complete);

    let fake = FakeOpenAi::start().await;
    fake.set_default(OpenAiReply::StreamCut {
        after: r#"{"reply": "Luca works"#.into(),
    });
    let err = provider(&fake, true)
        .generate(&prompt(&luca), &Deltas::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LlmError::Unavailable(_)), "{err:?}");
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn a_slow_or_absent_server_is_unavailable() {
    let fake = FakeOpenAi::start().await;
    fake.set_delay(Duration::from_secs(30));
    let call = CallSettings {
        timeout: Duration::from_millis(300),
        ..fast(false)
    };
    let err = OpenAiProvider::new(
        config(&fake, TokenParam::MaxTokens, JsonMode::JsonSchema),
        call,
    )
    .unwrap()
    .generate(&prompt(&luca()), &Deltas::default())
    .await
    .unwrap_err();
    assert!(
        matches!(&err, LlmError::Unavailable(m) if m.contains("in time")),
        "{err:?}"
    );
    assert_eq!(fake.request_count(), 1);

    let absent = OpenAiProvider::new(
        OpenAiConfig {
            base_url: closed_port_url("/v1").await,
            ..OpenAiConfig::default()
        },
        fast(true),
    )
    .unwrap();
    let err = absent.check().await.unwrap_err();
    assert!(
        matches!(&err, LlmError::Unavailable(m) if m.contains("cannot connect")),
        "{err:?}"
    );
}
