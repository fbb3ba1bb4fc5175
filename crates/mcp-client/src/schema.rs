//! Turning an MCP tool's input schema into one the model sees, and the model's arguments back
//! into a call the server trusts.
//!
//! Invariant: a user-id argument never reaches the model (it is not in the schema) and never
//! comes from the model (it is overwritten with the authenticated user's id on every call).

use serde_json::{Map, Value};

/// Longest function name OpenAI accepts.
const MAX_TOOL_NAME_LEN: usize = 64;

/// The schema the model sees, and which user-id arguments the call must fill in.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSchema {
    /// JSON Schema of the arguments: an object schema with a `properties` object and without
    /// the user-id arguments.
    pub parameters: Value,
    /// The configured user-id argument names this tool declares, to fill at call time.
    pub injected_arguments: Vec<String>,
}

/// Rewrites `input_schema` for the model: `"type": "object"` at the root, an empty
/// `properties` object where it is missing (OpenAI rejects object schemas without one), no
/// `$schema` key, and the user-id arguments removed from `properties` and `required`.
pub fn model_schema(
    input_schema: &Map<String, Value>,
    user_id_arguments: &[String],
) -> ModelSchema {
    let mut schema = input_schema.clone();
    schema.remove("$schema");
    let is_object = match schema.get("type") {
        None => true,
        Some(Value::String(kind)) => kind == "object",
        Some(_) => false,
    };
    if !is_object {
        // A non-object root cannot be a function's parameters; offer a call without arguments
        // rather than hiding the tool.
        tracing::warn!("MCP tool input schema is not an object schema; replacing it");
        schema = Map::new();
    }
    schema.insert("type".into(), Value::String("object".into()));

    let mut properties = match schema.remove("properties") {
        Some(Value::Object(properties)) => properties,
        _ => Map::new(),
    };
    let mut injected_arguments = Vec::new();
    let mut required_names: Vec<String> = match schema.get("required") {
        Some(Value::Array(required)) => required
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    for name in user_id_arguments {
        let declared = properties.remove(name).is_some();
        let required = required_names.iter().any(|required| required == name);
        // A user-id argument the server only lists in `required` must still be filled.
        if declared || required {
            injected_arguments.push(name.clone());
        }
    }
    schema.insert("properties".into(), Value::Object(properties));

    if schema.contains_key("required") {
        required_names.retain(|name| !user_id_arguments.contains(name));
        if required_names.is_empty() {
            schema.remove("required");
        } else {
            let required = required_names.into_iter().map(Value::String).collect();
            schema.insert("required".into(), Value::Array(required));
        }
    }
    ModelSchema {
        parameters: Value::Object(schema),
        injected_arguments,
    }
}

/// Overwrites every argument in `injected_arguments` with `user_id`, whatever the model sent.
pub fn inject_user_id(
    mut arguments: Map<String, Value>,
    injected_arguments: &[String],
    user_id: &str,
) -> Map<String, Value> {
    for name in injected_arguments {
        arguments.insert(name.clone(), Value::String(user_id.to_owned()));
    }
    arguments
}

/// The name the model calls a server's tool by: the prefix and the server's name, with
/// characters OpenAI does not accept in function names replaced by `_`, cut to 64 characters.
pub fn exposed_tool_name(prefix: Option<&str>, remote_name: &str) -> String {
    prefix
        .unwrap_or_default()
        .chars()
        .chain(remote_name.chars())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_TOOL_NAME_LEN)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn removes_user_id_from_properties_and_required() {
        let input = object(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "user_id": {"type": "string"},
                "title": {"type": "string"},
                "description": {"type": ["string", "null"]}
            },
            "required": ["user_id", "title"]
        }));
        let schema = model_schema(&input, &["user_id".to_owned()]);
        assert_eq!(
            schema.parameters,
            json!({
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "description": {"type": ["string", "null"]}
                },
                "required": ["title"]
            })
        );
        assert_eq!(schema.injected_arguments, ["user_id"]);
    }

    #[test]
    fn drops_required_when_only_user_ids_were_required() {
        let input = object(json!({
            "type": "object",
            "properties": {"user_id": {"type": "string"}, "owner": {"type": "string"}},
            "required": ["user_id", "owner"]
        }));
        let names = ["user_id".to_owned(), "owner".to_owned()];
        let schema = model_schema(&input, &names);
        assert_eq!(
            schema.parameters,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(schema.injected_arguments, ["user_id", "owner"]);
    }

    #[test]
    fn adds_type_and_properties_where_missing() {
        assert_eq!(
            model_schema(&Map::new(), &[]).parameters,
            json!({"type": "object", "properties": {}})
        );
        let without_properties = object(json!({"type": "object", "additionalProperties": false}));
        assert_eq!(
            model_schema(&without_properties, &[]).parameters,
            json!({"type": "object", "additionalProperties": false, "properties": {}})
        );
        let not_an_object = object(json!({"type": "string"}));
        assert_eq!(
            model_schema(&not_an_object, &["user_id".to_owned()]).parameters,
            json!({"type": "object", "properties": {}})
        );
    }

    #[test]
    fn tools_without_user_id_arguments_get_nothing_injected() {
        let input = object(json!({
            "type": "object",
            "properties": {"milliseconds": {"type": "integer"}},
            "required": ["milliseconds"]
        }));
        let schema = model_schema(&input, &["user_id".to_owned()]);
        assert!(schema.injected_arguments.is_empty());
        assert_eq!(schema.parameters, Value::Object(input));
    }

    #[test]
    fn user_id_only_named_in_required_is_still_injected() {
        let input = object(json!({"type": "object", "required": ["user_id"]}));
        let schema = model_schema(&input, &["user_id".to_owned()]);
        assert_eq!(
            schema.parameters,
            json!({"type": "object", "properties": {}})
        );
        assert_eq!(schema.injected_arguments, ["user_id"]);
    }

    #[test]
    fn injection_overrides_the_models_value_and_keeps_other_arguments() {
        let arguments = object(json!({"user_id": "bob", "title": "x"}));
        let injected = inject_user_id(arguments, &["user_id".to_owned()], "alice");
        assert_eq!(
            Value::Object(injected),
            json!({"user_id": "alice", "title": "x"})
        );
        let added = inject_user_id(Map::new(), &["user_id".to_owned()], "alice");
        assert_eq!(Value::Object(added), json!({"user_id": "alice"}));
    }

    #[test]
    fn exposed_names_are_prefixed_sanitized_and_bounded() {
        assert_eq!(
            exposed_tool_name(Some("todo_"), "add_task"),
            "todo_add_task"
        );
        assert_eq!(exposed_tool_name(None, "files.read/all"), "files_read_all");
        let long = "x".repeat(100);
        assert_eq!(exposed_tool_name(Some("p_"), &long).len(), 64);
    }
}
