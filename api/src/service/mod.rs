//! The API's services: the logic behind the resolvers and the command line. Each takes the
//! caller's [`AuthContext`](crate::auth::AuthContext) (or, for the command line, a tenant) first,
//! runs its reads and writes in one tenant-scoped transaction, and returns entity models; the
//! GraphQL layer only maps them to its types.

pub mod account;
pub mod conversation;
pub mod directory;
pub mod event;
pub mod knowledge;
pub mod notification;

/// One page of a keyset-paginated list.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// More items follow the last one.
    pub has_next: bool,
    /// More items precede the first one.
    pub has_previous: bool,
}

/// Splits `rows` fetched with `limit + 1` into a page of at most `limit` items.
pub(crate) fn page_of<T>(mut rows: Vec<T>, limit: u64, has_previous: bool) -> Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_next = rows.len() > limit;
    rows.truncate(limit);
    Page {
        items: rows,
        has_next,
        has_previous,
    }
}
