//! The LLM seam: every provider (offline, Gemini, OpenAI-compatible) implements [`LlmProvider`].
//! It takes the assembled [`Prompt`] (the same structure for every provider, see AGENT.md) and
//! returns the model's reply text and the actions it proposes, not yet validated: the action
//! registry validates them afterwards, and nothing a provider returns runs unless it validates.
//!
//! Streaming providers push reply text to a [`DeltaSink`] as it arrives, in order; the final
//! [`LlmResponse::reply`] must then equal the concatenation of what was pushed.
//!
//! The network providers, [`gemini`] and [`openai`], share their answer flow ([`generation`]:
//! retries, the repair call, the outcome of every way a call can end), the retry bounds
//! ([`retry`]), and four private modules: `sse` (the SSE decoder), `output` (reading partial
//! and complete model output), `schema` (property order of the output schema) and `transport`
//! (the HTTP client and the classification of failures). [`config`] holds their configuration
//! and the factory that builds the configured one.

pub mod offline;

use std::time::Duration;

use async_trait::async_trait;

use crate::prompt::Prompt;

pub mod config;
pub mod gemini;
pub mod generation;
pub mod openai;
mod output;
pub mod retry;
mod schema;
mod sse;
mod transport;

pub use config::{LlmConfig, ProviderKind};
pub use gemini::GeminiProvider;
pub use openai::OpenAiProvider;

/// One action as the model proposed it: a type name and its parameters, unvalidated. The action
/// registry turns it into a typed action or a rejection; it is never executed as is.
#[derive(Clone, Debug, PartialEq)]
pub struct ProposedAction {
    /// The action type the model named (`notify_user`, ...): may be anything.
    pub kind: String,
    /// The other fields of the action object.
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// Token counts reported by the provider (0 when it reports none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Tokens of the prompt.
    pub prompt_tokens: u32,
    /// Tokens of the output.
    pub output_tokens: u32,
}

/// How the generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// A complete, parsed output.
    Complete,
    /// The provider blocked the prompt or the answer: the reply is a polite refusal, no actions.
    Blocked,
    /// The output hit the token limit: the reply is the partial text, no actions.
    MaxTokens,
    /// The output could not be parsed even after one repair call: the reply is the model's
    /// text, no actions.
    Unparsed,
}

/// What a provider produced.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmResponse {
    /// The text shown to the user.
    pub reply: String,
    /// Proposed actions (empty unless [`Finish::Complete`]).
    pub actions: Vec<ProposedAction>,
    /// Token usage, summed over every call made for this response (repair calls included).
    pub usage: Usage,
    /// How it ended.
    pub finish: Finish,
    /// Provider and model that answered, as shown to users (`offline`, `gemini/gemini-2.5-flash`).
    pub model: String,
}

/// Why a provider produced no response. Each variant knows whether retrying the message later
/// may help; the text of [`LlmError::user_reason`] is what a FAILED message shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// Transient: timeout, connection failure, 5xx after the provider's own retries.
    #[error("LLM provider unavailable: {0}")]
    Unavailable(String),
    /// Per-minute quota; retry after the delay.
    #[error("LLM provider rate limited; retry in {retry_after:?}")]
    RateLimited {
        /// How long the provider asked us to wait.
        retry_after: Duration,
    },
    /// Per-day quota or billing: retrying today will not help.
    #[error("LLM quota exhausted: {0}")]
    QuotaExhausted(String),
    /// Invalid key, unknown model, a request the provider refuses: needs an operator.
    #[error("LLM provider refused the request: {0}")]
    Refused(String),
}

impl LlmError {
    /// Whether processing the message again later may succeed.
    #[must_use]
    pub const fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::RateLimited { .. })
    }

    /// A reason a user can read on a FAILED message.
    #[must_use]
    pub fn user_reason(&self) -> String {
        match self {
            Self::Unavailable(_) | Self::RateLimited { .. } => {
                "The assistant's language model is unavailable right now. Please try again later.".into()
            }
            Self::QuotaExhausted(_) => {
                "The assistant has used up its language model quota for today. Please try again tomorrow.".into()
            }
            Self::Refused(detail) => format!("The assistant's language model refused the request: {detail}"),
        }
    }
}

/// Receives streamed reply text, in order. Must not block: implementations queue the text.
pub trait DeltaSink: Send + Sync {
    /// One more piece of the reply.
    fn push(&self, text: &str);
}

/// A sink that drops everything (for callers that do not stream).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDeltas;

impl DeltaSink for NoDeltas {
    fn push(&self, _text: &str) {}
}

/// A language model that answers a [`Prompt`].
#[async_trait]
pub trait LlmProvider: Send + Sync + std::fmt::Debug {
    /// Provider and model, as recorded in `Message.provider` (`offline`, `gemini/<model>`).
    fn name(&self) -> String;

    /// Answers the prompt. Streaming providers push reply text to `deltas` as it arrives.
    ///
    /// # Errors
    /// [`LlmError`] when no response could be produced.
    async fn generate(
        &self,
        prompt: &Prompt,
        deltas: &dyn DeltaSink,
    ) -> Result<LlmResponse, LlmError>;

    /// Sends one tiny request to see whether the provider works as configured (key, model,
    /// endpoint, parameters). Providers without a network (offline) always succeed.
    ///
    /// # Errors
    /// The [`LlmError`] the request ended with, carrying the provider's own explanation.
    async fn check(&self) -> Result<(), LlmError> {
        Ok(())
    }
}
