//! `log_event`: an entry in the tenant's event log (kind `agent.log_event`), for things worth
//! a record rather than a person's attention: a temperature reading, an incident, a delivery.

use entity::{DbError, TenantTxn, event};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Action, ActionContext, ActionDef, Outcome, Params, Rejection};

/// Most characters of a kind slug: a label to filter the log by, not a sentence.
pub const MAX_KIND_CHARS: usize = 64;
/// Most characters of the details: a log line of a few sentences, not a document.
pub const MAX_DETAILS_CHARS: usize = 2000;

/// The registry entry.
pub(super) const DEF: ActionDef = ActionDef {
    name: "log_event",
    description: "Record an event in the tenant's event log, for example a temperature \
                  reading, an incident, a breakage or a delivery. Use it when the user asks you \
                  to log, record or report something.",
    params_schema: schema,
    validate,
};

/// A validated `log_event`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    /// A short slug: lower-case letters, digits and `_` (`temperature`, `incident`).
    pub kind: String,
    /// What happened.
    pub details: String,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "kind": {
                "type": "string",
                "maxLength": MAX_KIND_CHARS,
                "description": "A short lower-case slug naming the kind of event, like \"temperature\", \"incident\", \"delivery\"."
            },
            "details": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_DETAILS_CHARS,
                "description": "What happened, in one or a few sentences."
            },
        },
        "required": ["kind", "details"],
    })
}

/// `"Walk-in Freezer!"` -> `"walk_in_freezer"`.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

fn validate(params: &Params, _ctx: &ActionContext<'_>) -> Result<Action, Rejection> {
    let raw =
        params.required_text(&["kind", "event", "event_kind", "category", "type_of_event"])?;
    let kind = slug(&raw);
    if kind.is_empty() || kind.chars().count() > MAX_KIND_CHARS {
        return Err(Rejection::new(format!(
            "kind must be a short slug of 1-{MAX_KIND_CHARS} letters, digits or '_' (got {raw:?})"
        )));
    }
    let details = params.required_text(&[
        "details",
        "detail",
        "description",
        "message",
        "text",
        "note",
    ])?;
    let len = details.chars().count();
    if len > MAX_DETAILS_CHARS {
        return Err(Rejection::new(format!(
            "details must be 1-{MAX_DETAILS_CHARS} characters (they have {len})"
        )));
    }
    Ok(Action::LogEvent(LogEvent { kind, details }))
}

impl LogEvent {
    pub(super) fn params(&self) -> Value {
        json!({ "kind": self.kind, "details": self.details })
    }

    pub(super) async fn execute(
        &self,
        txn: &TenantTxn,
        ctx: &ActionContext<'_>,
        action_id: Uuid,
    ) -> Result<Outcome, DbError> {
        let ev = event::record(
            txn,
            Some(ctx.sender),
            "agent.log_event",
            json!({
                "action_id": action_id,
                "kind": self.kind,
                "details": self.details,
                "source_message_id": ctx.source_message,
            }),
        )
        .await?;
        Ok(Outcome::Executed {
            notifications: Vec::new(),
            events: vec![ev],
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::{Fixture, proposed};
    use super::*;
    use crate::action::ActionRegistry;

    fn validate(params: Value) -> Result<Action, Rejection> {
        let f = Fixture::sole();
        ActionRegistry::builtin().validate(&proposed("log_event", params), &f.ctx())
    }

    #[test]
    fn kinds_become_slugs() {
        let a = validate(json!({ "kind": "Walk-in Freezer!", "details": "5 degrees" })).unwrap();
        assert_eq!(
            a,
            Action::LogEvent(LogEvent {
                kind: "walk_in_freezer".into(),
                details: "5 degrees".into()
            })
        );
        let a = validate(json!({ "kind": 42.0, "details": 5 })).unwrap();
        assert_eq!(a.params(), json!({ "kind": "42", "details": "5" }));
    }

    #[test]
    fn bad_kinds_and_details_are_rejected() {
        assert_eq!(
            validate(json!({ "details": "d" })).unwrap_err().0,
            "missing parameter kind"
        );
        assert!(
            validate(json!({ "kind": "!!!", "details": "d" }))
                .unwrap_err()
                .0
                .starts_with("kind must be a short slug")
        );
        assert!(validate(json!({ "kind": "k".repeat(65), "details": "d" })).is_err());
        assert_eq!(
            validate(json!({ "kind": "k" })).unwrap_err().0,
            "missing parameter details"
        );
        assert!(validate(json!({ "kind": "k", "details": "d".repeat(2001) })).is_err());
    }
}
