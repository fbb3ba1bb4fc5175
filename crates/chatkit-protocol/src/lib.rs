#![doc = include_str!("../README.md")]

pub mod actions;
pub mod attachments;
pub mod citations;
mod error;
pub mod events;
mod item_decode;
pub mod items;
pub mod requests;
pub mod sse;
pub mod thread;
pub mod time;
pub mod widgets;

pub use actions::{Action, ActionConfig};
pub use attachments::{
    Attachment, AttachmentBase, AttachmentUploadDescriptor, FileAttachment, ImageAttachment,
};
pub use error::ProtocolError;
pub use events::{ErrorCode, StreamOptions, ThreadItemUpdate, ThreadStreamEvent};
pub use items::*;
pub use requests::*;
pub use thread::{Order, Page, Thread, ThreadMetadata, ThreadStatus};
pub use widgets::{
    DynamicComponent, WidgetComponent, WidgetRoot, apply_widget_update, diff_widget,
};
