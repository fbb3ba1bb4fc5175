#![doc = include_str!("../README.md")]

mod config;
mod connection;
mod error;
mod manager;
pub mod schema;
mod tool;

pub use config::{
    HttpTransportConfig, McpServerConfig, McpTransportConfig, RestartPolicy, SecretString,
    StdioTransportConfig,
};
pub use connection::{McpServerState, McpServerStatus};
pub use error::McpError;
pub use manager::McpManager;
pub use tool::{McpTool, WIDGET_COPY_TEXT_META_KEY, WIDGET_EVENT_KIND, WIDGET_META_KEY};
