//! Live events over Redis pub/sub: the agent publishes, every API process fans out to its
//! WebSocket subscribers, so an event published by any process reaches the right subscriber on
//! any replica.
//!
//! Channels, under the prefix `P` (`REDIS_KEY_PREFIX`):
//!
//! | channel | carries |
//! | --- | --- |
//! | `P:user:<user id>` | [`UserEvent`]s addressed to one user: their notifications and the events of their sessions |
//! | `P:tenants` | [`TenantEvent`]s: a tenant's roster or knowledge changed (agents refresh) |
//!
//! Messages are the JSON of those enums. Each process holds ONE subscriber connection ([`Hub`]):
//! it subscribes to a user's channel when the first local subscriber of that user appears and
//! unsubscribes when the last one leaves, and fans each message out to the local subscribers
//! through a broadcast channel. Pub/sub is at-most-once: a subscriber that was disconnected
//! refetches what it missed (the API's queries are the source of truth).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use entity::waits::{Service, timed};
use entity::{
    MessageId, MessageRole, MessageStatus, NotificationId, Priority, Role, SessionId, TenantId,
    UserId,
};
use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Events buffered per user for slow local subscribers before they start to miss some.
const PER_USER_BUFFER: usize = 256;
/// Messages fred buffers between the subscriber connection and the fan-out loop.
const SUBSCRIBER_BUFFER: usize = 65_536;

/// A user as shown next to an event (the sender of a notification).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// The user.
    pub id: UserId,
    /// Full name.
    pub name: String,
    /// Login email.
    pub email: String,
    /// Permissions.
    pub role: Role,
    /// Job title.
    pub title: Option<String>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

impl From<&entity::user::Model> for UserSummary {
    fn from(u: &entity::user::Model) -> Self {
        Self {
            id: u.id,
            name: u.name.clone(),
            email: u.email.clone(),
            role: u.role,
            title: u.title.clone(),
            created_at: u.created_at,
        }
    }
}

/// A notification as delivered live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationPayload {
    /// The notification.
    pub id: NotificationId,
    /// Who caused it.
    pub from: Option<UserSummary>,
    /// The text.
    pub message: String,
    /// How urgent it is.
    pub priority: Priority,
    /// Whether it is read (false when new).
    pub read: bool,
    /// The user message that caused it.
    pub source_message_id: Option<MessageId>,
    /// When it was sent.
    pub created_at: DateTime<Utc>,
}

/// A message as delivered live (the assistant's reply).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessagePayload {
    /// The message.
    pub id: MessageId,
    /// Its session.
    pub session_id: SessionId,
    /// Who wrote it.
    pub role: MessageRole,
    /// The text.
    pub content: String,
    /// Its status.
    pub status: MessageStatus,
    /// The user message it answers.
    pub reply_to_id: Option<MessageId>,
    /// Which provider answered.
    pub provider: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Actions, sources, usage (see `crate::reply::ReplyMetadata`).
    pub metadata: serde_json::Value,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
}

impl From<&entity::message::Model> for MessagePayload {
    fn from(m: &entity::message::Model) -> Self {
        Self {
            id: m.id,
            session_id: m.session_id,
            role: m.role,
            content: m.content.clone(),
            status: m.status,
            reply_to_id: m.reply_to_id,
            provider: m.provider.clone(),
            error: m.error.clone(),
            metadata: m.metadata.clone(),
            created_at: m.created_at,
        }
    }
}

/// An event addressed to one user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum UserEvent {
    /// A new notification for the user.
    Notification(NotificationPayload),
    /// The agent answered a message of the user.
    AgentReply {
        /// The session.
        session_id: SessionId,
        /// The user message answered.
        reply_to: MessageId,
        /// The assistant message.
        message: MessagePayload,
    },
    /// A piece of a reply that is streaming in.
    AgentReplyDelta {
        /// The session.
        session_id: SessionId,
        /// The user message being answered.
        reply_to: MessageId,
        /// The next piece of text.
        delta: String,
    },
    /// The agent gave up on a message.
    MessageFailed {
        /// The session.
        session_id: SessionId,
        /// The user message.
        message_id: MessageId,
        /// Why, readable by the user.
        error: String,
    },
    /// A user message changed status.
    MessageStatusChanged {
        /// The session.
        session_id: SessionId,
        /// The user message.
        message_id: MessageId,
        /// Its new status.
        status: MessageStatus,
    },
}

impl UserEvent {
    /// The session the event belongs to (none for notifications).
    #[must_use]
    pub const fn session_id(&self) -> Option<SessionId> {
        match self {
            Self::Notification(_) => None,
            Self::AgentReply { session_id, .. }
            | Self::AgentReplyDelta { session_id, .. }
            | Self::MessageFailed { session_id, .. }
            | Self::MessageStatusChanged { session_id, .. } => Some(*session_id),
        }
    }
}

/// An event about a tenant, for every process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TenantEvent {
    /// The tenant's roster, settings or knowledge changed: cached agents must reload it.
    Changed {
        /// The tenant.
        tenant_id: TenantId,
    },
}

/// Channel names under a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channels {
    prefix: String,
}

impl Channels {
    /// The channels under `prefix`.
    #[must_use]
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// `P:user:<id>`.
    #[must_use]
    pub fn user(&self, user: UserId) -> String {
        format!("{}:user:{user}", self.prefix)
    }

    /// `P:tenants`.
    #[must_use]
    pub fn tenants(&self) -> String {
        format!("{}:tenants", self.prefix)
    }
}

/// Publishing failed (Redis unreachable). Live delivery is best effort: the data is committed.
#[derive(Debug, thiserror::Error)]
#[error("could not publish event: {0}")]
pub struct PublishError(String);

/// Publishes events; cheap to clone.
#[derive(Clone, Debug)]
pub struct Publisher {
    redis: Pool,
    channels: Channels,
}

impl Publisher {
    /// A publisher on the command pool.
    #[must_use]
    pub fn new(redis: Pool, prefix: &str) -> Self {
        Self {
            redis,
            channels: Channels::new(prefix),
        }
    }

    /// Publishes `event` to `user`'s channel.
    ///
    /// # Errors
    /// [`PublishError`] when Redis cannot be reached.
    pub async fn to_user(&self, user: UserId, event: &UserEvent) -> Result<(), PublishError> {
        let json = serde_json::to_string(event).map_err(|e| PublishError(e.to_string()))?;
        let publish = self
            .redis
            .next()
            .publish::<i64, _, _>(self.channels.user(user), json);
        timed(Service::Redis, publish)
            .await
            .map(|_| ())
            .map_err(|e| PublishError(e.to_string()))
    }

    /// Tells every process that `tenant` changed.
    ///
    /// # Errors
    /// [`PublishError`] when Redis cannot be reached.
    pub async fn tenant_changed(&self, tenant: TenantId) -> Result<(), PublishError> {
        let json = serde_json::to_string(&TenantEvent::Changed { tenant_id: tenant })
            .map_err(|e| PublishError(e.to_string()))?;
        self.redis
            .next()
            .publish::<i64, _, _>(self.channels.tenants(), json)
            .await
            .map(|_| ())
            .map_err(|e| PublishError(e.to_string()))
    }
}

struct Topic {
    sender: broadcast::Sender<Arc<UserEvent>>,
    subscribers: usize,
}

struct HubInner {
    client: SubscriberClient,
    channels: Channels,
    topics: Mutex<HashMap<UserId, Topic>>,
    tenant_events: broadcast::Sender<TenantEvent>,
}

/// The process's one subscriber connection and its local fan-out. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("channels", &self.inner.channels)
            .finish_non_exhaustive()
    }
}

/// A live subscription to one user's events; unsubscribes when dropped.
pub struct UserSubscription {
    hub: Hub,
    user: UserId,
    /// The events, in publish order.
    pub receiver: broadcast::Receiver<Arc<UserEvent>>,
}

impl std::fmt::Debug for UserSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSubscription")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Drop for UserSubscription {
    fn drop(&mut self) {
        self.hub.release(self.user);
    }
}

/// The hub could not start.
#[derive(Debug, thiserror::Error)]
#[error("could not start the event hub: {0}")]
pub struct HubError(String);

impl Hub {
    /// Connects the subscriber client to `url` and starts the fan-out loop, which runs until
    /// `shutdown` is cancelled. Reconnects (and resubscribes) on its own when Redis comes back.
    ///
    /// # Errors
    /// [`HubError`] for an invalid URL.
    pub fn start(url: &str, prefix: &str, shutdown: CancellationToken) -> Result<Self, HubError> {
        let config = Config::from_url(url).map_err(|e| HubError(e.to_string()))?;
        let client = Builder::from_config(config)
            .with_performance_config(|p| p.broadcast_channel_capacity = SUBSCRIBER_BUFFER)
            .with_connection_config(|c| c.connection_timeout = std::time::Duration::from_secs(2))
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .build_subscriber_client()
            .map_err(|e| HubError(e.to_string()))?;
        let channels = Channels::new(prefix);
        let (tenant_events, _) = broadcast::channel(64);
        let hub = Self {
            inner: Arc::new(HubInner {
                client: client.clone(),
                channels: channels.clone(),
                topics: Mutex::new(HashMap::new()),
                tenant_events,
            }),
        };
        let mut messages = client.message_rx();
        let _connection = client.connect();
        // Re-subscribes to every tracked channel after a reconnect.
        let _resubscriber = client.manage_subscriptions();
        let tenant_channel = channels.tenants();
        let subscribe_client = client.clone();
        tokio::spawn(async move {
            if let Err(e) = subscribe_client.subscribe(tenant_channel).await {
                tracing::warn!(error = %e, "could not subscribe to tenant events yet; will retry on reconnect");
            }
        });
        let fan_out = hub.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    message = messages.recv() => match message {
                        Ok(message) => fan_out.dispatch(&message),
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            tracing::warn!(missed = n, "event hub lagged behind Redis; events were dropped");
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
            let _ = fan_out.inner.client.quit().await;
        });
        Ok(hub)
    }

    fn dispatch(&self, message: &Message) {
        let Some(text) = message.value.as_str() else {
            return;
        };
        if *message.channel == self.inner.channels.tenants() {
            match serde_json::from_str::<TenantEvent>(&text) {
                Ok(event) => {
                    let _ = self.inner.tenant_events.send(event);
                }
                Err(e) => tracing::warn!(error = %e, "malformed tenant event"),
            }
            return;
        }
        let Some(user) = message
            .channel
            .rsplit(':')
            .next()
            .and_then(|id| id.parse::<UserId>().ok())
        else {
            return;
        };
        let sender = {
            let topics = self
                .inner
                .topics
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            topics.get(&user).map(|t| t.sender.clone())
        };
        let Some(sender) = sender else { return };
        match serde_json::from_str::<UserEvent>(&text) {
            Ok(event) => {
                let _ = sender.send(Arc::new(event));
            }
            Err(e) => tracing::warn!(error = %e, "malformed user event"),
        }
    }

    /// Subscribes to the events of `user`. The first local subscriber of a user subscribes the
    /// process to the user's channel; the returned subscription receives only events published
    /// after the channel subscription took effect.
    ///
    /// # Errors
    /// [`HubError`] when Redis cannot be reached to subscribe.
    pub async fn subscribe(&self, user: UserId) -> Result<UserSubscription, HubError> {
        let (receiver, first) = {
            let mut topics = self
                .inner
                .topics
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let topic = topics.entry(user).or_insert_with(|| Topic {
                sender: broadcast::channel(PER_USER_BUFFER).0,
                subscribers: 0,
            });
            topic.subscribers += 1;
            (topic.sender.subscribe(), topic.subscribers == 1)
        };
        let subscription = UserSubscription {
            hub: self.clone(),
            user,
            receiver,
        };
        if first {
            // On failure the guard's drop releases the topic again.
            self.inner
                .client
                .subscribe(self.inner.channels.user(user))
                .await
                .map_err(|e| HubError(e.to_string()))?;
        }
        Ok(subscription)
    }

    /// Events about tenants, for the agents' cache.
    #[must_use]
    pub fn tenant_events(&self) -> broadcast::Receiver<TenantEvent> {
        self.inner.tenant_events.subscribe()
    }

    fn release(&self, user: UserId) {
        let last = {
            let mut topics = self
                .inner
                .topics
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match topics.get_mut(&user) {
                Some(topic) if topic.subscribers > 1 => {
                    topic.subscribers -= 1;
                    false
                }
                Some(_) => {
                    topics.remove(&user);
                    true
                }
                None => false,
            }
        };
        if last {
            let client = self.inner.client.clone();
            let channel = self.inner.channels.user(user);
            tokio::spawn(async move {
                let _ = client.unsubscribe(channel).await;
            });
        }
    }
}
