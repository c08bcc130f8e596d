//! The stream consumer against real Redis, with a scripted [`SessionHandler`] standing in for the
//! turn pipeline, so the interleavings that matter can be forced instead of hoped for.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agent::consumer::{Consumer, ConsumerConfig, Retry, SessionHandler};
use agent::stream::{self, StreamEntry, StreamKeys};
use async_trait::async_trait;
use entity::{MessageId, SessionId, TenantId, UserId};
use fred::prelude::{ClientLike, Pool};
use testkit::TestDb;
use tokio::sync::Notify;

/// How long a test waits for what must happen (the sweep and the reclaim, which would rescue a
/// lost entry, are far later than this).
const PATIENCE: Duration = Duration::from_secs(20);

/// A session's messages as Postgres would hold them: the unfinished ones, oldest first. The
/// second look (the one after the first message is answered) finds nothing, and while it looks
/// the next message is committed and its entry appended and read: what a client that sends its
/// next message the moment it sees a reply does to a busy server.
struct LateCommit {
    redis: Pool,
    keys: StreamKeys,
    unfinished: Mutex<VecDeque<MessageId>>,
    late: StreamEntry,
    looks: Mutex<u32>,
    answered: Mutex<Vec<MessageId>>,
    /// Signalled by the second look once the late entry is appended.
    appended: Notify,
    /// Signalled by the test once the consumer has read the late entry.
    read: Notify,
    /// Signalled on every answer.
    progress: Notify,
}

#[async_trait]
impl SessionHandler for LateCommit {
    async fn process_oldest(&self, _entry: &StreamEntry) -> Result<Option<MessageId>, Retry> {
        let look = {
            let mut looks = self.looks.lock().unwrap_or_else(PoisonError::into_inner);
            *looks += 1;
            *looks
        };
        if look == 2 {
            // This look's snapshot predates the commit of the late message: it finds nothing.
            self.unfinished
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_back(self.late.message_id);
            stream::enqueue(&self.redis, &self.keys, &self.late, PATIENCE)
                .await
                .unwrap();
            self.appended.notify_one();
            self.read.notified().await;
            return Ok(None);
        }
        let next = self
            .unfinished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        if let Some(id) = next {
            self.answered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(id);
            self.progress.notify_one();
        }
        Ok(next)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_read_while_the_last_look_finds_nothing_is_still_processed() {
    let t = TestDb::new().await;
    let redis = agent::redis::pool(&testkit::redis_url(), 2).unwrap();
    redis.wait_for_connect().await.unwrap();
    let reader = agent::redis::client(&testkit::redis_url()).unwrap();
    let _driver = reader.connect();
    reader.wait_for_connect().await.unwrap();
    let prefix = testkit::redis_prefix();
    let keys = StreamKeys::new(&prefix);

    let entry = |session| StreamEntry {
        tenant_id: TenantId::new(),
        user_id: UserId::new(),
        session_id: session,
        message_id: MessageId::new(),
        traceparent: None,
    };
    let session = SessionId::new();
    let first = entry(session);
    let late = StreamEntry {
        message_id: MessageId::new(),
        ..first.clone()
    };
    let handler = Arc::new(LateCommit {
        redis: redis.clone(),
        keys: keys.clone(),
        unfinished: Mutex::new(VecDeque::from([first.message_id])),
        late: late.clone(),
        looks: Mutex::new(0),
        answered: Mutex::new(Vec::new()),
        appended: Notify::new(),
        read: Notify::new(),
        progress: Notify::new(),
    });
    let config = ConsumerConfig {
        read_block: Duration::from_millis(100),
        ..ConsumerConfig::default()
    };
    let consumer = Consumer::new(
        handler.clone(),
        t.db.clone(),
        redis.clone(),
        reader,
        &prefix,
        "consumer-1",
        config,
    );
    consumer.ensure_group().await.unwrap();

    stream::enqueue(&redis, &keys, &first, PATIENCE)
        .await
        .unwrap();
    assert_eq!(consumer.process_next().await.unwrap(), 1);
    // The first message is answered; the second look is under way when the late entry arrives.
    tokio::time::timeout(PATIENCE, handler.appended.notified())
        .await
        .expect("the second look");
    let mut read = 0;
    while read == 0 {
        read = consumer.process_next().await.unwrap();
    }
    handler.read.notify_one();

    let both = async {
        loop {
            let progress = handler.progress.notified();
            if handler
                .answered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len()
                == 2
            {
                break;
            }
            progress.await;
        }
    };
    tokio::time::timeout(PATIENCE, both)
        .await
        .expect("the late message is processed, not acked unprocessed");
    assert_eq!(
        *handler.answered.lock().unwrap(),
        vec![first.message_id, late.message_id]
    );
    // Both entries are acked once their messages are done.
    let acked = async {
        loop {
            let stats = stream::stats(&redis, &keys, PATIENCE).await.unwrap();
            if stats.pending == 0 && consumer.held() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(PATIENCE, acked)
        .await
        .expect("both entries acked");
}
