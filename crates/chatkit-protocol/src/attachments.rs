//! Attachments: files and images the user sends with a message.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An attachment, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum Attachment {
    /// A generic file.
    #[serde(rename = "file")]
    File(FileAttachment),
    /// An image, with a preview URL.
    #[serde(rename = "image")]
    Image(ImageAttachment),
}

impl Attachment {
    /// Fields shared by both kinds.
    pub fn base(&self) -> &AttachmentBase {
        match self {
            Attachment::File(file) => &file.base,
            Attachment::Image(image) => &image.base,
        }
    }

    /// Fields shared by both kinds, mutably.
    pub fn base_mut(&mut self) -> &mut AttachmentBase {
        match self {
            Attachment::File(file) => &mut file.base,
            Attachment::Image(image) => &mut image.base,
        }
    }

    /// The attachment's id.
    pub fn id(&self) -> &str {
        &self.base().id
    }
}

/// Fields shared by every attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentBase {
    /// Attachment id (`atc_...`).
    pub id: String,
    /// File name.
    pub name: String,
    /// MIME type.
    pub mime_type: String,
    /// Two-phase upload instructions; absent once uploaded or for direct uploads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_descriptor: Option<AttachmentUploadDescriptor>,
    /// The thread the attachment belongs to, set when the message that carries it is saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// Integration-only metadata. Never serialized: the reference strips it from every response,
    /// and stores keep it in a column of its own.
    #[serde(default, skip_serializing)]
    pub metadata: Option<Map<String, Value>>,
}

/// A generic file attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileAttachment {
    /// Shared fields.
    #[serde(flatten)]
    pub base: AttachmentBase,
}

/// An image attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageAttachment {
    /// Shared fields.
    #[serde(flatten)]
    pub base: AttachmentBase,
    /// URL of a preview image.
    pub preview_url: String,
}

/// How the client uploads the bytes in a two-phase upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentUploadDescriptor {
    /// Where to send the bytes.
    pub url: String,
    /// `POST` or `PUT`.
    pub method: UploadMethod,
    /// Headers to send with the upload.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

/// HTTP method of a two-phase upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UploadMethod {
    /// `POST`.
    #[serde(rename = "POST")]
    Post,
    /// `PUT`.
    #[serde(rename = "PUT")]
    Put,
}
