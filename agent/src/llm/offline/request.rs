//! Reading a message as plain requests ("Tell Luca that table 5 has a nut allergy", "pls let the
//! chef know ...", "Log that the freezer read 5 degrees") or, failing that, as a question.
//!
//! A message is read clause by clause. A clause starts the message, a sentence or a line, or
//! follows ", " / "and" / "then" / "also"; after greetings ("hi,"), urgency markers ("urgent:")
//! and politeness ("could you please", "would you mind", "I need you to"), it must start with a
//! request verb:
//!
//! - tell, notify, inform, alert, warn, message, text, ping, update, contact; "let X know";
//!   "give X a heads-up"; "send X a message" / "send a message to X"  -> tell
//! - ask  -> ask;  remind, "send X a reminder"  -> remind
//! - log, record, note, document, report, "write down", "make a note", "add to the log" -> log
//!   ("report to X that ..." is a tell)
//!
//! Then come the recipients (names, first names, surnames, titles such as "the head chef",
//! groups such as "all waiters", "everyone", "me", or a pronoun resolved from the message or
//! the history), joined by "and" or commas, and the way the message is introduced ("that", ":",
//! "to ...", "about ...", "if ...", "when ...", or nothing). The rest of the clause, and any
//! following sentences that are not requests themselves, is the message. A clause in the middle
//! of a sentence only counts as a new request when it names known people or is a log, so "tell
//! Sofia to clean table 5 and text me when done" stays one request.

use entity::{Priority, UserId};

use super::lexicon::{Token, capitalise, decapitalise, tokenize};
use crate::prompt::{Prompt, RosterEntry};
use crate::roster;

/// What a request asks the agent to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Pass something on.
    Tell,
    /// Put a question or a request to someone.
    Ask,
    /// Remind someone.
    Remind,
    /// Record an event.
    Log,
}

/// Who a request names.
#[derive(Clone, Debug, PartialEq)]
pub enum Target<'r> {
    /// One user of the roster.
    Person(&'r RosterEntry),
    /// The users with a title or role (never the sender); possibly nobody.
    Group {
        /// The words used ("waiters").
        phrase: String,
        /// Who they reach.
        members: Vec<&'r RosterEntry>,
    },
    /// Every user but the sender.
    Everyone(Vec<&'r RosterEntry>),
    /// The sender ("remind me").
    Me,
    /// "us".
    Us,
    /// A name or title nobody in the roster has.
    Unknown(String),
    /// A title several users have ("the manager" with two managers).
    Ambiguous {
        /// The words used.
        phrase: String,
        /// Who it could be.
        candidates: Vec<&'r RosterEntry>,
    },
    /// A pronoun with no one to refer to.
    Unresolved(String),
}

impl Target<'_> {
    /// Whether it names people the roster has.
    fn known(&self) -> bool {
        match self {
            Self::Person(_) | Self::Everyone(_) => true,
            Self::Group { members, .. } => !members.is_empty(),
            _ => false,
        }
    }
}

/// One request of a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Command<'r> {
    /// What to do.
    pub verb: Verb,
    /// To whom (empty for a log).
    pub targets: Vec<Target<'r>>,
    /// The notification text or the log details, composed from the user's words; empty when
    /// they gave none.
    pub message: String,
    /// How urgent the request says it is.
    pub priority: Priority,
}

/// How a message reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Intent<'r> {
    /// One or more requests.
    Commands(Vec<Command<'r>>),
    /// A question (the text to answer).
    Question(String),
    /// Only a greeting.
    Greeting,
    /// Only thanks.
    Thanks,
    /// Only an acknowledgement ("ok", "great").
    Ack,
    /// What can you do?
    Help,
}

/// How the message part of a request is introduced.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Form {
    /// "that ...", ": ...", or nothing.
    Clause,
    /// "to ..." (tell/ask/remind X to do something).
    Infinitive,
    /// "about ..." / "of ...".
    Topic,
    /// "if ..." / "whether ..." (ask).
    YesNo(String),
    /// "when ..." / "what ..." (ask).
    Wh(String),
    /// "for ..." (ask X for something).
    For,
}

struct Parsed<'r> {
    verb: Verb,
    targets: Vec<Target<'r>>,
    form: Form,
    /// Token index where the message begins.
    body: usize,
}

struct Reader<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    prompt: &'a Prompt,
}

const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "yo",
    "ciao",
    "morning",
    "evening",
    "afternoon",
    "ok",
    "okay",
    "so",
    "oh",
    "right",
    "um",
    "uh",
    "well",
    "alright",
    "dear",
    "buongiorno",
    "howdy",
];
const ADDRESSEES: &[&str] = &["concierge", "assistant", "bot", "there", "agent"];
const URGENCY_MARKERS: &[&str] = &[
    "urgent",
    "urgently",
    "asap",
    "important",
    "quick",
    "quickly",
];
const POLITENESS: &[&[&str]] = &[
    &["would", "you", "be", "so", "kind", "as", "to"],
    &["do", "me", "a", "favour", "and"],
    &["do", "me", "a", "favor", "and"],
    &["would", "you", "mind"],
    &["i", "need", "you", "to"],
    &["i'd", "like", "you", "to"],
    &["i", "would", "like", "you", "to"],
    &["i", "want", "you", "to"],
    &["i'd", "love", "it", "if", "you", "could"],
    &["i", "was", "wondering", "if", "you", "could"],
    &["go", "ahead", "and"],
    &["make", "sure", "to"],
    &["make", "sure", "you"],
    &["be", "sure", "to"],
    &["don't", "forget", "to"],
    &["dont", "forget", "to"],
    &["remember", "to"],
    &["could", "you"],
    &["could", "u"],
    &["can", "you"],
    &["can", "u"],
    &["would", "you"],
    &["will", "you"],
    &["please"],
    &["pls"],
    &["plz"],
    &["kindly"],
    &["just"],
    &["also"],
    &["and"],
    &["then"],
    &["now"],
];
/// Said before a log verb: "I want to report ...", "I'm reporting ...".
const LOG_LEADS: &[&[&str]] = &[
    &["i", "want", "to"],
    &["i'd", "like", "to"],
    &["i", "would", "like", "to"],
    &["i", "need", "to"],
    &["i", "have", "to"],
    &["i", "wish", "to"],
    &["we", "need", "to"],
    &["i'm"],
    &["i", "am"],
    &["we", "are"],
    &["we're"],
];
const TELL_VERBS: &[&str] = &[
    "tell", "notify", "inform", "alert", "warn", "message", "text", "ping", "update", "contact",
];
const LOG_VERBS: &[&str] = &["log", "record", "note", "document", "report"];
const WH_WORDS: &[&str] = &[
    "when", "what", "where", "who", "why", "how", "which", "whose",
];
const PRONOUNS: &[&str] = &["him", "her", "them"];
/// Words that end a list of recipients and start the message.
const CONNECTIVES: &[&str] = &[
    "that",
    "to",
    "about",
    "regarding",
    "re",
    "concerning",
    "of",
    "on",
    "if",
    "whether",
    "for",
    "know",
    "saying",
    "and",
    "asap",
    "urgently",
    "please",
    "immediately",
    "right",
    "now",
];
const DETERMINERS: &[&str] = &["the", "our", "my", "all", "every", "each", "any"];
/// Words that cannot be (part of) a recipient: they start the message ("the fish *is* late").
const NOT_NAMES: &[&str] = &[
    "a", "an", "it", "it's", "this", "these", "those", "there", "is", "was", "are", "were", "has",
    "have", "had", "will", "can", "should", "must", "needs", "need", "i", "i'm", "we", "you",
];
/// Nouns that always mean several people ("the staff" is a group, not an ambiguous person).
const COLLECTIVES: &[&str] = &["staff", "team", "crew", "management", "kitchen"];
const ADVERBS: &[&str] = &[
    "always",
    "never",
    "also",
    "still",
    "just",
    "usually",
    "often",
    "really",
    "already",
    "definitely",
    "probably",
    "now",
    "then",
    "too",
];
const MODALS: &[&str] = &[
    "can", "could", "will", "would", "shall", "should", "must", "may", "might", "did", "had",
];

/// Every verb that can start a request, in its base form.
const REQUEST_VERBS: &[&str] = &[
    "tell", "notify", "inform", "alert", "warn", "message", "text", "ping", "update", "contact",
    "ask", "remind", "let", "give", "send", "log", "record", "note", "document", "report", "write",
    "make", "add",
];

/// Base form of a request verb; gerunds ("telling", "letting", "giving") are accepted too, as
/// after "would you mind".
fn base_verb(w: &str) -> Option<&'static str> {
    let find = |candidate: &str| REQUEST_VERBS.iter().copied().find(|v| *v == candidate);
    if let Some(v) = find(w) {
        return Some(v);
    }
    let stem = w.strip_suffix("ing")?;
    find(stem)
        .or_else(|| find(&format!("{stem}e")))
        .or_else(|| stem.get(..stem.len().saturating_sub(1)).and_then(find))
}

/// Words of a roster name, lower case.
fn name_words(entry: &RosterEntry) -> Vec<String> {
    roster::words(&entry.name)
}

impl<'a> Reader<'a> {
    fn new(prompt: &'a Prompt) -> Self {
        let text = prompt.message.as_str();
        Self {
            text,
            tokens: tokenize(text),
            prompt,
        }
    }

    fn sender(&self) -> UserId {
        self.prompt.sender.id
    }

    fn tok(&self, i: usize) -> Option<&Token> {
        self.tokens.get(i)
    }

    fn is(&self, i: usize, w: &str) -> bool {
        self.tok(i).is_some_and(|t| t.is(w))
    }

    fn is_any(&self, i: usize, ws: &[&str]) -> bool {
        self.tok(i).is_some_and(|t| t.is_any(ws))
    }

    fn is_word(&self, i: usize) -> bool {
        self.tok(i).is_some_and(|t| t.word)
    }

    /// Whether the words `ws` follow at `i`.
    fn phrase_at(&self, i: usize, ws: &[&str]) -> bool {
        ws.iter().enumerate().all(|(k, w)| self.is(i + k, w))
    }

    /// The original text of tokens `from..to`.
    fn span(&self, from: usize, to: usize) -> &'a str {
        if from >= to || from >= self.tokens.len() {
            return "";
        }
        let to = to.min(self.tokens.len());
        &self.text[self.tokens[from].start..self.tokens[to - 1].end]
    }

    /// Whether a new sentence or line starts at token `i`.
    fn sentence_start(&self, i: usize) -> bool {
        if i == 0 {
            return true;
        }
        let prev = &self.tokens[i - 1];
        if prev.is_any(&[".", "!", "?", ";"]) {
            return true;
        }
        self.tokens
            .get(i)
            .is_some_and(|t| self.text[prev.end..t.start].contains('\n'))
    }

    /// Whether a clause may start at token `i` in the middle of a sentence.
    fn clause_start(&self, i: usize) -> bool {
        i > 0 && self.tokens[i - 1].is_any(&[",", "and", "then", "also", "plus", "&"])
    }

    /// Skips greetings, urgency markers and politeness before a verb.
    fn skip_prefixes(&self, mut i: usize) -> usize {
        loop {
            let start = i;
            if self.is_any(i, GREETINGS)
                || (self.is(i, "good")
                    && self.is_any(i + 1, &["morning", "afternoon", "evening", "day"]))
            {
                i += if self.is(i, "good") { 2 } else { 1 };
                while self.is_any(i, ADDRESSEES) {
                    i += 1;
                }
                while self.is_any(i, &[",", "!", ".", "-", ":"]) {
                    i += 1;
                }
            }
            if self.is_any(i, URGENCY_MARKERS) && self.is_any(i + 1, &[":", "!", ",", "-"]) {
                i += 2;
            } else if self.is_any(i, &["urgent", "urgently", "asap", "quickly"])
                && self
                    .tok(i + 1)
                    .is_some_and(|t| base_verb(&t.lower).is_some())
            {
                i += 1;
            }
            for phrase in POLITENESS {
                if self.phrase_at(i, phrase) {
                    i += phrase.len();
                    while self.is_any(i, &[",", "-"]) {
                        i += 1;
                    }
                    break;
                }
            }
            for lead in LOG_LEADS {
                if self.phrase_at(i, lead)
                    && self.tok(i + lead.len()).is_some_and(|t| {
                        base_verb(&t.lower).is_some_and(|v| LOG_VERBS.contains(&v))
                    })
                {
                    i += lead.len();
                    break;
                }
            }
            if i == start {
                return i;
            }
        }
    }

    /// Reads a request starting at token `p`, if there is one.
    fn parse(&self, p: usize) -> Option<Parsed<'a>> {
        let i = self.skip_prefixes(p);
        // A clause in mid-sentence never reaches across the end of a sentence: in "..., urgent!
        // And tell ...", "urgent!" ends the previous request.
        if !self.sentence_start(p) && self.tokens[p..i].iter().any(|t| t.is_any(&[".", "!", "?"])) {
            return None;
        }
        let Some(verb) = base_verb(&self.tok(i)?.lower) else {
            return self.needs_to_know(i);
        };
        let next = i + 1;
        match verb {
            v if TELL_VERBS.contains(&v) => self.after_verb(Verb::Tell, next, v),
            "ask" => self.after_verb(Verb::Ask, next, "ask"),
            "remind" => self.after_verb(Verb::Remind, next, "remind"),
            "let" => {
                let (targets, j) = self.targets(next, p)?;
                if !self.is(j, "know") {
                    return None;
                }
                self.message_form(Verb::Tell, targets, j + 1, "let")
            }
            "give" => {
                let (targets, mut j) = self.targets(next, p)?;
                if self.is_any(j, &["a", "an"]) {
                    j += 1;
                }
                let verb = if self.is(j, "reminder") {
                    Verb::Remind
                } else if self.is_any(j, &["heads-up", "message", "note", "shout", "heads"]) {
                    Verb::Tell
                } else {
                    return None;
                };
                j += if self.phrase_at(j, &["heads", "up"]) {
                    2
                } else {
                    1
                };
                self.message_form(verb, targets, j, "give")
            }
            "send" => self.parse_send(next, p),
            "write" if self.is(next, "down") => Some(self.log_body(next + 1)),
            "make"
                if self.is_any(next, &["a", "an"])
                    && self.is_any(next + 1, &["note", "record", "entry"]) =>
            {
                Some(self.log_body(next + 2))
            }
            "add" => {
                // "add (a note|an entry) to the log (that) ...", "add to the log ..."
                let mut j = next;
                if self.is_any(j, &["a", "an"]) && self.is_any(j + 1, &["note", "entry"]) {
                    j += 2;
                }
                if self.phrase_at(j, &["to", "the", "log"]) {
                    Some(self.log_body(j + 3))
                } else if j > next {
                    Some(self.log_body(j))
                } else {
                    None
                }
            }
            "report" if self.is(next, "to") => {
                let (targets, j) = self.targets(next + 1, p)?;
                if targets.iter().any(Target::known) {
                    self.message_form(Verb::Tell, targets, j, "report")
                } else {
                    None
                }
            }
            v if LOG_VERBS.contains(&v) => Some(self.log_body(next)),
            _ => None,
        }
    }

    /// "Luca needs to know (that) ...", "the waiters should know ...".
    fn needs_to_know(&self, i: usize) -> Option<Parsed<'a>> {
        let (targets, mut j) = self.targets(i, i)?;
        if !targets.iter().all(Target::known) {
            return None;
        }
        if self.is_any(j, &["needs", "need", "has", "have"]) && self.is(j + 1, "to") {
            j += 2;
        } else if self.is_any(j, &["should", "must"]) {
            j += 1;
        } else {
            return None;
        }
        if !self.is(j, "know") {
            return None;
        }
        self.message_form(Verb::Tell, targets, j + 1, "let")
    }

    /// "send (a message|a reminder|...) to X ..." or "send X a message ...".
    fn parse_send(&self, mut j: usize, p: usize) -> Option<Parsed<'a>> {
        const THINGS: &[&str] = &[
            "message",
            "note",
            "notification",
            "text",
            "word",
            "alert",
            "heads-up",
            "reminder",
            "msg",
        ];
        if self.is_any(j, &["a", "an"]) {
            j += 1;
        }
        if self.is_any(j, THINGS) {
            let verb = if self.is(j, "reminder") {
                Verb::Remind
            } else {
                Verb::Tell
            };
            j += 1;
            if !self.is(j, "to") {
                return None;
            }
            let (targets, k) = self.targets(j + 1, p)?;
            return self.message_form(verb, targets, k, "send");
        }
        let (targets, mut k) = self.targets(j, p)?;
        if self.is_any(k, &["a", "an"]) {
            k += 1;
        }
        if !self.is_any(k, THINGS) {
            return None;
        }
        let verb = if self.is(k, "reminder") {
            Verb::Remind
        } else {
            Verb::Tell
        };
        self.message_form(verb, targets, k + 1, "send")
    }

    fn after_verb(&self, verb: Verb, i: usize, word: &str) -> Option<Parsed<'a>> {
        match self.targets(i, i) {
            Some((targets, j)) => self.message_form(verb, targets, j, word),
            // "Notify about the delivery": a request without a recipient.
            None => Some(Parsed {
                verb,
                targets: Vec::new(),
                form: Form::Clause,
                body: self.skip_connective(i),
            }),
        }
    }

    fn skip_connective(&self, mut j: usize) -> usize {
        while self.is_any(j, &[":", ",", "-", "—", "–", "that"]) {
            j += 1;
        }
        j
    }

    /// Reads how the message is introduced after the recipients.
    fn message_form(
        &self,
        verb: Verb,
        targets: Vec<Target<'a>>,
        mut j: usize,
        word: &str,
    ) -> Option<Parsed<'a>> {
        // Markers between recipients and message: "tell Luca asap that ...", "right away".
        loop {
            if self.is_any(j, &["asap", "urgently", "please", "immediately", "quickly"]) {
                j += 1;
            } else if self.phrase_at(j, &["right", "away"]) || self.phrase_at(j, &["right", "now"])
            {
                j += 2;
            } else {
                break;
            }
        }
        let mut form = Form::Clause;
        if self.is_any(j, &[":", ",", "-", "—", "–"]) {
            j = self.skip_connective(j);
        } else if self.is(j, "that") || self.is(j, "saying") {
            j = self.skip_connective(j + 1);
        } else if self.is(j, "to") && verb != Verb::Log {
            form = Form::Infinitive;
            j += 1;
        } else if self.is_any(j, &["about", "regarding", "re", "concerning"])
            || (self.is_any(j, &["of", "on"])
                && matches!(
                    word,
                    "notify" | "inform" | "update" | "remind" | "warn" | "alert"
                ))
        {
            form = Form::Topic;
            j += 1;
        } else if verb == Verb::Ask && self.is_any(j, &["if", "whether"]) {
            form = Form::YesNo(self.tokens[j].lower.clone());
            j += 1;
        } else if verb == Verb::Ask && self.is_any(j, WH_WORDS) {
            form = Form::Wh(self.tokens[j].lower.clone());
            j += 1;
        } else if verb == Verb::Ask && self.is(j, "for") {
            form = Form::For;
            j += 1;
        }
        Some(Parsed {
            verb,
            targets,
            form,
            body: j,
        })
    }

    fn log_body(&self, mut j: usize) -> Parsed<'a> {
        while (self.is_any(j, &[":", ",", "-", "—", "–", "that", "down", "of"])
            && self.is_word(j + 1))
            || self.phrase_at(j, &["the", "fact", "that"])
        {
            j += if self.is(j, "the") { 3 } else { 1 };
        }
        Parsed {
            verb: Verb::Log,
            targets: Vec::new(),
            form: Form::Clause,
            body: j,
        }
    }

    /// Reads one or more recipients at `i` (joined by "and", "&" or commas). `clause` is where
    /// the request starts (pronouns refer to people named before it).
    fn targets(&self, mut i: usize, clause: usize) -> Option<(Vec<Target<'a>>, usize)> {
        let (first, j) = self.target(i, clause)?;
        let mut targets = vec![first];
        i = j;
        loop {
            let mut k = i;
            if self.is(k, ",") {
                k += 1;
            }
            if self.is_any(k, &["and", "&", "plus"]) {
                k += 1;
            }
            if k == i {
                break;
            }
            match self.target(k, clause) {
                Some((t, next)) if t.known() || self.unknown_name_in_list(k, next) => {
                    targets.push(t);
                    i = next;
                }
                _ => break,
            }
        }
        Some((targets, i))
    }

    /// Whether tokens `k..next`, read as an unknown target inside a list, really look like a
    /// name: capitalised and followed by the end of the list.
    fn unknown_name_in_list(&self, k: usize, next: usize) -> bool {
        self.tokens[k].capitalised
            && (self.is_any(next, &["that", ":", ",", "to", "know", "about", "and"])
                || next >= self.tokens.len())
    }

    /// Reads one recipient at `i`.
    fn target(&self, i: usize, clause: usize) -> Option<(Target<'a>, usize)> {
        let t = self.tok(i)?;
        if !t.word {
            return None;
        }
        if t.is_any(&["me", "myself"]) {
            return Some((Target::Me, i + 1));
        }
        if t.is("us") {
            return Some((Target::Us, i + 1));
        }
        if t.is_any(PRONOUNS) {
            let target = self
                .resolve_pronoun(clause)
                .map_or_else(|| Target::Unresolved(t.lower.clone()), Target::Person);
            return Some((target, i + 1));
        }
        if let Some(found) = self.name_at(i) {
            return Some(found);
        }
        if let Some(found) = self.title_at(i) {
            return Some(found);
        }
        if let Some(found) = self.everyone_at(i) {
            return Some(found);
        }
        if t.is_any(CONNECTIVES) || t.is_any(NOT_NAMES) {
            return None;
        }
        // Not in the roster: a name ("Marco", "Marco Polo") or a title ("the sommelier").
        let mut j = i + 1;
        if t.is_any(DETERMINERS) {
            while j < i + 4
                && self.is_word(j)
                && !self.is_any(j, CONNECTIVES)
                && !self.is_any(j, NOT_NAMES)
                && !self.is_any(j, DETERMINERS)
            {
                j += 1;
            }
            if j == i + 1 {
                return None;
            }
        } else if self
            .tok(j)
            .is_some_and(|n| n.word && n.capitalised && t.capitalised && !n.is_any(CONNECTIVES))
        {
            j += 1;
        }
        Some((Target::Unknown(self.span(i, j).to_owned()), j))
    }

    /// A roster user by full name, first name or surname at `i` (the longest match).
    fn name_at(&self, i: usize) -> Option<(Target<'a>, usize)> {
        let mut best: Vec<(&'a RosterEntry, usize)> = Vec::new();
        for entry in &self.prompt.roster {
            let words = name_words(entry);
            let len = if words.len() > 1 && words.iter().enumerate().all(|(k, w)| self.is(i + k, w))
            {
                words.len()
            } else if words.first().is_some_and(|w| self.is(i, w))
                || (words.len() > 1 && words.last().is_some_and(|w| self.is(i, w)))
            {
                1
            } else {
                continue;
            };
            best.push((entry, len));
        }
        let longest = best.iter().map(|(_, l)| *l).max()?;
        let winners: Vec<&'a RosterEntry> = best
            .iter()
            .filter(|(_, l)| *l == longest)
            .map(|(e, _)| *e)
            .collect();
        let next = i + longest;
        if winners.len() == 1 {
            Some((Target::Person(winners[0]), next))
        } else {
            Some((
                Target::Ambiguous {
                    phrase: self.span(i, next).to_owned(),
                    candidates: winners,
                },
                next,
            ))
        }
    }

    /// A title or role phrase at `i`: "the head chef", "all waiters", "maintenance", "staff".
    fn title_at(&self, i: usize) -> Option<(Target<'a>, usize)> {
        let mut j = i;
        let mut plural_det = false;
        let mut any_det = false;
        while self.is_any(j, DETERMINERS) || self.is(j, "of") && any_det {
            plural_det |= self.is_any(j, &["all", "every", "each"]);
            any_det = true;
            j += 1;
        }
        let content_start = j;
        let mut end = j;
        while end < content_start + 4
            && self.is_word(end)
            && !self.is_any(end, CONNECTIVES)
            && !self.is_any(end, DETERMINERS)
            && !self.is_any(end, NOT_NAMES)
        {
            end += 1;
        }
        let sender = self.sender();
        for stop in (content_start + 1..=end).rev() {
            let phrase = self.span(content_start, stop);
            let matching: Vec<&'a RosterEntry> = self
                .prompt
                .roster
                .iter()
                .filter(|u| roster::matches_title_or_role(u, phrase))
                .collect();
            if matching.is_empty() {
                continue;
            }
            let last = &self.tokens[stop - 1].lower;
            let plural = plural_det
                || (roster::singular(last) != *last && last.ends_with('s'))
                || self.tokens[content_start..stop]
                    .iter()
                    .any(|t| t.is_any(COLLECTIVES));
            if plural {
                let members = matching.into_iter().filter(|u| u.id != sender).collect();
                return Some((
                    Target::Group {
                        phrase: phrase.to_owned(),
                        members,
                    },
                    stop,
                ));
            }
            let others: Vec<&'a RosterEntry> = matching
                .iter()
                .copied()
                .filter(|u| u.id != sender)
                .collect();
            let target = match (others.len(), matching.len()) {
                (1, _) => Target::Person(others[0]),
                (0, 1) => Target::Person(matching[0]),
                _ => Target::Ambiguous {
                    phrase: self.span(i, stop).to_owned(),
                    candidates: if others.is_empty() { matching } else { others },
                },
            };
            return Some((target, stop));
        }
        // "all sommeliers": a group the roster does not have.
        if plural_det && end > content_start {
            return Some((
                Target::Group {
                    phrase: self.span(content_start, end).to_owned(),
                    members: Vec::new(),
                },
                end,
            ));
        }
        None
    }

    /// "everyone", "everybody", "all", "the (whole) team", "all of you" at `i`.
    fn everyone_at(&self, i: usize) -> Option<(Target<'a>, usize)> {
        for len in (1..=4).rev() {
            if i + len > self.tokens.len() || (i..i + len).any(|k| !self.is_word(k)) {
                continue;
            }
            let last = &self.tokens[i + len - 1];
            if roster::is_everyone(self.span(i, i + len))
                && !last.is_any(&["the", "whole", "entire", "of", "here"])
            {
                let sender = self.sender();
                let members = self
                    .prompt
                    .roster
                    .iter()
                    .filter(|u| u.id != sender)
                    .collect();
                return Some((Target::Everyone(members), i + len));
            }
        }
        None
    }

    /// The person a pronoun refers to: the one roster user named earlier in the message, else
    /// in the most recent turn of the history that names exactly one.
    fn resolve_pronoun(&self, before: usize) -> Option<&'a RosterEntry> {
        let earlier = self.span(0, before);
        let mentioned = self.mentioned_in(earlier);
        if mentioned.len() == 1 {
            return mentioned.first().copied();
        }
        if mentioned.len() > 1 {
            return None;
        }
        for turn in self.prompt.history.iter().rev().take(6) {
            let mentioned = self.mentioned_in(&turn.content);
            match mentioned.len() {
                0 => {}
                1 => return mentioned.first().copied(),
                _ => return None,
            }
        }
        None
    }

    /// Roster users (other than the sender) named in `text` by first name or surname.
    fn mentioned_in(&self, text: &str) -> Vec<&'a RosterEntry> {
        let words = roster::words(text);
        self.prompt
            .roster
            .iter()
            .filter(|u| u.id != self.sender())
            .filter(|u| {
                let names = name_words(u);
                names.first().is_some_and(|n| words.contains(n))
                    || (names.len() > 1 && names.last().is_some_and(|n| words.contains(n)))
            })
            .collect()
    }
}

/// Reads the message of `prompt`.
pub fn read(prompt: &Prompt) -> Intent<'_> {
    let reader = Reader::new(prompt);
    let n = reader.tokens.len();
    // Every place a request starts: (clause start, parsed).
    let mut found: Vec<(usize, Parsed<'_>)> = Vec::new();
    for p in 0..n {
        let sentence = reader.sentence_start(p);
        if !sentence && !reader.clause_start(p) {
            continue;
        }
        if found.last().is_some_and(|(_, last)| last.body > p) {
            continue;
        }
        let Some(parsed) = reader.parse(p) else {
            continue;
        };
        // Mid-sentence, only a clear new request splits the message.
        let clear = parsed.verb == Verb::Log
            || (!parsed.targets.is_empty() && parsed.targets.iter().all(Target::known));
        // "Update on the delivery?" is a question, not a request without a recipient.
        let question = parsed.targets.is_empty()
            && parsed.verb != Verb::Log
            && prompt.message.trim_end().ends_with('?');
        if (sentence || clear) && !question {
            found.push((p, parsed));
        }
    }
    if found.is_empty() {
        return small_talk(&reader)
            .unwrap_or_else(|| Intent::Question(prompt.message.trim().to_owned()));
    }
    // "Tell me ...", "Can you let me know ...": a question in request form.
    if let [(_, parsed)] = found.as_slice()
        && matches!(parsed.targets.as_slice(), [Target::Me | Target::Us])
        && matches!(parsed.verb, Verb::Tell | Verb::Ask)
    {
        let body = reader.span(parsed.body, n);
        let question = match &parsed.form {
            Form::Wh(w) | Form::YesNo(w) => format!("{w} {body}"),
            _ => body.to_owned(),
        };
        return Intent::Question(question.trim().to_owned());
    }
    let mut commands = Vec::new();
    let mut previous_body = String::new();
    for (k, (start, parsed)) in found.iter().enumerate() {
        let end = found.get(k + 1).map_or(n, |(next, _)| *next);
        let body_end = trim_end(&reader, parsed.body, end);
        let body_start = trim_start(&reader, parsed.body, body_end);
        let mut body = reader.span(body_start, body_end).to_owned();
        if !body.chars().any(char::is_alphanumeric) {
            // "..., can you let maintenance know?": the "?" is not a message.
            body.clear();
        }
        let pronoun = matches!(
            body.to_lowercase().as_str(),
            "it" | "that" | "this" | "this too" | "it too" | "so"
        );
        if body.is_empty() || (parsed.verb == Verb::Log && pronoun) {
            // "... and log it": the log repeats the previous request's text; "My heating is
            // broken, please tell Ana": the message is what came before the request.
            let before_end = trim_end(&reader, 0, *start);
            let before = reader.span(0, before_end);
            if parsed.verb == Verb::Log && !previous_body.is_empty() {
                body.clone_from(&previous_body);
            } else if k == 0 && !before.is_empty() && !before.ends_with('?') {
                body = before.to_owned();
            }
        }
        let segment_start = if k == 0 { 0 } else { *start };
        let priority = priority_of(reader.span(segment_start, end));
        let message = compose(parsed, &body);
        previous_body = if body.is_empty() { previous_body } else { body };
        commands.push(Command {
            verb: parsed.verb,
            targets: parsed.targets.clone(),
            message,
            priority,
        });
    }
    Intent::Commands(commands)
}

/// Drops trailing connectives, politeness and urgency markers from `start..end`.
fn trim_end(reader: &Reader<'_>, start: usize, mut end: usize) -> usize {
    while end > start {
        let t = &reader.tokens[end - 1];
        let drop = t.is_any(&[
            "and",
            "then",
            "also",
            "plus",
            "&",
            ",",
            ".",
            "!",
            ";",
            ":",
            "-",
            "please",
            "pls",
            "plz",
            "thanks",
            "thx",
            "ty",
            "cheers",
            "asap",
            "urgently",
            "immediately",
        ]) || (t.is("you") && end >= 2 && reader.tokens[end - 2].is("thank"))
            || (t.is("urgent") && end >= 2 && !reader.tokens[end - 2].word)
            || (t.is("away") && end >= 2 && reader.tokens[end - 2].is("right"));
        if !drop {
            break;
        }
        end -= 1;
        if (t.is("you") && reader.tokens[end - 1].is("thank"))
            || (t.is("away") && reader.tokens[end - 1].is("right"))
        {
            end -= 1;
        }
    }
    end
}

/// Drops leading connectives and markers from `start..end`.
fn trim_start(reader: &Reader<'_>, mut start: usize, end: usize) -> usize {
    while start < end
        && reader.tokens[start].is_any(&[
            ":",
            ",",
            "-",
            "—",
            "–",
            "that",
            "asap",
            "urgently",
            "please",
            "immediately",
        ])
    {
        start += 1;
    }
    start
}

/// The priority a request's words ask for.
fn priority_of(text: &str) -> Priority {
    let lower = text.to_lowercase();
    let words = roster::words(&lower);
    let has = |w: &str| words.iter().any(|x| x == w);
    let low = [
        "not urgent",
        "non-urgent",
        "nonurgent",
        "no rush",
        "no hurry",
        "low priority",
        "low-priority",
        "whenever you can",
        "when you get a chance",
    ];
    if low.iter().any(|p| lower.contains(p)) {
        return Priority::Low;
    }
    if lower.contains("urgent")
        || has("asap")
        || lower.contains("a.s.a.p")
        || lower.contains("as soon as possible")
        || has("immediately")
        || lower.contains("right away")
        || lower.contains("right now")
    {
        return Priority::Urgent;
    }
    if has("important") || lower.contains("high priority") || lower.contains("high-priority") {
        return Priority::High;
    }
    Priority::Normal
}

/// Who the pronouns at the start of a message refer to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// The recipient(s): "he is" -> "you are".
    Them,
    /// The sender writing to themselves: "I am" -> "you are".
    Sender,
    /// Nobody (a log): leave the text alone.
    Nobody,
}

/// The notification text (or log details) of a request.
fn compose(parsed: &Parsed<'_>, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    let audience = if parsed.verb == Verb::Log {
        Audience::Nobody
    } else if matches!(parsed.targets.as_slice(), [Target::Me]) {
        Audience::Sender
    } else {
        Audience::Them
    };
    let shifted = shift_pronouns(body, audience);
    let bare = strip_final(&shifted);
    match (&parsed.form, parsed.verb) {
        (Form::Infinitive, Verb::Remind) => format!("Please remember to {}.", decapitalise(bare)),
        (Form::Infinitive, Verb::Ask) => format!("Could you {}?", decapitalise(bare)),
        (Form::Infinitive, _) => format!("Please {}.", decapitalise(bare)),
        (Form::Topic, Verb::Remind) => format!("Don't forget: {}.", decapitalise(bare)),
        (Form::Topic, Verb::Ask) => format!("Could you tell me about {}?", decapitalise(bare)),
        (Form::Topic, _) => format!("Heads-up about {}.", decapitalise(bare)),
        (Form::YesNo(w), _) => format!("Could you let me know {w} {}?", decapitalise(bare)),
        (Form::Wh(w), _) => format!("Could you tell me {w} {}?", decapitalise(bare)),
        (Form::For, _) => format!("Could I have {}?", decapitalise(bare)),
        (Form::Clause, verb) => {
            let mut text = capitalise(shifted.trim_end_matches([',', ';', ':', '-', ' ']));
            // "Could you tell Luca that table 5 has a nut allergy?": the question mark belongs
            // to the request, not to the message, unless the message is a question itself.
            if verb != Verb::Ask && text.ends_with('?') && !is_question(&text) {
                text = strip_final(&text).to_owned();
            }
            // A trailing full stop is the reply's to add; "?" and "!" are kept.
            text.strip_suffix('.')
                .map_or_else(|| text.clone(), |t| t.trim_end().to_owned())
        }
    }
}

/// Whether `text` reads as a question (starts with a question word or an auxiliary verb).
fn is_question(text: &str) -> bool {
    const STARTS: &[&str] = &[
        "is", "are", "was", "were", "do", "does", "did", "can", "could", "will", "would", "should",
        "has", "have", "may", "shall",
    ];
    tokenize(text)
        .first()
        .is_some_and(|t| t.is_any(WH_WORDS) || t.is_any(STARTS))
}

/// `text` without final punctuation.
fn strip_final(text: &str) -> &str {
    text.trim_end_matches(['.', '?', '!', ',', ';', ':', ' '])
}

/// Addresses the recipient: "she is on the Friday shift" -> "you are on the Friday shift",
/// "his order arrived" -> "your order arrived"; for a note to oneself "I have a meeting" ->
/// "you have a meeting". Only a pronoun at the very start is changed (after a leading "wh"
/// word nothing else is touched): further in, a pronoun may be someone else.
fn shift_pronouns(text: &str, audience: Audience) -> String {
    if audience == Audience::Nobody {
        return text.to_owned();
    }
    let tokens = tokenize(text);
    let Some(first) = tokens.first().filter(|t| t.word) else {
        return text.to_owned();
    };
    let third = audience == Audience::Them;
    let (replacement, agree) = match first.lower.as_str() {
        "he" | "she" if third => ("you", true),
        "they" if third => ("you", false),
        "he's" | "she's" | "they're" if third => ("you're", false),
        "he'll" | "she'll" | "they'll" if third => ("you'll", false),
        "he'd" | "she'd" | "they'd" if third => ("you'd", false),
        "his" | "her" | "their" if third => ("your", false),
        "i" if !third => ("you", true),
        "i'm" if !third => ("you're", false),
        "i'll" if !third => ("you'll", false),
        "i've" if !third => ("you've", false),
        "i'd" if !third => ("you'd", false),
        "my" if !third => ("your", false),
        _ => return text.to_owned(),
    };
    let mut out = String::with_capacity(text.len() + 4);
    out.push_str(replacement);
    let mut rest_from = first.end;
    if agree {
        // The verb after the pronoun, possibly after one adverb ("she always works").
        let mut k = 1;
        if tokens
            .get(k)
            .is_some_and(|t| t.is_any(ADVERBS) || t.lower.ends_with("ly"))
        {
            k += 1;
        }
        if let Some(verb) = tokens.get(k).filter(|t| t.word)
            && let Some(agreed) = agree_verb(&verb.lower, third)
        {
            out.push_str(&text[first.end..verb.start]);
            out.push_str(&agreed);
            rest_from = verb.end;
        }
    }
    out.push_str(&text[rest_from..]);
    out
}

/// The form of `verb` after "you", if it changes ("is" -> "are", "needs" -> "need").
fn agree_verb(verb: &str, third_person: bool) -> Option<String> {
    if !third_person {
        return match verb {
            "am" => Some("are".into()),
            "was" => Some("were".into()),
            _ => None,
        };
    }
    let fixed = match verb {
        "is" => Some("are"),
        "was" => Some("were"),
        "has" => Some("have"),
        "does" => Some("do"),
        "doesn't" => Some("don't"),
        "isn't" => Some("aren't"),
        "wasn't" => Some("weren't"),
        "hasn't" => Some("haven't"),
        "goes" => Some("go"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_owned());
    }
    if MODALS.contains(&verb)
        || verb.contains('\'')
        || verb.len() <= 2
        || !verb.ends_with('s')
        || verb.ends_with("ss")
        || verb.ends_with("us")
        || verb.ends_with("is")
    {
        return None;
    }
    if let Some(stem) = verb.strip_suffix("ies") {
        return Some(format!("{stem}y"));
    }
    for suffix in ["sses", "shes", "ches", "xes", "zes", "oes"] {
        if verb.ends_with(suffix) {
            return Some(verb[..verb.len() - 2].to_owned());
        }
    }
    Some(verb[..verb.len() - 1].to_owned())
}

/// A message that is only a greeting, only thanks, or a question about the agent itself.
fn small_talk(reader: &Reader<'_>) -> Option<Intent<'static>> {
    let words: Vec<&str> = reader
        .tokens
        .iter()
        .filter(|t| t.word)
        .map(|t| t.lower.as_str())
        .collect();
    if words.is_empty() {
        return None;
    }
    const HELLO: &[&str] = &[
        "hi",
        "hello",
        "hey",
        "hiya",
        "yo",
        "ciao",
        "buongiorno",
        "good",
        "morning",
        "afternoon",
        "evening",
        "there",
        "howdy",
        "concierge",
        "assistant",
        "everyone",
    ];
    const THANKS: &[&str] = &[
        "thanks",
        "thank",
        "you",
        "thx",
        "ty",
        "cheers",
        "great",
        "ok",
        "okay",
        "perfect",
        "grazie",
        "so",
        "much",
        "very",
        "a",
        "lot",
        "awesome",
        "cool",
        "nice",
        "brilliant",
    ];
    if words.iter().all(|w| HELLO.contains(w))
        && words.iter().any(|w| !matches!(*w, "there" | "everyone"))
    {
        return Some(Intent::Greeting);
    }
    if words.iter().all(|w| THANKS.contains(w)) {
        let grateful = words
            .iter()
            .any(|w| matches!(*w, "thanks" | "thank" | "thx" | "ty" | "cheers" | "grazie"));
        return Some(if grateful {
            Intent::Thanks
        } else {
            Intent::Ack
        });
    }
    let joined = words.join(" ");
    const HELP: &[&str] = &[
        "help",
        "help me",
        "what can you do",
        "what do you do",
        "who are you",
        "what are you",
        "how can you help",
        "how can you help me",
        "how do you work",
        "what can i ask",
        "what can i ask you",
    ];
    if HELP.contains(&joined.as_str()) {
        return Some(Intent::Help);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pronouns_address_the_recipient() {
        let them = |t| shift_pronouns(t, Audience::Them);
        assert_eq!(
            them("she is on the Friday shift"),
            "you are on the Friday shift"
        );
        assert_eq!(
            them("he needs to check the freezer"),
            "you need to check the freezer"
        );
        assert_eq!(them("she always works Sundays"), "you always work Sundays");
        assert_eq!(them("his order arrived"), "your order arrived");
        assert_eq!(them("they're late"), "you're late");
        assert_eq!(them("he can stay late"), "you can stay late");
        assert_eq!(them("he watches table 4"), "you watch table 4");
        assert_eq!(them("the fish is late"), "the fish is late");
        assert_eq!(them("I am late"), "I am late");
        let me = |t| shift_pronouns(t, Audience::Sender);
        assert_eq!(me("I am on call tomorrow"), "you are on call tomorrow");
        assert_eq!(
            me("my keys are in the office"),
            "your keys are in the office"
        );
        assert_eq!(shift_pronouns("he is late", Audience::Nobody), "he is late");
    }

    #[test]
    fn priorities() {
        assert_eq!(priority_of("tell luca it's urgent"), Priority::Urgent);
        assert_eq!(priority_of("URGENT: freezer"), Priority::Urgent);
        assert_eq!(priority_of("asap please"), Priority::Urgent);
        assert_eq!(
            priority_of("tell him as soon as possible"),
            Priority::Urgent
        );
        assert_eq!(priority_of("not urgent, but tell him"), Priority::Low);
        assert_eq!(
            priority_of("important: the alarm code changed"),
            Priority::High
        );
        assert_eq!(priority_of("the wasp nest"), Priority::Normal);
    }
}
