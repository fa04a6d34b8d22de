//! Every way an issuer operation can be refused. The card's refusals travel as they are (each
//! channel's enum); the HTTP edge maps each variant to one status and error code, once.

use crate::card::{AppRefusal, AtmRefusal, TxnRefusal};
use crate::domain::InvalidValue;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
    #[error("no such card")]
    UnknownCard,
    #[error("no such customer")]
    UnknownCustomer,
    #[error("it exists already")]
    AlreadyExists,
    /// The ATM channel's refusals: expired card, PIN locked or wrong or tried too often, another
    /// mobile number.
    #[error(transparent)]
    Atm(#[from] AtmRefusal),
    /// A transaction refused: by an otp-request (R24), or a verification's id used before with
    /// another request.
    #[error(transparent)]
    Txn(#[from] TxnRefusal),
    /// The app's refusals that reach the caller: a lifetime out of bounds, a malformed message,
    /// and token removal's. Those of an enrollment's activation never do (see
    /// [`AppRefusal::of_activation`]): they become [`IssuerError::Internal`] here.
    #[error(transparent)]
    App(AppRefusal),
    /// Every refusal of an enrollment's confirmation, alike: no activation was waiting, or the
    /// codes were wrong, with the tries the run's address has left.
    #[error(
        "no app activation is waiting for this card, or the receipt code or the SMS code is wrong"
    )]
    WrongActivationCodes { tries_left: u32 },
    #[error(
        "no enrollment tries are left for this card number from this address; they come back in \
         {retry_after_secs} s"
    )]
    EnrollmentTriesUsedUp { retry_after_secs: u64 },
    #[error("no such enrollment (it may have expired)")]
    UnknownEnrollment,
    #[error("this is not the bank's short number")]
    UnknownShortNumber,
    #[error("the merchant name is too long for an SMS (at most {max} characters)")]
    MerchantTooLong { max: u32 },
    #[error("the merchant name holds a text-direction control character")]
    MerchantUnsafe,
    /// A PSKC file (or its assignment to cards) that cannot be imported; nothing was imported.
    #[error("{0}")]
    InvalidPskc(String),
    /// The operation lost the race for its rows to concurrent changes (of the same card or
    /// customer) every time it tried: nothing was decided; the same request may be sent again.
    #[error("too many concurrent changes of the same card or customer; try again")]
    Contention,
    /// A value that does not make an operator (name, role, branch, password).
    #[error(transparent)]
    Staff(pooya_staff::StaffInvalid),
    #[error("no such operator")]
    UnknownOperator,
    /// A sign-in refused (the console shows one message for a wrong password or code).
    #[error(transparent)]
    SignIn(pooya_staff::SignInRefused),
    #[error(transparent)]
    FourEyes(crate::issuer::FourEyesRefusal),
    #[error("no such mobile change request")]
    UnknownMobileChange,
    #[error("the store is unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for IssuerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => IssuerError::Unavailable(m),
            StoreError::Duplicate => IssuerError::AlreadyExists,
            StoreError::Conflict => IssuerError::Contention,
            StoreError::Corrupt(m) => IssuerError::Internal(m),
        }
    }
}

impl From<AppRefusal> for IssuerError {
    fn from(r: AppRefusal) -> Self {
        if r.of_activation() {
            IssuerError::Internal(format!(
                "an enrollment refusal ({r:?}) must be answered as the enrollment answers it"
            ))
        } else {
            IssuerError::App(r)
        }
    }
}
