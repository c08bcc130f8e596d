//! `offline`: the built-in provider. Deterministic, no network, no key: the default when no LLM
//! is configured, and what makes the product useful (and testable) without one.
//!
//! It reads the message with its `request` module (plain requests in English) and:
//!
//! - for requests, proposes the actions a model would (`notify_user`, `notify_role`,
//!   `log_event`), only of types in the prompt's catalogue and only for users in the prompt's
//!   roster, and says what it did ("Done - I told Luca Bianchi: Table 5 has a nut allergy.");
//!   a person the roster does not have gets a reply saying so and no action. Its actions go
//!   through the action registry's validation like any model's.
//! - for questions, quotes the best matching sentences of the retrieved knowledge with their
//!   source (its `answer` module), or says it does not know.
//! - for greetings, thanks and "what can you do", answers briefly.
//!
//! The reply is pushed to the delta sink in one piece.

mod answer;
mod lexicon;
mod request;

use async_trait::async_trait;
use entity::{Priority, UserId};
use serde_json::{Map, Value, json};

use self::request::{Command, Intent, Target, Verb};
use super::{DeltaSink, Finish, LlmError, LlmProvider, LlmResponse, ProposedAction, Usage};
use crate::action::params::{MAX_MESSAGE_CHARS, priority_name};
use crate::prompt::{Prompt, RosterEntry};

/// The provider's name, as recorded on assistant messages.
pub const OFFLINE_MODEL: &str = "offline";

/// The offline provider.
#[derive(Clone, Copy, Debug, Default)]
pub struct OfflineProvider;

#[async_trait]
impl LlmProvider for OfflineProvider {
    fn name(&self) -> String {
        OFFLINE_MODEL.to_owned()
    }

    async fn generate(
        &self,
        prompt: &Prompt,
        deltas: &dyn DeltaSink,
    ) -> Result<LlmResponse, LlmError> {
        let response = Self::respond(prompt);
        deltas.push(&response.reply);
        Ok(response)
    }
}

impl OfflineProvider {
    /// The response to a prompt (what [`LlmProvider::generate`] returns), computed synchronously.
    #[must_use]
    pub fn respond(prompt: &Prompt) -> LlmResponse {
        let (reply, actions) = match request::read(prompt) {
            Intent::Greeting => (greeting(prompt), Vec::new()),
            Intent::Thanks => ("You're welcome!".to_owned(), Vec::new()),
            Intent::Ack => (
                "OK - tell me if you need anything else.".to_owned(),
                Vec::new(),
            ),
            Intent::Help => (help(prompt), Vec::new()),
            Intent::Question(q) => (answer_or_not(&q, prompt), Vec::new()),
            Intent::Commands(commands) => {
                let mut replies = Vec::new();
                let mut actions = Vec::new();
                for command in &commands {
                    let (reply, proposed) = plan(command, prompt);
                    replies.push(reply);
                    actions.extend(proposed);
                }
                (replies.join(" "), actions)
            }
        };
        LlmResponse {
            reply,
            actions,
            usage: Usage::default(),
            finish: Finish::Complete,
            model: OFFLINE_MODEL.to_owned(),
        }
    }
}

fn enabled(prompt: &Prompt, kind: &str) -> bool {
    prompt.actions.iter().any(|a| a.name == kind)
}

fn answer_or_not(question: &str, prompt: &Prompt) -> String {
    answer::answer(question, prompt).unwrap_or_else(|| {
        format!(
            "I don't know - I couldn't find anything about that in what I know about {}.",
            prompt.tenant.name
        )
    })
}

fn first_name(entry: &RosterEntry) -> &str {
    entry.name.split_whitespace().next().unwrap_or(&entry.name)
}

fn others(prompt: &Prompt) -> impl Iterator<Item = &RosterEntry> {
    prompt.roster.iter().filter(|u| u.id != prompt.sender.id)
}

fn greeting(prompt: &Prompt) -> String {
    let mut text = format!(
        "Hello {}! I'm the assistant of {}. Ask me anything about it",
        first_name(&prompt.sender),
        prompt.tenant.name
    );
    match others(prompt).next() {
        Some(colleague) if enabled(prompt, "notify_user") => text.push_str(&format!(
            ", or ask me to pass a message on, for example: \"Tell {} that ...\".",
            first_name(colleague)
        )),
        _ => text.push('.'),
    }
    text
}

fn help(prompt: &Prompt) -> String {
    let mut can = vec![format!(
        "answer questions from what I know about {} (schedules, rules, who does what)",
        prompt.tenant.name
    )];
    let colleague = others(prompt).next();
    if let (true, Some(c)) = (enabled(prompt, "notify_user"), colleague) {
        can.push(format!(
            "pass a message to someone (\"Tell {} that ...\", \"Remind {} to ...\")",
            first_name(c),
            first_name(c)
        ));
    }
    if enabled(prompt, "notify_role") {
        let group = colleague.and_then(|c| c.title.as_deref()).map_or_else(
            || "everyone".to_owned(),
            |t| format!("all {}s", t.to_lowercase()),
        );
        can.push(format!("notify a whole group (\"Tell {group} ...\")"));
    }
    if enabled(prompt, "log_event") {
        can.push("log an event (\"Log that ...\")".to_owned());
    }
    format!(
        "I can {}. Say \"urgent\" to make a message urgent.",
        list(&can)
    )
}

/// "a", "a and b", "a, b and c".
fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// People named in a reply that lists whom the agent can notify; a bigger roster is summed up.
const LISTED_PEOPLE: usize = 8;

fn roster_list(prompt: &Prompt) -> String {
    let mut people: Vec<String> = others(prompt)
        .take(LISTED_PEOPLE)
        .map(|u| match &u.title {
            Some(t) => format!("{} ({t})", u.name),
            None => u.name.clone(),
        })
        .collect();
    let more = others(prompt).count().saturating_sub(LISTED_PEOPLE);
    if more > 0 {
        people.push(format!("{more} more"));
    }
    if people.is_empty() {
        "there is no one else to notify".to_owned()
    } else {
        format!("I can notify {}", list(&people))
    }
}

/// Ends a reply sentence with a full stop unless it already ends with punctuation.
fn sentence(text: &str) -> String {
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

fn action(kind: &str, params: Value) -> ProposedAction {
    let params = match params {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    ProposedAction {
        kind: kind.to_owned(),
        params,
    }
}

/// The reply and the proposed actions for one request.
fn plan(command: &Command<'_>, prompt: &Prompt) -> (String, Vec<ProposedAction>) {
    if command.verb == Verb::Log {
        return plan_log(command, prompt);
    }
    let tenant = &prompt.tenant.name;
    // "Tell me ..." among other requests: answer it.
    if matches!(command.verb, Verb::Tell | Verb::Ask)
        && matches!(command.targets.as_slice(), [Target::Me | Target::Us])
    {
        return (answer_or_not(&command.message, prompt), Vec::new());
    }
    let verb_word = match command.verb {
        Verb::Ask => "ask",
        Verb::Remind => "remind",
        Verb::Tell | Verb::Log => "tell",
    };
    if command.targets.is_empty() {
        return (
            format!(
                "Who should I {verb_word}? Please name the person or the group - {}.",
                roster_list(prompt)
            ),
            Vec::new(),
        );
    }
    for target in &command.targets {
        let problem = match target {
            Target::Unknown(name) => Some(format!(
                "I couldn't find {name} among the people of {tenant}, so I didn't send anything. {}.",
                capitalise_first(&roster_list(prompt))
            )),
            Target::Ambiguous { phrase, candidates } => Some(format!(
                "\"{phrase}\" could be {} - who do you mean? I didn't send anything.",
                or_list(candidates)
            )),
            Target::Unresolved(pronoun) => Some(format!(
                "Who do you mean by \"{pronoun}\"? Please name the person; I didn't send anything."
            )),
            Target::Group { phrase, members } if members.is_empty() => Some(format!(
                "No one else at {tenant} has the title or role \"{phrase}\", so I didn't send anything. {}.",
                capitalise_first(&roster_list(prompt))
            )),
            Target::Everyone(members) if members.is_empty() => {
                Some(format!("There is no one else at {tenant} to notify."))
            }
            _ => None,
        };
        if let Some(problem) = problem {
            return (problem, Vec::new());
        }
    }
    if command.message.is_empty() {
        let who = recipients_text(&command.targets, prompt);
        return (format!("What should I {verb_word} {who}?"), Vec::new());
    }
    let len = command.message.chars().count();
    if len > MAX_MESSAGE_CHARS {
        return (
            format!(
                "That message is too long to send ({len} characters; at most {MAX_MESSAGE_CHARS})."
            ),
            Vec::new(),
        );
    }
    let needs_user = command
        .targets
        .iter()
        .any(|t| matches!(t, Target::Person(_) | Target::Me));
    let needs_role = command
        .targets
        .iter()
        .any(|t| matches!(t, Target::Group { .. } | Target::Everyone(_) | Target::Us));
    if (needs_user && !enabled(prompt, "notify_user"))
        || (needs_role && !enabled(prompt, "notify_role"))
    {
        return (
            format!(
                "Sending that kind of notification is switched off for {tenant}, so I didn't send anything."
            ),
            Vec::new(),
        );
    }
    let priority = priority_name(command.priority);
    let mut actions = Vec::new();
    let mut people: Vec<UserId> = Vec::new();
    for target in &command.targets {
        match target {
            Target::Person(u) => people.push(u.id),
            Target::Me => people.push(prompt.sender.id),
            Target::Group { phrase, .. } => actions.push(action(
                "notify_role",
                json!({ "title": phrase, "message": command.message, "priority": priority }),
            )),
            Target::Everyone(_) | Target::Us => actions.push(action(
                "notify_role",
                json!({ "title": "everyone", "message": command.message, "priority": priority }),
            )),
            Target::Unknown(_) | Target::Ambiguous { .. } | Target::Unresolved(_) => {}
        }
    }
    people.dedup();
    let mut seen = Vec::new();
    for id in people {
        if !seen.contains(&id) {
            seen.push(id);
            actions.push(action(
                "notify_user",
                json!({ "user_id": id, "message": command.message, "priority": priority }),
            ));
        }
    }
    let who = recipients_text(&command.targets, prompt);
    let urgency = if command.priority == Priority::Urgent {
        " (urgent)"
    } else {
        ""
    };
    let done = match command.verb {
        Verb::Remind if matches!(command.targets.as_slice(), [Target::Me]) => {
            format!("Done - I sent you a reminder{urgency}")
        }
        Verb::Remind => format!("Done - I reminded {who}{urgency}"),
        Verb::Ask => format!("Done - I asked {who}{urgency}"),
        Verb::Tell | Verb::Log => format!("Done - I told {who}{urgency}"),
    };
    (sentence(&format!("{done}: {}", command.message)), actions)
}

fn capitalise_first(text: &str) -> String {
    lexicon::capitalise(text)
}

fn or_list(people: &[&RosterEntry]) -> String {
    match people {
        [] => String::new(),
        [one] => one.name.clone(),
        [init @ .., last] => format!(
            "{} or {}",
            init.iter()
                .map(|u| u.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            last.name
        ),
    }
}

/// "Luca Bianchi", "the waiters (Sofia Verdi)", "everyone (Luca Bianchi and Sofia Verdi)".
fn recipients_text(targets: &[Target<'_>], prompt: &Prompt) -> String {
    let names = |members: &[&RosterEntry]| {
        list(&members.iter().map(|u| u.name.clone()).collect::<Vec<_>>())
    };
    let parts: Vec<String> = targets
        .iter()
        .map(|t| match t {
            Target::Person(u) if u.id == prompt.sender.id => "you".to_owned(),
            Target::Person(u) => u.name.clone(),
            Target::Me => "you".to_owned(),
            Target::Group { phrase, members } => format!("the {phrase} ({})", names(members)),
            Target::Everyone(members) => format!("everyone ({})", names(members)),
            Target::Us => "everyone".to_owned(),
            Target::Unknown(s) | Target::Unresolved(s) | Target::Ambiguous { phrase: s, .. } => {
                s.clone()
            }
        })
        .collect();
    list(&parts)
}

/// Kinds of logged events, each with words that suggest it; the first kind with the most
/// matching words wins, and "note" when none matches.
const EVENT_KINDS: &[(&str, &[&str])] = &[
    (
        "temperature",
        &[
            "temperature",
            "temp",
            "degree",
            "freezer",
            "fridge",
            "thermometer",
            "chiller",
            "celsius",
        ],
    ),
    (
        "maintenance",
        &[
            "leak", "broken", "broke", "repair", "boiler", "lift", "elevator", "heating",
            "plumbing", "faulty", "damage", "window", "lock", "bulb", "power", "outage", "blocked",
            "toilet", "sink", "pipe", "stuck",
        ],
    ),
    (
        "allergy",
        &["allergy", "allergic", "allergen", "anaphylaxis"],
    ),
    (
        "delivery",
        &[
            "delivery",
            "delivered",
            "supplier",
            "shipment",
            "parcel",
            "package",
        ],
    ),
    (
        "incident",
        &[
            "injury",
            "injured",
            "accident",
            "fire",
            "alarm",
            "police",
            "theft",
            "stolen",
            "fell",
            "fall",
            "spill",
            "smoke",
            "flood",
            "emergency",
            "hurt",
            "burn",
            "fight",
        ],
    ),
    (
        "complaint",
        &["complaint", "complain", "noise", "noisy", "rude", "unhappy"],
    ),
    (
        "cleaning",
        &[
            "clean", "dirty", "mess", "hygiene", "trash", "rubbish", "bin", "pest",
        ],
    ),
    ("stock", &["stock", "shortage", "ran", "sold"]),
    ("cash", &["cash", "till", "money", "payment", "refund"]),
];

/// The event kind a log text suggests.
fn event_kind(details: &str) -> &'static str {
    let words = lexicon::terms(details);
    let mut best = ("note", 0);
    for (kind, keywords) in EVENT_KINDS {
        // Exact stems: prefix matching would read "short" as "shortage".
        let n = keywords
            .iter()
            .filter(|k| words.contains(&lexicon::stem(k)))
            .count();
        if n > best.1 {
            best = (kind, n);
        }
    }
    best.0
}

fn plan_log(command: &Command<'_>, prompt: &Prompt) -> (String, Vec<ProposedAction>) {
    if !enabled(prompt, "log_event") {
        return (
            format!(
                "Logging events is switched off for {}, so I didn't log anything.",
                prompt.tenant.name
            ),
            Vec::new(),
        );
    }
    if command.message.is_empty() {
        return ("What should I log?".to_owned(), Vec::new());
    }
    let kind = event_kind(&command.message);
    (
        sentence(&format!(
            "Done - I logged it as {kind}: {}",
            command.message
        )),
        vec![action(
            "log_event",
            json!({ "kind": kind, "details": command.message }),
        )],
    )
}

#[cfg(test)]
mod tests;
