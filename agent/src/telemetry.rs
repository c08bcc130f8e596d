//! What the agent runtime reports to operators: its Prometheus metrics (names, help texts,
//! labels) and the spans of a message's steps.
//!
//! Metrics go through the `metrics` facade: the process that runs the runtime installs a
//! recorder (`api::metrics` installs the Prometheus one and serves `/metrics`); without one,
//! recording costs next to nothing and goes nowhere. [`describe`] registers the help texts.
//!
//! Labels are bounded: a tenant id, a provider name from the configuration, a step, an outcome,
//! a built-in action type. Never a user id, a message id or text from a user or a model.
//!
//! Spans: the turn pipeline runs each message in a `message` span (`tenant.id`, `session.id`,
//! `message.id`, the trace context of [`crate::trace`]) and each step in a `step` span made by
//! [`step`], which also records the step's latency.

use std::future::Future;
use std::time::{Duration, Instant};

use entity::TenantId;
use tracing::Instrument;

use crate::action::ActionRegistry;
use crate::llm::{Finish, LlmError, Usage};
use crate::reply::{ActionRecord, ActionStatus};

/// Histogram: seconds per step of a message (label `step`).
pub const STEP_SECONDS: &str = "concierge_agent_step_duration_seconds";
/// Histogram: seconds from claiming a message to its outcome.
pub const MESSAGE_SECONDS: &str = "concierge_agent_message_duration_seconds";
/// Histogram: seconds a message waited between `sendMessage` and its claim.
pub const QUEUE_WAIT_SECONDS: &str = "concierge_agent_queue_wait_seconds";
/// Counter: messages by outcome (labels `tenant`, `outcome`).
pub const MESSAGES: &str = "concierge_agent_messages_total";
/// Counter: messages that ended FAILED after the last allowed attempt (label `tenant`).
pub const DEAD_LETTERS: &str = "concierge_agent_dead_letters_total";
/// Counter: actions proposed by the model, by type and status (labels `tenant`, `type`,
/// `status`).
pub const ACTIONS: &str = "concierge_agent_actions_total";
/// Counter: notifications published to their recipients after the commit (label `tenant`).
pub const NOTIFICATIONS_PUBLISHED: &str = "concierge_notifications_published_total";
/// Histogram: seconds per LLM call (labels `provider`, `tenant`).
pub const LLM_SECONDS: &str = "concierge_llm_request_duration_seconds";
/// Counter: LLM tokens (labels `provider`, `tenant`, `kind` = prompt | output).
pub const LLM_TOKENS: &str = "concierge_llm_tokens_total";
/// Counter: LLM calls without a response (labels `provider`, `tenant`, `kind`).
pub const LLM_ERRORS: &str = "concierge_llm_errors_total";
/// Counter: LLM responses by how they ended (labels `provider`, `tenant`, `finish`).
pub const LLM_RESPONSES: &str = "concierge_llm_responses_total";
/// Counter: stream entries read by this process's consumer.
pub const STREAM_READ: &str = "concierge_stream_entries_read_total";
/// Counter: stream entries taken over from an idle consumer (XAUTOCLAIM).
pub const STREAM_RECLAIMED: &str = "concierge_stream_entries_reclaimed_total";
/// Counter: unfinished messages the sweep enqueued again.
pub const STREAM_SWEPT: &str = "concierge_stream_messages_swept_total";
/// Counter: malformed stream entries acked and dropped.
pub const STREAM_MALFORMED: &str = "concierge_stream_entries_malformed_total";

/// Bucket bounds (seconds) for the step, message and LLM histograms: from a fast database
/// step (5 ms) to a slow model call that took most of `LLM_TIMEOUT` (60 s by default).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];
/// Bucket bounds (seconds) for the queue wait: from an idle queue to a backlog of minutes.
pub const QUEUE_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0,
];

/// Registers the help text of every metric above. Call after the recorder is installed.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_histogram!(
        STEP_SECONDS,
        Unit::Seconds,
        "Latency of one step of answering a message (step: claim, context, retrieve, llm, actions, commit, publish)."
    );
    describe_histogram!(
        MESSAGE_SECONDS,
        Unit::Seconds,
        "Latency of one attempt at a message, from its claim to its outcome or retry."
    );
    describe_histogram!(
        QUEUE_WAIT_SECONDS,
        Unit::Seconds,
        "Time a message waited between sendMessage and the agent claiming it."
    );
    describe_counter!(
        MESSAGES,
        "Attempts at messages by outcome: answered, retried (transient failure, tried again later), failed."
    );
    describe_counter!(
        DEAD_LETTERS,
        "Messages that ended FAILED because every allowed attempt failed (AGENT_MAX_ATTEMPTS)."
    );
    describe_counter!(
        ACTIONS,
        "Actions proposed by the model, by type (built-in types; anything else is 'unknown') and status (executed, rejected, failed)."
    );
    describe_counter!(
        NOTIFICATIONS_PUBLISHED,
        "Notifications published live to their recipients after the reply was committed."
    );
    describe_histogram!(
        LLM_SECONDS,
        Unit::Seconds,
        "Latency of one LLM answer (retries and the repair call included)."
    );
    describe_counter!(
        LLM_TOKENS,
        "Tokens used by LLM answers as the provider reported them (kind: prompt, output)."
    );
    describe_counter!(
        LLM_ERRORS,
        "LLM answers that failed (kind: unavailable, rate_limited, quota_exhausted, refused)."
    );
    describe_counter!(
        LLM_RESPONSES,
        "LLM answers by how they ended (finish: complete, blocked, max_tokens, unparsed)."
    );
    describe_counter!(
        STREAM_READ,
        "Stream entries read by this process's consumer."
    );
    describe_counter!(
        STREAM_RECLAIMED,
        "Stream entries taken over from a consumer idle for longer than STREAM_RECLAIM_IDLE."
    );
    describe_counter!(
        STREAM_SWEPT,
        "Unfinished messages found in Postgres and enqueued again by the sweep."
    );
    describe_counter!(
        STREAM_MALFORMED,
        "Malformed stream entries acked and dropped."
    );
}

/// A step of answering a message, as spans and metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Claiming the session's oldest unfinished message.
    Claim,
    /// The tenant's agent and the session's memory.
    Context,
    /// Retrieving knowledge.
    Retrieve,
    /// The LLM call.
    Llm,
    /// Validating and executing the proposed actions (inside the commit's transaction).
    Actions,
    /// The transaction that stores the outcome.
    Commit,
    /// Publishing notifications and the reply.
    Publish,
}

impl Step {
    /// The step's name in spans and metric labels.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Context => "context",
            Self::Retrieve => "retrieve",
            Self::Llm => "llm",
            Self::Actions => "actions",
            Self::Commit => "commit",
            Self::Publish => "publish",
        }
    }
}

/// Runs `work` as `step`: inside a `step` span (a child of the current span) that records
/// `duration_ms`, and observes the step's latency in [`STEP_SECONDS`].
pub async fn step<F: Future>(step: Step, work: F) -> F::Output {
    let span = tracing::info_span!(
        "step",
        otel.name = step.name(),
        step = step.name(),
        duration_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    let output = work.instrument(span.clone()).await;
    let elapsed = started.elapsed();
    span.record("duration_ms", millis(elapsed));
    step_latency(step, elapsed);
    output
}

/// Observes a step's latency without a span of its own (the claim, which runs before the
/// message's span exists).
pub fn step_latency(step: Step, elapsed: Duration) {
    metrics::histogram!(STEP_SECONDS, "step" => step.name()).record(elapsed.as_secs_f64());
}

/// Whole milliseconds, for `duration_ms` fields.
#[must_use]
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// How an attempt at a message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A reply was committed.
    Answered,
    /// A transient failure: the message is QUEUED again and retried after a backoff.
    Retried,
    /// The message ended FAILED.
    Failed,
}

impl Outcome {
    /// The outcome's label value.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Retried => "retried",
            Self::Failed => "failed",
        }
    }
}

/// Counts an attempt's outcome, and a dead letter when a FAILED message used up its attempts.
pub fn message_outcome(tenant: TenantId, outcome: Outcome, dead_letter: bool) {
    let tenant = tenant.to_string();
    metrics::counter!(MESSAGES, "tenant" => tenant.clone(), "outcome" => outcome.name())
        .increment(1);
    if dead_letter {
        metrics::counter!(DEAD_LETTERS, "tenant" => tenant).increment(1);
    }
}

/// Observes one LLM answer: latency, tokens and finish, or the error's kind.
pub fn llm_call<T>(
    provider: &str,
    tenant: TenantId,
    elapsed: Duration,
    result: &Result<T, LlmError>,
    usage: impl Fn(&T) -> (Usage, Finish),
) {
    let (provider, tenant) = (provider.to_owned(), tenant.to_string());
    metrics::histogram!(LLM_SECONDS, "provider" => provider.clone(), "tenant" => tenant.clone())
        .record(elapsed.as_secs_f64());
    match result {
        Ok(response) => {
            let (usage, finish) = usage(response);
            metrics::counter!(LLM_TOKENS, "provider" => provider.clone(), "tenant" => tenant.clone(), "kind" => "prompt")
                .increment(u64::from(usage.prompt_tokens));
            metrics::counter!(LLM_TOKENS, "provider" => provider.clone(), "tenant" => tenant.clone(), "kind" => "output")
                .increment(u64::from(usage.output_tokens));
            let finish = match finish {
                Finish::Complete => "complete",
                Finish::Blocked => "blocked",
                Finish::MaxTokens => "max_tokens",
                Finish::Unparsed => "unparsed",
            };
            metrics::counter!(LLM_RESPONSES, "provider" => provider, "tenant" => tenant, "finish" => finish).increment(1);
        }
        Err(e) => {
            let kind = match e {
                LlmError::Unavailable(_) => "unavailable",
                LlmError::RateLimited { .. } => "rate_limited",
                LlmError::QuotaExhausted(_) => "quota_exhausted",
                LlmError::Refused(_) => "refused",
            };
            metrics::counter!(LLM_ERRORS, "provider" => provider, "tenant" => tenant, "kind" => kind)
                .increment(1);
        }
    }
}

/// Counts the actions of a committed reply by type and status.
pub fn actions(tenant: TenantId, records: &[ActionRecord]) {
    let builtin = ActionRegistry::builtin().enabled_names();
    for record in records {
        let kind = builtin
            .iter()
            .find(|name| **name == record.kind)
            .copied()
            .unwrap_or("unknown");
        let status = match record.status {
            ActionStatus::Executed => "executed",
            ActionStatus::Rejected => "rejected",
            ActionStatus::Failed => "failed",
        };
        metrics::counter!(ACTIONS, "tenant" => tenant.to_string(), "type" => kind, "status" => status)
            .increment(1);
    }
}

/// Counts one notification published to its recipient.
pub fn notification_published(tenant: TenantId) {
    metrics::counter!(NOTIFICATIONS_PUBLISHED, "tenant" => tenant.to_string()).increment(1);
}

/// Observes how long a message waited in the queue and how long its attempt took.
pub fn message_timing(queue_wait: Option<Duration>, attempt: Duration) {
    if let Some(wait) = queue_wait {
        metrics::histogram!(QUEUE_WAIT_SECONDS).record(wait.as_secs_f64());
    }
    metrics::histogram!(MESSAGE_SECONDS).record(attempt.as_secs_f64());
}

/// Counts stream entries: read, reclaimed, swept or malformed.
pub fn stream_entries(counter: &'static str, n: usize) {
    if n > 0 {
        metrics::counter!(counter).increment(u64::try_from(n).unwrap_or(u64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_are_the_documented_ones() {
        let names: Vec<&str> = [
            Step::Claim,
            Step::Context,
            Step::Retrieve,
            Step::Llm,
            Step::Actions,
            Step::Commit,
            Step::Publish,
        ]
        .iter()
        .map(|s| s.name())
        .collect();
        assert_eq!(
            names,
            [
                "claim", "context", "retrieve", "llm", "actions", "commit", "publish"
            ]
        );
    }

    #[test]
    fn buckets_ascend() {
        for buckets in [LATENCY_BUCKETS, QUEUE_BUCKETS] {
            assert!(buckets.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
