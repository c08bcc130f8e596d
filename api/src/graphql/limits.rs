//! The API's limits, each documented in the README and tested. Depth and complexity are enforced
//! by async-graphql's validation (configured in `graphql::build`); page size by [`page_size`];
//! aliases and operations per document by [`check_document`], before execution.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};

use crate::error::ApiError;

/// Deepest selection nesting accepted (our deepest useful query is 6; GraphiQL's introspection
/// query needs 13).
pub const MAX_DEPTH: usize = 15;
/// Highest query complexity accepted: every field costs 1, a connection multiplies its
/// selection by its page size. A full conversation page (100 messages with actions and sources)
/// costs about 2,600.
pub const MAX_COMPLEXITY: usize = 5_000;
/// Largest page (`first`, `last`).
pub const MAX_PAGE_SIZE: i32 = 100;
/// Most aliases in one document (alias floods multiply work without a bigger body).
pub const MAX_ALIASES: usize = 30;
/// Most operations defined in one document.
pub const MAX_OPERATIONS: usize = 10;
/// Most requests in one batch (a JSON array of requests).
pub const MAX_BATCH: usize = 10;
/// Largest request body, in bytes (an 8,000-character message in 4-byte UTF-8 is 32 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Validates a page size argument.
///
/// # Errors
/// [`ApiError::Invalid`] outside 0..=[`MAX_PAGE_SIZE`].
pub fn page_size(name: &str, value: i32) -> Result<u64, ApiError> {
    if (0..=MAX_PAGE_SIZE).contains(&value) {
        Ok(u64::try_from(value).unwrap_or(0))
    } else {
        Err(ApiError::Invalid(format!(
            "{name} must be between 0 and {MAX_PAGE_SIZE}, got {value}"
        )))
    }
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Checks the number of operations and aliases of a parsed document.
///
/// # Errors
/// [`ApiError::Invalid`] naming the limit that was exceeded.
pub fn check_document(doc: &ExecutableDocument) -> Result<(), ApiError> {
    let operations: Vec<&SelectionSet> = match &doc.operations {
        DocumentOperations::Single(op) => vec![&op.node.selection_set.node],
        DocumentOperations::Multiple(ops) => {
            ops.values().map(|op| &op.node.selection_set.node).collect()
        }
    };
    if operations.len() > MAX_OPERATIONS {
        return Err(ApiError::Invalid(format!(
            "too many operations in one document: {} (limit {MAX_OPERATIONS})",
            operations.len()
        )));
    }
    let aliases: usize = operations.into_iter().map(count_aliases).sum::<usize>()
        + doc
            .fragments
            .values()
            .map(|f| count_aliases(&f.node.selection_set.node))
            .sum::<usize>();
    if aliases > MAX_ALIASES {
        return Err(ApiError::Invalid(format!(
            "too many aliases: {aliases} (limit {MAX_ALIASES})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_everywhere() {
        let many: String = (0..31).map(|i| format!("a{i}: me {{ id }} ")).collect();
        let doc = async_graphql::parser::parse_query(format!("{{ {many} }}")).unwrap();
        assert!(check_document(&doc).is_err());
        let few = async_graphql::parser::parse_query(
            "{ a: me { x: id } ...F } fragment F on Query { b: me { id } }",
        )
        .unwrap();
        check_document(&few).unwrap();
        assert!(page_size("first", 1000).is_err());
        assert_eq!(page_size("first", 100).unwrap(), 100);
    }
}
