//! The action registry: the only way anything the LLM proposes can have an effect
//! (ARCHITECTURE.md invariant 2, AGENT.md "Action catalogue").
//!
//! An action type is one [`ActionDef`] in [`BUILTIN`]: its name, its description and the JSON
//! Schema of its parameters (from which the prompt's catalogue is generated, see
//! [`ActionRegistry::catalogue`]), and its validator, which turns the proposed parameters into a
//! typed [`Action`] or a [`Rejection`]. Each [`Action`] variant executes itself inside the
//! caller's [`TenantTxn`]. Adding an action type means: a module here with its typed parameters,
//! validator and executor, its `DEF` in [`BUILTIN`], and its [`Action`] variant (the compiler
//! then points at the one `match` that dispatches execution).
//!
//! The flow of one reply, inside the consumer's transaction:
//!
//! 1. [`ActionRegistry::apply`] takes every [`ProposedAction`] in order.
//! 2. Validation: the type must be enabled for the tenant (a tenant switches types off with
//!    `{"disabled_actions": ["log_event"]}` in its `settings`, see [`ActionRegistry::for_settings`]),
//!    the parameters must validate (see [`params`]), and every target must be in the roster of
//!    the [`ActionContext`], which is the tenant's own: an id of another tenant is rejected with
//!    exactly the words used for an id that does not exist. At most [`MAX_ACTIONS_PER_REPLY`]
//!    actions are considered, and an action identical to an earlier one of the same reply is
//!    rejected as a duplicate.
//! 3. Execution: notifications (`from_user_id` = the sender, `source_message_id` = the user
//!    message) and events (`action.notify_user`, `action.notify_role`, `agent.log_event`). Every
//!    rejection is recorded as an `action.rejected` event with its reason, and every failure
//!    (validated, but a recipient disappeared since the roster was loaded) as `action.failed`.
//! 4. The result, [`Applied`], carries an [`ActionRecord`] per proposed action for the assistant
//!    message's metadata, and the inserted notifications, which the consumer publishes after
//!    the commit.

mod log_event;
mod notify_role;
mod notify_user;
pub mod params;

use std::fmt;

use entity::{
    DbError, MessageId, NotificationId, Priority, TenantId, TenantScoped, TenantTxn, UserId, event,
    notification, user,
};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect};
use serde_json::{Value, json};
use uuid::Uuid;

pub use log_event::LogEvent;
pub use notify_role::NotifyRole;
pub use notify_user::NotifyUser;
pub use params::{Params, Rejection};

use crate::llm::ProposedAction;
use crate::prompt::{ActionSpec, RosterEntry};
use crate::reply::{ActionRecord, ActionStatus};

/// Most actions one reply may take; the rest are rejected. A reply that wants more is almost
/// certainly a model gone wrong (or a prompt injection trying to spam the tenant), and ten
/// covers any real request ("tell Luca, Sofia and Maria ...").
pub const MAX_ACTIONS_PER_REPLY: usize = 10;

/// Notifications inserted per statement by a `notify_role` to a large tenant.
const NOTIFICATION_BATCH: usize = 1000;

/// Key of the tenant `settings` that lists switched-off action types.
pub const DISABLED_ACTIONS_SETTING: &str = "disabled_actions";

/// One action type: everything the registry needs to describe, validate and run it.
#[derive(Debug)]
pub struct ActionDef {
    /// The type name the model uses (`notify_user`).
    pub name: &'static str,
    /// What it does and when to use it, for the model.
    pub description: &'static str,
    /// JSON Schema of its parameters (an object schema with `properties` and `required`).
    pub params_schema: fn() -> Value,
    /// Turns proposed parameters into a typed action, or says why not.
    pub validate: fn(&Params, &ActionContext<'_>) -> Result<Action, Rejection>,
}

/// Every action type there is. Nothing that is not listed here can ever run.
pub const BUILTIN: &[ActionDef] = &[notify_user::DEF, notify_role::DEF, log_event::DEF];

/// Who is acting, for whom, and on whose behalf: the facts validation and execution need.
#[derive(Clone, Copy, Debug)]
pub struct ActionContext<'a> {
    /// The tenant; [`ActionRegistry::apply`] refuses a transaction of any other tenant.
    pub tenant: TenantId,
    /// The user whose message led to the actions (`from_user_id` of notifications).
    pub sender: UserId,
    /// The user message being answered (`source_message_id` of notifications).
    pub source_message: MessageId,
    /// The tenant's users: the only people an action may target.
    pub roster: &'a [RosterEntry],
}

impl ActionContext<'_> {
    /// The roster entry with this id, if the user is in this tenant's roster.
    #[must_use]
    pub fn member(&self, id: UserId) -> Option<&RosterEntry> {
        self.roster.iter().find(|u| u.id == id)
    }
}

/// A validated action, with typed parameters. Only the registry's validators make these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// One notification to one user.
    NotifyUser(NotifyUser),
    /// One notification to each user with a title or role.
    NotifyRole(NotifyRole),
    /// An entry in the tenant's event log.
    LogEvent(LogEvent),
}

/// What executing one action did.
#[derive(Debug)]
pub enum Outcome {
    /// Done: these rows were inserted.
    Executed {
        /// Inserted notifications.
        notifications: Vec<notification::Model>,
        /// Inserted events.
        events: Vec<event::Model>,
    },
    /// Could not be done (nothing was written); the reason is recorded.
    Failed(String),
}

impl Action {
    /// The action type's name.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::NotifyUser(_) => notify_user::DEF.name,
            Self::NotifyRole(_) => notify_role::DEF.name,
            Self::LogEvent(_) => log_event::DEF.name,
        }
    }

    /// The normalised parameters, as recorded on an executed action.
    #[must_use]
    pub fn params(&self) -> Value {
        match self {
            Self::NotifyUser(a) => a.params(),
            Self::NotifyRole(a) => a.params(),
            Self::LogEvent(a) => a.params(),
        }
    }

    /// Runs the action inside `txn`.
    ///
    /// # Errors
    /// When the database fails; the transaction is then unusable and the caller rolls back.
    pub async fn execute(
        &self,
        txn: &TenantTxn,
        ctx: &ActionContext<'_>,
        action_id: Uuid,
    ) -> Result<Outcome, DbError> {
        match self {
            Self::NotifyUser(a) => a.execute(txn, ctx, action_id).await,
            Self::NotifyRole(a) => a.execute(txn, ctx, action_id).await,
            Self::LogEvent(a) => a.execute(txn, ctx, action_id).await,
        }
    }
}

/// Everything [`ActionRegistry::apply`] did for one reply.
#[derive(Debug, Default)]
pub struct Applied {
    /// One record per proposed action, in order (for `ReplyMetadata.actions`).
    pub records: Vec<ActionRecord>,
    /// The notifications inserted, to publish after the commit.
    pub notifications: Vec<notification::Model>,
    /// The events inserted (executed, rejected and failed actions).
    pub events: Vec<event::Model>,
}

/// The action types enabled for one tenant. Cheap to clone.
#[derive(Clone)]
pub struct ActionRegistry {
    enabled: Vec<&'static ActionDef>,
    disabled: Vec<&'static ActionDef>,
}

impl fmt::Debug for ActionRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionRegistry")
            .field("enabled", &self.enabled_names())
            .field(
                "disabled",
                &self.disabled.iter().map(|d| d.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for ActionRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl ActionRegistry {
    /// Every built-in action type, all enabled.
    #[must_use]
    pub fn builtin() -> Self {
        Self {
            enabled: BUILTIN.iter().collect(),
            disabled: Vec::new(),
        }
    }

    /// The built-in types minus those a tenant's `settings` switch off
    /// (`{"disabled_actions": ["log_event"]}`, names in any case). Unknown names are ignored
    /// with a warning; settings without the key, or with a key that is not a list of names,
    /// disable nothing (also with a warning in the second case).
    #[must_use]
    pub fn for_settings(settings: &Value) -> Self {
        let off = disabled_in(settings);
        for name in &off {
            if !BUILTIN.iter().any(|d| d.name == name) {
                tracing::warn!(action = %name, "tenant settings disable an unknown action type");
            }
        }
        let (disabled, enabled) = BUILTIN
            .iter()
            .partition(|d| off.iter().any(|name| name == d.name));
        Self { enabled, disabled }
    }

    /// Names of the enabled types, in registry order.
    #[must_use]
    pub fn enabled_names(&self) -> Vec<&'static str> {
        self.enabled.iter().map(|d| d.name).collect()
    }

    /// Whether the type `name` is enabled.
    #[must_use]
    pub fn is_enabled(&self, name: &str) -> bool {
        self.enabled.iter().any(|d| d.name == name)
    }

    /// The prompt's action catalogue: one [`ActionSpec`] per enabled type.
    #[must_use]
    pub fn catalogue(&self) -> Vec<ActionSpec> {
        self.enabled
            .iter()
            .map(|d| ActionSpec {
                name: d.name.to_owned(),
                description: d.description.to_owned(),
                params: (d.params_schema)(),
            })
            .collect()
    }

    /// Validates one proposed action against the enabled types and the context's roster.
    ///
    /// # Errors
    /// A [`Rejection`] saying why: unknown or disabled type, missing or invalid parameters, a
    /// target that is not a user of this tenant.
    pub fn validate(
        &self,
        proposed: &ProposedAction,
        ctx: &ActionContext<'_>,
    ) -> Result<Action, Rejection> {
        let name = normalise_type(&proposed.kind);
        let Some(def) = self.enabled.iter().find(|d| d.name == name) else {
            if self.disabled.iter().any(|d| d.name == name) {
                return Err(Rejection::new(format!(
                    "action type {name:?} is switched off for this tenant"
                )));
            }
            return Err(Rejection::new(format!(
                "unknown action type {:?}",
                proposed.kind
            )));
        };
        (def.validate)(&Params::new(&proposed.params), ctx)
    }

    /// Validates and executes the proposed actions of one reply inside the caller's
    /// transaction, recording every outcome (see the module documentation). The caller commits
    /// `txn` together with the assistant message, and publishes [`Applied::notifications`] after
    /// the commit.
    ///
    /// # Errors
    /// [`DbError`] when the database fails (the caller rolls back and may retry the message),
    /// and [`DbError::Internal`] when `ctx` belongs to another tenant than `txn`.
    pub async fn apply(
        &self,
        txn: &TenantTxn,
        proposed: &[ProposedAction],
        ctx: &ActionContext<'_>,
    ) -> Result<Applied, DbError> {
        if txn.tenant() != ctx.tenant {
            return Err(DbError::Internal(format!(
                "action context of tenant {} used in a transaction of tenant {}",
                ctx.tenant,
                txn.tenant()
            )));
        }
        let mut applied = Applied::default();
        let mut done: Vec<Action> = Vec::new();
        for (index, p) in proposed.iter().enumerate() {
            let action_id = Uuid::now_v7();
            let validated = if index >= MAX_ACTIONS_PER_REPLY {
                Err(Rejection::new(format!(
                    "more than {MAX_ACTIONS_PER_REPLY} actions in one reply"
                )))
            } else {
                self.validate(p, ctx).and_then(|action| {
                    if done.contains(&action) {
                        Err(Rejection::new(
                            "duplicate of an earlier action in this reply",
                        ))
                    } else {
                        Ok(action)
                    }
                })
            };
            let action = match validated {
                Ok(action) => action,
                Err(rejection) => {
                    tracing::info!(
                        tenant.id = %ctx.tenant,
                        message.id = %ctx.source_message,
                        action = %p.kind,
                        reason = %rejection,
                        "action rejected"
                    );
                    let proposed_params = params::scrub(&Value::Object(p.params.clone()));
                    let ev = event::record(
                        txn,
                        Some(ctx.sender),
                        "action.rejected",
                        json!({
                            "action_id": action_id,
                            "type": p.kind.replace('\0', ""),
                            "reason": rejection.0,
                            "params": proposed_params,
                            "source_message_id": ctx.source_message,
                        }),
                    )
                    .await?;
                    applied.events.push(ev);
                    applied.records.push(ActionRecord {
                        id: action_id,
                        kind: p.kind.replace('\0', ""),
                        status: ActionStatus::Rejected,
                        params: proposed_params,
                        error: Some(rejection.0),
                    });
                    continue;
                }
            };
            match action.execute(txn, ctx, action_id).await? {
                Outcome::Executed {
                    notifications,
                    events,
                } => {
                    applied.notifications.extend(notifications);
                    applied.events.extend(events);
                    applied.records.push(ActionRecord {
                        id: action_id,
                        kind: action.kind().to_owned(),
                        status: ActionStatus::Executed,
                        params: action.params(),
                        error: None,
                    });
                }
                Outcome::Failed(reason) => {
                    tracing::warn!(
                        tenant.id = %ctx.tenant,
                        message.id = %ctx.source_message,
                        action = action.kind(),
                        reason = %reason,
                        "action failed"
                    );
                    let ev = event::record(
                        txn,
                        Some(ctx.sender),
                        "action.failed",
                        json!({
                            "action_id": action_id,
                            "type": action.kind(),
                            "reason": reason,
                            "params": action.params(),
                            "source_message_id": ctx.source_message,
                        }),
                    )
                    .await?;
                    applied.events.push(ev);
                    applied.records.push(ActionRecord {
                        id: action_id,
                        kind: action.kind().to_owned(),
                        status: ActionStatus::Failed,
                        params: action.params(),
                        error: Some(reason),
                    });
                }
            }
            done.push(action);
        }
        Ok(applied)
    }
}

/// The lower-case names a tenant's settings switch off.
#[must_use]
pub fn disabled_in(settings: &Value) -> Vec<String> {
    match settings.get(DISABLED_ACTIONS_SETTING) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .map(normalise_type)
            .collect(),
        Some(other) => {
            tracing::warn!(value = %other, "tenant setting disabled_actions is not a list of names; ignoring it");
            Vec::new()
        }
    }
}

/// An action type name as compared: trimmed, lower case, `-` and spaces read as `_`.
fn normalise_type(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| if c == '-' || c == ' ' { '_' } else { c })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Which of `ids` are still users of `txn`'s tenant (the roster may be older than the
/// transaction: a user deleted since then must not make the insert, and with it the whole
/// reply, fail).
async fn existing_users(txn: &TenantTxn, ids: &[UserId]) -> Result<Vec<UserId>, DbError> {
    let found: Vec<UserId> = user::Entity::find_in_tenant(txn.tenant())
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .select_only()
        .column(user::Column::Id)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(ids
        .iter()
        .copied()
        .filter(|id| found.contains(id))
        .collect())
}

/// Inserts one notification per recipient, from the sender, caused by the source message.
async fn insert_notifications(
    txn: &TenantTxn,
    ctx: &ActionContext<'_>,
    recipients: &[UserId],
    message: &str,
    priority: Priority,
) -> Result<Vec<notification::Model>, DbError> {
    // Postgres keeps microseconds: the models returned (and published) must equal the rows.
    let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
    let models: Vec<notification::Model> = recipients
        .iter()
        .map(|to| notification::Model {
            id: NotificationId::new(),
            tenant_id: txn.tenant(),
            from_user_id: Some(ctx.sender),
            to_user_id: *to,
            message: message.to_owned(),
            priority,
            read: false,
            source_message_id: Some(ctx.source_message),
            created_at: now,
        })
        .collect();
    // Batches keep every statement far below Postgres's 65 535 bind parameters (9 per row).
    for batch in models.chunks(NOTIFICATION_BATCH) {
        notification::Entity::insert_many(
            batch
                .iter()
                .cloned()
                .map(IntoActiveModel::into_active_model),
        )
        .exec_without_returning(txn)
        .await?;
    }
    Ok(models)
}

/// The JSON Schema of a priority parameter, shared by the notification types.
fn priority_schema() -> Value {
    json!({
        "type": "string",
        "enum": ["LOW", "NORMAL", "HIGH", "URGENT"],
        "description": "How urgent it is; NORMAL when omitted. URGENT only when the user says it is urgent."
    })
}

/// The JSON Schema of a notification message parameter, shared by the notification types.
fn message_schema() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": params::MAX_MESSAGE_CHARS,
        "description": "The notification text, written to the recipient (1-1000 characters)."
    })
}

#[cfg(test)]
mod tests {
    use entity::Role;

    use super::*;

    pub(super) struct Fixture {
        pub roster: Vec<RosterEntry>,
        pub tenant: TenantId,
        pub message: MessageId,
    }

    impl Fixture {
        pub fn sole() -> Self {
            let entry = |name: &str, title: &str, role| RosterEntry {
                id: UserId::new(),
                name: name.into(),
                title: Some(title.into()),
                role,
            };
            Self {
                roster: vec![
                    entry("Maria Rossi", "Owner and manager", Role::Manager),
                    entry("Luca Bianchi", "Head chef", Role::Staff),
                    entry("Sofia Verdi", "Waiter", Role::Staff),
                ],
                tenant: TenantId::new(),
                message: MessageId::new(),
            }
        }

        /// Context with Maria as the sender.
        pub fn ctx(&self) -> ActionContext<'_> {
            ActionContext {
                tenant: self.tenant,
                sender: self.roster[0].id,
                source_message: self.message,
                roster: &self.roster,
            }
        }
    }

    pub(super) fn proposed(kind: &str, params: Value) -> ProposedAction {
        let Value::Object(params) = params else {
            panic!("params must be an object")
        };
        ProposedAction {
            kind: kind.into(),
            params,
        }
    }

    #[test]
    fn the_catalogue_lists_every_enabled_type_with_its_schema() {
        let all = ActionRegistry::builtin().catalogue();
        let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["notify_user", "notify_role", "log_event"]);
        for spec in &all {
            assert_eq!(spec.params["type"], "object", "{}", spec.name);
            assert!(spec.params["required"].is_array(), "{}", spec.name);
            assert!(!spec.description.is_empty());
        }
        assert_eq!(all[0].params["required"], json!(["user_id", "message"]));
    }

    #[test]
    fn settings_switch_types_off() {
        let registry =
            ActionRegistry::for_settings(&json!({ "disabled_actions": ["LOG_EVENT", "nope"] }));
        assert_eq!(registry.enabled_names(), ["notify_user", "notify_role"]);
        assert!(!registry.is_enabled("log_event"));
        let names: Vec<String> = registry.catalogue().into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["notify_user", "notify_role"]);

        // Proposed anyway: rejected, with a reason that says so.
        let f = Fixture::sole();
        let err = registry
            .validate(
                &proposed("log_event", json!({ "kind": "x", "details": "y" })),
                &f.ctx(),
            )
            .unwrap_err();
        assert_eq!(
            err.0,
            "action type \"log_event\" is switched off for this tenant"
        );

        for settings in [
            json!({}),
            json!({ "disabled_actions": "log_event" }),
            json!(null),
        ] {
            assert_eq!(
                ActionRegistry::for_settings(&settings)
                    .enabled_names()
                    .len(),
                3
            );
        }
    }

    #[test]
    fn unknown_types_are_rejected_and_type_names_are_read_leniently() {
        let f = Fixture::sole();
        let registry = ActionRegistry::builtin();
        let err = registry
            .validate(&proposed("delete_tenant", json!({})), &f.ctx())
            .unwrap_err();
        assert_eq!(err.0, "unknown action type \"delete_tenant\"");
        let ok = registry.validate(
            &proposed(" Log-Event ", json!({ "kind": "note", "details": "d" })),
            &f.ctx(),
        );
        assert!(matches!(ok, Ok(Action::LogEvent(_))), "{ok:?}");
    }

    #[test]
    fn validation_yields_typed_actions() {
        let f = Fixture::sole();
        let luca = f.roster[1].id;
        let registry = ActionRegistry::builtin();
        let action = registry
            .validate(
                &proposed(
                    "notify_user",
                    json!({ "user_id": luca.to_string(), "message": "Table 5 has a nut allergy", "priority": "high" }),
                ),
                &f.ctx(),
            )
            .unwrap();
        assert_eq!(
            action,
            Action::NotifyUser(NotifyUser {
                to: luca,
                message: "Table 5 has a nut allergy".into(),
                priority: Priority::High,
            })
        );
        assert_eq!(action.kind(), "notify_user");
        assert_eq!(action.params()["priority"], "HIGH");
    }
}
