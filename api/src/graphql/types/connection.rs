//! Relay cursor connections: `<Type>Connection { edges, nodes, pageInfo }` and `<Type>Edge`.

use async_graphql::SimpleObject;

use super::conversation::{Message, Session};
use super::event::Event;
use super::knowledge::Knowledge;
use super::notification::Notification;

/// Where a page sits in its list.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct PageInfo {
    /// More items follow this page.
    pub has_next_page: bool,
    /// More items precede this page.
    pub has_previous_page: bool,
    /// Cursor of the first item.
    pub start_cursor: Option<String>,
    /// Cursor of the last item.
    pub end_cursor: Option<String>,
}

/// Defines `<Node>Connection` and `<Node>Edge` for a node type.
macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ty, $what:literal) => {
        #[doc = concat!("A ", $what, " with its cursor.")]
        #[derive(SimpleObject, Clone, Debug)]
        pub struct $edge {
            /// Opaque position of the item: pass it as `after` (or `before`) to continue.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        #[doc = concat!("A page of ", $what, "s.")]
        #[derive(SimpleObject, Clone, Debug)]
        pub struct $connection {
            /// The items with their cursors.
            pub edges: Vec<$edge>,
            /// The items.
            pub nodes: Vec<$node>,
            /// Where the page sits.
            pub page_info: PageInfo,
        }

        impl $connection {
            /// A page of `items` (with their cursors).
            pub fn new(
                items: Vec<(String, $node)>,
                has_next_page: bool,
                has_previous_page: bool,
            ) -> Self {
                let page_info = page_info(&items, has_next_page, has_previous_page);
                let nodes = items.iter().map(|(_, n)| n.clone()).collect();
                let edges = items
                    .into_iter()
                    .map(|(cursor, node)| $edge { cursor, node })
                    .collect();
                Self {
                    edges,
                    nodes,
                    page_info,
                }
            }
        }
    };
}

fn page_info<T>(items: &[(String, T)], has_next_page: bool, has_previous_page: bool) -> PageInfo {
    PageInfo {
        has_next_page,
        has_previous_page,
        start_cursor: items.first().map(|(c, _)| c.clone()),
        end_cursor: items.last().map(|(c, _)| c.clone()),
    }
}

connection!(SessionConnection, SessionEdge, Session, "session");
connection!(MessageConnection, MessageEdge, Message, "message");
connection!(
    KnowledgeConnection,
    KnowledgeEdge,
    Knowledge,
    "knowledge chunk"
);
connection!(EventConnection, EventEdge, Event, "event");
connection!(InboxPage, NotificationEdge, Notification, "notification");

/// The inbox: a page of notifications and how many match in all.
#[derive(SimpleObject, Clone, Debug)]
pub struct NotificationConnection {
    /// The notifications with their cursors.
    pub edges: Vec<NotificationEdge>,
    /// The notifications.
    pub nodes: Vec<Notification>,
    /// Where the page sits.
    pub page_info: PageInfo,
    /// How many notifications match the filter in all.
    pub total_count: i32,
}

impl NotificationConnection {
    /// An inbox page.
    pub fn new(
        items: Vec<(String, Notification)>,
        has_next: bool,
        has_previous: bool,
        total: i32,
    ) -> Self {
        let InboxPage {
            edges,
            nodes,
            page_info,
        } = InboxPage::new(items, has_next, has_previous);
        Self {
            edges,
            nodes,
            page_info,
            total_count: total,
        }
    }
}
