//! What the card's decisions answer: a verification's verdict, and the refusals of each channel.

/// What a verification decided: ISO 8583 response code and reason (API.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Approved,
    UnknownCard,
    ExpiredCard,
    WrongPassword,
    Replayed,
    ExpiredPassword,
    StaticPasswordDisabled,
    WrongTransaction,
    SecondPasswordBlocked,
    Locked,
}

impl Verdict {
    pub fn approved(self) -> bool {
        self == Verdict::Approved
    }
    pub fn response_code(self) -> &'static str {
        match self {
            Verdict::Approved => "00",
            Verdict::UnknownCard => "14",
            Verdict::ExpiredCard => "54",
            Verdict::WrongPassword
            | Verdict::Replayed
            | Verdict::ExpiredPassword
            | Verdict::StaticPasswordDisabled
            | Verdict::WrongTransaction => "55",
            Verdict::SecondPasswordBlocked => "57",
            Verdict::Locked => "75",
        }
    }
    pub fn reason(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::UnknownCard => "unknown_card",
            Verdict::ExpiredCard => "expired_card",
            Verdict::WrongPassword => "wrong_password",
            Verdict::Replayed => "replayed",
            Verdict::ExpiredPassword => "expired_password",
            Verdict::StaticPasswordDisabled => "static_password_disabled",
            Verdict::WrongTransaction => "wrong_transaction",
            Verdict::SecondPasswordBlocked => "second_password_blocked",
            Verdict::Locked => "locked",
        }
    }
    pub fn parse(code: &str, reason: &str) -> Option<Verdict> {
        [
            Verdict::Approved,
            Verdict::UnknownCard,
            Verdict::ExpiredCard,
            Verdict::WrongPassword,
            Verdict::Replayed,
            Verdict::ExpiredPassword,
            Verdict::StaticPasswordDisabled,
            Verdict::WrongTransaction,
            Verdict::SecondPasswordBlocked,
            Verdict::Locked,
        ]
        .into_iter()
        .find(|v| v.response_code() == code && v.reason() == reason)
    }
}

/// Refusals of the ATM channel, before anything else is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtmRefusal {
    ExpiredCard,
    /// The PIN lock: only a branch lifts it (`card::pin_lock`).
    PinLocked,
    PinTriesExceeded,
    /// The PIN was wrong: the caller must still commit the record (the failed try is counted).
    WrongPin,
    MobileMismatch,
}

/// Refusals of the app's enrollment and removal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppRefusal {
    NoPendingActivation,
    ActivationExpired,
    ActivationExhausted,
    InvalidLifetime,
    MalformedMessage,
    /// The codes were wrong (or the run's activation is gone): nothing changed.
    WrongActivationCodes,
    UnknownToken,
    ChallengeExpired,
    BadProof,
}

/// Why an otp-request is refused (R24).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxnRefusal {
    SecondPasswordBlocked,
    Locked,
    ExpiredCard,
    /// The transaction id was already used with another amount or merchant.
    TxnConflict,
    /// The transaction's code was already used: the transaction is decided.
    AlreadyVerified,
}
