//! Test servers and helpers: a fake OpenAI-compatible model server and friends.
