//! ChatKit wire protocol: serde types for every request, event, item and widget.
