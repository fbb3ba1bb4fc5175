//! Tools from MCP servers for the agent runtime, with server-side user-id injection.
