//! End-to-end tests: the real `todo-mcp-server` (as a process, or in-process over HTTP) driven
//! through `mcp-client`'s tools, directly and through the agent loop.

mod agent_loop;
mod faults;
mod http;
mod stdio;
mod support;
mod widgets;
