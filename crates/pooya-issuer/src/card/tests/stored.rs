//! The stored document: old rows, and no secret in clear.
use super::*;

/// A row as the code before this document format wrote it: every optional value as `null`, an
/// empty `txn_codes` as `[]` (an app token with a removal challenge; sealed values shortened).
const OLD_ROW_APP: &str = r#"{"mode":"app","locked":false,"activation":null,"token":{"id":"t1","seed_sealed":"AAECAw==","mobile":"09121234567","algorithm":"SHA256","step_secs":60,"first_digits":4,"second_digits":8,"last_step_first":null,"last_step_second":29833333,"issued_at":1790000000000,"removal":{"nonce":"BAUG","expires_at":1790000060000}},"sms":null,"static_second_disabled":true,"failures":[1790000000001],"pin_failures":[],"txn_codes":[],"hardware":null}"#;

/// Older still: before transaction codes and hardware tokens (no such keys), an SMS service.
const OLD_ROW_SMS: &str = r#"{"mode":"sms","locked":false,"activation":null,"token":null,"sms":{"mobile":"09121234567","fixed_mac":"AAEC","variable":null},"static_second_disabled":true,"failures":[],"pin_failures":[1,2]}"#;

/// A hardware token as the code before wrote it.
const OLD_ROW_HARDWARE: &str = r#"{"mode":"app","locked":false,"activation":null,"token":null,"sms":null,"static_second_disabled":true,"failures":[],"pin_failures":[],"txn_codes":[],"hardware":{"id":"h1","serial":"S1","kind":"totp","key_sealed":"AAECAwQF","algorithm":"SHA1","digits":8,"step_secs":60,"counter":0,"last_step":null,"resync_counter":null,"imported_at":1790000000000}}"#;

#[test]
fn old_rows_still_parse_and_are_written_leaner() {
    let mobile = Mobile::parse("09121234567").unwrap();
    let app: DynamicService = serde_json::from_str(OLD_ROW_APP).unwrap();
    let t = app.token().unwrap();
    assert_eq!(t.seed_sealed, [0, 1, 2, 3]);
    assert_eq!(t.mobile, mobile);
    assert_eq!(
        (t.last_step_first, t.last_step_second),
        (None, Some(29_833_333))
    );
    assert_eq!(t.removal.as_ref().unwrap().nonce, [4, 5, 6]);
    assert_eq!(app.failures, [1_790_000_000_001]);
    assert!(app.activation().is_none() && app.sms().is_none() && app.hardware().is_none());

    let sms: DynamicService = serde_json::from_str(OLD_ROW_SMS).unwrap();
    assert_eq!(sms.mode(), Mode::Sms);
    let s = sms.sms().unwrap();
    assert_eq!(
        (s.fixed_mac.as_slice(), &s.mobile),
        (&[0u8, 1, 2][..], &mobile)
    );
    assert!(s.variable.is_none() && sms.txn_codes.is_empty() && sms.hardware().is_none());
    assert_eq!(sms.pin_failures, [1, 2]);

    let hw: DynamicService = serde_json::from_str(OLD_ROW_HARDWARE).unwrap();
    let h = hw.hardware().unwrap();
    assert_eq!(
        (h.kind, h.key_sealed.as_slice()),
        (HardwareKind::Totp, &[0u8, 1, 2, 3, 4, 5][..])
    );
    assert_eq!((h.last_step, h.resync_counter), (None, None));

    for (old, svc) in [
        (OLD_ROW_APP, &app),
        (OLD_ROW_SMS, &sms),
        (OLD_ROW_HARDWARE, &hw),
    ] {
        let new = serde_json::to_string(svc).unwrap();
        // No `null` nor empty `txn_codes` written, and the same value read back.
        assert!(
            !new.contains("null") && !new.contains("\"txn_codes\":[]"),
            "{new}"
        );
        assert!(new.len() < old.len());
        assert_eq!(&serde_json::from_str::<DynamicService>(&new).unwrap(), svc);
        // What a reader of the old format requires is there: the fields that were never
        // optional. (Leaving out optional fields changes only `Serialize`; `Deserialize`, the
        // reader, is the old one, which the round trip above exercises.)
        let v: serde_json::Value = serde_json::from_str(&new).unwrap();
        for key in [
            "mode",
            "locked",
            "static_second_disabled",
            "failures",
            "pin_failures",
        ] {
            assert!(v.get(key).is_some(), "{key} in {new}");
        }
    }
    // A value that is there is written as before.
    let new = serde_json::to_string(&hw).unwrap();
    assert!(new.contains(r#""key_sealed":"AAECAwQF""#), "{new}");
    // Bad base64 and a bad mobile number are still refused.
    assert!(serde_json::from_str::<DynamicService>(&OLD_ROW_SMS.replace("AAEC", "AA=C")).is_err());
    assert!(
        serde_json::from_str::<DynamicService>(&OLD_ROW_SMS.replace("09121234567", "0812"))
            .is_err()
    );
}

#[test]
fn dynamic_service_round_trips_without_secrets_in_clear() {
    let c = Ctx::new();
    let (pan, mut card) = c.card(PAN_A);
    // A fresh card.
    assert_stored_safely(&card.svc, &[STATIC_PIN, STATIC_SECOND], None);

    // Pending, with an enrollment run under way.
    let codes = c.activate_app(&mut card, &pan, T0);
    let s = c
        .start(
            &mut card,
            &pan,
            &codes.receipt_code,
            &codes.sms_code,
            None,
            T0,
        )
        .unwrap();
    assert_stored_safely(
        &card.svc,
        &[
            codes.receipt_code.as_str(),
            codes.sms_code.as_str(),
            STATIC_SECOND,
        ],
        None,
    );

    // Active, with a removal challenge and a used step.
    let e = c.confirm(&mut card, s, T0).unwrap();
    let now = T0 + 5 * SEC;
    let second = e.app.second_at(now);
    let first = e.app.first_at(now);
    assert_eq!(c.second(&mut card, &second, now), Verdict::Approved);
    card.removal_challenge(&e.token.id, now, &c.policy).unwrap();
    assert_stored_safely(&card.svc, &[second.as_str(), STATIC_SECOND], Some(&e.seed));
    assert_stored_safely(&card.svc, &[first.as_str()], None);

    // SMS with a variable part, and failures recorded.
    let fixed = c.activate_sms(&mut card);
    let (var, _) = c.variable(&mut card, now);
    c.second(&mut card, STATIC_SECOND, now + 1);
    assert_eq!(card.svc.failures.len(), 1);
    assert_stored_safely(
        &card.svc,
        &[
            fixed.as_str(),
            var.as_str(),
            format!("{fixed}{var}").as_str(),
            STATIC_SECOND,
        ],
        None,
    );

    // Locked.
    for i in 0..5 {
        c.second(&mut card, "00000000", now + 2 + i);
    }
    assert!(card.svc.is_locked());
    assert_stored_safely(&card.svc, &[], None);
    let json = serde_json::to_value(&card.svc).unwrap();
    assert_eq!(json["mode"], "sms");
    assert_eq!(json["locked"], true);
}
