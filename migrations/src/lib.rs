//! SeaORM migrations for the chatkit-store schema.
