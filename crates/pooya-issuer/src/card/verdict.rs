//! What the card's decisions answer: a verification's verdict, and the refusals of each channel.

/// What a verification decided: ISO 8583 response code and reason (docs/api.md).
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
    /// A hardware token used outside its file's policy: before its start date, after its expiry
    /// date, or past its number of transactions. Not the holder's mistake: not counted (R5).
    TokenNotValid,
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
            | Verdict::WrongTransaction
            | Verdict::TokenNotValid => "55",
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
            Verdict::TokenNotValid => "token_not_valid",
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
            Verdict::TokenNotValid,
        ]
        .into_iter()
        .find(|v| v.response_code() == code && v.reason() == reason)
    }
}

// The refusals' texts are the `message` of the HTTP error the server answers (docs/api.md): kept word
// for word.

/// Refusals of the ATM channel, before anything else is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AtmRefusal {
    #[error("the card has expired")]
    ExpiredCard,
    /// The PIN lock: only a branch lifts it (`card::pin_lock`).
    #[error(
        "the card's PIN is locked after too many wrong entries; the holder must visit a branch"
    )]
    PinLocked,
    #[error("too many wrong PINs; try again later")]
    PinTriesExceeded,
    /// The PIN was wrong: the caller must still commit the record (the failed try is counted).
    /// `tries_left`: wrong PINs the card may still take before the ATM refuses
    /// (`pin_tries_exceeded`) or its PIN locks (`pin_locked`), whichever comes first.
    #[error("the PIN is wrong; tries left: {tries_left}")]
    WrongPin { tries_left: u32 },
    #[error("the mobile number is not the one registered for this card")]
    MobileMismatch,
}

/// Refusals of the app's enrollment and removal. Those of an enrollment's activation (no
/// activation waiting, expired, its runs used up, wrong codes) never reach the caller as they are:
/// to one who has not proven the codes every card looks alike (`crate::issuer`'s `app` module).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppRefusal {
    #[error("no app activation is waiting for this card")]
    NoPendingActivation,
    #[error("the app activation has expired")]
    ActivationExpired,
    #[error("the app activation's enrollment runs are used up")]
    ActivationExhausted,
    #[error("the token lifetime is outside the bank's bounds")]
    InvalidLifetime,
    #[error("the enrollment message is malformed")]
    MalformedMessage,
    /// The codes were wrong (or the run's activation is gone): nothing changed.
    #[error("the receipt code or the SMS code is wrong")]
    WrongActivationCodes,
    #[error("no such token")]
    UnknownToken,
    #[error("the removal challenge has expired")]
    ChallengeExpired,
    #[error("the proof of possession is wrong")]
    BadProof,
    /// A token-status query's `at_ms` is too far from the server's clock.
    #[error("at_ms is more than 300 s from the server's clock: measure it again (GET /v1/time)")]
    StaleStatusQuery,
}

impl AppRefusal {
    /// Whether it is a refusal of an enrollment's activation, which the issuer answers as the
    /// enrollment does (a decoy run, `WrongActivationCodes` with the address's tries) and never as
    /// it is.
    pub fn of_activation(self) -> bool {
        matches!(
            self,
            AppRefusal::NoPendingActivation
                | AppRefusal::ActivationExpired
                | AppRefusal::ActivationExhausted
                | AppRefusal::WrongActivationCodes
        )
    }
}

/// Why a transaction is refused: an otp-request (R24), or a verification's transaction id used
/// before with another request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxnRefusal {
    #[error("the holder has blocked the card's second password; only a branch unblocks it")]
    SecondPasswordBlocked,
    #[error(
        "the card's dynamic password service is locked; the holder must activate again at an ATM"
    )]
    Locked,
    #[error("the card has expired")]
    ExpiredCard,
    /// The transaction id was already used with another kind, amount or merchant.
    #[error(
        "this transaction id was already used with another kind, amount or merchant (or answered \
         before an upgrade); a new transaction needs a new id"
    )]
    TxnConflict,
    /// The transaction was decided already (its code used, or its verification stored).
    #[error("this transaction was already verified; a new password needs a new transaction id")]
    AlreadyVerified,
}
