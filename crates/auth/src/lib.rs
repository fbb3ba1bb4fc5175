#![doc = include_str!("../README.md")]

mod authenticator;
mod config;
mod error;
mod jwks;
mod jwt;
mod keys;
mod principal;

pub use authenticator::{AnonymousAuthenticator, Authenticator, bearer_token};
pub use config::{Algorithm, JwksConfig, JwtConfig, KeySource, Secret, StaticKey};
pub use error::AuthError;
pub use jwt::JwtAuthenticator;
pub use principal::Principal;
