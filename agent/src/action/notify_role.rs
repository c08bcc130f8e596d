//! `notify_role`: one notification to every user of the tenant whose title or role matches
//! (see [`crate::roster`] for how "waiters" finds the Waiter), or to everyone; never to the
//! sender. An audience of nobody is a rejection, not a silent success.

use std::collections::HashSet;

use entity::{DbError, Priority, TenantTxn, UserId, event};
use serde_json::{Value, json};
use uuid::Uuid;

use super::params::priority_name;
use super::{
    Action, ActionContext, ActionDef, Outcome, Params, Rejection, existing_users,
    insert_notifications, message_schema, priority_schema,
};
use crate::roster;

/// The registry entry.
pub(super) const DEF: ActionDef = ActionDef {
    name: "notify_role",
    description: "Send the same notification to every user of the ROSTER with a job title or \
                  role (for example \"waiters\", \"maintenance technician\", \"STAFF\"), or to \
                  \"everyone\"; the user who is writing is never included. Use it when the user \
                  asks you to tell a group.",
    params_schema: schema,
    validate,
};

/// A validated `notify_role`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyRole {
    /// The audience as the model named it (`waiters`, `STAFF`, `everyone`).
    pub audience: String,
    /// The users it reaches (never empty, never the sender), in roster order.
    pub recipients: Vec<UserId>,
    /// The text, 1-1000 characters.
    pub message: String,
    /// How urgent it is.
    pub priority: Priority,
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "title": {
                "type": "string",
                "description": "A job title as in the ROSTER, singular or plural (\"waiters\"), or \"everyone\"."
            },
            "role": {
                "type": "string",
                "description": "Instead of or together with title: MANAGER, STAFF or MEMBER."
            },
            "message": message_schema(),
            "priority": priority_schema(),
        },
        "required": ["message"],
    })
}

fn validate(params: &Params, ctx: &ActionContext<'_>) -> Result<Action, Rejection> {
    let title = params.text(&["title", "job_title", "audience", "group"])?;
    let role = params.text(&["role", "roles"])?;
    let audience = match (&title, &role) {
        (None, None) => return Err(Rejection::new("missing parameter title or role")),
        (Some(t), None) => t.clone(),
        (None, Some(r)) => r.clone(),
        (Some(t), Some(r)) => format!("{t} ({r})"),
    };
    // Both given: the users matching both (an "everyone" on either side matches all).
    let reach = |phrase: &Option<String>| -> Option<HashSet<UserId>> {
        phrase.as_deref().map(|p| {
            roster::audience(ctx.roster, p, ctx.sender)
                .iter()
                .map(|u| u.id)
                .collect()
        })
    };
    let (by_title, by_role) = (reach(&title), reach(&role));
    let recipients: Vec<UserId> = ctx
        .roster
        .iter()
        .filter(|u| u.id != ctx.sender)
        .map(|u| u.id)
        .filter(|id| by_title.as_ref().is_none_or(|ids| ids.contains(id)))
        .filter(|id| by_role.as_ref().is_none_or(|ids| ids.contains(id)))
        .collect();
    if recipients.is_empty() {
        return Err(Rejection::new(format!(
            "no one else in this tenant has the title or role {audience:?}"
        )));
    }
    Ok(Action::NotifyRole(NotifyRole {
        audience,
        recipients,
        message: params.message()?,
        priority: params.priority()?,
    }))
}

impl NotifyRole {
    pub(super) fn params(&self) -> Value {
        json!({
            "audience": self.audience,
            "recipients": self.recipients,
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
        let recipients = existing_users(txn, &self.recipients).await?;
        if recipients.is_empty() {
            return Ok(Outcome::Failed(
                "none of the recipients is still a user of this tenant".into(),
            ));
        }
        let notifications =
            insert_notifications(txn, ctx, &recipients, &self.message, self.priority).await?;
        let ev = event::record(
            txn,
            Some(ctx.sender),
            "action.notify_role",
            json!({
                "action_id": action_id,
                "audience": self.audience,
                "recipients": recipients,
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

    fn recipients(f: &Fixture, params: Value) -> Result<Vec<UserId>, Rejection> {
        match ActionRegistry::builtin().validate(&proposed("notify_role", params), &f.ctx())? {
            Action::NotifyRole(a) => Ok(a.recipients),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn titles_roles_and_everyone() {
        let f = Fixture::sole();
        let (luca, sofia) = (f.roster[1].id, f.roster[2].id);
        let r = |p| recipients(&f, p).unwrap();
        assert_eq!(r(json!({ "title": "waiters", "message": "m" })), [sofia]);
        assert_eq!(r(json!({ "title": "Chefs", "message": "m" })), [luca]);
        assert_eq!(r(json!({ "role": "STAFF", "message": "m" })), [luca, sofia]);
        assert_eq!(
            r(json!({ "role": "staff", "title": "waiter", "message": "m" })),
            [sofia]
        );
        // Everyone but the sender (Maria).
        assert_eq!(
            r(json!({ "title": "everyone", "message": "m" })),
            [luca, sofia]
        );
        assert_eq!(
            r(json!({ "role": "Everyone", "message": "m" })),
            [luca, sofia]
        );
    }

    #[test]
    fn nobody_is_a_rejection_and_the_sender_is_excluded() {
        let f = Fixture::sole();
        let err = recipients(&f, json!({ "title": "sommeliers", "message": "m" })).unwrap_err();
        assert_eq!(
            err.0,
            "no one else in this tenant has the title or role \"sommeliers\""
        );
        // Maria is the only manager, and she is the sender.
        assert!(recipients(&f, json!({ "role": "MANAGER", "message": "m" })).is_err());
        let err = recipients(&f, json!({ "message": "m" })).unwrap_err();
        assert_eq!(err.0, "missing parameter title or role");
        let err = recipients(&f, json!({ "title": "waiters" })).unwrap_err();
        assert_eq!(err.0, "missing parameter message");
    }
}
