//! Verdicts (docs/api.md response codes).
use super::*;

#[test]
fn verdicts_map_to_the_api_codes_and_reasons() {
    let table = [
        (Verdict::Approved, "00", "approved"),
        (Verdict::UnknownCard, "14", "unknown_card"),
        (Verdict::ExpiredCard, "54", "expired_card"),
        (Verdict::WrongPassword, "55", "wrong_password"),
        (Verdict::Replayed, "55", "replayed"),
        (Verdict::ExpiredPassword, "55", "expired_password"),
        (
            Verdict::StaticPasswordDisabled,
            "55",
            "static_password_disabled",
        ),
        (Verdict::WrongTransaction, "55", "wrong_transaction"),
        (
            Verdict::SecondPasswordBlocked,
            "57",
            "second_password_blocked",
        ),
        (Verdict::Locked, "75", "locked"),
        (Verdict::TokenNotValid, "55", "token_not_valid"),
    ];
    for (v, code, reason) in table {
        assert_eq!(v.response_code(), code);
        assert_eq!(v.reason(), reason);
        assert_eq!(Verdict::parse(code, reason), Some(v));
        assert_eq!(v.approved(), v == Verdict::Approved);
    }
    assert_eq!(Verdict::parse("55", "locked"), None);
    assert_eq!(Mode::Sms.as_str(), "sms");
    assert_eq!(ServiceState::Pending.as_str(), "pending");
}
