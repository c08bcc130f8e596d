//! Helpers of the LLM provider tests: a prompt like the agent builds (a restaurant, its roster,
//! retrieved knowledge, history, and action types with realistic parameter schemas), a delta
//! sink that records what it was given, and call settings with millisecond backoffs.

use std::sync::Mutex;
use std::time::Duration;

use agent::llm::DeltaSink;
use agent::llm::config::CallSettings;
use agent::llm::retry::RetryPolicy;
use agent::prompt::{ActionSpec, Prompt, RosterEntry, TenantProfile, Turn};
use agent::retrieval::KnowledgeChunk;
use entity::{KnowledgeId, MessageRole, Role, TenantId, TenantKind, UserId};
use serde_json::{Value, json};

/// Records every delta, in order.
#[derive(Debug, Default)]
pub struct Deltas(Mutex<Vec<String>>);

impl DeltaSink for Deltas {
    fn push(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_owned());
    }
}

impl Deltas {
    /// Every delta, in order.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The deltas joined.
    pub fn joined(&self) -> String {
        self.all().concat()
    }
}

/// Luca, the head chef, whom the tests' outputs notify.
pub fn luca() -> RosterEntry {
    RosterEntry {
        id: UserId::new(),
        name: "Luca Bianchi".into(),
        title: Some("Head chef".into()),
        role: Role::Staff,
    }
}

/// The action types, with the kind of parameter schemas a registry writes (closed objects,
/// length limits, enums with defaults), which providers must convert for their dialect.
pub fn action_specs() -> Vec<ActionSpec> {
    vec![
        ActionSpec {
            name: "notify_user".into(),
            description: "Send a notification to one user of the roster.".into(),
            params: json!({
                "type": "object",
                "properties": {
                    "user_id": { "type": "string", "format": "uuid", "description": "Roster id." },
                    "message": { "type": "string", "minLength": 1, "maxLength": 1000 },
                    "priority": { "type": "string", "enum": ["LOW", "NORMAL", "HIGH", "URGENT"], "default": "NORMAL" },
                },
                "required": ["user_id", "message"],
                "additionalProperties": false,
            }),
        },
        ActionSpec {
            name: "log_event".into(),
            description: "Write an entry in the event log.".into(),
            params: json!({
                "type": "object",
                "properties": {
                    "kind": { "type": "string", "pattern": "^[a-z0-9_.-]{1,64}$" },
                    "details": { "type": "string" },
                },
                "required": ["kind", "details"],
                "additionalProperties": false,
            }),
        },
    ]
}

/// A prompt from Maria to the agent of Trattoria Sole, with two earlier turns.
pub fn prompt(luca: &RosterEntry) -> Prompt {
    let maria = RosterEntry {
        id: UserId::new(),
        name: "Maria Rossi".into(),
        title: Some("Owner and manager".into()),
        role: Role::Manager,
    };
    Prompt {
        tenant: TenantProfile {
            id: TenantId::new(),
            name: "Trattoria Sole".into(),
            kind: TenantKind::Restaurant,
        },
        sender: maria.clone(),
        roster: vec![maria, luca.clone()],
        knowledge: vec![KnowledgeChunk {
            id: KnowledgeId::new(),
            title: Some("Allergens".into()),
            category: "rules".into(),
            content: "Tell the kitchen about every allergy before the order is fired.".into(),
            score: 0.82,
        }],
        history: vec![
            Turn {
                role: MessageRole::User,
                content: "Who is cooking tonight?".into(),
            },
            Turn {
                role: MessageRole::Assistant,
                content: "Luca Bianchi is the head chef tonight.".into(),
            },
        ],
        message: "Tell Luca that table 5 has a nut allergy, it's urgent".into(),
        actions: action_specs(),
    }
}

/// The output a good model gives for [`prompt`]: a reply with escapes and non-ASCII text, and
/// one action.
pub fn good_output(luca: &RosterEntry) -> Value {
    json!({
        "reply": "Done \u{2013} I told Luca: \"Table 5 has a nut allergy\".\nHe'll check the pesto \u{1f95c}.",
        "actions": [ {
            "type": "notify_user",
            "user_id": luca.id.to_string(),
            "message": "Table 5 has a nut allergy",
            "priority": "URGENT",
        } ],
    })
}

/// Call settings for tests: no waiting worth the name between retries.
pub fn fast(stream: bool) -> CallSettings {
    CallSettings {
        stream,
        timeout: Duration::from_secs(20),
        retry: RetryPolicy {
            max_attempts: 3,
            backoff_base: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(5),
            max_retry_wait: Duration::from_secs(2),
        },
        ..CallSettings::default()
    }
}

/// An address where nothing listens.
pub async fn closed_port_url(path: &str) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}{path}")
}
