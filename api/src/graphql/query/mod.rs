//! The root `Query`, merged from one object per domain.

mod account;
mod conversation;
mod event;
mod knowledge;
mod notification;

use async_graphql::MergedObject;

/// Every query of the contract.
#[derive(MergedObject, Default)]
pub struct Query(
    account::AccountQuery,
    conversation::ConversationQuery,
    notification::NotificationQuery,
    knowledge::KnowledgeQuery,
    event::EventQuery,
);
