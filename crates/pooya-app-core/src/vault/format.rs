//! What names a vault file: its format and envelope version, written in its header and bound into
//! the associated data of the contents and of every slot.

/// The `format` field of every vault file.
pub const VAULT_FORMAT: &str = "pooya-vault";
/// The envelope version this app writes and reads (1 had no slots and is not read).
pub const VAULT_VERSION: u64 = 2;
