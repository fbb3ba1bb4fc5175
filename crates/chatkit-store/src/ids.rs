//! Id generation with the reference's prefixes.

use rand::Rng;

/// What an id is for; picks the prefix the reference uses (`chatkit/store.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ItemIdKind {
    /// A thread: `thr_`.
    Thread,
    /// A user or assistant message (and the reference uses it for most other items): `msg_`.
    Message,
    /// A client tool call: `tc_`.
    ToolCall,
    /// A task item: `tsk_`.
    Task,
    /// A workflow item: `wf_`.
    Workflow,
    /// An attachment: `atc_`.
    Attachment,
    /// Context the server stores for the model: `shcx_`.
    SdkHiddenContext,
}

impl ItemIdKind {
    /// The prefix, without the underscore.
    pub fn prefix(self) -> &'static str {
        match self {
            ItemIdKind::Thread => "thr",
            ItemIdKind::Message => "msg",
            ItemIdKind::ToolCall => "tc",
            ItemIdKind::Task => "tsk",
            ItemIdKind::Workflow => "wf",
            ItemIdKind::Attachment => "atc",
            ItemIdKind::SdkHiddenContext => "shcx",
        }
    }
}

/// Lowercase RFC 4648 base32: ids stay URL- and file-name-safe and case-insensitive.
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Random characters after the prefix: 24 base32 characters are 120 bits, so even a billion ids
/// collide with a probability below 10^-18. The reference's 8 hex characters (32 bits) collide
/// after about 77,000 ids, which is why we do not copy it.
pub const ID_RANDOM_CHARS: usize = 24;

/// A new id such as `msg_k3v9...`: the kind's prefix, `_`, and [`ID_RANDOM_CHARS`] random
/// characters from the thread-local CSPRNG.
pub fn generate_id(kind: ItemIdKind) -> String {
    let mut rng = rand::rng();
    let mut id = String::with_capacity(kind.prefix().len() + 1 + ID_RANDOM_CHARS);
    id.push_str(kind.prefix());
    id.push('_');
    for _ in 0..ID_RANDOM_CHARS {
        id.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_carry_the_reference_prefixes_and_enough_randomness() {
        let id = generate_id(ItemIdKind::ToolCall);
        let (prefix, random) = id.split_once('_').expect("has an underscore");
        assert_eq!(prefix, "tc");
        assert_eq!(random.len(), ID_RANDOM_CHARS);
        assert!(random.bytes().all(|byte| ALPHABET.contains(&byte)));
        let ids: HashSet<String> = (0..10_000)
            .map(|_| generate_id(ItemIdKind::Message))
            .collect();
        assert_eq!(ids.len(), 10_000);
    }
}
