//! GraphQL over WebSocket on `/graphql`, implementing both subprotocols in full:
//!
//! - `graphql-transport-ws` (the graphql-ws library's protocol): `connection_init` ->
//!   `connection_ack`; `subscribe` -> `next`* then `complete`, or `error` for a request that
//!   cannot run; `complete` from the client stops a subscription; `ping` -> `pong`. Close codes:
//!   4400 invalid message, 4401 subscribe before the acknowledgement, 4403 bad or expired token,
//!   4408 no `connection_init` within `WS_INIT_TIMEOUT`, 4409 duplicate subscription id, 4429
//!   repeated `connection_init`, 4500 the server could not check the token; 1009 a message
//!   over [`MAX_MESSAGE_BYTES`].
//! - `graphql-ws` (the legacy subscriptions-transport-ws protocol): `connection_init` ->
//!   `connection_ack` and `ka` keep-alives (or `connection_error` and close 4403); `start` ->
//!   `data`* then `complete`, or `error`; `stop`; `connection_terminate`.
//!
//! The token goes in the `connection_init` payload as `{"Authorization": "Bearer <jwt>"}`. When
//! it expires the connection is closed with 4403, which ends its subscriptions. Shutdown closes
//! every connection with 1001. Each connection holds at most [`MAX_SUBSCRIPTIONS`] operations,
//! accepts messages of at most [`MAX_MESSAGE_BYTES`], and reads through a small buffer
//! ([`READ_BUFFER_BYTES`]): memory per idle connection matters at ten thousand connections.

use std::collections::HashSet;
use std::time::Duration;

use agent::trace::TraceContext;
use async_graphql::{Request, Response, ServerError};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response as HttpResponse;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::StreamMap;

use super::context::Caller;
use super::http::GraphqlState;
use super::operation::{self, Transport};
use super::{error_response, limits, with_codes};
use crate::auth::{self, AuthContext, bearer_token};
use crate::error::ApiError;
use crate::metrics::{GaugeGuard, WS_CONNECTIONS};

/// Most operations one connection may run at once.
pub const MAX_SUBSCRIPTIONS: usize = 32;
/// Largest message a client may send.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Read buffer per connection (tungstenite's default is 128 KiB).
pub const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Most bytes queued for a client that does not read before the connection fails.
const MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;
/// Longest wait to hand a close frame to a client that does not read (at shutdown, a stuck
/// client must not hold the process).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Keep-alive interval of the legacy protocol.
const LEGACY_KEEPALIVE: Duration = Duration::from_secs(15);

/// The two subprotocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// `graphql-ws` (subscriptions-transport-ws).
    Legacy,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {},
    Subscribe {
        id: String,
        payload: Request,
    },
    Complete {
        id: String,
    },
    Start {
        id: String,
        payload: Request,
    },
    Stop {
        id: String,
    },
    ConnectionTerminate {},
}

/// `GET /graphql` with `Upgrade: websocket`.
pub async fn upgrade(State(state): State<GraphqlState>, ws: WebSocketUpgrade) -> HttpResponse {
    let ws = ws
        .protocols(["graphql-transport-ws", "graphql-ws"])
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES);
    let protocol = match ws.selected_protocol().and_then(|p| p.to_str().ok()) {
        Some("graphql-ws") => Protocol::Legacy,
        _ => Protocol::TransportWs,
    };
    // Tracked, so that shutdown waits for every connection's close frame to be sent.
    let tasks = state.app.tasks.clone();
    ws.on_upgrade(move |socket| {
        tasks.track_future(async move {
            let _open = GaugeGuard::new(WS_CONNECTIONS);
            Connection {
                state,
                socket,
                protocol,
                auth: None,
                init_seen: false,
                operations: StreamMap::new(),
                started: HashSet::new(),
            }
            .run()
            .await;
        })
    })
}

type Operation = BoxStream<'static, Option<Response>>;

struct Connection {
    state: GraphqlState,
    socket: WebSocket,
    protocol: Protocol,
    auth: Option<AuthContext>,
    init_seen: bool,
    /// Running operations by id; each stream ends with `None` so completion can be announced.
    operations: StreamMap<String, Operation>,
    /// Ids that have produced their first result (a first result that is a request error is
    /// sent as `error`, later ones as `next`).
    started: HashSet<String>,
}

/// What the loop does after handling something.
enum Flow {
    Continue,
    Close(u16, String),
    Stop,
}

impl Connection {
    async fn run(mut self) {
        let shutdown = self.state.app.shutdown.clone();
        let init_deadline = tokio::time::sleep(self.state.app.config.ws_init_timeout);
        tokio::pin!(init_deadline);
        // Armed when the connection is authenticated: the token's expiry ends the connection.
        let expiry = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(expiry);
        let mut expiry_armed = false;
        let mut keepalive = tokio::time::interval(LEGACY_KEEPALIVE);
        loop {
            let flow = tokio::select! {
                () = shutdown.cancelled() => Flow::Close(1001, "server shutting down".into()),
                () = &mut init_deadline, if self.auth.is_none() => {
                    Flow::Close(4408, "Connection initialisation timeout".into())
                }
                () = &mut expiry, if expiry_armed => Flow::Close(4403, "Token expired".into()),
                _ = keepalive.tick(), if self.protocol == Protocol::Legacy && self.auth.is_some() => {
                    self.send_json(&json!({ "type": "ka" })).await
                }
                Some((id, item)) = self.operations.next(), if !self.operations.is_empty() => {
                    self.deliver(id, item).await
                }
                frame = self.socket.recv() => match frame {
                    Some(Ok(Message::Text(text))) => self.handle(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => Flow::Close(4400, "Binary messages are not supported".into()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                    // A message over MAX_MESSAGE_BYTES (tungstenite's capacity error).
                    Some(Err(e)) if e.to_string().starts_with("Space limit exceeded") => {
                        Flow::Close(1009, "Message too big".into())
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => Flow::Stop,
                },
            };
            match flow {
                Flow::Continue => {
                    if let (Some(auth), false) = (self.auth, expiry_armed) {
                        let left = u64::try_from(auth.expires_at - chrono::Utc::now().timestamp())
                            .unwrap_or(0);
                        expiry
                            .as_mut()
                            .reset(tokio::time::Instant::now() + Duration::from_secs(left));
                        expiry_armed = true;
                    }
                }
                Flow::Close(code, reason) => {
                    let frame = CloseFrame {
                        code,
                        reason: reason.into(),
                    };
                    let close = self.socket.send(Message::Close(Some(frame)));
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, close).await;
                    break;
                }
                Flow::Stop => break,
            }
        }
    }

    async fn send_json(&mut self, value: &Value) -> Flow {
        match self
            .socket
            .send(Message::Text(value.to_string().into()))
            .await
        {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    async fn handle(&mut self, text: &str) -> Flow {
        let Ok(message) = serde_json::from_str::<ClientMessage>(text) else {
            return Flow::Close(4400, "Invalid message received".into());
        };
        match (self.protocol, message) {
            (_, ClientMessage::ConnectionInit { payload }) => self.init(payload).await,
            (Protocol::TransportWs, ClientMessage::Ping { payload }) => {
                let mut pong = json!({ "type": "pong" });
                if let Some(payload) = payload {
                    pong["payload"] = payload;
                }
                self.send_json(&pong).await
            }
            (Protocol::TransportWs, ClientMessage::Pong {}) => Flow::Continue,
            (Protocol::TransportWs, ClientMessage::Subscribe { id, payload })
            | (Protocol::Legacy, ClientMessage::Start { id, payload }) => {
                self.start(id, payload).await
            }
            (Protocol::TransportWs, ClientMessage::Complete { id }) => {
                self.operations.remove(&id);
                self.started.remove(&id);
                Flow::Continue
            }
            (Protocol::Legacy, ClientMessage::Stop { id }) => {
                let known = self.operations.remove(&id).is_some();
                self.started.remove(&id);
                if known {
                    self.send_json(&json!({ "type": "complete", "id": id }))
                        .await
                } else {
                    Flow::Continue
                }
            }
            (Protocol::Legacy, ClientMessage::ConnectionTerminate {}) => {
                Flow::Close(1000, "Normal closure".into())
            }
            _ => Flow::Close(4400, "Invalid message received".into()),
        }
    }

    async fn init(&mut self, payload: Option<Value>) -> Flow {
        if self.init_seen {
            return Flow::Close(4429, "Too many initialisation requests".into());
        }
        self.init_seen = true;
        let token = payload.as_ref().and_then(|p| {
            ["Authorization", "authorization"]
                .iter()
                .find_map(|k| p.get(*k).and_then(Value::as_str))
                .and_then(bearer_token)
                .or_else(|| p.get("token").and_then(Value::as_str))
        });
        let result = match token {
            Some(token) => {
                auth::authenticate(
                    &self.state.app.db,
                    &self.state.app.jwt,
                    &self.state.app.users,
                    token,
                )
                .await
            }
            None => Err(ApiError::Unauthenticated),
        };
        match result {
            Ok(ctx) => {
                self.auth = Some(ctx);
                self.send_json(&json!({ "type": "connection_ack" })).await
            }
            Err(e) => {
                e.log();
                let (code, reason) = match e {
                    ApiError::Unauthenticated => (4403, "Forbidden".to_owned()),
                    _ => (4500, "Could not check the token; retry later".to_owned()),
                };
                if self.protocol == Protocol::Legacy {
                    let _ = self
                        .send_json(&json!({ "type": "connection_error", "payload": { "message": reason } }))
                        .await;
                }
                Flow::Close(code, reason)
            }
        }
    }

    async fn start(&mut self, id: String, request: Request) -> Flow {
        let Some(auth) = self.auth else {
            return Flow::Close(4401, "Unauthorized".into());
        };
        if self.operations.contains_key(&id) {
            return match self.protocol {
                Protocol::TransportWs => {
                    Flow::Close(4409, format!("Subscriber for {id} already exists"))
                }
                Protocol::Legacy => {
                    let e =
                        ApiError::Invalid(format!("an operation with id {id} is already running"));
                    self.send_error(&id, error_response(&e).errors).await
                }
            };
        }
        let mut request = request;
        // The client may continue its trace with `extensions.traceparent` in the payload.
        let parent = request.extensions.get("traceparent").and_then(|v| match v {
            async_graphql::Value::String(s) => TraceContext::parse(s),
            _ => None,
        });
        let mut operation = operation::Operation::start(
            Transport::WebSocket,
            &mut request,
            Caller(Some(auth)),
            parent,
        );
        if self.operations.len() >= MAX_SUBSCRIPTIONS {
            let e = ApiError::Invalid(format!(
                "too many operations on one connection (limit {MAX_SUBSCRIPTIONS})"
            ));
            let response = operation.span().in_scope(|| error_response(&e));
            operation.observe(&response);
            return self.send_error(&id, response.errors).await;
        }
        let checked = request
            .parsed_query()
            .map_err(|e| ApiError::Invalid(e.message))
            .and_then(limits::check_document);
        if let Err(e) = checked {
            let response = operation.span().in_scope(|| error_response(&e));
            operation.observe(&response);
            return self.send_error(&id, response.errors).await;
        }
        let request = request.data(Caller(Some(auth))).data(operation.trace());
        let responses = self.state.schema.execute_stream(request).map(with_codes);
        let stream = operation
            .attach(responses)
            .map(Some)
            .chain(futures::stream::once(async { None }))
            .boxed();
        self.operations.insert(id, stream);
        Flow::Continue
    }

    async fn deliver(&mut self, id: String, item: Option<Response>) -> Flow {
        let first = self.started.insert(id.clone());
        match item {
            Some(response) if first && is_request_error(&response) => {
                self.operations.remove(&id);
                self.started.remove(&id);
                self.send_error(&id, response.errors).await
            }
            Some(response) => {
                let kind = if self.protocol == Protocol::TransportWs {
                    "next"
                } else {
                    "data"
                };
                let payload = serde_json::to_value(&response).unwrap_or(Value::Null);
                self.send_json(&json!({ "type": kind, "id": id, "payload": payload }))
                    .await
            }
            None => {
                self.started.remove(&id);
                self.send_json(&json!({ "type": "complete", "id": id }))
                    .await
            }
        }
    }

    async fn send_error(&mut self, id: &str, errors: Vec<ServerError>) -> Flow {
        let errors: Vec<Value> = errors
            .iter()
            .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
            .collect();
        let payload = match self.protocol {
            Protocol::TransportWs => Value::Array(errors),
            // The legacy protocol's `error` payload is one error object.
            Protocol::Legacy => errors.into_iter().next().unwrap_or(Value::Null),
        };
        self.send_json(&json!({ "type": "error", "id": id, "payload": payload }))
            .await
    }
}

/// A response that is only errors with no path: the request failed before execution (syntax,
/// validation, limits, variables), which the protocols report with an `error` message.
fn is_request_error(response: &Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
}
