//! `Deserialize` for [`ThreadItem`], by hand.
//!
//! serde's derived internally tagged enums read every input into a buffer of their own first
//! (they cannot know the variant before they have seen `type`, which may come last), then read
//! the variant from that buffer: every string is copied twice. Stores read items back many times
//! per turn (the model's history), and everything this crate serializes puts `type` first. So:
//! when the first field is `type`, the variant's fields are read straight from the input (a
//! second `type` is refused, as the derived form refuses it); when it is not (JSON written
//! elsewhere, such as the reference's, which puts `type` after the base fields), the entries are
//! collected, repeats included, and the variant is read from them. The sequence form the derived
//! form also takes (the tag, then the fields in order) is read as it did. Both paths accept and
//! refuse what the derived form did, with its messages for a missing, repeated or unknown
//! `type`; what differs is the text of the error for input that is neither an object nor a
//! sequence, and the path an error reports inside an item whose `type` comes first (deeper now).

use std::fmt;

use serde::Deserialize;
use serde::de::value::{
    BorrowedStrDeserializer, MapAccessDeserializer, MapDeserializer, SeqAccessDeserializer,
    StrDeserializer,
};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::items::*;

macro_rules! item_kinds {
    ($($tag:literal => $variant:ident($item:ty)),* $(,)?) => {
        /// The `type` tag, read without allocating, as the derived form reads it (a variant
        /// identifier).
        #[derive(Deserialize)]
        #[serde(variant_identifier)]
        enum Kind {
            $(#[serde(rename = $tag)] $variant,)*
        }

        /// Reads the fields of the variant `kind` from `fields`.
        fn read_variant<'de, D: Deserializer<'de>>(
            kind: Kind,
            fields: D,
        ) -> Result<ThreadItem, D::Error> {
            match kind {
                $(Kind::$variant => <$item>::deserialize(fields).map(ThreadItem::$variant),)*
            }
        }
    };
}

item_kinds!(
    "user_message" => UserMessage(UserMessageItem),
    "assistant_message" => AssistantMessage(AssistantMessageItem),
    "client_tool_call" => ClientToolCall(ClientToolCallItem),
    "widget" => Widget(WidgetItem),
    "generated_image" => GeneratedImage(GeneratedImageItem),
    "structured_input" => StructuredInput(StructuredInputItem),
    "workflow" => Workflow(WorkflowItem),
    "task" => Task(TaskItem),
    "hidden_context_item" => HiddenContext(HiddenContextItem),
    "sdk_hidden_context" => SdkHiddenContext(SdkHiddenContextItem),
    "end_of_turn" => EndOfTurn(EndOfTurnItem),
);

impl<'de> Deserialize<'de> for ThreadItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = ThreadItem;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a thread item (an object with a `type`)")
    }

    /// The derived form's other input: the tag, then the variant's fields in order.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ThreadItem, A::Error> {
        let kind: Kind = seq
            .next_element()?
            .ok_or_else(|| de::Error::missing_field("type"))?;
        read_variant(kind, SeqAccessDeserializer::new(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ThreadItem, A::Error> {
        let Some(first) = map.next_key_seed(ReadFirstKey)? else {
            return Err(de::Error::missing_field("type"));
        };
        match first {
            FirstKey::Type => {
                let kind: Kind = map.next_value()?;
                read_variant(kind, MapAccessDeserializer::new(NoSecondType(map)))
            }
            FirstKey::Other(key) => {
                // Every entry, repeats included: the variant refuses a repeated field of its own
                // and ignores repeated unknown ones, as the derived form does.
                let mut fields = vec![(key, map.next_value::<Value>()?)];
                let mut tag = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value: Value = map.next_value()?;
                    if key == "type" {
                        if tag.replace(value).is_some() {
                            return Err(de::Error::duplicate_field("type"));
                        }
                    } else {
                        fields.push((key, value));
                    }
                }
                let tag = tag.ok_or_else(|| de::Error::missing_field("type"))?;
                let kind = Kind::deserialize(tag).map_err(de::Error::custom)?;
                let fields = MapDeserializer::<_, serde_json::Error>::new(fields.into_iter());
                read_variant(kind, fields).map_err(de::Error::custom)
            }
        }
    }
}

/// The fields after a leading `type`, refusing another `type` as the derived form does.
struct NoSecondType<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for NoSecondType<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(NotType(seed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// A key seed that refuses `type` and hands any other key to the variant's own seed.
struct NotType<K>(K);

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for NotType<K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<K::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, K: DeserializeSeed<'de>> Visitor<'de> for NotType<K> {
    type Value = K::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<K::Value, E> {
        if key == "type" {
            return Err(E::duplicate_field("type"));
        }
        self.0.deserialize(BorrowedStrDeserializer::new(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<K::Value, E> {
        if key == "type" {
            return Err(E::duplicate_field("type"));
        }
        self.0.deserialize(StrDeserializer::new(key))
    }
}

/// The first key of an item: `type`, or another (kept, for the slow path).
enum FirstKey {
    Type,
    Other(String),
}

/// Reads a [`FirstKey`] without allocating for `type`.
struct ReadFirstKey;

impl<'de> DeserializeSeed<'de> for ReadFirstKey {
    type Value = FirstKey;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<FirstKey, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for ReadFirstKey {
    type Value = FirstKey;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<FirstKey, E> {
        Ok(if key == "type" {
            FirstKey::Type
        } else {
            FirstKey::Other(key.to_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<ThreadItem, String> {
        serde_json::from_str(json).map_err(|error| error.to_string())
    }

    #[test]
    fn a_missing_or_unknown_type_is_refused_as_the_derived_form_did() {
        for json in [
            r#"{}"#,
            r#"[]"#,
            r#"{"id":"msg_1","thread_id":"thr_1","created_at":"2025-01-01T00:00:00Z"}"#,
        ] {
            let error = read(json).expect_err("no type");
            assert!(error.contains("missing field `type`"), "{json}: {error}");
        }
        for json in [
            r#"{"type":"mystery","id":"x"}"#,
            r#"{"id":"x","type":"mystery"}"#,
        ] {
            let error = read(json).expect_err("unknown type");
            assert!(
                error.contains("unknown variant `mystery`") && error.contains("`end_of_turn`"),
                "{json}: {error}"
            );
        }
        for json in [
            r#"{"type":"end_of_turn","type":"end_of_turn","id":"e_1"}"#,
            r#"{"type":"end_of_turn","id":"e_1","type":"task"}"#,
            r#"{"id":"e_1","type":"end_of_turn","type":"task"}"#,
        ] {
            let error = read(json).expect_err("two types");
            assert!(error.contains("duplicate field `type`"), "{json}: {error}");
        }
        for json in ["\"assistant_message\"", "12", "null", "true"] {
            let error = read(json).expect_err("not an object");
            assert!(error.contains("expected a thread item"), "{json}: {error}");
        }
    }

    #[test]
    fn a_variant_missing_its_fields_is_refused_on_both_paths() {
        for json in [
            r#"{"type":"end_of_turn","id":"e_1"}"#,
            r#"{"id":"e_1","type":"end_of_turn"}"#,
        ] {
            let error = read(json).expect_err("no thread id");
            assert!(error.contains("missing field"), "{json}: {error}");
        }
    }

    #[test]
    fn a_repeated_field_is_refused_on_both_paths() {
        for json in [
            r#"{"type":"end_of_turn","id":"e_1","id":"e_2","thread_id":"t","created_at":"2025-01-01T00:00:00Z"}"#,
            r#"{"id":"e_1","id":"e_2","type":"end_of_turn","thread_id":"t","created_at":"2025-01-01T00:00:00Z"}"#,
        ] {
            let error = read(json).expect_err("two ids");
            assert!(error.contains("duplicate field `id`"), "{json}: {error}");
        }
    }

    #[test]
    fn the_tag_is_a_variant_name_and_anything_else_a_data_error() {
        for json in [
            r#"{"type":{"end_of_turn":null},"id":"e_1","thread_id":"t","created_at":"2025-01-01T00:00:00Z"}"#,
            r#"{"id":"e_1","thread_id":"t","created_at":"2025-01-01T00:00:00Z","type":{"end_of_turn":null}}"#,
            r#"{"type":null,"id":"e_1","thread_id":"t","created_at":"2025-01-01T00:00:00Z"}"#,
            r#"{"type":10,"id":"e_1","thread_id":"t","created_at":"2025-01-01T00:00:00Z"}"#,
        ] {
            let error = serde_json::from_str::<ThreadItem>(json).expect_err("not a name");
            assert!(
                !error.is_syntax(),
                "{json}: a data error, not malformed JSON: {error}"
            );
        }
    }

    #[test]
    fn repeated_unknown_fields_are_ignored_on_both_paths_and_sequences_read() {
        let expected = read(
            r#"{"type":"end_of_turn","id":"e_1","thread_id":"t","created_at":"2025-01-01T00:00:00Z"}"#,
        )
        .expect("plain");
        for json in [
            r#"{"type":"end_of_turn","x":1,"x":2,"id":"e_1","thread_id":"t","created_at":"2025-01-01T00:00:00Z"}"#,
            r#"{"x":1,"x":2,"id":"e_1","thread_id":"t","created_at":"2025-01-01T00:00:00Z","type":"end_of_turn"}"#,
            r#"["end_of_turn","e_1","t","2025-01-01T00:00:00Z"]"#,
        ] {
            assert_eq!(read(json).as_ref(), Ok(&expected), "{json}");
        }
    }

    #[test]
    fn both_paths_read_the_same_end_of_turn() {
        let first = read(
            r#"{"type":"end_of_turn","id":"e_1","thread_id":"thr_1","created_at":"2025-01-01T00:00:00Z"}"#,
        )
        .expect("type first");
        let last = read(
            r#"{"id":"e_1","thread_id":"thr_1","created_at":"2025-01-01T00:00:00Z","type":"end_of_turn"}"#,
        )
        .expect("type last");
        assert_eq!(first, last);
        assert_eq!(first.kind(), "end_of_turn");
    }
}
