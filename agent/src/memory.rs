//! Session memory: the recent turns of each conversation, kept in process so that the prompt of
//! the next message has its context without reading the whole session back from Postgres.
//!
//! - Entries are keyed by [`SessionKey`] (`{tenant}:{user}:{session}`): a session of one tenant
//!   can never be answered with another tenant's turns, even if ids collided.
//! - An entry holds at most [`MemoryConfig::max_turns`] turns, in user/assistant pairs, oldest
//!   first. [`SessionMemory::history`] returns the newest of them that fit in
//!   [`MemoryConfig::token_budget`] approximate tokens (see [`approx_tokens`]), so a few long
//!   answers cannot crowd the knowledge out of the prompt.
//! - On a miss (a new process, an evicted entry) the entry is warmed from Postgres, in a
//!   [`entity::TenantTxn`] of the key's tenant: the latest answered user messages of the session
//!   and the assistant replies to them, oldest first. A restart therefore loses no context.
//!   FAILED user messages are left out: they have no answer, and a question without its answer
//!   would make the model answer it again as if it were new (the user usually re-asks it
//!   anyway). QUEUED and PROCESSING messages are left out too: they are in flight, and the one
//!   being answered right now is the prompt's new message, not history.
//! - [`SessionMemory::record`] appends a user turn and its answer after the consumer's commit.
//!   It only updates an entry that is present: a missing entry is warmed from Postgres on the
//!   next [`SessionMemory::history`], which then already contains the committed pair.
//! - Entries unused for [`MemoryConfig::idle_ttl`] are evicted (swept lazily, at most every
//!   quarter of the TTL, by the calls that use the memory; [`SessionMemory::evict_idle`] sweeps
//!   on demand), and at most [`MemoryConfig::max_sessions`] entries are kept (the least recently
//!   used goes first).
//!
//! The memory is safe for concurrent use: one mutex guards the map and is never held across an
//! `.await` (warming reads Postgres without it). The consumer handles one message at a time per
//! session, so two warm-ups of one session do not race; if they did, the first stored wins and
//! both return the same turns. A process that does not answer every message of a session (with
//! several workers) sees turns answered elsewhere only after its entry expires or is
//! [`SessionMemory::forget`]-ed.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use entity::{
    Db, DbError, MessageId, MessageRole, MessageStatus, SessionId, TenantId, TenantScoped, UserId,
    message,
};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::prompt::Turn;

/// Characters per token of the approximation: BPE tokenizers (Gemini's, OpenAI's) average about
/// four characters of English prose per token.
pub const CHARS_PER_TOKEN: usize = 4;
/// Tokens counted per turn on top of its text, for the role marker and separators every chat
/// format adds.
pub const TURN_OVERHEAD_TOKENS: usize = 4;

/// How much each session remembers, and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Most turns kept per session (a turn is one message; a user message and its answer are
    /// two). Default 20: ten exchanges, more than a chat usually refers back to.
    pub max_turns: usize,
    /// Most approximate tokens of history given to the prompt. Default 2000: about 8000
    /// characters, a small share of any current model's context, leaving room for the roster
    /// and the knowledge.
    pub token_budget: usize,
    /// An entry unused this long is dropped (and warmed again from Postgres if the session
    /// continues). Default 30 minutes: a conversation pause, not a working day.
    pub idle_ttl: Duration,
    /// Most sessions held at once; beyond it the least recently used is dropped. Default
    /// 10 000: at the default budget, at most about 80 MB of text.
    pub max_sessions: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            max_turns: 20,
            token_budget: 2000,
            idle_ttl: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
        }
    }
}

/// Identifies one conversation: tenant, user and session together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// The tenant.
    pub tenant: TenantId,
    /// The user whose session it is.
    pub user: UserId,
    /// The session.
    pub session: SessionId,
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.tenant, self.user, self.session)
    }
}

/// The approximate number of tokens of a turn: its characters divided by [`CHARS_PER_TOKEN`]
/// (rounded up) plus [`TURN_OVERHEAD_TOKENS`]. Within about 25% for English prose; it
/// overestimates text with many short words and underestimates non-Latin scripts, which is
/// why the budget is a share of the context, not the whole of it.
#[must_use]
pub fn approx_tokens(turn: &Turn) -> usize {
    turn.content.chars().count().div_ceil(CHARS_PER_TOKEN) + TURN_OVERHEAD_TOKENS
}

/// The newest turns of `turns` (oldest first) that fit both limits, starting with a user turn.
/// A turn that does not fit ends the window, so the window is always a contiguous, most recent
/// part of the conversation.
#[must_use]
pub fn window(turns: &[Turn], max_turns: usize, token_budget: usize) -> Vec<Turn> {
    let mut used = 0;
    let mut start = turns.len();
    for (i, turn) in turns.iter().enumerate().rev() {
        let cost = approx_tokens(turn);
        if turns.len() - i > max_turns || used + cost > token_budget {
            break;
        }
        used += cost;
        start = i;
    }
    let mut kept = &turns[start..];
    // An answer without its question is noise: the window starts with a user turn.
    while kept.first().is_some_and(|t| t.role != MessageRole::User) {
        kept = &kept[1..];
    }
    kept.to_vec()
}

struct Entry {
    turns: VecDeque<Turn>,
    last_used: Instant,
}

struct State {
    entries: HashMap<SessionKey, Entry>,
    last_sweep: Instant,
}

/// The session memory of one process. Share it as `Arc<SessionMemory>`.
pub struct SessionMemory {
    config: MemoryConfig,
    state: Mutex<State>,
}

impl fmt::Debug for SessionMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionMemory")
            .field("config", &self.config)
            .field("sessions", &self.len())
            .finish()
    }
}

impl SessionMemory {
    /// An empty memory.
    #[must_use]
    pub fn new(config: MemoryConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State {
                entries: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Its configuration.
    #[must_use]
    pub const fn config(&self) -> &MemoryConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters (every update is a single insert, push or remove), so keep using it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session's earlier turns, oldest first, within the turn and token limits: from memory,
    /// or warmed from Postgres on a miss (see the module documentation for what is loaded).
    ///
    /// # Errors
    /// When the warm-up cannot read Postgres.
    pub async fn history(&self, db: &Db, key: SessionKey) -> Result<Vec<Turn>, DbError> {
        let now = Instant::now();
        {
            let mut state = self.lock();
            self.maybe_sweep(&mut state, now);
            if let Some(entry) = state.entries.get_mut(&key) {
                entry.last_used = now;
                return Ok(self.window_of(&entry.turns));
            }
        }
        let loaded = self.load(db, key).await?;
        tracing::debug!(
            tenant.id = %key.tenant,
            session.id = %key.session,
            turns = loaded.len(),
            "session memory warmed from the database"
        );
        let mut state = self.lock();
        let entry = state.entries.entry(key).or_insert(Entry {
            turns: loaded,
            last_used: now,
        });
        entry.last_used = now;
        let history = self.window_of(&entry.turns);
        self.enforce_capacity(&mut state);
        Ok(history)
    }

    /// Appends a user turn and the assistant's answer to the session, after they are committed.
    /// Does nothing when the session is not in memory (its next [`Self::history`] reads them
    /// from Postgres).
    pub fn record(&self, key: SessionKey, user: Turn, assistant: Turn) {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(entry) = state.entries.get_mut(&key) {
            entry.turns.push_back(user);
            entry.turns.push_back(assistant);
            while entry.turns.len() > self.config.max_turns
                || entry
                    .turns
                    .front()
                    .is_some_and(|t| t.role != MessageRole::User)
            {
                entry.turns.pop_front();
            }
            entry.last_used = now;
        }
        self.maybe_sweep(&mut state, now);
    }

    /// Drops the session from memory (for example when it is deleted, or answered elsewhere).
    pub fn forget(&self, key: SessionKey) {
        self.lock().entries.remove(&key);
    }

    /// Drops every session of a tenant.
    pub fn forget_tenant(&self, tenant: TenantId) {
        self.lock().entries.retain(|k, _| k.tenant != tenant);
    }

    /// Evicts the entries idle for longer than the TTL; returns how many.
    pub fn evict_idle(&self) -> usize {
        self.evict_idle_at(Instant::now())
    }

    /// Evicts the entries that are idle for longer than the TTL at `now`; returns how many.
    pub fn evict_idle_at(&self, now: Instant) -> usize {
        let mut state = self.lock();
        self.sweep(&mut state, now)
    }

    /// Number of sessions in memory.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no session is in memory.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn window_of(&self, turns: &VecDeque<Turn>) -> Vec<Turn> {
        let turns: Vec<Turn> = turns.iter().cloned().collect();
        window(&turns, self.config.max_turns, self.config.token_budget)
    }

    fn sweep(&self, state: &mut State, now: Instant) -> usize {
        let before = state.entries.len();
        let ttl = self.config.idle_ttl;
        state
            .entries
            .retain(|_, e| now.saturating_duration_since(e.last_used) <= ttl);
        state.last_sweep = now;
        before - state.entries.len()
    }

    fn maybe_sweep(&self, state: &mut State, now: Instant) {
        let interval = (self.config.idle_ttl / 4).max(Duration::from_secs(1));
        if now.saturating_duration_since(state.last_sweep) >= interval {
            let evicted = self.sweep(state, now);
            if evicted > 0 {
                tracing::debug!(evicted, "idle sessions evicted from memory");
            }
        }
    }

    fn enforce_capacity(&self, state: &mut State) {
        while state.entries.len() > self.config.max_sessions.max(1) {
            let Some(oldest) = state
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k)
            else {
                break;
            };
            state.entries.remove(&oldest);
        }
    }

    /// The latest answered exchanges of the session, oldest first.
    async fn load(&self, db: &Db, key: SessionKey) -> Result<VecDeque<Turn>, DbError> {
        let exchanges = self.config.max_turns.div_ceil(2);
        let txn = db.begin_in_tenant(key.tenant).await?;
        let questions = message::Entity::find_in_tenant(key.tenant)
            .filter(message::Column::SessionId.eq(key.session))
            .filter(message::Column::UserId.eq(key.user))
            .filter(message::Column::Role.eq(MessageRole::User))
            .filter(message::Column::Status.eq(MessageStatus::Answered))
            .order_by_desc(message::Column::Id)
            .limit(u64::try_from(exchanges).unwrap_or(u64::MAX))
            .all(&txn)
            .await?;
        let ids: Vec<MessageId> = questions.iter().map(|m| m.id).collect();
        let answers = if ids.is_empty() {
            Vec::new()
        } else {
            message::Entity::find_in_tenant(key.tenant)
                .filter(message::Column::SessionId.eq(key.session))
                .filter(message::Column::Role.eq(MessageRole::Assistant))
                .filter(message::Column::ReplyToId.is_in(ids))
                .all(&txn)
                .await?
        };
        txn.commit().await?;
        let mut turns = VecDeque::with_capacity(questions.len() * 2);
        for question in questions.into_iter().rev() {
            // An answered message always has its answer; without one it is left out whole.
            let Some(answer) = answers.iter().find(|a| a.reply_to_id == Some(question.id)) else {
                continue;
            };
            turns.push_back(Turn {
                role: MessageRole::User,
                content: question.content,
            });
            turns.push_back(Turn {
                role: MessageRole::Assistant,
                content: answer.content.clone(),
            });
        }
        Ok(turns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn key() -> SessionKey {
        SessionKey {
            tenant: TenantId::new(),
            user: UserId::new(),
            session: SessionId::new(),
        }
    }

    #[test]
    fn tokens_are_approximated_from_characters() {
        assert_eq!(approx_tokens(&user("")), TURN_OVERHEAD_TOKENS);
        assert_eq!(approx_tokens(&user("abcd")), 1 + TURN_OVERHEAD_TOKENS);
        assert_eq!(approx_tokens(&user("abcde")), 2 + TURN_OVERHEAD_TOKENS);
        // Characters, not bytes.
        assert_eq!(approx_tokens(&user("éééé")), 1 + TURN_OVERHEAD_TOKENS);
    }

    #[test]
    fn the_window_keeps_the_newest_turns_within_both_limits() {
        let turns: Vec<Turn> = (0..10)
            .flat_map(|i| [user(&format!("q{i}")), assistant(&format!("a{i}"))])
            .collect();
        // Turn limit.
        let w = window(&turns, 4, 10_000);
        assert_eq!(
            w.iter().map(|t| t.content.as_str()).collect::<Vec<_>>(),
            ["q8", "a8", "q9", "a9"]
        );
        // Token limit: each turn costs 1 + 4 = 5 tokens; 17 tokens hold three turns, and the
        // window then drops the leading answer.
        let w = window(&turns, 100, 17);
        assert_eq!(
            w.iter().map(|t| t.content.as_str()).collect::<Vec<_>>(),
            ["q9", "a9"]
        );
        let total: usize = w.iter().map(approx_tokens).sum();
        assert!(total <= 17);
        // An odd turn limit never starts the window with an answer.
        let w = window(&turns, 3, 10_000);
        assert_eq!(w.first().map(|t| t.role), Some(MessageRole::User));
        assert_eq!(w.len(), 2);
        // A turn bigger than the budget ends the window.
        let long = vec![
            user("q"),
            assistant(&"x".repeat(1000)),
            user("q2"),
            assistant("a2"),
        ];
        assert_eq!(window(&long, 100, 50).len(), 2);
        assert!(window(&long, 100, 5).is_empty());
    }

    #[test]
    fn record_only_updates_sessions_in_memory_and_keeps_pairs() {
        let memory = SessionMemory::new(MemoryConfig {
            max_turns: 3,
            ..MemoryConfig::default()
        });
        let k = key();
        memory.record(k, user("q"), assistant("a"));
        assert!(
            memory.is_empty(),
            "a missing session is warmed later, not created"
        );

        memory.lock().entries.insert(
            k,
            Entry {
                turns: VecDeque::new(),
                last_used: Instant::now(),
            },
        );
        memory.record(k, user("q1"), assistant("a1"));
        memory.record(k, user("q2"), assistant("a2"));
        let state = memory.lock();
        let turns: Vec<&str> = state.entries[&k]
            .turns
            .iter()
            .map(|t| t.content.as_str())
            .collect();
        assert_eq!(turns, ["q2", "a2"]);
    }

    #[test]
    fn idle_entries_are_evicted() {
        let memory = SessionMemory::new(MemoryConfig {
            idle_ttl: Duration::from_secs(60),
            ..MemoryConfig::default()
        });
        let (old, fresh) = (key(), key());
        let now = Instant::now();
        {
            let mut state = memory.lock();
            for k in [old, fresh] {
                state.entries.insert(
                    k,
                    Entry {
                        turns: VecDeque::new(),
                        last_used: now,
                    },
                );
            }
        }
        memory.record(fresh, user("q"), assistant("a"));
        let later = Instant::now() + Duration::from_secs(61);
        // `fresh` was used after `now`, but both are idle 61 s later.
        assert_eq!(memory.evict_idle_at(later), 2);
        assert!(memory.is_empty());
        assert_eq!(memory.evict_idle(), 0);
    }

    #[test]
    fn capacity_drops_the_least_recently_used() {
        let memory = SessionMemory::new(MemoryConfig {
            max_sessions: 2,
            ..MemoryConfig::default()
        });
        let keys = [key(), key(), key()];
        let now = Instant::now();
        let mut state = memory.lock();
        for (i, k) in keys.iter().enumerate() {
            state.entries.insert(
                *k,
                Entry {
                    turns: VecDeque::new(),
                    last_used: now + Duration::from_secs(u64::try_from(i).unwrap()),
                },
            );
        }
        memory.enforce_capacity(&mut state);
        assert_eq!(state.entries.len(), 2);
        assert!(!state.entries.contains_key(&keys[0]));
    }

    #[test]
    fn keys_print_as_tenant_user_session() {
        let k = key();
        assert_eq!(
            k.to_string(),
            format!("{}:{}:{}", k.tenant, k.user, k.session)
        );
    }
}
