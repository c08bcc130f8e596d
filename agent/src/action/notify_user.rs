//! `notify_user`: one notification to one user of the tenant, from the user who spoke.

use entity::{DbError, Priority, TenantTxn, UserId, event};
use serde_json::{Value, json};
use uuid::Uuid;

use super::params::priority_name;
use super::{
    Action, ActionContext, ActionDef, Outcome, Params, Rejection, existing_users,
    insert_notifications, message_schema, priority_schema,
};

/// The registry entry.
pub(super) const DEF: ActionDef = ActionDef {
    name: "notify_user",
    description: "Send a notification to one user of the ROSTER, on behalf of the user who is \
                  writing. Use it when the user asks you to tell, ask, remind or let someone know \
                  something.",
    params_schema: schema,
    validate,
};

/// A validated `notify_user`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyUser {
    /// The recipient: a user in the tenant's roster.
    pub to: UserId,
    /// The text, 1-1000 characters.
    pub message: String,
    /// How urgent it is.
    pub priority: Priority,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "user_id": {
                "type": "string",
                "description": "The id of the recipient, exactly as listed in the ROSTER."
            },
            "message": message_schema(),
            "priority": priority_schema(),
        },
        "required": ["user_id", "message"],
    })
}

fn validate(params: &Params, ctx: &ActionContext<'_>) -> Result<Action, Rejection> {
    let raw = params.required_text(&[
        "user_id",
        "to_user_id",
        "recipient_id",
        "recipient",
        "user",
        "to",
    ])?;
    let to = resolve(&raw, ctx).ok_or_else(|| {
        // The same words whether the id belongs to another tenant or to nobody.
        Rejection::new(format!("user_id {raw:?} is not a user of this tenant"))
    })?;
    Ok(Action::NotifyUser(NotifyUser {
        to,
        message: params.message()?,
        priority: params.priority()?,
    }))
}

/// The roster user `raw` names: by id (any UUID spelling), or, when the model wrote a name
/// instead, by a full name that exactly one roster user has.
fn resolve(raw: &str, ctx: &ActionContext<'_>) -> Option<UserId> {
    if let Ok(id) = raw.parse::<UserId>() {
        return ctx.member(id).map(|u| u.id);
    }
    let mut by_name = ctx
        .roster
        .iter()
        .filter(|u| u.name.trim().eq_ignore_ascii_case(raw.trim()));
    match (by_name.next(), by_name.next()) {
        (Some(u), None) => Some(u.id),
        _ => None,
    }
}

impl NotifyUser {
    pub(super) fn params(&self) -> Value {
        json!({
            "user_id": self.to,
            "message": self.message,
            "priority": priority_name(self.priority),
        })
    }

    pub(super) async fn execute(
        &self,
        txn: &TenantTxn,
        ctx: &ActionContext<'_>,
        action_id: Uuid,
    ) -> Result<Outcome, DbError> {
        if existing_users(txn, &[self.to]).await?.is_empty() {
            return Ok(Outcome::Failed(
                "the recipient is no longer a user of this tenant".into(),
            ));
        }
        let notifications =
            insert_notifications(txn, ctx, &[self.to], &self.message, self.priority).await?;
        let ev = event::record(
            txn,
            Some(ctx.sender),
            "action.notify_user",
            json!({
                "action_id": action_id,
                "to_user_id": self.to,
                "notification_ids": notifications.iter().map(|n| n.id).collect::<Vec<_>>(),
                "message": self.message,
                "priority": priority_name(self.priority),
                "source_message_id": ctx.source_message,
            }),
        )
        .await?;
        Ok(Outcome::Executed {
            notifications,
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

    fn validate(f: &Fixture, params: Value) -> Result<Action, Rejection> {
        ActionRegistry::builtin().validate(&proposed("notify_user", params), &f.ctx())
    }

    #[test]
    fn targets_must_be_in_the_roster() {
        let f = Fixture::sole();
        let stranger = UserId::new();
        let err = validate(
            &f,
            json!({ "user_id": stranger.to_string(), "message": "hi" }),
        )
        .unwrap_err();
        assert_eq!(
            err.0,
            format!("user_id \"{stranger}\" is not a user of this tenant")
        );
        let err = validate(&f, json!({ "user_id": "not-an-id", "message": "hi" })).unwrap_err();
        assert_eq!(err.0, "user_id \"not-an-id\" is not a user of this tenant");
        let err = validate(&f, json!({ "message": "hi" })).unwrap_err();
        assert_eq!(err.0, "missing parameter user_id");
    }

    #[test]
    fn ids_are_read_in_any_spelling_and_full_names_are_accepted() {
        let f = Fixture::sole();
        let luca = f.roster[1].id;
        for raw in [
            luca.to_string(),
            luca.to_string().to_uppercase(),
            format!("{{{luca}}}"),
            luca.uuid().simple().to_string(),
            "luca bianchi".to_owned(),
        ] {
            let action = validate(&f, json!({ "userId": raw, "message": "hi" })).unwrap();
            assert!(
                matches!(action, Action::NotifyUser(NotifyUser { to, .. }) if to == luca),
                "{raw}"
            );
        }
        // A first name alone is not an id: the model must use the roster's ids.
        assert!(validate(&f, json!({ "user_id": "Luca", "message": "hi" })).is_err());
    }

    #[test]
    fn message_and_priority_are_checked() {
        let f = Fixture::sole();
        let luca = f.roster[1].id.to_string();
        let err = validate(&f, json!({ "user_id": luca, "message": " " })).unwrap_err();
        assert_eq!(err.0, "missing parameter message");
        let err =
            validate(&f, json!({ "user_id": luca, "message": "x".repeat(1001) })).unwrap_err();
        assert!(err.0.contains("1-1000"), "{err}");
        let err = validate(
            &f,
            json!({ "user_id": luca, "message": "hi", "priority": "p1" }),
        )
        .unwrap_err();
        assert!(err.0.starts_with("priority must be one of"), "{err}");
        let ok = validate(
            &f,
            json!({ "user_id": luca, "message": "  hi  ", "priority": "Urgent" }),
        )
        .unwrap();
        assert_eq!(ok.params()["message"], "hi");
        assert_eq!(ok.params()["priority"], "URGENT");
    }
}
