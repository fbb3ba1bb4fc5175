//! Persistence of ChatKit threads, items, attachments and feedback (memory, SQLite, PostgreSQL).
