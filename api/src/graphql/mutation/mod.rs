//! The root `Mutation`, merged from one object per domain.

mod account;
mod conversation;
mod knowledge;
mod notification;

use async_graphql::MergedObject;

/// Every mutation of the contract.
#[derive(MergedObject, Default)]
pub struct Mutation(
    account::AccountMutation,
    conversation::ConversationMutation,
    notification::NotificationMutation,
    knowledge::KnowledgeMutation,
);
