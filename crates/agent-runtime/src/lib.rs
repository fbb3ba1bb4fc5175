//! Model providers, tools and the agent tool loop, independent of ChatKit.
