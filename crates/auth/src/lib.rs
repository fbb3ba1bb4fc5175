//! Bearer-token authentication: Better Auth JWKS and shared-secret JWTs.
