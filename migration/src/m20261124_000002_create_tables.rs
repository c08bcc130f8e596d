//! The tables. Ids are UUIDv7 made by the application. Every tenant-owned table has
//! `UNIQUE (tenant_id, id)`, and every reference between tenant rows is a composite foreign key
//! on `(tenant_id, <ref>_id)`, so a row can never point at a row of another tenant.

use sea_orm_migration::prelude::*;

use crate::exec;

/// See the module documentation.
#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = r"
CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('RESTAURANT', 'PROPERTY', 'OTHER')),
    settings    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email          text NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '_%@_%'),
    password_hash  text NOT NULL,
    role           text NOT NULL CHECK (role IN ('MANAGER', 'STAFF', 'MEMBER')),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    title          text CHECK (length(title) <= 200),
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
-- colleagues: the tenant's users by name.
CREATE INDEX users_by_tenant_name ON users (tenant_id, name);

CREATE TABLE sessions (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL,
    user_id          uuid NOT NULL,
    title            text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_message_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    UNIQUE (tenant_id, user_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
-- sessions: mine, most recent first (keyset on last_message_at, id).
CREATE INDEX sessions_by_user_recent ON sessions (tenant_id, user_id, last_message_at DESC, id DESC);

CREATE TABLE messages (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL,
    user_id            uuid NOT NULL,
    session_id         uuid NOT NULL,
    role               text NOT NULL CHECK (role IN ('USER', 'ASSISTANT')),
    content            text NOT NULL,
    status             text NOT NULL
                       CHECK (status IN ('QUEUED', 'PROCESSING', 'ANSWERED', 'FAILED', 'COMPLETE')),
    client_message_id  text CHECK (length(client_message_id) BETWEEN 1 AND 200),
    reply_to_id        uuid,
    provider           text,
    error              text,
    metadata           jsonb NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    -- The message is in a session of its own user, of its own tenant.
    FOREIGN KEY (tenant_id, user_id, session_id)
        REFERENCES sessions (tenant_id, user_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, reply_to_id) REFERENCES messages (tenant_id, id) ON DELETE CASCADE,
    CHECK ((role = 'ASSISTANT') = (status = 'COMPLETE')),
    CHECK ((role = 'ASSISTANT') = (reply_to_id IS NOT NULL))
);
-- sendMessage idempotency: one message per (user, clientMessageId).
CREATE UNIQUE INDEX messages_client_message_id ON messages (user_id, client_message_id)
    WHERE client_message_id IS NOT NULL;
-- At most one answer per user message: the agent's commit is exactly-once because of it.
CREATE UNIQUE INDEX messages_one_reply ON messages (reply_to_id) WHERE reply_to_id IS NOT NULL;
-- conversation (oldest first, keyset on id) and the agent's next message of a session.
CREATE INDEX messages_by_session ON messages (tenant_id, session_id, id);
-- The sweep of messages that never reached the stream or whose worker died.
CREATE INDEX messages_unfinished ON messages (created_at)
    WHERE status IN ('QUEUED', 'PROCESSING');

CREATE TABLE notifications (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL,
    from_user_id       uuid,
    to_user_id         uuid NOT NULL,
    message            text NOT NULL CHECK (length(message) BETWEEN 1 AND 1000),
    priority           text NOT NULL DEFAULT 'NORMAL'
                       CHECK (priority IN ('LOW', 'NORMAL', 'HIGH', 'URGENT')),
    read               boolean NOT NULL DEFAULT false,
    source_message_id  uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, to_user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, from_user_id) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (from_user_id),
    FOREIGN KEY (tenant_id, source_message_id) REFERENCES messages (tenant_id, id)
        ON DELETE SET NULL (source_message_id)
);
-- notifications: mine, newest first; the unread filter and count.
CREATE INDEX notifications_inbox ON notifications (tenant_id, to_user_id, id DESC);
CREATE INDEX notifications_unread ON notifications (tenant_id, to_user_id, id DESC) WHERE NOT read;

CREATE TABLE tenant_knowledge (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    title            text,
    content          text NOT NULL CHECK (length(content) >= 1),
    category         text NOT NULL CHECK (category ~ '^[a-z0-9][a-z0-9_-]{0,49}$'),
    embedding        vector(1536) NOT NULL,
    embedding_model  text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
-- knowledge: a tenant's chunks, optionally of one category, keyset on id.
CREATE INDEX tenant_knowledge_by_category ON tenant_knowledge (tenant_id, category, id);
-- Retrieval: nearest neighbours by cosine distance.
CREATE INDEX tenant_knowledge_embedding ON tenant_knowledge
    USING hnsw (embedding vector_cosine_ops);

CREATE TABLE events (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    actor_user_id  uuid,
    kind           text NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    payload        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, actor_user_id) REFERENCES users (tenant_id, id)
        ON DELETE SET NULL (actor_user_id)
);
-- events: newest first.
CREATE INDEX events_recent ON events (tenant_id, id DESC);
";

const DOWN: &str = r"
DROP TABLE IF EXISTS events;
DROP TABLE IF EXISTS tenant_knowledge;
DROP TABLE IF EXISTS notifications;
DROP TABLE IF EXISTS messages;
DROP TABLE IF EXISTS sessions;
DROP TABLE IF EXISTS users;
DROP TABLE IF EXISTS tenants;
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        exec(manager, DOWN).await
    }
}
