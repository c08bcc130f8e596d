//! Session memory against Postgres: warm-up after a restart, what the warm-up leaves out, the
//! window, and isolation of keys.

use std::sync::Arc;

use agent::memory::{MemoryConfig, SessionKey, SessionMemory};
use agent::prompt::Turn;
use entity::{MessageRole, MessageStatus, SessionId};
use serde_json::json;
use testkit::TestDb;

use crate::support::{answer, harborview, new_session, sole, user_message};

fn user(text: &str) -> Turn {
    Turn {
        role: MessageRole::User,
        content: text.into(),
    }
}

fn assistant(text: &str) -> Turn {
    Turn {
        role: MessageRole::Assistant,
        content: text.into(),
    }
}

fn texts(turns: &[Turn]) -> Vec<String> {
    turns
        .iter()
        .map(|t| {
            let who = if t.role == MessageRole::User {
                "U"
            } else {
                "A"
            };
            format!("{who}:{}", t.content)
        })
        .collect()
}

#[tokio::test]
async fn a_new_memory_sees_the_turns_of_before_the_restart() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let maria = sole.user("Maria").id;
    let session = new_session(&t.db, sole.id, maria).await;
    let key = SessionKey {
        tenant: sole.id,
        user: maria,
        session,
    };

    let q1 = user_message(
        &t.db,
        sole.id,
        maria,
        session,
        "When do we open?",
        MessageStatus::Processing,
    )
    .await;
    answer(&t.db, &q1, "At 12:00.").await;
    // Failed: no answer, left out of the history.
    user_message(
        &t.db,
        sole.id,
        maria,
        session,
        "Lost question",
        MessageStatus::Failed,
    )
    .await;
    let q2 = user_message(
        &t.db,
        sole.id,
        maria,
        session,
        "Who cooks tonight?",
        MessageStatus::Processing,
    )
    .await;
    answer(&t.db, &q2, "Luca.").await;
    // In flight: the message being answered now is the prompt's message, not history.
    let q3 = user_message(
        &t.db,
        sole.id,
        maria,
        session,
        "Tell Luca hi",
        MessageStatus::Processing,
    )
    .await;

    let memory = SessionMemory::new(MemoryConfig::default());
    let history = memory.history(&t.db, key).await.unwrap();
    assert_eq!(
        texts(&history),
        [
            "U:When do we open?",
            "A:At 12:00.",
            "U:Who cooks tonight?",
            "A:Luca."
        ]
    );

    // The consumer answers q3, commits, then records the turns.
    answer(&t.db, &q3, "Done - I told Luca Bianchi: Hi.").await;
    memory.record(
        key,
        user("Tell Luca hi"),
        assistant("Done - I told Luca Bianchi: Hi."),
    );
    let history = memory.history(&t.db, key).await.unwrap();
    assert_eq!(history.len(), 6);
    assert_eq!(
        texts(&history[4..]),
        ["U:Tell Luca hi", "A:Done - I told Luca Bianchi: Hi."]
    );

    // "Restart": a new memory warms the same history from Postgres.
    let restarted = SessionMemory::new(MemoryConfig::default());
    assert!(restarted.is_empty());
    assert_eq!(restarted.history(&t.db, key).await.unwrap(), history);
    assert_eq!(restarted.len(), 1);
}

#[tokio::test]
async fn the_warm_up_keeps_the_latest_exchanges_within_the_limits() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let luca = sole.user("Luca").id;
    let session = new_session(&t.db, sole.id, luca).await;
    for i in 0..6 {
        let q = user_message(
            &t.db,
            sole.id,
            luca,
            session,
            &format!("q{i}"),
            MessageStatus::Processing,
        )
        .await;
        answer(&t.db, &q, &format!("a{i}")).await;
    }
    let key = SessionKey {
        tenant: sole.id,
        user: luca,
        session,
    };
    let memory = SessionMemory::new(MemoryConfig {
        max_turns: 4,
        ..MemoryConfig::default()
    });
    let history = memory.history(&t.db, key).await.unwrap();
    assert_eq!(texts(&history), ["U:q4", "A:a4", "U:q5", "A:a5"]);

    // A token budget of 11 holds two 2-character turns (1 + 4 tokens each).
    let tight = SessionMemory::new(MemoryConfig {
        token_budget: 11,
        ..MemoryConfig::default()
    });
    assert_eq!(
        texts(&tight.history(&t.db, key).await.unwrap()),
        ["U:q5", "A:a5"]
    );
}

#[tokio::test]
async fn keys_are_isolated_by_tenant_user_and_session() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let hv = harborview(&t.db).await;
    let maria = sole.user("Maria").id;
    let session = new_session(&t.db, sole.id, maria).await;
    let q = user_message(
        &t.db,
        sole.id,
        maria,
        session,
        "secret question",
        MessageStatus::Processing,
    )
    .await;
    answer(&t.db, &q, "secret answer").await;

    let memory = SessionMemory::new(MemoryConfig::default());
    let own = SessionKey {
        tenant: sole.id,
        user: maria,
        session,
    };
    assert_eq!(memory.history(&t.db, own).await.unwrap().len(), 2);
    for other in [
        // The same session and user under another tenant: row-level security shows nothing.
        SessionKey {
            tenant: hv.id,
            ..own
        },
        SessionKey {
            user: sole.user("Luca").id,
            ..own
        },
        SessionKey {
            session: SessionId::new(),
            ..own
        },
    ] {
        assert!(
            memory.history(&t.db, other).await.unwrap().is_empty(),
            "{other}"
        );
    }
    // Recording into another key never shows up in this one.
    memory.record(
        SessionKey {
            tenant: hv.id,
            ..own
        },
        user("x"),
        assistant("y"),
    );
    assert_eq!(memory.history(&t.db, own).await.unwrap().len(), 2);
}

#[tokio::test]
async fn many_sessions_at_once() {
    let t = TestDb::new().await;
    let sole = sole(&t.db, json!({})).await;
    let memory = Arc::new(SessionMemory::new(MemoryConfig::default()));
    let mut keys = Vec::new();
    for u in &sole.users {
        for _ in 0..3 {
            let session = new_session(&t.db, sole.id, u.id).await;
            keys.push(SessionKey {
                tenant: sole.id,
                user: u.id,
                session,
            });
        }
    }
    let mut tasks = Vec::new();
    for (i, key) in keys.iter().copied().enumerate() {
        let memory = Arc::clone(&memory);
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..5 {
                let history = memory.history(&db, key).await.unwrap();
                assert_eq!(history.len(), round * 2);
                memory.record(
                    key,
                    user(&format!("{i}-{round}")),
                    assistant(&format!("{i}")),
                );
            }
            memory.history(&db, key).await.unwrap()
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let history = task.await.unwrap();
        assert_eq!(history.len(), 10);
        assert!(
            history
                .iter()
                .all(|t| t.content.starts_with(&i.to_string()))
        );
    }
    assert_eq!(memory.len(), keys.len());
}
