//! The roster: who the tenant's users are, and how a phrase such as "the head chef", "all
//! waiters" or "everyone" picks some of them.
//!
//! Both the action registry (a `notify_role` action names a title or a role) and the offline
//! provider (which reads "tell the chef ..." in plain English) resolve people here, so what the
//! offline provider promises in its reply is exactly what the registry then executes.
//!
//! Matching is by words, case-insensitive and plural-tolerant: every content word of the phrase
//! (after dropping determiners such as "the", "all", "our" and fillers such as "guy", "team")
//! must be a word of the user's title (singularised) or the name of the user's role, directly or
//! through a small table of common job synonyms ("cook" for "chef", "server" for "waiter").
//! "waiters" matches the title "Waiter", "chefs" matches "Head chef", "staff" matches every
//! STAFF user, "maintenance" matches "Maintenance technician". Only the tenant's roster is ever
//! searched: a phrase can never reach anyone outside it.

use entity::{Role, UserId};

use crate::prompt::RosterEntry;

/// Words that only introduce a group or a person ("the", "all", "our", ...).
const DETERMINERS: &[&str] = &[
    "the", "a", "an", "all", "every", "each", "our", "my", "your", "of", "any", "both",
];

/// Words that say "a person who" without naming a job ("the maintenance guy").
const FILLERS: &[&str] = &[
    "guy", "guys", "person", "persons", "people", "lady", "ladies", "man", "men", "woman", "women",
    "folk", "folks", "crew", "team", "on", "duty", "in", "charge",
];

/// Phrases meaning every user of the tenant (after determiners are dropped).
const EVERYONE_WORDS: &[&str] = &[
    "everyone",
    "everybody",
    "all",
    "team",
    "people",
    "folks",
    "users",
    "user",
    "colleague",
    "colleagues",
    "*",
];

/// Common names of jobs and roles, mapped to the words titles usually use. Applied only as
/// alternatives: a word always matches itself first.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("cook", &["chef"]),
    ("kitchen", &["chef", "cook"]),
    ("server", &["waiter", "waitress"]),
    ("waitress", &["waiter"]),
    ("waitstaff", &["waiter"]),
    ("waiter", &["waitress", "server"]),
    ("boss", &["manager", "owner"]),
    ("landlord", &["manager", "owner"]),
    ("management", &["manager"]),
    ("handyman", &["technician", "maintenance"]),
    ("janitor", &["technician", "maintenance", "caretaker"]),
    ("caretaker", &["technician", "maintenance"]),
    ("super", &["technician", "maintenance", "caretaker"]),
    (
        "superintendent",
        &["technician", "maintenance", "caretaker"],
    ),
    ("repair", &["maintenance", "technician"]),
    ("employee", &["staff"]),
    ("worker", &["staff"]),
    ("tenant", &["resident", "member"]),
    ("renter", &["resident", "member"]),
    ("occupant", &["resident", "member"]),
    ("resident", &["member"]),
];

/// Lower-cased words of `text`: runs of letters and digits (an apostrophe inside a word is
/// dropped, so "chef's" is "chefs").
#[must_use]
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’' || c == '*'))
        .map(|w| {
            w.chars()
                .filter(|c| *c != '\'' && *c != '’')
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The singular of an English noun, as far as job titles need it: "waiters" -> "waiter",
/// "technicians" -> "technician", "chefs" -> "chef", "bosses" -> "boss", "deliveries" ->
/// "delivery". Words of three letters or fewer and words ending in "ss" are left alone.
#[must_use]
pub fn singular(word: &str) -> String {
    let w = word.to_lowercase();
    if w.chars().count() <= 3 || w.ends_with("ss") || w.ends_with("us") || w.ends_with("is") {
        return w;
    }
    if let Some(stem) = w.strip_suffix("ies") {
        return format!("{stem}y");
    }
    for suffix in ["sses", "shes", "ches", "xes"] {
        if w.ends_with(suffix) {
            return w[..w.len() - 2].to_owned();
        }
    }
    match w.strip_suffix('s') {
        Some(stem) => stem.to_owned(),
        None => w,
    }
}

/// The lower-case name of a role, as users say it.
#[must_use]
pub const fn role_word(role: Role) -> &'static str {
    match role {
        Role::Manager => "manager",
        Role::Staff => "staff",
        Role::Member => "member",
    }
}

/// The content words of a phrase: singularised, without determiners and fillers.
fn content_words(phrase: &str) -> Vec<String> {
    words(phrase)
        .into_iter()
        .filter(|w| !DETERMINERS.contains(&w.as_str()) && !FILLERS.contains(&w.as_str()))
        .map(|w| singular(&w))
        .collect()
}

/// Whether `phrase` means every user of the tenant: "everyone", "everybody", "all", "the whole
/// team", "all of you", ...
#[must_use]
pub fn is_everyone(phrase: &str) -> bool {
    let all = words(phrase);
    if all.is_empty() {
        return false;
    }
    let mut named = false;
    for w in &all {
        if EVERYONE_WORDS.contains(&w.as_str()) {
            named = true;
        } else if !matches!(
            w.as_str(),
            "the" | "whole" | "entire" | "of" | "you" | "here"
        ) {
            return false;
        }
    }
    named
}

fn alternatives(word: &str) -> impl Iterator<Item = &str> {
    std::iter::once(word).chain(
        SYNONYMS
            .iter()
            .filter(move |(w, _)| *w == word)
            .flat_map(|(_, alts)| alts.iter().copied()),
    )
}

/// Whether `entry` has the title or role `phrase` names ("waiters", "the head chef", "staff",
/// "maintenance guy"). A phrase without any content word matches nobody; "everyone" is not a
/// title (see [`is_everyone`]).
#[must_use]
pub fn matches_title_or_role(entry: &RosterEntry, phrase: &str) -> bool {
    let wanted = content_words(phrase);
    if wanted.is_empty() {
        return false;
    }
    let title: Vec<String> = entry
        .title
        .as_deref()
        .map(|t| words(t).iter().map(|w| singular(w)).collect())
        .unwrap_or_default();
    let role = role_word(entry.role);
    wanted
        .iter()
        .all(|w| alternatives(w).any(|alt| alt == role || title.iter().any(|t| t == alt)))
}

/// The users a `notify_role` audience reaches: everyone for [`is_everyone`] phrases, else every
/// user whose title or role matches; never the sender.
#[must_use]
pub fn audience<'a>(
    roster: &'a [RosterEntry],
    phrase: &str,
    sender: UserId,
) -> Vec<&'a RosterEntry> {
    let everyone = is_everyone(phrase);
    roster
        .iter()
        .filter(|u| u.id != sender)
        .filter(|u| everyone || matches_title_or_role(u, phrase))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, title: &str, role: Role) -> RosterEntry {
        RosterEntry {
            id: UserId::new(),
            name: name.into(),
            title: Some(title.into()),
            role,
        }
    }

    fn sole() -> Vec<RosterEntry> {
        vec![
            entry("Maria Rossi", "Owner and manager", Role::Manager),
            entry("Luca Bianchi", "Head chef", Role::Staff),
            entry("Sofia Verdi", "Waiter", Role::Staff),
        ]
    }

    fn names(found: &[&RosterEntry]) -> Vec<String> {
        found.iter().map(|u| u.name.clone()).collect()
    }

    #[test]
    fn singular_handles_the_plurals_of_job_titles() {
        for (plural, one) in [
            ("waiters", "waiter"),
            ("chefs", "chef"),
            ("technicians", "technician"),
            ("deliveries", "delivery"),
            ("bosses", "boss"),
            ("boss", "boss"),
            ("staff", "staff"),
            ("bus", "bus"),
            ("Managers", "manager"),
        ] {
            assert_eq!(singular(plural), one, "{plural}");
        }
    }

    #[test]
    fn titles_match_case_insensitively_and_plural_tolerantly() {
        let roster = sole();
        let sender = roster[0].id;
        assert_eq!(
            names(&audience(&roster, "waiters", sender)),
            ["Sofia Verdi"]
        );
        assert_eq!(names(&audience(&roster, "Waiter", sender)), ["Sofia Verdi"]);
        assert_eq!(names(&audience(&roster, "chefs", sender)), ["Luca Bianchi"]);
        assert_eq!(
            names(&audience(&roster, "the head chefs", sender)),
            ["Luca Bianchi"]
        );
        assert_eq!(names(&audience(&roster, "cooks", sender)), ["Luca Bianchi"]);
        assert_eq!(
            names(&audience(&roster, "servers", sender)),
            ["Sofia Verdi"]
        );
        assert_eq!(
            names(&audience(&roster, "all staff", sender)),
            ["Luca Bianchi", "Sofia Verdi"]
        );
        assert_eq!(
            names(&audience(&roster, "kitchen staff", sender)),
            ["Luca Bianchi"]
        );
        assert!(audience(&roster, "sommeliers", sender).is_empty());
        assert!(audience(&roster, "head waiters", sender).is_empty());
        assert!(audience(&roster, "the", sender).is_empty());
    }

    #[test]
    fn the_sender_is_never_in_the_audience() {
        let roster = sole();
        let luca = roster[1].id;
        assert!(audience(&roster, "chefs", luca).is_empty());
        assert_eq!(
            names(&audience(&roster, "everyone", luca)),
            ["Maria Rossi", "Sofia Verdi"]
        );
    }

    #[test]
    fn everyone_phrases() {
        for p in [
            "everyone",
            "Everybody",
            "all",
            "the whole team",
            "all of you",
            "all users",
        ] {
            assert!(is_everyone(p), "{p}");
        }
        for p in ["all waiters", "staff", "the chef", ""] {
            assert!(!is_everyone(p), "{p}");
        }
    }

    #[test]
    fn property_titles_and_roles() {
        let roster = vec![
            entry("James Park", "Property manager", Role::Manager),
            entry("Ana Costa", "Maintenance technician", Role::Staff),
            entry("Tom Weber", "Resident, unit 4B", Role::Member),
        ];
        let sender = roster[2].id;
        assert_eq!(
            names(&audience(&roster, "maintenance", sender)),
            ["Ana Costa"]
        );
        assert_eq!(
            names(&audience(&roster, "the maintenance guy", sender)),
            ["Ana Costa"]
        );
        assert_eq!(
            names(&audience(&roster, "technicians", sender)),
            ["Ana Costa"]
        );
        assert_eq!(
            names(&audience(&roster, "managers", sender)),
            ["James Park"]
        );
        let james = roster[0].id;
        assert_eq!(names(&audience(&roster, "residents", james)), ["Tom Weber"]);
        assert_eq!(names(&audience(&roster, "members", james)), ["Tom Weber"]);
        assert_eq!(names(&audience(&roster, "tenants", james)), ["Tom Weber"]);
    }
}
