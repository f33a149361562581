//! Audit: the append-only SHA-256 hash chain, signed checkpoints and verification.
