//! The offline provider over both demo tenants: their rosters, and their knowledge ranked for
//! each question by the `hash` embedder the way retrieval does.

use entity::{MessageId, MessageRole, Role, TenantId, TenantKind};

use super::*;
use crate::action::{Action, ActionRegistry, NotifyRole, NotifyUser};
use crate::embedding::HashEmbedder;
use crate::knowledge::chunk_markdown;
use crate::llm::NoDeltas;
use crate::prompt::{TenantProfile, Turn};
use crate::retrieval::KnowledgeChunk;

const SOLE_DOCS: [&str; 6] = [
    include_str!("../../../../api/demo/sole/hours.md"),
    include_str!("../../../../api/demo/sole/shifts.md"),
    include_str!("../../../../api/demo/sole/roster.md"),
    include_str!("../../../../api/demo/sole/allergens.md"),
    include_str!("../../../../api/demo/sole/closing.md"),
    include_str!("../../../../api/demo/sole/menu.md"),
];
const HARBORVIEW_DOCS: [&str; 5] = [
    include_str!("../../../../api/demo/harborview/office.md"),
    include_str!("../../../../api/demo/harborview/maintenance.md"),
    include_str!("../../../../api/demo/harborview/roster.md"),
    include_str!("../../../../api/demo/harborview/house-rules.md"),
    include_str!("../../../../api/demo/harborview/repairs.md"),
];
/// Chunks given to the prompt, like the consumer's retrieval.
const TOP_K: usize = 4;

struct Tenant {
    profile: TenantProfile,
    roster: Vec<RosterEntry>,
    chunks: Vec<KnowledgeChunk>,
}

fn tenant(name: &str, kind: TenantKind, users: &[(&str, &str, Role)], docs: &[&str]) -> Tenant {
    let roster = users
        .iter()
        .map(|(name, title, role)| RosterEntry {
            id: UserId::new(),
            name: (*name).into(),
            title: Some((*title).into()),
            role: *role,
        })
        .collect();
    let chunks = docs
        .iter()
        .flat_map(|d| chunk_markdown(d, None).unwrap())
        .map(|c| KnowledgeChunk {
            id: entity::KnowledgeId::new(),
            title: c.title,
            category: c.category,
            content: c.content,
            score: 0.0,
        })
        .collect();
    Tenant {
        profile: TenantProfile {
            id: TenantId::new(),
            name: name.into(),
            kind,
        },
        roster,
        chunks,
    }
}

fn sole() -> Tenant {
    tenant(
        "Trattoria Sole",
        TenantKind::Restaurant,
        &[
            ("Maria Rossi", "Owner and manager", Role::Manager),
            ("Luca Bianchi", "Head chef", Role::Staff),
            ("Sofia Verdi", "Waiter", Role::Staff),
        ],
        &SOLE_DOCS,
    )
}

fn harborview() -> Tenant {
    tenant(
        "Harbor View Apartments",
        TenantKind::Property,
        &[
            ("James Park", "Property manager", Role::Manager),
            ("Ana Costa", "Maintenance technician", Role::Staff),
            ("Tom Weber", "Resident, unit 4B", Role::Member),
        ],
        &HARBORVIEW_DOCS,
    )
}

impl Tenant {
    fn user(&self, first: &str) -> &RosterEntry {
        self.roster
            .iter()
            .find(|u| u.name.starts_with(first))
            .unwrap()
    }

    /// The top chunks for `message` by hash-embedding cosine, best first.
    fn retrieve(&self, message: &str) -> Vec<KnowledgeChunk> {
        let q = HashEmbedder::embed(message);
        let mut scored: Vec<KnowledgeChunk> = self
            .chunks
            .iter()
            .map(|c| {
                let text = match &c.title {
                    Some(t) => format!("{t}\n{}", c.content),
                    None => c.content.clone(),
                };
                KnowledgeChunk {
                    score: q.cosine(&HashEmbedder::embed(&text)),
                    ..c.clone()
                }
            })
            .collect();
        scored.sort_by(|a, b| b.score.total_cmp(&a.score));
        scored.truncate(TOP_K);
        scored
    }

    fn prompt(
        &self,
        sender: &str,
        message: &str,
        history: Vec<Turn>,
        actions: &ActionRegistry,
    ) -> Prompt {
        Prompt {
            tenant: self.profile.clone(),
            sender: self.user(sender).clone(),
            roster: self.roster.clone(),
            knowledge: self.retrieve(message),
            history,
            message: message.into(),
            actions: actions.catalogue(),
        }
    }

    /// The response to `message` from `sender`, after checking that every proposed action
    /// validates against the registry; returns the validated actions too.
    fn say_with(
        &self,
        sender: &str,
        message: &str,
        history: Vec<Turn>,
        registry: &ActionRegistry,
    ) -> (LlmResponse, Vec<Action>) {
        let prompt = self.prompt(sender, message, history, registry);
        let response = OfflineProvider::respond(&prompt);
        let source = MessageId::new();
        let ctx = crate::action::ActionContext {
            tenant: self.profile.id,
            sender: prompt.sender.id,
            source_message: source,
            roster: &self.roster,
        };
        let actions = response
            .actions
            .iter()
            .map(|p| {
                registry
                    .validate(p, &ctx)
                    .unwrap_or_else(|e| panic!("{message:?} proposed {p:?}, rejected: {e}"))
            })
            .collect();
        (response, actions)
    }

    fn say(&self, sender: &str, message: &str) -> (LlmResponse, Vec<Action>) {
        self.say_with(sender, message, Vec::new(), &ActionRegistry::builtin())
    }

    /// Expects exactly one notify_user to `to` and returns its message and priority.
    fn notify(&self, sender: &str, message: &str, to: &str) -> (String, Priority, String) {
        let (response, actions) = self.say(sender, message);
        let to = self.user(to).id;
        match actions.as_slice() {
            [
                Action::NotifyUser(NotifyUser {
                    to: t,
                    message: m,
                    priority,
                }),
            ] if *t == to => (m.clone(), *priority, response.reply),
            other => panic!(
                "{message:?}: expected one notify_user, got {other:?} ({})",
                response.reply
            ),
        }
    }
}

#[test]
fn the_examples_of_the_brief() {
    let sole = sole();
    let (message, priority, reply) =
        sole.notify("Maria", "Tell Luca that table 5 has a nut allergy", "Luca");
    assert_eq!(message, "Table 5 has a nut allergy");
    assert_eq!(priority, Priority::Normal);
    assert_eq!(
        reply,
        "Done - I told Luca Bianchi: Table 5 has a nut allergy."
    );

    let cases = [
        (
            "Let Luca know the fish delivery is late",
            "The fish delivery is late",
        ),
        (
            "Notify Luca: the walk-in freezer reads -12",
            "The walk-in freezer reads -12",
        ),
        (
            "Ask Luca to check the walk-in freezer",
            "Could you check the walk-in freezer?",
        ),
        (
            "Remind Luca to order more flour",
            "Please remember to order more flour.",
        ),
        (
            "Could you please tell Luca that table 5 has a nut allergy?",
            "Table 5 has a nut allergy",
        ),
        (
            "pls let the chef know that the burrata delivery arrived",
            "The burrata delivery arrived",
        ),
        (
            "tell the head chef table 12 is gluten free",
            "Table 12 is gluten free",
        ),
        (
            "TELL LUCA THAT TABLE 5 HAS A NUT ALLERGY",
            "TABLE 5 HAS A NUT ALLERGY",
        ),
        (
            "tell luca, table 5 has a nut allergy",
            "Table 5 has a nut allergy",
        ),
        (
            "Tell Luca Bianchi that the walnut pesto is finished.",
            "The walnut pesto is finished",
        ),
        ("Inform Bianchi that the oven is fixed", "The oven is fixed"),
        (
            "Hi! Could you tell Luca that table 3 wants the bill, thanks",
            "Table 3 wants the bill",
        ),
        (
            "Would you mind telling the chef that we have a party of 12 at 8",
            "We have a party of 12 at 8",
        ),
        (
            "Can you let Luca Bianchi know that the oven in the back is not heating?",
            "The oven in the back is not heating",
        ),
        (
            "Please send Luca a message saying the delivery arrived",
            "The delivery arrived",
        ),
        (
            "Give Luca a heads-up that the inspector is coming at 3",
            "The inspector is coming at 3",
        ),
        ("message the cook: two more risottos", "Two more risottos"),
        (
            "Tell Luca he needs to taste the new sauce",
            "You need to taste the new sauce",
        ),
        (
            "Tell Luca his knives are back from sharpening",
            "Your knives are back from sharpening",
        ),
        (
            "Notify Luca about the late fish delivery",
            "Heads-up about the late fish delivery.",
        ),
        (
            "Ask Luca if the fish is fresh today",
            "Could you let me know if the fish is fresh today?",
        ),
        (
            "Ask Luca when he arrives tomorrow",
            "Could you tell me when you arrive tomorrow?",
        ),
        (
            "Ask Luca for the delivery notes",
            "Could I have the delivery notes?",
        ),
        (
            "Remind Luca about the staff meeting at 3",
            "Don't forget: the staff meeting at 3.",
        ),
        ("Remind Luca that he closes tonight", "You close tonight"),
        (
            "I need you to tell Luca that table 9 is a birthday",
            "Table 9 is a birthday",
        ),
        (
            "Tell Luca that table 5 has a nut allergy. It's the guest by the window.",
            "Table 5 has a nut allergy. It's the guest by the window",
        ),
    ];
    for (said, expected) in cases {
        let (message, _, _) = sole.notify("Maria", said, "Luca");
        assert_eq!(message, expected, "{said:?}");
    }

    let (message, _, reply) =
        sole.notify("Maria", "Remind Sofia she is on the Friday shift", "Sofia");
    assert_eq!(message, "You are on the Friday shift");
    assert_eq!(
        reply,
        "Done - I reminded Sofia Verdi: You are on the Friday shift."
    );
}

#[test]
fn the_sender_can_be_any_user_and_reach_the_manager() {
    let sole = sole();
    let (message, _, reply) = sole.notify(
        "Sofia",
        "Tell Maria table 2 wants to see the manager",
        "Maria",
    );
    assert_eq!(message, "Table 2 wants to see the manager");
    assert!(reply.starts_with("Done - I told Maria Rossi:"), "{reply}");
    let (message, _, _) = sole.notify("Luca", "let the owner know we're out of basil", "Maria");
    assert_eq!(message, "We're out of basil");
    let (message, _, _) = sole.notify("Luca", "ask the manager to call the fish supplier", "Maria");
    assert_eq!(message, "Could you call the fish supplier?");
}

#[test]
fn harborview_phrasings() {
    let hv = harborview();
    let cases = [
        (
            "James",
            "tell Ana the boiler is leaking",
            "Ana",
            "The boiler is leaking",
        ),
        (
            "James",
            "Let the maintenance technician know the lift in block B is stuck",
            "Ana",
            "The lift in block B is stuck",
        ),
        (
            "Tom",
            "Tell the property manager that my sink is blocked",
            "James",
            "My sink is blocked",
        ),
        (
            "Tom",
            "Ask James if I can get a second parking permit",
            "James",
            "Could you let me know if I can get a second parking permit?",
        ),
        (
            "Tom",
            "Ask Ana when she can come to fix the heating",
            "Ana",
            "Could you tell me when you can come to fix the heating?",
        ),
        (
            "Tom",
            "please tell the super my radiator is broken",
            "Ana",
            "My radiator is broken",
        ),
        (
            "Tom",
            "let the maintenance guy know the hallway light is out",
            "Ana",
            "The hallway light is out",
        ),
        (
            "Ana",
            "Tell Tom I'll be there at 10 to fix the sink",
            "Tom",
            "I'll be there at 10 to fix the sink",
        ),
        (
            "Ana",
            "Remind James to order the boiler part",
            "James",
            "Please remember to order the boiler part.",
        ),
        (
            "James",
            "Notify the technician: pool chlorine is low",
            "Ana",
            "Pool chlorine is low",
        ),
        (
            "James",
            "Let Costa know the fire alarm test moved to 11",
            "Ana",
            "The fire alarm test moved to 11",
        ),
    ];
    for (sender, said, to, expected) in cases {
        let (message, _, _) = hv.notify(sender, said, to);
        assert_eq!(message, expected, "{said:?}");
    }
}

#[test]
fn urgency_raises_the_priority() {
    let sole = sole();
    for said in [
        "URGENT: tell Luca the freezer is broken",
        "Tell Luca asap that we are out of basil",
        "tell luca the freezer is broken, it's urgent",
        "Urgently let Luca know the gas smells",
        "Tell Luca right away that table 4 is allergic to shellfish",
        "Ask Luca to come to the pass as soon as possible",
    ] {
        let (_, priority, reply) = sole.notify("Maria", said, "Luca");
        assert_eq!(priority, Priority::Urgent, "{said:?}");
        assert!(reply.contains("(urgent)"), "{reply}");
    }
    let (message, _, _) = sole.notify("Maria", "Tell Luca asap that we are out of basil", "Luca");
    assert_eq!(message, "We are out of basil");
    let (message, _, _) = sole.notify("Maria", "tell luca the freezer is broken asap", "Luca");
    assert_eq!(message, "The freezer is broken");
    let (_, priority, _) = sole.notify(
        "Maria",
        "Tell Luca, not urgent, that the menu cards are in",
        "Luca",
    );
    assert_eq!(priority, Priority::Low);
}

#[test]
fn groups_and_everyone_become_notify_role() {
    let sole = sole();
    let (luca, sofia) = (sole.user("Luca").id, sole.user("Sofia").id);
    let role = |sender: &str, said: &str| {
        let (response, actions) = sole.say(sender, said);
        match actions.as_slice() {
            [
                Action::NotifyRole(NotifyRole {
                    recipients,
                    message,
                    ..
                }),
            ] => (recipients.clone(), message.clone(), response.reply),
            other => panic!("{said:?}: {other:?} ({})", response.reply),
        }
    };
    let (to, message, reply) = role("Maria", "Tell all waiters that the terrace opens at 6");
    assert_eq!(to, [sofia]);
    assert_eq!(message, "The terrace opens at 6");
    assert_eq!(
        reply,
        "Done - I told the waiters (Sofia Verdi): The terrace opens at 6."
    );
    let (to, message, reply) = role("Maria", "Notify everyone: staff meeting on Monday at 10");
    assert_eq!(to, [luca, sofia]);
    assert_eq!(message, "Staff meeting on Monday at 10");
    assert!(
        reply.contains("everyone (Luca Bianchi and Sofia Verdi)"),
        "{reply}"
    );
    let (to, _, _) = role(
        "Luca",
        "let everybody know the kitchen closes early tonight",
    );
    assert_eq!(to.len(), 2);
    assert!(!to.contains(&luca), "never the sender");
    let (to, message, _) = role("Maria", "tell the whole team they did a great job");
    assert_eq!(to, [luca, sofia]);
    assert_eq!(message, "You did a great job");
    let (to, _, _) = role("Maria", "Notify all staff that the alarm code changed");
    assert_eq!(to, [luca, sofia]);
    let (to, _, _) = role("Maria", "let the kitchen know table 7's order is ready");
    assert_eq!(to, [luca]);
    let (to, _, _) = role("Maria", "Tell the chefs to prep 20 extra portions");
    assert_eq!(to, [luca]);

    let hv = harborview();
    let (response, actions) = hv.say("James", "Tell all residents the pool opens on Saturday");
    assert_eq!(actions.len(), 1, "{}", response.reply);
    assert!(matches!(&actions[0], Action::NotifyRole(r) if r.recipients == [hv.user("Tom").id]));
}

#[test]
fn logs_become_log_event() {
    let sole = sole();
    let log = |sender: &str, said: &str| {
        let (response, actions) = sole.say(sender, said);
        match actions.as_slice() {
            [Action::LogEvent(e)] => (e.kind.clone(), e.details.clone(), response.reply),
            other => panic!("{said:?}: {other:?} ({})", response.reply),
        }
    };
    let (kind, details, reply) = log("Luca", "Log that the walk-in freezer read 5 degrees");
    assert_eq!(kind, "temperature");
    assert_eq!(details, "The walk-in freezer read 5 degrees");
    assert_eq!(
        reply,
        "Done - I logged it as temperature: The walk-in freezer read 5 degrees."
    );
    let (kind, details, _) = log("Sofia", "Report a broken chair on the terrace");
    assert_eq!(
        (kind.as_str(), details.as_str()),
        ("maintenance", "A broken chair on the terrace")
    );
    let (kind, _, _) = log(
        "Sofia",
        "please record that a guest slipped and fell near the bar",
    );
    assert_eq!(kind, "incident");
    let (kind, details, _) = log("Luca", "Note: the fish supplier delivered 2 hours late");
    assert_eq!(
        (kind.as_str(), details.as_str()),
        ("delivery", "The fish supplier delivered 2 hours late")
    );
    let (kind, details, _) = log("Maria", "log: cash drawer was 20 euro short");
    assert_eq!(
        (kind.as_str(), details.as_str()),
        ("cash", "Cash drawer was 20 euro short")
    );
    let (kind, _, _) = log("Maria", "Make a note that the accountant visited today");
    assert_eq!(kind, "note");

    let hv = harborview();
    let (response, actions) = hv.say("Tom", "I want to report a water leak in unit 4B");
    assert!(
        matches!(actions.as_slice(), [Action::LogEvent(e)] if e.kind == "maintenance" && e.details == "A water leak in unit 4B"),
        "{actions:?} {}",
        response.reply
    );
}

#[test]
fn several_requests_in_one_message() {
    let sole = sole();
    let (luca, sofia) = (sole.user("Luca").id, sole.user("Sofia").id);
    let (response, actions) = sole.say(
        "Maria",
        "Tell Luca and Sofia that the terrace is closed today",
    );
    assert_eq!(actions.len(), 2, "{}", response.reply);
    assert!(
        matches!(&actions[0], Action::NotifyUser(n) if n.to == luca && n.message == "The terrace is closed today")
    );
    assert!(matches!(&actions[1], Action::NotifyUser(n) if n.to == sofia));
    assert_eq!(
        response.reply,
        "Done - I told Luca Bianchi and Sofia Verdi: The terrace is closed today."
    );

    let (response, actions) = sole.say(
        "Maria",
        "Tell Luca the fish is late and ask Sofia to set table 4",
    );
    assert_eq!(actions.len(), 2, "{}", response.reply);
    assert!(
        matches!(&actions[0], Action::NotifyUser(n) if n.to == luca && n.message == "The fish is late")
    );
    assert!(
        matches!(&actions[1], Action::NotifyUser(n) if n.to == sofia && n.message == "Could you set table 4?")
    );

    let (response, actions) = sole.say("Luca", "Tell Maria the freezer reads -10 and log it");
    assert_eq!(actions.len(), 2, "{}", response.reply);
    assert!(
        matches!(&actions[1], Action::LogEvent(e) if e.details == "The freezer reads -10" && e.kind == "temperature")
    );

    // A request whose message came first.
    let hv = harborview();
    let (message, _, _) = hv.notify("Tom", "My heating is not working, please tell Ana", "Ana");
    assert_eq!(message, "My heating is not working");
    let (message, _, _) = hv.notify(
        "Tom",
        "There's a leak in my kitchen, can you let maintenance know?",
        "Ana",
    );
    assert_eq!(message, "There's a leak in my kitchen");
    let (response, actions) = sole.say("Luca", "We ran out of lemons, log it");
    assert!(
        matches!(actions.as_slice(), [Action::LogEvent(e)] if e.details == "We ran out of lemons" && e.kind == "stock"),
        "{actions:?} {}",
        response.reply
    );
    let (message, _, _) = sole.notify(
        "Maria",
        "Luca needs to know table 5 has a nut allergy",
        "Luca",
    );
    assert_eq!(message, "Table 5 has a nut allergy");

    // "text me" belongs to the message, not a second request.
    let (message, _, _) = sole.notify(
        "Maria",
        "Tell Sofia to clean table 5 and text me when done",
        "Sofia",
    );
    assert_eq!(message, "Please clean table 5 and text me when done.");
    // Two sentences, two requests.
    let (_, actions) = sole.say(
        "Maria",
        "Tell Luca we need more basil. Remind Sofia to fold napkins.",
    );
    assert_eq!(actions.len(), 2);
}

#[test]
fn people_outside_the_roster_get_a_reply_and_no_action() {
    let sole = sole();
    for said in [
        "Tell Marco that table 5 has a nut allergy",
        "Tell Ana the boiler is leaking",
        "let marco know the delivery is here",
        "Tell the sommelier that table 4 wants the wine list",
        "Tell Luca and Marco that the fish arrived",
        "Notify James Park: the lift is broken",
    ] {
        let (response, actions) = sole.say("Maria", said);
        assert!(actions.is_empty(), "{said:?} proposed {actions:?}");
        assert!(
            response.reply.contains("couldn't find"),
            "{said:?}: {}",
            response.reply
        );
        assert!(
            response.reply.contains("Luca Bianchi (Head chef)"),
            "{}",
            response.reply
        );
    }
    let (response, _) = sole.say("Maria", "Tell Marco that table 5 has a nut allergy");
    assert!(
        response
            .reply
            .starts_with("I couldn't find Marco among the people of Trattoria Sole")
    );

    let (response, actions) = sole.say("Maria", "Tell all sommeliers that the new wines arrived");
    assert!(actions.is_empty());
    assert!(
        response
            .reply
            .contains("No one else at Trattoria Sole has the title or role \"sommeliers\""),
        "{}",
        response.reply
    );

    // Harborview's staff are strangers to Trattoria Sole and vice versa.
    let hv = harborview();
    let (response, actions) = hv.say("James", "Tell Luca that the pool is closed");
    assert!(actions.is_empty());
    assert!(
        response.reply.contains("couldn't find Luca"),
        "{}",
        response.reply
    );
}

#[test]
fn pronouns_refer_to_the_person_just_named() {
    let sole = sole();
    let luca = sole.user("Luca").id;
    let history = vec![
        Turn {
            role: MessageRole::User,
            content: "When does Luca start on Tuesday?".into(),
        },
        Turn {
            role: MessageRole::Assistant,
            content: "From \"Weekly shift schedule: Luca Bianchi (head chef)\": On Tuesday and Wednesday he arrives at 14:00.".into(),
        },
    ];
    let (response, actions) = sole.say_with(
        "Maria",
        "Tell him the fish arrives at 15:00",
        history,
        &ActionRegistry::builtin(),
    );
    assert!(
        matches!(actions.as_slice(), [Action::NotifyUser(n)] if n.to == luca && n.message == "The fish arrives at 15:00"),
        "{actions:?} {}",
        response.reply
    );
    let (response, actions) = sole.say("Maria", "Tell him the fish arrives at 15:00");
    assert!(actions.is_empty());
    assert!(
        response.reply.contains("Who do you mean by \"him\""),
        "{}",
        response.reply
    );
    let (_, actions) = sole.say("Maria", "Is Sofia in today? Tell her table 4 is booked.");
    assert!(matches!(actions.as_slice(), [Action::NotifyUser(n)] if n.to == sole.user("Sofia").id));
}

#[test]
fn reminders_to_oneself() {
    let sole = sole();
    let (message, _, reply) = sole.notify(
        "Maria",
        "Remind me to call the fish supplier tomorrow",
        "Maria",
    );
    assert_eq!(
        message,
        "Please remember to call the fish supplier tomorrow."
    );
    assert_eq!(
        reply,
        "Done - I sent you a reminder: Please remember to call the fish supplier tomorrow."
    );
    let (message, _, _) = sole.notify("Maria", "remind me that I have the bank at 9", "Maria");
    assert_eq!(message, "You have the bank at 9");
}

#[test]
fn incomplete_requests_ask_back() {
    let sole = sole();
    let (response, actions) = sole.say("Maria", "Tell Luca");
    assert!(actions.is_empty());
    assert_eq!(response.reply, "What should I tell Luca Bianchi?");
    let (response, actions) = sole.say("Maria", "Log");
    assert!(actions.is_empty());
    assert_eq!(response.reply, "What should I log?");
    let (response, actions) = sole.say("Maria", "Notify about the delivery");
    assert!(actions.is_empty());
    assert!(
        response.reply.starts_with("Who should I tell?"),
        "{}",
        response.reply
    );
    let long = format!("Tell Luca that {}", "very ".repeat(250));
    let (response, actions) = sole.say("Maria", &long);
    assert!(actions.is_empty());
    assert!(
        response.reply.starts_with("That message is too long"),
        "{}",
        response.reply
    );
}

#[test]
fn only_enabled_action_types_are_proposed() {
    let sole = sole();
    let only_log = ActionRegistry::for_settings(&serde_json::json!({
        "disabled_actions": ["notify_user", "notify_role"]
    }));
    for said in [
        "Tell Luca that table 5 has a nut allergy",
        "Tell all waiters that the terrace opens at 6",
    ] {
        let (response, actions) = sole.say_with("Maria", said, Vec::new(), &only_log);
        assert!(actions.is_empty(), "{said:?}");
        assert!(
            response.reply.contains("switched off"),
            "{}",
            response.reply
        );
    }
    let no_log =
        ActionRegistry::for_settings(&serde_json::json!({ "disabled_actions": ["log_event"] }));
    let (response, actions) =
        sole.say_with("Luca", "Log that the freezer read -16", Vec::new(), &no_log);
    assert!(actions.is_empty());
    assert!(
        response.reply.contains("switched off"),
        "{}",
        response.reply
    );
}

#[test]
fn questions_are_answered_from_the_knowledge_with_the_source() {
    let sole = sole();
    let answer = |sender: &str, q: &str| {
        let (response, actions) = sole.say(sender, q);
        assert!(actions.is_empty(), "a question proposes no action: {q:?}");
        response.reply
    };
    let reply = answer("Sofia", "What are the opening hours on Friday?");
    assert!(
        reply.contains("Friday and Saturday: lunch 12:00-15:00, dinner 18:00-23:30"),
        "{reply}"
    );
    assert!(reply.contains("\"Opening hours\""), "{reply}");
    let reply = answer("Sofia", "Who is cooking on Saturday evening?");
    assert!(reply.contains("Luca"), "{reply}");
    let reply = answer("Sofia", "which dishes have nuts?");
    assert!(reply.contains("walnut"), "{reply}");
    let reply = answer("Luca", "What temperature should the walk-in freezer be?");
    assert!(reply.contains("-18 degrees"), "{reply}");
    let reply = answer("Sofia", "When does the kitchen take last orders on Sunday?");
    assert!(reply.contains("15:30 on Sunday"), "{reply}");
    let reply = answer("Sofia", "Tell me when the kitchen takes last orders");
    assert!(reply.contains("last orders"), "{reply}");
    let reply = answer("Sofia", "What do I do when closing?");
    assert!(
        reply.starts_with("From \"Closing checklist\": Kitchen: ovens and hobs off"),
        "{reply}"
    );
    let reply = answer("Sofia", "Is the tiramisu gluten free?");
    assert!(
        reply.contains("Tiramisu, 8 euro. Allergens: milk, egg, gluten."),
        "{reply}"
    );
    let reply = answer("Sofia", "How do I swap a shift?");
    assert!(reply.contains("48 hours"), "{reply}");
    let reply = answer("Sofia", "what's the wifi password?");
    assert!(reply.starts_with("I don't know"), "{reply}");
    let reply = answer("Sofia", "What is the capital of France?");
    assert!(reply.starts_with("I don't know"), "{reply}");

    let hv = harborview();
    let answer = |q: &str| {
        let (response, actions) = hv.say("Tom", q);
        assert!(actions.is_empty());
        response.reply
    };
    let reply = answer("When is the pool open?");
    assert!(reply.contains("May to September"), "{reply}");
    let reply = answer("When is trash collected?");
    assert!(reply.contains("Tuesday and Friday"), "{reply}");
    let reply = answer("Who is on call this weekend?");
    assert!(
        reply.contains("Bayside Repairs") || reply.contains("every second weekend"),
        "{reply}"
    );
    let reply = answer("How do I report a repair?");
    assert!(reply.contains("resident app"), "{reply}");
    let reply = answer("what are the quiet hours?");
    assert!(reply.contains("22:00-07:00"), "{reply}");
    let reply = answer("What's on the menu tonight?");
    assert!(
        reply.starts_with("I don't know"),
        "the other tenant's menu is not ours: {reply}"
    );
}

#[test]
fn greetings_thanks_and_help() {
    let sole = sole();
    let (response, actions) = sole.say("Maria", "Hello!");
    assert!(actions.is_empty());
    assert!(
        response
            .reply
            .starts_with("Hello Maria! I'm the assistant of Trattoria Sole.")
    );
    let (response, _) = sole.say("Maria", "thanks a lot");
    assert_eq!(response.reply, "You're welcome!");
    let (response, _) = sole.say("Maria", "What can you do?");
    assert!(
        response.reply.contains("Tell Luca that"),
        "{}",
        response.reply
    );
    assert!(
        response.reply.contains("log an event"),
        "{}",
        response.reply
    );
}

#[tokio::test]
async fn generate_streams_the_reply_and_is_deterministic() {
    use std::sync::Mutex;

    #[derive(Default)]
    struct Sink(Mutex<String>);
    impl DeltaSink for Sink {
        fn push(&self, text: &str) {
            self.0.lock().unwrap().push_str(text);
        }
    }

    let sole = sole();
    let prompt = sole.prompt(
        "Maria",
        "Tell Luca that table 5 has a nut allergy",
        Vec::new(),
        &ActionRegistry::builtin(),
    );
    let sink = Sink::default();
    let first = OfflineProvider.generate(&prompt, &sink).await.unwrap();
    let second = OfflineProvider.generate(&prompt, &NoDeltas).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(*sink.0.lock().unwrap(), first.reply);
    assert_eq!(first.model, "offline");
    assert_eq!(OfflineProvider.name(), "offline");
    assert_eq!(first.finish, Finish::Complete);
}
