//! The answer flow shared by the network providers. A provider implements `ModelApi` (one
//! HTTP attempt in its wire format); `generate` turns a [`Prompt`] into an [`LlmResponse`]:
//!
//! 1. The call: the system instruction, the history and the message, asking for the output
//!    schema, retried within the bounds of [`RetryPolicy`]. When streaming, the reply text is
//!    decoded from the partial JSON and pushed as it arrives.
//! 2. The outcome, by how the model stopped:
//!    - **blocked** (prompt or answer): a polite refusal, no actions, [`Finish::Blocked`];
//!    - **token limit**: the partial reply, no actions, [`Finish::MaxTokens`];
//!    - **done**: the output is parsed; when it does not parse or its envelope is wrong, **one
//!      repair call** (not streamed) shows the model its answer and the error. If the repair
//!      parses, its actions are used ([`Finish::Complete`]); if not, the reply is the best
//!      readable text, without actions ([`Finish::Unparsed`]). The repair call failing (an
//!      outage) also ends as unparsed: an answer the user can read beats a failed message.
//!
//! **Streamed text is never taken back.** [`LlmResponse::reply`] is always exactly the
//! concatenation of what was pushed to the [`DeltaSink`]: the final reply is settled by pushing
//! only what extends the text already pushed. A reply from the repair call that does not
//! extend it (rare: the first reply string was complete and the model rephrased it) leaves the
//! pushed text as the reply, with the repaired actions. A blocked answer after some text adds
//! the refusal after it. A stream that fails after text was pushed is not retried: the call
//! fails ([`LlmError::Unavailable`]) and the caller decides, as for any outage.
//!
//! Usage is summed over the call and the repair call.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use entity::MessageRole;
use serde_json::{Value, json};

use super::output::{ParsedOutput, ReplyExtractor, parse_output, readable_text};
use super::retry::RetryPolicy;
use super::schema::normalize;
use super::transport::Failure;
use super::{DeltaSink, Finish, LlmError, LlmResponse, ProposedAction, Usage};
use crate::prompt::Prompt;

/// The reply when the provider blocks the prompt or the answer.
pub const BLOCKED_REPLY: &str = "I'm sorry, I can't help with that request. Please rephrase it, \
     or ask a colleague directly.";
/// The reply when the answer hit the token limit before any of its text was written.
pub const TRUNCATED_REPLY: &str =
    "I could not finish my answer in the space I have. Please ask again, a bit more briefly.";
/// The reply when nothing readable came back even after the repair call.
pub const UNPARSED_REPLY: &str =
    "I'm sorry, something went wrong while I was writing my answer. Please try again.";

/// Who said a turn, in provider-neutral terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Speaker {
    /// The user (or the repair instruction).
    User,
    /// The model.
    Model,
}

/// One turn sent to the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChatTurn {
    /// Who said it.
    pub speaker: Speaker,
    /// What was said.
    pub text: String,
}

/// One request to the model, before a provider puts it in its wire format.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CallRequest {
    /// The system instruction.
    pub system: String,
    /// The conversation, oldest first; the last turn is the user's.
    pub turns: Vec<ChatTurn>,
    /// JSON Schema of the output ([`normalize`]d).
    pub schema: Value,
}

impl CallRequest {
    /// The request for a prompt: its instruction, its history (empty turns dropped: providers
    /// reject empty parts), its message, its output schema.
    #[must_use]
    pub fn from_prompt(prompt: &Prompt) -> Self {
        let mut turns: Vec<ChatTurn> = prompt
            .history
            .iter()
            .filter(|t| !t.content.trim().is_empty())
            .map(|t| ChatTurn {
                speaker: match t.role {
                    MessageRole::User => Speaker::User,
                    MessageRole::Assistant => Speaker::Model,
                },
                text: t.content.clone(),
            })
            .collect();
        turns.push(ChatTurn {
            speaker: Speaker::User,
            text: prompt.message.clone(),
        });
        Self {
            system: prompt.system_instruction(),
            turns,
            schema: normalize(&prompt.output_schema()),
        }
    }

    /// The tiny request of a provider check: the real output shape with no action types.
    #[must_use]
    pub fn check() -> Self {
        Self {
            system: "This is a connectivity check of an assistant's backend.".into(),
            turns: vec![ChatTurn {
                speaker: Speaker::User,
                text: "Answer with the JSON object {\"reply\": \"ok\", \"actions\": []}.".into(),
            }],
            schema: normalize(&json!({
                "type": "object",
                "properties": {
                    "reply": { "type": "string" },
                    "actions": { "type": "array", "items": { "anyOf": [] } },
                },
                "required": ["reply", "actions"],
            })),
        }
    }

    /// The repair request: this one, then the model's unusable answer and what is wrong with it.
    #[must_use]
    pub fn repair(&self, answer: &str, error: &str) -> Self {
        let mut turns = self.turns.clone();
        turns.push(ChatTurn {
            speaker: Speaker::Model,
            text: if answer.trim().is_empty() {
                "(an empty answer)".into()
            } else {
                answer.to_owned()
            },
        });
        turns.push(ChatTurn {
            speaker: Speaker::User,
            text: format!(
                "Your previous answer could not be used: {error}. Answer my previous message \
                 again as exactly one JSON object {{\"reply\": string, \"actions\": [...]}} \
                 matching the required schema, with nothing before or after it."
            ),
        });
        Self {
            system: self.system.clone(),
            turns,
            schema: self.schema.clone(),
        }
    }
}

/// How one model call stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The model finished (the output may still fail to parse).
    Done,
    /// The output hit the token limit.
    MaxTokens,
    /// The provider blocked the prompt or the answer; the reason is for the logs.
    Blocked(String),
}

/// What one successful HTTP attempt returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CallOutput {
    /// The model's whole output text.
    pub text: String,
    /// How it stopped.
    pub stop: Stop,
    /// Its token usage.
    pub usage: Usage,
}

/// Reply text on its way to the user: decodes the reply from the partial JSON output, pushes it
/// to the sink, and remembers everything pushed.
pub(crate) struct TextStream<'a> {
    sink: &'a dyn DeltaSink,
    extractor: ReplyExtractor,
    pushed: String,
}

impl std::fmt::Debug for TextStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextStream")
            .field("pushed", &self.pushed)
            .finish_non_exhaustive()
    }
}

impl<'a> TextStream<'a> {
    /// A stream into `sink`, nothing pushed yet.
    #[must_use]
    pub fn new(sink: &'a dyn DeltaSink) -> Self {
        Self {
            sink,
            extractor: ReplyExtractor::new(),
            pushed: String::new(),
        }
    }

    /// The next piece of the model's raw output (partial JSON).
    pub fn output(&mut self, piece: &str) {
        let text = self.extractor.feed(piece);
        self.push(&text);
    }

    /// Everything pushed so far.
    #[must_use]
    pub fn pushed(&self) -> &str {
        &self.pushed
    }

    fn push(&mut self, text: &str) {
        if !text.is_empty() {
            self.sink.push(text);
            self.pushed.push_str(text);
        }
    }

    /// Starts over on a new attempt (only when nothing was pushed).
    fn restart(&mut self) {
        self.extractor = ReplyExtractor::new();
    }

    /// Makes `candidate` the reply, pushing whatever extends the text already pushed; returns
    /// the reply, which always equals everything pushed.
    fn settle(&mut self, candidate: &str, provider: &str) -> String {
        if let Some(rest) = candidate.strip_prefix(self.pushed.as_str()) {
            let rest = rest.to_owned();
            self.push(&rest);
        } else {
            tracing::warn!(
                llm.provider = provider,
                "the final reply differs from the text already streamed; keeping the streamed text"
            );
        }
        self.pushed.clone()
    }
}

/// One provider's wire format: a single HTTP attempt.
#[async_trait]
pub(crate) trait ModelApi: Send + Sync {
    /// Provider and model as users see them (`gemini/gemini-2.5-flash`).
    fn label(&self) -> String;

    /// Sends `request` once, within `timeout`. With `stream`, the output is streamed and each
    /// piece of raw output text is given to it as it arrives.
    ///
    /// # Errors
    /// [`Failure`] saying whether another attempt may help.
    async fn attempt(
        &self,
        request: &CallRequest,
        stream: Option<&mut TextStream<'_>>,
        timeout: Duration,
    ) -> Result<CallOutput, Failure>;
}

/// One model call with its retries (see [`RetryPolicy`]), all within `budget`.
///
/// # Errors
/// The last [`Failure`] when no attempt succeeded.
pub(crate) async fn call(
    api: &dyn ModelApi,
    request: &CallRequest,
    mut stream: Option<&mut TextStream<'_>>,
    policy: &RetryPolicy,
    budget: Duration,
) -> Result<CallOutput, Failure> {
    let start = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let left = budget.saturating_sub(start.elapsed());
        let failure = match api.attempt(request, stream.as_deref_mut(), left).await {
            Ok(output) => {
                tracing::debug!(
                    llm.provider = api.label(),
                    attempt,
                    duration_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                    prompt_tokens = output.usage.prompt_tokens,
                    output_tokens = output.usage.output_tokens,
                    "LLM call answered"
                );
                return Ok(output);
            }
            Err(failure) => failure,
        };
        let wait = match &failure {
            Failure::Transient {
                retry: true,
                retry_after,
                ..
            } => retry_after.unwrap_or_else(|| policy.backoff(attempt)),
            Failure::RateLimited { retry_after, .. } => {
                let wait = retry_after.unwrap_or_else(|| policy.backoff(attempt));
                if wait > policy.max_retry_wait {
                    return Err(failure);
                }
                wait
            }
            _ => return Err(failure),
        };
        let visible = stream.as_ref().is_some_and(|s| !s.pushed().is_empty());
        if visible || attempt >= policy.max_attempts || start.elapsed() + wait >= budget {
            return Err(failure);
        }
        tracing::info!(
            llm.provider = api.label(),
            attempt,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            failure = ?failure,
            "retrying the LLM call"
        );
        tokio::time::sleep(wait).await;
        if let Some(s) = stream.as_deref_mut() {
            s.restart();
        }
    }
}

/// Settings of [`generate`] that come from the configuration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flow {
    /// Stream the first call.
    pub stream: bool,
    /// Retry bounds.
    pub policy: RetryPolicy,
    /// Time budget of each model call, retries included.
    pub budget: Duration,
}

fn add(a: Usage, b: Usage) -> Usage {
    Usage {
        prompt_tokens: a.prompt_tokens.saturating_add(b.prompt_tokens),
        output_tokens: a.output_tokens.saturating_add(b.output_tokens),
    }
}

/// Answers a prompt through `api` (the flow of the module documentation).
///
/// # Errors
/// [`LlmError`] when the first call fails for good.
pub(crate) async fn generate(
    api: &dyn ModelApi,
    flow: Flow,
    prompt: &Prompt,
    deltas: &dyn DeltaSink,
) -> Result<LlmResponse, LlmError> {
    let label = api.label();
    let request = CallRequest::from_prompt(prompt);
    let mut text = TextStream::new(deltas);
    let first = call(
        api,
        &request,
        flow.stream.then_some(&mut text),
        &flow.policy,
        flow.budget,
    )
    .await
    .map_err(Failure::into_error)?;
    let mut usage = first.usage;
    let respond = |text: &mut TextStream<'_>,
                   candidate: &str,
                   actions: Vec<ProposedAction>,
                   finish: Finish,
                   usage: Usage|
     -> Result<LlmResponse, LlmError> {
        Ok(LlmResponse {
            reply: text.settle(candidate, &label),
            actions,
            usage,
            finish,
            model: label.clone(),
        })
    };
    match &first.stop {
        Stop::Blocked(reason) => {
            tracing::info!(llm.provider = %label, reason = %reason, "the provider blocked the answer");
            let candidate = if text.pushed().is_empty() {
                BLOCKED_REPLY.to_owned()
            } else {
                format!("{}\n\n{BLOCKED_REPLY}", text.pushed())
            };
            return respond(&mut text, &candidate, Vec::new(), Finish::Blocked, usage);
        }
        Stop::MaxTokens => {
            tracing::info!(llm.provider = %label, "the answer hit the output token limit");
            let candidate = if text.pushed().is_empty() {
                readable_text(&first.text).unwrap_or_else(|| TRUNCATED_REPLY.to_owned())
            } else {
                text.pushed().to_owned()
            };
            return respond(&mut text, &candidate, Vec::new(), Finish::MaxTokens, usage);
        }
        Stop::Done => {}
    }
    let error = match parse_output(&first.text) {
        Ok(ParsedOutput { reply, actions }) => {
            return respond(&mut text, &reply, actions, Finish::Complete, usage);
        }
        Err(error) => error,
    };
    tracing::warn!(llm.provider = %label, error = %error, "the output did not parse; asking the model to repair it");
    let repair = call(
        api,
        &request.repair(&first.text, &error),
        None,
        &flow.policy,
        flow.budget,
    )
    .await;
    let repaired_text = match repair {
        Ok(output) => {
            usage = add(usage, output.usage);
            if output.stop == Stop::Done {
                match parse_output(&output.text) {
                    Ok(ParsedOutput { reply, actions }) => {
                        return respond(&mut text, &reply, actions, Finish::Complete, usage);
                    }
                    Err(error) => {
                        tracing::warn!(llm.provider = %label, error = %error, "the repaired output did not parse either; answering without actions");
                    }
                }
            }
            Some(output.text)
        }
        Err(failure) => {
            tracing::warn!(llm.provider = %label, failure = ?failure, "the repair call failed; answering without actions");
            None
        }
    };
    let candidate = if text.pushed().is_empty() {
        repaired_text
            .as_deref()
            .and_then(readable_text)
            .or_else(|| readable_text(&first.text))
            .unwrap_or_else(|| UNPARSED_REPLY.to_owned())
    } else {
        text.pushed().to_owned()
    };
    respond(&mut text, &candidate, Vec::new(), Finish::Unparsed, usage)
}

/// Sends the tiny check request exactly once (no retries: a check reports what the provider
/// says now); any answer the provider accepts counts as success.
///
/// # Errors
/// The [`LlmError`] of the failure, with the provider's own message.
pub(crate) async fn check(api: &dyn ModelApi, flow: Flow) -> Result<(), LlmError> {
    let once = RetryPolicy {
        max_attempts: 1,
        ..flow.policy
    };
    call(api, &CallRequest::check(), None, &once, flow.budget)
        .await
        .map(|_| ())
        .map_err(Failure::into_error)
}
