//! Model providers, tools and the agent tool loop, independent of ChatKit.

pub mod context;
pub mod tool;

pub use context::{RunContext, UserInfo};
pub use tool::{DynTool, Tool, ToolDefinition, ToolError, ToolOutput};
