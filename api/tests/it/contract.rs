//! The schema: `schema.graphql` at the repository root is what the code generates, and it holds
//! every type, field and argument of the contract with the same types.

use std::collections::BTreeMap;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{ServiceDocument, TypeKind, TypeSystemDefinition};

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn the_checked_in_schema_is_the_one_the_code_generates() {
    let checked_in = std::fs::read_to_string(root().join("schema.graphql"))
        .expect("schema.graphql at the repo root");
    assert!(
        checked_in.trim_end() == api::graphql::sdl().trim_end(),
        "schema.graphql is stale: run `just schema` and commit it"
    );
}

/// type name -> (member or field -> "arguments -> type"), from an SDL document.
fn shape(doc: &ServiceDocument) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut types = BTreeMap::new();
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(ty) = def else {
            continue;
        };
        let ty = &ty.node;
        let mut members = BTreeMap::new();
        match &ty.kind {
            TypeKind::Object(o) => {
                for f in &o.fields {
                    let args: BTreeMap<String, String> = f
                        .node
                        .arguments
                        .iter()
                        .map(|a| (a.node.name.node.to_string(), a.node.ty.node.to_string()))
                        .collect();
                    members.insert(
                        f.node.name.node.to_string(),
                        format!("{args:?} -> {}", f.node.ty.node),
                    );
                }
            }
            TypeKind::InputObject(o) => {
                for f in &o.fields {
                    members.insert(f.node.name.node.to_string(), f.node.ty.node.to_string());
                }
            }
            TypeKind::Enum(e) => {
                for v in &e.values {
                    members.insert(v.node.value.node.to_string(), String::new());
                }
            }
            TypeKind::Union(u) => {
                for m in &u.members {
                    members.insert(m.node.to_string(), String::new());
                }
            }
            TypeKind::Scalar | TypeKind::Interface(_) => {}
        }
        types.insert(ty.name.node.to_string(), members);
    }
    types
}

#[test]
fn every_type_field_and_argument_of_the_contract_exists_with_the_same_type() {
    let contract_path = root().join("../shared/design/contract.graphql");
    let contract = std::fs::read_to_string(&contract_path)
        .unwrap_or_else(|e| panic!("the contract must be at {}: {e}", contract_path.display()));
    let ours = parse_schema(api::graphql::sdl()).expect("our SDL parses");
    let theirs = parse_schema(contract).expect("the contract parses");
    let (ours, theirs) = (shape(&ours), shape(&theirs));
    let mut missing = Vec::new();
    for (ty, members) in &theirs {
        let Some(our_members) = ours.get(ty) else {
            missing.push(format!("type {ty}"));
            continue;
        };
        for (name, signature) in members {
            match our_members.get(name) {
                Some(s) if s == signature => {}
                Some(s) => missing.push(format!("{ty}.{name}: contract `{signature}`, ours `{s}`")),
                None => missing.push(format!("{ty}.{name}")),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "differences from the contract:\n{}",
        missing.join("\n")
    );
}
