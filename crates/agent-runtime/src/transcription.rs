//! Speech to text: dictated audio in, text out, through an OpenAI-compatible
//! `POST /audio/transcriptions` endpoint.
//!
//! The endpoint takes a multipart form (`file`, `model`, `response_format`) and answers
//! `{"text": "..."}`. It infers the audio format from the file name's extension, so the file is
//! named after the media type (`audio.webm`, `audio.mp3`...).

use async_trait::async_trait;
use serde::Deserialize;

use crate::error::AgentError;
use crate::model::openai::{OpenAiConfig, Transport};

/// Audio to transcribe.
#[derive(Clone, PartialEq, Eq)]
pub struct AudioClip {
    /// The encoded audio.
    pub data: Vec<u8>,
    /// The media type without parameters, e.g. `audio/webm`.
    pub media_type: String,
}

impl std::fmt::Debug for AudioClip {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bytes are the user's voice: only their size is worth printing.
        formatter
            .debug_struct("AudioClip")
            .field("bytes", &self.data.len())
            .field("media_type", &self.media_type)
            .finish()
    }
}

impl AudioClip {
    /// The file name the endpoint sees: `audio.<extension>` for the media type, which is how
    /// OpenAI's endpoint tells formats apart.
    pub fn file_name(&self) -> String {
        format!("audio.{}", audio_extension(&self.media_type))
    }
}

/// The file extension OpenAI's transcription endpoint expects for an audio media type. Unknown
/// types keep their subtype, which the endpoint then refuses with a clear message.
pub fn audio_extension(media_type: &str) -> &str {
    match media_type {
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" => "m4a",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/ogg" | "audio/opus" => "ogg",
        "audio/flac" | "audio/x-flac" => "flac",
        "audio/webm" | "video/webm" => "webm",
        other => other.rsplit('/').next().unwrap_or("bin"),
    }
}

/// Turns audio into text.
///
/// Contract: an error says whether the provider refused the audio (`Provider` with a 4xx status),
/// failed (`Provider` 5xx, `Connection`, `Timeout`) or answered something unreadable
/// (`Protocol`); implementations never log the audio or the text.
#[async_trait]
pub trait Transcriber: Send + Sync + 'static {
    /// Transcribes `audio`.
    async fn transcribe(&self, audio: AudioClip) -> Result<String, AgentError>;
}

/// [`Transcriber`] over an OpenAI-compatible `/audio/transcriptions` endpoint.
#[derive(Clone)]
pub struct OpenAiTranscriber {
    transport: Transport,
    model: String,
}

impl std::fmt::Debug for OpenAiTranscriber {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OpenAiTranscriber")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TranscriptionBody {
    text: String,
}

impl OpenAiTranscriber {
    /// A transcriber for the endpoint `config` names (base URL, key, headers, timeouts), asking
    /// `config.model` (e.g. `gpt-4o-mini-transcribe` or `whisper-1`).
    pub fn new(config: &OpenAiConfig) -> Result<Self, AgentError> {
        Ok(Self {
            transport: Transport::new(config, "audio/transcriptions")?,
            model: config.model.clone(),
        })
    }
}

#[async_trait]
impl Transcriber for OpenAiTranscriber {
    async fn transcribe(&self, audio: AudioClip) -> Result<String, AgentError> {
        let file_name = audio.file_name();
        let part = reqwest::multipart::Part::bytes(audio.data)
            .file_name(file_name)
            .mime_str(&audio.media_type)
            .map_err(|_| {
                AgentError::Configuration(format!(
                    "{:?} is not a valid media type",
                    audio.media_type
                ))
            })?;
        let form = reqwest::multipart::Form::new()
            .text("model", self.model.clone())
            .text("response_format", "json")
            .part("file", part);
        let body = self.transport.post_multipart(form).await?;
        let parsed: TranscriptionBody = serde_json::from_slice(&body).map_err(|error| {
            AgentError::Protocol(format!(
                "the transcription answer is not JSON with text: {error}"
            ))
        })?;
        Ok(parsed.text)
    }
}

/// A transcriber for demos and tests without a provider: it does not listen, and says so. Its
/// answer names the size and type of what it got, so a demo shows the dictation round trip.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoTranscriber;

#[async_trait]
impl Transcriber for DemoTranscriber {
    async fn transcribe(&self, audio: AudioClip) -> Result<String, AgentError> {
        Ok(format!(
            "(demo transcription: {} bytes of {} received; configure a model provider to transcribe speech)",
            audio.data.len(),
            audio.media_type
        ))
    }
}
