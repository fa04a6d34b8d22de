//! The one error type of the app: every variant reads as a plain sentence for the user.

use std::path::PathBuf;

/// Anything that stops an app command. `Display` is the one line shown to the user.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// `init` on a path that already holds a file.
    #[error("{} already exists; the app will not overwrite it", .0.display())]
    VaultExists(PathBuf),
    /// Any command but `init` on a path with no file.
    #[error("no vault at {path}: create one with `pooya app --vault {path} init`", path = .0.display())]
    VaultMissing(PathBuf),
    /// The file is not JSON of the vault's shape.
    #[error("{} is not a pooya vault (or it is damaged or truncated)", .0.display())]
    NotAVault(PathBuf),
    /// The envelope has a version this app does not know.
    #[error("{path} is a pooya vault of version {ver}, which this app does not support", path = .0.display(), ver = .1)]
    UnsupportedVersion(PathBuf, u64),
    /// The envelope is well formed but its values are out of range.
    #[error("{path} is damaged: {why}", path = .0.display(), why = .1)]
    VaultDamaged(PathBuf, String),
    /// The AEAD refused the ciphertext: a wrong password or a changed file.
    #[error("cannot open {}: wrong app password, or the file has been tampered with", .0.display())]
    WrongPasswordOrTampered(PathBuf),
    /// Reading or writing the vault file failed.
    #[error("cannot {op} {path}: {err}", op = .1, path = .0.display(), err = .2)]
    VaultIo(PathBuf, &'static str, std::io::Error),
    /// The app password breaks the policy of R13.
    #[error("the app password must be at least 8 characters long and contain at least one letter and one digit")]
    WeakPassword,
    /// The two entries of a new password differ.
    #[error("the two passwords do not match")]
    PasswordMismatch,
    /// No terminal to read the password from, and no `POOYA_APP_PASSWORD`.
    #[error(
        "cannot read the app password from the terminal ({0}); set POOYA_APP_PASSWORD instead"
    )]
    PasswordPrompt(std::io::Error),
    /// A command-line value is wrong (a card number, a label, a server address).
    #[error("{0}")]
    Invalid(String),
    /// Another token in the vault already has this label.
    #[error("a card labelled {0:?} is already in the vault; choose another label with --label")]
    DuplicateLabel(String),
    /// CARD matches no token.
    #[error("no card in the vault matches {0:?} (give a label, a full card number or its last 4 digits)")]
    UnknownCard(String),
    /// CARD matches several tokens.
    #[error("{card:?} matches several cards: {labels}; give the label instead", card = .0, labels = .1.join(", "))]
    AmbiguousCard(String, Vec<String>),
    /// The server could not be reached at all.
    #[error("cannot reach the server at {0}: {1}")]
    Unreachable(String, String),
    /// The server answered something outside the protocol.
    #[error("the server at {0} gave an answer the app does not understand ({1})")]
    Garbage(String, String),
    /// The server refused, with a reason the user can act on.
    #[error("{0}")]
    Refused(String),
    /// The local part of the enrollment or a code computation failed.
    #[error("{0}")]
    Crypto(String),
    /// Anything else that is the app's own fault.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shorthand used across the crate.
pub type Result<T, E = AppError> = std::result::Result<T, E>;
