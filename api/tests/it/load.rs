//! A steady load of messages for the fault tests, and the check that every accepted message
//! has exactly one outcome.
//!
//! [`Load`] runs one task per sender, each sending a message to its own session at a steady
//! pace (the pause between sends is the load's rhythm, not a synchronisation) to whatever URL
//! the server currently has (a `watch` channel, so a restarted server on a new port is
//! followed). It records which messages were accepted and how refusals looked; the tests wait
//! on those counts (bounded). [`wait_for_outcomes`] and [`assert_exactly_once`] then check the
//! database, as the source of truth, tolerating a database that is still coming back.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const SEND: &str = "mutation($c: String!, $s: ID) { sendMessage(input: { content: $c, sessionId: $s }) \
                    { message { id } session { id } } }";

/// One way a message was refused.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// The HTTP status, `None` when the request did not get an answer (connection refused).
    pub status: Option<u16>,
    /// `extensions.code`, or `TRANSPORT` without an answer.
    pub code: String,
    /// The error message the client saw.
    pub message: String,
}

/// What the load saw.
#[derive(Clone, Debug, Default)]
pub struct LoadLog {
    /// Ids of the accepted messages, in the order they were accepted.
    pub accepted: Vec<String>,
    /// Every refusal, in order.
    pub refused: Vec<Refusal>,
}

/// A running load; stop it with [`Load::stop`].
pub struct Load {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    log: Arc<Mutex<LoadLog>>,
}

/// One sender: a token, and the message it sends (`{n}` is replaced by a counter).
pub struct Sender {
    /// The sender's JWT.
    pub token: String,
    /// The message, with `{n}` for the sequence number.
    pub template: String,
}

impl Load {
    /// Starts one task per sender, each sending a message every `pace` to `url`'s server.
    pub fn start(url: watch::Receiver<String>, senders: Vec<Sender>, pace: Duration) -> Self {
        let stop = CancellationToken::new();
        let log = Arc::new(Mutex::new(LoadLog::default()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap();
        let tasks = senders
            .into_iter()
            .map(|sender| {
                let (stop, log, http, url) = (stop.clone(), log.clone(), http.clone(), url.clone());
                tokio::spawn(async move {
                    let mut session: Option<String> = None;
                    let mut n = 0;
                    while !stop.is_cancelled() {
                        n += 1;
                        let content = sender.template.replace("{n}", &n.to_string());
                        let base = url.borrow().clone();
                        let sent = http
                            .post(format!("{base}/graphql"))
                            .bearer_auth(&sender.token)
                            .json(&json!({ "query": SEND, "variables": { "c": content, "s": session } }))
                            .send()
                            .await;
                        let outcome = match sent {
                            Ok(response) => {
                                let status = response.status().as_u16();
                                let body: Value = response.json().await.unwrap_or(Value::Null);
                                let sent = &body["data"]["sendMessage"];
                                if let Some(id) = sent["message"]["id"].as_str() {
                                    session = sent["session"]["id"].as_str().map(str::to_owned);
                                    Ok(id.to_owned())
                                } else {
                                    Err(Refusal {
                                        status: Some(status),
                                        code: body["errors"][0]["extensions"]["code"]
                                            .as_str()
                                            .unwrap_or("<none>")
                                            .to_owned(),
                                        message: body["errors"][0]["message"]
                                            .as_str()
                                            .unwrap_or("")
                                            .to_owned(),
                                    })
                                }
                            }
                            Err(e) => Err(Refusal {
                                status: None,
                                code: "TRANSPORT".into(),
                                message: e.to_string(),
                            }),
                        };
                        {
                            let mut log = log.lock().unwrap();
                            match outcome {
                                Ok(id) => log.accepted.push(id),
                                Err(refusal) => log.refused.push(refusal),
                            }
                        }
                        tokio::select! {
                            () = stop.cancelled() => {}
                            () = tokio::time::sleep(pace) => {}
                        }
                    }
                })
            })
            .collect();
        Self { stop, tasks, log }
    }

    /// What the load saw so far.
    pub fn log(&self) -> LoadLog {
        self.log.lock().unwrap().clone()
    }

    /// Waits (at most `within`) until `done` holds for the log.
    pub async fn wait_until(&self, what: &str, within: Duration, done: impl Fn(&LoadLog) -> bool) {
        let wait = async {
            let mut poll = tokio::time::interval(Duration::from_millis(20));
            loop {
                poll.tick().await;
                if done(&self.log.lock().unwrap()) {
                    return;
                }
            }
        };
        if tokio::time::timeout(within, wait).await.is_err() {
            let log = self.log();
            panic!(
                "the load never saw {what} within {within:?}: {} accepted, {} refused (last: {:?})",
                log.accepted.len(),
                log.refused.len(),
                log.refused.last()
            );
        }
    }

    /// Waits until `n` more messages than `after` were accepted.
    pub async fn wait_accepted(&self, after: usize, n: usize, within: Duration) {
        self.wait_until(&format!("{n} more accepted messages"), within, |log| {
            log.accepted.len() >= after + n
        })
        .await;
    }

    /// Stops sending (a request in progress finishes) and returns what the load saw.
    pub async fn stop(self) -> LoadLog {
        self.stop.cancel();
        for task in self.tasks {
            task.await.unwrap();
        }
        self.log.lock().unwrap().clone()
    }
}

/// Runs a query, `None` while the database does not answer.
async fn query(db: &DatabaseConnection, sql: &str) -> Option<Vec<sea_orm::QueryResult>> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await
        .ok()
}

/// Waits (at most `within`) until no user message is QUEUED or PROCESSING.
pub async fn wait_for_outcomes(db: &DatabaseConnection, within: Duration) {
    let wait = async {
        let mut poll = tokio::time::interval(Duration::from_millis(100));
        loop {
            poll.tick().await;
            let open = query(
                db,
                "SELECT count(*) AS n FROM messages WHERE role = 'USER' AND status IN ('QUEUED', 'PROCESSING')",
            )
            .await
            .and_then(|rows| rows.first().and_then(|r| r.try_get::<i64>("", "n").ok()));
            if open == Some(0) {
                return;
            }
        }
    };
    if tokio::time::timeout(within, wait).await.is_err() {
        let open = query(
            db,
            "SELECT id::text AS id, status::text AS status, metadata::text AS metadata FROM messages \
             WHERE role = 'USER' AND status IN ('QUEUED', 'PROCESSING')",
        )
        .await
        .unwrap_or_default();
        let open: Vec<String> = open
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r.try_get::<String>("", "id").unwrap_or_default(),
                    r.try_get::<String>("", "status").unwrap_or_default(),
                    r.try_get::<String>("", "metadata").unwrap_or_default()
                )
            })
            .collect();
        panic!("messages still without an outcome after {within:?}: {open:#?}");
    }
}

/// How the accepted messages ended.
#[derive(Debug)]
pub struct Outcomes {
    /// Answered user messages.
    pub answered: usize,
    /// Failed user messages, with their reasons.
    pub failed: Vec<String>,
}

/// Every accepted message is in the database; every user message is ANSWERED with exactly one
/// reply or FAILED with a reason and none; replies in each session follow the order of its
/// messages; no message caused more than one notification, and (with `one_notification_each`)
/// every answered one caused exactly one.
pub async fn assert_exactly_once(
    db: &DatabaseConnection,
    accepted: &[String],
    one_notification_each: bool,
) -> Outcomes {
    let rows = query(
        db,
        "SELECT u.id::text AS id, u.session_id::text AS session, u.status::text AS status, u.error, \
         (SELECT count(*) FROM messages a WHERE a.reply_to_id = u.id) AS replies, \
         (SELECT max(a.id::text) FROM messages a WHERE a.reply_to_id = u.id) AS reply, \
         (SELECT count(*) FROM notifications n WHERE n.source_message_id = u.id) AS notifications \
         FROM messages u WHERE u.role = 'USER' ORDER BY u.id",
    )
    .await
    .expect("the database answers");
    let mut stored = HashSet::new();
    let mut last_reply: HashMap<String, String> = HashMap::new();
    let mut outcomes = Outcomes {
        answered: 0,
        failed: Vec::new(),
    };
    for row in &rows {
        let id: String = row.try_get("", "id").unwrap();
        let session: String = row.try_get("", "session").unwrap();
        let status: String = row.try_get("", "status").unwrap();
        let replies: i64 = row.try_get("", "replies").unwrap();
        let notifications: i64 = row.try_get("", "notifications").unwrap();
        stored.insert(id.clone());
        assert!(
            notifications <= 1,
            "message {id} caused {notifications} notifications"
        );
        match status.as_str() {
            "ANSWERED" => {
                assert_eq!(replies, 1, "answered message {id} has {replies} replies");
                if one_notification_each {
                    assert_eq!(notifications, 1, "answered message {id} notified nobody");
                }
                let reply: String = row.try_get("", "reply").unwrap();
                if let Some(previous) = last_reply.get(&session) {
                    assert!(
                        &reply > previous,
                        "in session {session}, {id} was answered before an earlier message"
                    );
                }
                last_reply.insert(session, reply);
                outcomes.answered += 1;
            }
            "FAILED" => {
                assert_eq!(replies, 0, "failed message {id} has a reply");
                let error: Option<String> = row.try_get("", "error").unwrap();
                let error = error.unwrap_or_default();
                assert!(!error.is_empty(), "failed message {id} has no reason");
                outcomes.failed.push(error);
            }
            other => panic!("message {id} has no outcome: {other}"),
        }
    }
    for id in accepted {
        assert!(stored.contains(id), "accepted message {id} was lost");
    }
    outcomes
}
