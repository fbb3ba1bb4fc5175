//! The ChatKit request engine: dispatch of every request type and the streaming pipeline.
