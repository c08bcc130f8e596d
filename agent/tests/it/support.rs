//! Demo-like tenants, users, sessions and messages written through `entity` inside
//! tenant-scoped transactions (as the application would), and counts read as the owner role
//! (which row-level security does not restrict) to see everything that was written.

use chrono::Utc;
use entity::{
    Db, MessageId, MessageRole, MessageStatus, Role, SessionId, TenantId, TenantKind, UserId,
    message, session, tenant, user,
};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, IntoActiveModel, Statement,
};
use serde_json::{Value, json};

/// A tenant and its users.
pub struct Tenant {
    pub id: TenantId,
    pub users: Vec<user::Model>,
}

impl Tenant {
    /// The user whose name starts with `first`.
    pub fn user(&self, first: &str) -> &user::Model {
        self.users
            .iter()
            .find(|u| u.name.starts_with(first))
            .unwrap_or_else(|| panic!("no user {first}"))
    }
}

/// Creates a tenant with `settings` and users `(name, email, role, title)`.
pub async fn create_tenant(
    db: &Db,
    slug: &str,
    name: &str,
    kind: TenantKind,
    settings: Value,
    users: &[(&str, &str, Role, &str)],
) -> Tenant {
    let id = TenantId::new();
    let txn = db.begin_in_tenant(id).await.unwrap();
    tenant::Model {
        id,
        slug: slug.into(),
        name: name.into(),
        kind,
        settings,
        created_at: Utc::now(),
    }
    .into_active_model()
    .insert(&txn)
    .await
    .unwrap();
    let mut models = Vec::new();
    for (name, email, role, title) in users {
        let model = user::Model {
            id: UserId::new(),
            tenant_id: id,
            email: (*email).into(),
            password_hash: "not-a-real-hash".into(),
            role: *role,
            name: (*name).into(),
            title: Some((*title).into()),
            created_at: Utc::now(),
        };
        models.push(
            model
                .clone()
                .into_active_model()
                .insert(&txn)
                .await
                .unwrap(),
        );
    }
    txn.commit().await.unwrap();
    Tenant { id, users: models }
}

/// Trattoria Sole, as in DEMO.md.
pub async fn sole(db: &Db, settings: Value) -> Tenant {
    create_tenant(
        db,
        "sole",
        "Trattoria Sole",
        TenantKind::Restaurant,
        settings,
        &[
            (
                "Maria Rossi",
                "maria@sole.example",
                Role::Manager,
                "Owner and manager",
            ),
            (
                "Luca Bianchi",
                "luca@sole.example",
                Role::Staff,
                "Head chef",
            ),
            ("Sofia Verdi", "sofia@sole.example", Role::Staff, "Waiter"),
        ],
    )
    .await
}

/// Harbor View Apartments, as in DEMO.md.
pub async fn harborview(db: &Db) -> Tenant {
    create_tenant(
        db,
        "harborview",
        "Harbor View Apartments",
        TenantKind::Property,
        json!({}),
        &[
            (
                "James Park",
                "james@harborview.example",
                Role::Manager,
                "Property manager",
            ),
            (
                "Ana Costa",
                "ana@harborview.example",
                Role::Staff,
                "Maintenance technician",
            ),
            (
                "Tom Weber",
                "tom@harborview.example",
                Role::Member,
                "Resident, unit 4B",
            ),
        ],
    )
    .await
}

/// Adds a user to a tenant.
pub async fn add_user(
    db: &Db,
    tenant: TenantId,
    name: &str,
    email: &str,
    title: &str,
) -> user::Model {
    let txn = db.begin_in_tenant(tenant).await.unwrap();
    let model = user::Model {
        id: UserId::new(),
        tenant_id: tenant,
        email: email.into(),
        password_hash: "not-a-real-hash".into(),
        role: Role::Staff,
        name: name.into(),
        title: Some(title.into()),
        created_at: Utc::now(),
    }
    .into_active_model()
    .insert(&txn)
    .await
    .unwrap();
    txn.commit().await.unwrap();
    model
}

/// Replaces a tenant's settings.
pub async fn set_settings(db: &Db, tenant: TenantId, settings: Value) {
    let txn = db.begin_in_tenant(tenant).await.unwrap();
    tenant::ActiveModel {
        id: Set(tenant),
        settings: Set(settings),
        ..Default::default()
    }
    .update(&txn)
    .await
    .unwrap();
    txn.commit().await.unwrap();
}

/// Starts a session of `user`.
pub async fn new_session(db: &Db, tenant: TenantId, user: UserId) -> SessionId {
    let id = SessionId::new();
    let txn = db.begin_in_tenant(tenant).await.unwrap();
    session::Model {
        id,
        tenant_id: tenant,
        user_id: user,
        title: "Test".into(),
        created_at: Utc::now(),
        last_message_at: Utc::now(),
    }
    .into_active_model()
    .insert(&txn)
    .await
    .unwrap();
    txn.commit().await.unwrap();
    id
}

/// Stores a user message with `status`.
pub async fn user_message(
    db: &Db,
    tenant: TenantId,
    user: UserId,
    session: SessionId,
    content: &str,
    status: MessageStatus,
) -> message::Model {
    let txn = db.begin_in_tenant(tenant).await.unwrap();
    let model = message::Model {
        id: MessageId::new(),
        tenant_id: tenant,
        user_id: user,
        session_id: session,
        role: MessageRole::User,
        content: content.into(),
        status,
        client_message_id: None,
        reply_to_id: None,
        provider: None,
        error: (status == MessageStatus::Failed).then(|| "the model was unavailable".into()),
        metadata: json!({}),
        created_at: Utc::now(),
    }
    .into_active_model()
    .insert(&txn)
    .await
    .unwrap();
    txn.commit().await.unwrap();
    model
}

/// Stores the assistant's answer to `question` and marks the question ANSWERED, in one
/// transaction (as the consumer does).
pub async fn answer(db: &Db, question: &message::Model, content: &str) -> message::Model {
    let txn = db.begin_in_tenant(question.tenant_id).await.unwrap();
    let reply = message::Model {
        id: MessageId::new(),
        tenant_id: question.tenant_id,
        user_id: question.user_id,
        session_id: question.session_id,
        role: MessageRole::Assistant,
        content: content.into(),
        status: MessageStatus::Complete,
        client_message_id: None,
        reply_to_id: Some(question.id),
        provider: Some("offline".into()),
        error: None,
        metadata: json!({}),
        created_at: Utc::now(),
    }
    .into_active_model()
    .insert(&txn)
    .await
    .unwrap();
    message::ActiveModel {
        id: Set(question.id),
        status: Set(MessageStatus::Answered),
        ..Default::default()
    }
    .update(&txn)
    .await
    .unwrap();
    txn.commit().await.unwrap();
    reply
}

/// A single number from a query run as the owner role (sees every tenant).
pub async fn count(admin: &DatabaseConnection, sql: &str) -> i64 {
    admin
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

/// Deletes a user as the owner role (as an administrator would).
pub async fn delete_user(admin: &DatabaseConnection, id: UserId) {
    user::Entity::delete_by_id(id).exec(admin).await.unwrap();
}
