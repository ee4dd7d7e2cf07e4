//! Limits shared by the commands that accept ids (ingest, serve).

/// Longest user or item id accepted, in bytes (UTF-8). `reco ingest` rejects longer ids per row.
pub const MAX_ID_BYTES: usize = 256;
