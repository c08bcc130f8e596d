//! The harness's clients, speaking to the server as the web app does: GraphQL over HTTP
//! ([`Http`]: `POST /graphql` with `Authorization: Bearer`) and GraphQL subscriptions over a
//! WebSocket with the `graphql-transport-ws` protocol ([`subscribe`]: `connection_init` with the
//! token, `connection_ack`, `subscribe`, then `next` messages, answering `ping`s).
//!
//! The clients are deliberately lean, because they share the machine's two cores with the
//! server and Postgres: small WebSocket buffers (ten thousand connections fit in a few dozen
//! MB), and each `next` payload handed to a callback with its arrival time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How long a WebSocket may take to be acknowledged.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// Read buffer of each harness WebSocket (tungstenite's default is 128 KiB).
const WS_READ_BUFFER: usize = 4 * 1024;

/// GraphQL over HTTP.
#[derive(Clone, Debug)]
pub struct Http {
    client: reqwest::Client,
    endpoint: String,
}

/// What `sendMessage` returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The user message's id.
    pub message_id: String,
    /// Its session's id.
    pub session_id: String,
}

impl Http {
    /// A client of the server at `base_url` (`http://127.0.0.1:PORT`).
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(base_url: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(4096)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            client,
            endpoint: format!("{base_url}/graphql"),
        })
    }

    /// Posts one GraphQL request as the holder of `token`; returns `data`.
    ///
    /// # Errors
    /// On a transport error, a non-200 status, or GraphQL errors.
    pub async fn post(&self, token: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(&self.endpoint)
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("HTTP {status}: {body}");
        }
        if let Some(errors) = body.get("errors") {
            bail!("GraphQL errors: {errors}");
        }
        Ok(body.get("data").cloned().unwrap_or(Value::Null))
    }

    /// `sendMessage` to `session` (a new session when `None`).
    ///
    /// # Errors
    /// When the request fails.
    pub async fn send_message(
        &self,
        token: &str,
        session: Option<&str>,
        content: &str,
    ) -> anyhow::Result<Sent> {
        let data = self
            .post(
                token,
                "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id sessionId } } }",
                json!({ "input": { "content": content, "sessionId": session } }),
            )
            .await?;
        let message = &data["sendMessage"]["message"];
        match (message["id"].as_str(), message["sessionId"].as_str()) {
            (Some(id), Some(session)) => Ok(Sent {
                message_id: id.to_owned(),
                session_id: session.to_owned(),
            }),
            _ => bail!("unexpected sendMessage answer: {data}"),
        }
    }

    /// The `me` query; returns the caller's id.
    ///
    /// # Errors
    /// When the request fails.
    pub async fn me(&self, token: &str) -> anyhow::Result<String> {
        let data = self.post(token, "{ me { id name } }", Value::Null).await?;
        data["me"]["id"]
            .as_str()
            .map(str::to_owned)
            .context("no me.id in the answer")
    }
}

/// Called with each `next` payload's `data` and its arrival time.
pub type OnNext = Arc<dyn Fn(&Value, Instant) + Send + Sync>;

/// An open subscription: it runs until the value is dropped or the server closes it.
#[derive(Debug)]
pub struct Subscription {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscription {
    /// Whether the connection is still open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        !self.task.is_finished()
    }
}

/// Opens a WebSocket to `base_url`'s `/graphql`, authenticates with `token`, subscribes with
/// `query`, and calls `on_next` for every `next` message. Returns once the connection is
/// acknowledged and the `subscribe` message is sent (the server may still be setting the
/// subscription up).
///
/// # Errors
/// When the connection or the acknowledgement fails.
pub async fn subscribe(
    base_url: &str,
    token: &str,
    query: &str,
    on_next: OnNext,
) -> anyhow::Result<Subscription> {
    let ws_url = format!("{}/graphql", base_url.replacen("http", "ws", 1));
    let mut request = ws_url.into_client_request()?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(config), true).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    socket.send(Message::text(init.to_string())).await?;
    let acked = tokio::time::timeout(ACK_TIMEOUT, async {
        while let Some(frame) = socket.next().await {
            if let Message::Text(text) = frame? {
                let message: Value = serde_json::from_str(text.as_str())?;
                if message["type"] == "connection_ack" {
                    return Ok(());
                }
            }
        }
        bail!("the server closed the WebSocket before acknowledging it")
    })
    .await;
    match acked {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => bail!("no connection_ack within {ACK_TIMEOUT:?}"),
    }
    let subscribe = json!({ "type": "subscribe", "id": "1", "payload": { "query": query } });
    socket.send(Message::text(subscribe.to_string())).await?;
    let task = tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            let Message::Text(text) = frame else { continue };
            let at = Instant::now();
            let Ok(message) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            match message["type"].as_str() {
                Some("next") => on_next(&message["payload"]["data"], at),
                Some("ping") => {
                    let pong = json!({ "type": "pong" }).to_string();
                    if socket.send(Message::text(pong)).await.is_err() {
                        break;
                    }
                }
                Some("error" | "complete") => break,
                _ => {}
            }
        }
    });
    Ok(Subscription { task })
}
