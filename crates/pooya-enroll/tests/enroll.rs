//! End-to-end and adversarial tests of the enrollment protocol.

use pooya_enroll::*;
use proptest::prelude::*;

const PAN: &str = "6037991234567890";
const RECEIPT: &str = "482913";
const SMS: &str = "731054";

/// Runs the whole protocol with possibly different inputs on each side.
fn run(
    server_pan: &str,
    server_receipt: &str,
    server_sms: &str,
    client_pan: &str,
    client_receipt: &str,
    client_sms: &str,
) -> (
    Result<ClientFinish, EnrollError>,
    ServerResponse,
    Vec<u8>, // client_msg
) {
    let secret = activation_secret(server_pan, server_receipt, server_sms);
    let (state, client_msg) = ClientEnrollment::start(client_pan, client_receipt, client_sms);
    let resp = server_respond(&secret, server_pan, &client_msg).expect("well-formed client msg");
    let fin = state.finish(&resp.msg, &resp.confirm);
    (fin, resp, client_msg)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn end_to_end_success() {
    let (fin, resp, _) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, SMS);
    let fin = fin.expect("same codes must succeed");
    assert_eq!(resp.msg.len(), MSG_LEN);
    assert_eq!(resp.confirm.len(), CONFIRM_LEN);
    assert_eq!(fin.confirm.len(), CONFIRM_LEN);
    let server_seed = server_finish(&resp.pending, &fin.confirm).expect("confirm verifies");
    assert_eq!(server_seed, fin.seed);
    assert_eq!(server_seed.as_bytes(), fin.seed.as_bytes());
    assert_eq!(fin.seed.as_bytes().len(), SEED_LEN);
}

#[test]
fn end_to_end_across_stateless_requests_and_wire_encoding() {
    // Server request 1 on node X: stores secret and pending as bytes.
    let stored_secret = activation_secret(PAN, RECEIPT, SMS).as_bytes().to_vec();
    let (state, client_msg) = ClientEnrollment::start(PAN, RECEIPT, SMS);
    let wire_client_msg = b64_encode(&client_msg);

    let secret = ActivationSecret::from_bytes(&stored_secret).unwrap();
    let resp = server_respond(&secret, PAN, &b64_decode(&wire_client_msg).unwrap()).unwrap();
    let stored_pending = resp.pending.to_bytes().to_vec();
    let (wire_msg, wire_confirm) = (b64_encode(&resp.msg), b64_encode(&resp.confirm));
    drop(resp);

    let fin = state
        .finish(
            &b64_decode(&wire_msg).unwrap(),
            &b64_decode(&wire_confirm).unwrap(),
        )
        .unwrap();
    let wire_client_confirm = b64_encode(&fin.confirm);

    // Server request 2 on node Y: only the stored bytes.
    let pending = PendingEnrollment::from_bytes(&stored_pending).unwrap();
    let seed = server_finish(&pending, &b64_decode(&wire_client_confirm).unwrap()).unwrap();
    assert_eq!(seed, fin.seed);
}

#[test]
fn pan_formatting_and_code_whitespace_do_not_matter() {
    let (fin, resp, _) = run(
        "6037 9912-3456 7890",
        RECEIPT,
        SMS,
        PAN,
        " 482913 ",
        "731054\n",
    );
    let fin = fin.unwrap();
    assert_eq!(
        server_finish(&resp.pending, &fin.confirm).unwrap(),
        fin.seed
    );
}

#[test]
fn wrong_receipt_code_fails_on_client() {
    let (fin, _, _) = run(PAN, RECEIPT, SMS, PAN, "482914", SMS);
    assert_eq!(fin.unwrap_err(), EnrollError::ConfirmMismatch);
}

#[test]
fn wrong_sms_code_fails_on_client() {
    let (fin, _, _) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, "000000");
    assert_eq!(fin.unwrap_err(), EnrollError::ConfirmMismatch);
}

#[test]
fn swapped_codes_fail() {
    let (fin, _, _) = run(PAN, RECEIPT, SMS, PAN, SMS, RECEIPT);
    assert_eq!(fin.unwrap_err(), EnrollError::ConfirmMismatch);
}

#[test]
fn wrong_pan_fails() {
    let (fin, _, _) = run(PAN, RECEIPT, SMS, "6037991234567891", RECEIPT, SMS);
    assert_eq!(fin.unwrap_err(), EnrollError::ConfirmMismatch);
    // Right codes but the server is asked about another PAN than the secret's.
    let secret = activation_secret(PAN, RECEIPT, SMS);
    let (state, client_msg) = ClientEnrollment::start(PAN, RECEIPT, SMS);
    let resp = server_respond(&secret, "6037991234567891", &client_msg).unwrap();
    assert_eq!(
        state.finish(&resp.msg, &resp.confirm).unwrap_err(),
        EnrollError::ConfirmMismatch
    );
}

/// A guessing client skips the check of the server's confirm and sends a confirm computed
/// under its (wrong) codes: the server must reject it.
#[test]
fn server_finish_rejects_confirm_made_under_wrong_codes() {
    let secret = activation_secret(PAN, RECEIPT, SMS);
    // The attacker runs an honest client with wrong codes against a *second* honest server that
    // has the wrong codes, to get a well-formed confirm for its own key; then sends it to the
    // real server's pending state.
    let (state, client_msg) = ClientEnrollment::start(PAN, "111111", SMS);
    let real = server_respond(&secret, PAN, &client_msg).unwrap();
    let fake_secret = activation_secret(PAN, "111111", SMS);
    let fake = server_respond(&fake_secret, PAN, &client_msg).unwrap();
    let fin = state.finish(&fake.msg, &fake.confirm).unwrap();
    assert_eq!(
        server_finish(&real.pending, &fin.confirm).unwrap_err(),
        EnrollError::ConfirmMismatch
    );
    // Random and all-zero confirms are rejected too.
    assert_eq!(
        server_finish(&real.pending, &[0u8; CONFIRM_LEN]).unwrap_err(),
        EnrollError::ConfirmMismatch
    );
}

#[test]
fn confirm_from_other_run_is_rejected() {
    let (fin1, _resp1, _) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, SMS);
    let (_fin2, resp2, _) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, SMS);
    assert_eq!(
        server_finish(&resp2.pending, &fin1.unwrap().confirm).unwrap_err(),
        EnrollError::ConfirmMismatch
    );
}

#[test]
fn server_confirm_reflected_as_client_confirm_is_rejected() {
    let (_fin, resp, _) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, SMS);
    assert_eq!(
        server_finish(&resp.pending, &resp.confirm).unwrap_err(),
        EnrollError::ConfirmMismatch
    );
}

#[test]
fn tampered_server_msg_fails() {
    for i in 0..MSG_LEN {
        for bit in [0x01u8, 0x80] {
            let secret = activation_secret(PAN, RECEIPT, SMS);
            let (state, client_msg) = ClientEnrollment::start(PAN, RECEIPT, SMS);
            let resp = server_respond(&secret, PAN, &client_msg).unwrap();
            let mut msg = resp.msg.clone();
            msg[i] ^= bit;
            let err = state.finish(&msg, &resp.confirm).unwrap_err();
            assert!(
                err == EnrollError::ConfirmMismatch || err == EnrollError::Malformed,
                "byte {i}: {err:?}"
            );
        }
    }
}

#[test]
fn tampered_server_confirm_fails() {
    for i in 0..CONFIRM_LEN {
        let secret = activation_secret(PAN, RECEIPT, SMS);
        let (state, client_msg) = ClientEnrollment::start(PAN, RECEIPT, SMS);
        let resp = server_respond(&secret, PAN, &client_msg).unwrap();
        let mut confirm = resp.confirm.clone();
        confirm[i] ^= 0x01;
        assert_eq!(
            state.finish(&resp.msg, &confirm).unwrap_err(),
            EnrollError::ConfirmMismatch
        );
    }
}

#[test]
fn tampered_client_msg_fails() {
    for i in 0..MSG_LEN {
        let secret = activation_secret(PAN, RECEIPT, SMS);
        let (state, mut client_msg) = ClientEnrollment::start(PAN, RECEIPT, SMS);
        client_msg[i] ^= 0x01;
        match server_respond(&secret, PAN, &client_msg) {
            Err(e) => assert_eq!(e, EnrollError::Malformed),
            Ok(resp) => assert_eq!(
                state.finish(&resp.msg, &resp.confirm).unwrap_err(),
                EnrollError::ConfirmMismatch
            ),
        }
    }
}

#[test]
fn tampered_client_confirm_fails() {
    let (fin, resp, _) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, SMS);
    let fin = fin.unwrap();
    for i in 0..CONFIRM_LEN {
        let mut c = fin.confirm.clone();
        c[i] ^= 0x40;
        assert_eq!(
            server_finish(&resp.pending, &c).unwrap_err(),
            EnrollError::ConfirmMismatch
        );
    }
}

#[test]
fn malformed_lengths() {
    let secret = activation_secret(PAN, RECEIPT, SMS);
    let (_, client_msg) = ClientEnrollment::start(PAN, RECEIPT, SMS);
    let resp = server_respond(&secret, PAN, &client_msg).unwrap();

    for bad in [
        &[][..],
        &client_msg[..1],
        &client_msg[..MSG_LEN - 1],
        &[client_msg.clone(), vec![0]].concat()[..],
    ] {
        assert_eq!(
            server_respond(&secret, PAN, bad).unwrap_err(),
            EnrollError::Malformed
        );
        let (state, _) = ClientEnrollment::start(PAN, RECEIPT, SMS);
        assert_eq!(
            state.finish(bad, &resp.confirm).unwrap_err(),
            EnrollError::Malformed
        );
    }
    // The server's own message reflected to it (wrong side byte), and the client's own message
    // reflected to the client.
    assert_eq!(
        server_respond(&secret, PAN, &resp.msg).unwrap_err(),
        EnrollError::Malformed
    );
    let (state, own) = ClientEnrollment::start(PAN, RECEIPT, SMS);
    assert_eq!(
        state.finish(&own, &resp.confirm).unwrap_err(),
        EnrollError::Malformed
    );

    for len in [0, 1, CONFIRM_LEN - 1, CONFIRM_LEN + 1, 64] {
        let (state, _) = ClientEnrollment::start(PAN, RECEIPT, SMS);
        assert_eq!(
            state.finish(&resp.msg, &vec![0u8; len]).unwrap_err(),
            EnrollError::Malformed
        );
        assert_eq!(
            server_finish(&resp.pending, &vec![0u8; len]).unwrap_err(),
            EnrollError::Malformed
        );
    }

    for len in [0, 1, 31, 33, 64] {
        assert_eq!(
            Seed::from_bytes(&vec![1u8; len]).unwrap_err(),
            EnrollError::Malformed
        );
        assert_eq!(
            ActivationSecret::from_bytes(&vec![1u8; len]).unwrap_err(),
            EnrollError::Malformed
        );
    }
    assert!(Seed::from_bytes(&[1u8; SEED_LEN]).is_ok());
    assert!(ActivationSecret::from_bytes(&[1u8; SECRET_LEN]).is_ok());

    let pending = resp.pending.to_bytes();
    assert_eq!(
        PendingEnrollment::from_bytes(&pending[..pending.len() - 1]).unwrap_err(),
        EnrollError::Malformed
    );
    assert_eq!(
        PendingEnrollment::from_bytes(&[pending.to_vec(), vec![0]].concat()).unwrap_err(),
        EnrollError::Malformed
    );
    let mut wrong_version = pending.to_vec();
    wrong_version[0] = 0xff;
    assert_eq!(
        PendingEnrollment::from_bytes(&wrong_version).unwrap_err(),
        EnrollError::Malformed
    );
    assert_eq!(
        PendingEnrollment::from_bytes(&[]).unwrap_err(),
        EnrollError::Malformed
    );
}

#[test]
fn invalid_curve_point_is_malformed() {
    // y = 2 is not the y coordinate of any Ed25519 point.
    let mut msg = vec![b'A', 2];
    msg.resize(MSG_LEN, 0);
    let secret = activation_secret(PAN, RECEIPT, SMS);
    assert_eq!(
        server_respond(&secret, PAN, &msg).unwrap_err(),
        EnrollError::Malformed
    );
    assert_eq!(check_client_msg(&msg).unwrap_err(), EnrollError::Malformed);
    msg[0] = b'B';
    let (state, _) = ClientEnrollment::start(PAN, RECEIPT, SMS);
    assert_eq!(
        state.finish(&msg, &[0u8; CONFIRM_LEN]).unwrap_err(),
        EnrollError::Malformed
    );
}

#[test]
fn pending_round_trip() {
    let (fin, resp, _) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, SMS);
    let fin = fin.unwrap();
    let bytes = resp.pending.to_bytes();
    assert_eq!(bytes.len(), 97);
    let back = PendingEnrollment::from_bytes(&bytes).unwrap();
    assert_eq!(*back.to_bytes(), *bytes);
    assert_eq!(server_finish(&back, &fin.confirm).unwrap(), fin.seed);
    assert_eq!(
        server_finish(&resp.pending, &fin.confirm).unwrap(),
        fin.seed
    );
    let cloned = back.clone();
    assert_eq!(*cloned.to_bytes(), *bytes);
}

#[test]
fn seeds_differ_between_runs_with_same_codes() {
    let (a, ra, ma) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, SMS);
    let (b, rb, mb) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, SMS);
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.seed, b.seed);
    assert_ne!(a.confirm, b.confirm);
    assert_ne!(ra.msg, rb.msg);
    assert_ne!(ma, mb);
}

#[test]
fn activation_secret_depends_on_every_input() {
    let base = activation_secret(PAN, RECEIPT, SMS);
    assert_eq!(base.as_bytes().len(), SECRET_LEN);
    assert_eq!(
        base.as_bytes(),
        activation_secret(PAN, RECEIPT, SMS).as_bytes()
    );
    for other in [
        activation_secret("6037991234567891", RECEIPT, SMS),
        activation_secret(PAN, "482914", SMS),
        activation_secret(PAN, RECEIPT, "731055"),
        activation_secret(PAN, SMS, RECEIPT),
        // The separator keeps the split point: "48291" + "3731054" differs.
        activation_secret(PAN, "48291", "3731054"),
    ] {
        assert_ne!(base.as_bytes(), other.as_bytes());
    }
    let copy = ActivationSecret::from_bytes(base.as_bytes()).unwrap();
    assert_eq!(copy.as_bytes(), base.as_bytes());
    assert_eq!(base.clone().as_bytes(), base.as_bytes());
}

#[test]
fn removal_proof_verifies_and_is_bound() {
    let seed = Seed::from_bytes(&[7u8; SEED_LEN]).unwrap();
    let other_seed = Seed::from_bytes(&[8u8; SEED_LEN]).unwrap();
    let nonce = b"server-nonce-0001";
    let proof = removal_proof(&seed, "tok-1", nonce);
    assert_eq!(proof.len(), REMOVAL_PROOF_LEN);
    assert!(verify_removal_proof(&seed, "tok-1", nonce, &proof));
    assert!(!verify_removal_proof(&seed, "tok-2", nonce, &proof));
    assert!(!verify_removal_proof(
        &seed,
        "tok-1",
        b"server-nonce-0002",
        &proof
    ));
    assert!(!verify_removal_proof(&other_seed, "tok-1", nonce, &proof));
    assert!(!verify_removal_proof(&seed, "tok-1", nonce, &proof[..31]));
    assert!(!verify_removal_proof(&seed, "tok-1", nonce, &[]));
    let mut flipped = proof.clone();
    flipped[0] ^= 1;
    assert!(!verify_removal_proof(&seed, "tok-1", nonce, &flipped));
    // The length prefix separates token id from nonce.
    assert_ne!(
        removal_proof(&seed, "tok-1", b"2x"),
        removal_proof(&seed, "tok-12", b"x")
    );
    // Deterministic.
    assert_eq!(proof, removal_proof(&seed, "tok-1", nonce));
}

#[test]
fn removal_proof_with_enrolled_seed() {
    let (fin, resp, _) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, SMS);
    let fin = fin.unwrap();
    let server_seed = server_finish(&resp.pending, &fin.confirm).unwrap();
    let proof = removal_proof(&fin.seed, "card-1", b"n");
    assert!(verify_removal_proof(&server_seed, "card-1", b"n", &proof));
}

#[test]
fn debug_output_contains_no_secret_bytes() {
    let secret = activation_secret(PAN, RECEIPT, SMS);
    let (state, client_msg) = ClientEnrollment::start(PAN, RECEIPT, SMS);
    let state_dbg = format!("{state:?}");
    let resp = server_respond(&secret, PAN, &client_msg).unwrap();
    let pending_bytes = resp.pending.to_bytes();
    let resp_dbg = format!("{resp:?}");
    let fin = state.finish(&resp.msg, &resp.confirm).unwrap();
    let fin_dbg = format!("{fin:?}");

    assert_eq!(format!("{secret:?}"), "[redacted]");
    assert_eq!(format!("{:?}", fin.seed), "[redacted]");
    assert!(format!("{:?}", resp.pending).contains("[redacted]"));

    let seed = fin.seed.as_bytes();
    let all = [
        format!("{secret:?}"),
        format!("{:?}", fin.seed),
        format!("{:?}", resp.pending),
        state_dbg.clone(),
        resp_dbg,
        fin_dbg,
    ];
    let needles = [
        hex(secret.as_bytes()),
        hex(seed),
        hex(&pending_bytes[1..33]),
        format!("{:?}", secret.as_bytes()),
        format!("{seed:?}"),
        format!("{:?}", &seed[..4]),
        format!("{:?}", &pending_bytes[1..5]),
        b64_encode(seed),
    ];
    for s in &all {
        for n in &needles {
            assert!(!s.contains(n.as_str()), "{s} leaks {n}");
        }
    }
    assert!(!state_dbg.contains(PAN));
    assert!(!state_dbg.contains(RECEIPT));
}

#[test]
fn b64_round_trip_and_rejects() {
    for data in [&b""[..], b"a", b"ab", b"abc", &[0xff, 0xfe, 0xfd, 0x00]] {
        assert_eq!(b64_decode(&b64_encode(data)).unwrap(), data);
    }
    assert_eq!(b64_encode(&[0xfb, 0xff]), "-_8");
    assert_eq!(b64_decode("AA==").unwrap_err(), EnrollError::Malformed);
    assert_eq!(b64_decode("+/8").unwrap_err(), EnrollError::Malformed);
    assert_eq!(b64_decode("A").unwrap_err(), EnrollError::Malformed);
    assert_eq!(b64_decode("a b").unwrap_err(), EnrollError::Malformed);
}

#[test]
fn a_real_first_message_passes_the_check() {
    let (_, msg) = ClientEnrollment::start(PAN, RECEIPT, SMS);
    assert_eq!(check_client_msg(&msg), Ok(()));
    assert!(check_client_msg(&msg[..32]).is_err());
    let mut b = msg.clone();
    b[0] = b'B';
    assert!(check_client_msg(&b).is_err());
}

fn issued() -> IssuedToken {
    IssuedToken {
        token_id: "tok1".into(),
        pan_masked: "603799******7890".into(),
        bank_name: "Maskan".into(),
        lifetime_secs: 60,
        algorithm: "SHA256".into(),
        first_digits: 4,
        second_digits: 8,
        server_unix_ms: 1_700_000_000_000,
    }
}

#[test]
fn the_reply_mac_binds_every_field_to_the_run() {
    let (fin, resp, _) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, SMS);
    let fin = fin.unwrap();
    let server_seed = server_finish(&resp.pending, &fin.confirm).unwrap();
    let reply = issued();
    let mac = reply.mac(&server_seed);
    assert_eq!(reply.verify(&fin.seed, &mac), Ok(()));
    // Any one field changed, and the app refuses the reply.
    let changes: [fn(&mut IssuedToken); 8] = [
        |t| t.token_id.push('x'),
        |t| t.pan_masked = "603799******7891".into(),
        |t| t.bank_name = "Other".into(),
        |t| t.lifetime_secs = 61,
        |t| t.algorithm = "SHA1".into(),
        |t| t.first_digits = 6,
        |t| t.second_digits = 6,
        |t| t.server_unix_ms += 1,
    ];
    for change in changes {
        let mut t = issued();
        change(&mut t);
        assert_eq!(
            t.verify(&fin.seed, &mac),
            Err(EnrollError::ReplyNotAuthentic)
        );
    }
    // Another run's key, a cut or empty MAC: refused too.
    let (other, _, _) = run(PAN, RECEIPT, SMS, PAN, RECEIPT, SMS);
    assert!(reply.verify(&other.unwrap().seed, &mac).is_err());
    assert!(reply.verify(&fin.seed, &mac[..31]).is_err());
    assert!(reply.verify(&fin.seed, &[]).is_err());
    // Fields cannot slide into each other: the lengths are part of the MAC.
    let mut a = issued();
    a.token_id = "tok".into();
    a.pan_masked = "1603799******7890".into();
    assert_ne!(a.mac(&fin.seed), mac);
}

#[test]
fn error_messages() {
    assert_eq!(
        EnrollError::Malformed.to_string(),
        "the enrollment message is malformed"
    );
    assert_eq!(
        EnrollError::ConfirmMismatch.to_string(),
        "key confirmation failed: the activation codes do not match"
    );
    assert_eq!(PROTOCOL, "pooya-enroll-v2");
}

#[test]
fn seed_equality() {
    let a = Seed::from_bytes(&[1u8; 32]).unwrap();
    let b = Seed::from_bytes(&[1u8; 32]).unwrap();
    let mut c_bytes = [1u8; 32];
    c_bytes[31] = 2;
    let c = Seed::from_bytes(&c_bytes).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.clone(), a);
    assert_ne!(a, c);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_client_msg_never_panics(msg in proptest::collection::vec(any::<u8>(), 0..80)) {
        let secret = activation_secret(PAN, RECEIPT, SMS);
        let answered = server_respond(&secret, PAN, &msg);
        // The server's cheap check before it counts a try agrees with the real step.
        prop_assert_eq!(check_client_msg(&msg).is_ok(), answered.is_ok());
        if let Ok(resp) = answered {
            prop_assert_eq!(resp.msg.len(), MSG_LEN);
            // The sender of random bytes cannot produce a valid confirm.
            prop_assert!(server_finish(&resp.pending, &[0u8; CONFIRM_LEN]).is_err());
        }
    }

    #[test]
    fn random_server_msg_and_confirm_never_panic(
        msg in proptest::collection::vec(any::<u8>(), 0..80),
        confirm in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let (state, _) = ClientEnrollment::start(PAN, RECEIPT, SMS);
        prop_assert!(state.finish(&msg, &confirm).is_err());
    }

    #[test]
    fn random_well_sized_msgs_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 32),
        confirm in proptest::collection::vec(any::<u8>(), 32),
    ) {
        let secret = activation_secret(PAN, RECEIPT, SMS);
        let msg_a = [&[b'A'][..], &tail].concat();
        prop_assert_eq!(
            check_client_msg(&msg_a).is_ok(),
            server_respond(&secret, PAN, &msg_a).is_ok()
        );
        let msg_b = [&[b'B'][..], &tail].concat();
        let (state, _) = ClientEnrollment::start(PAN, RECEIPT, SMS);
        prop_assert!(state.finish(&msg_b, &confirm).is_err());
    }

    #[test]
    fn random_pending_and_confirm_never_panic(
        pending in proptest::collection::vec(any::<u8>(), 0..130),
        confirm in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        if let Ok(p) = PendingEnrollment::from_bytes(&pending) {
            prop_assert_eq!(&p.to_bytes()[..], &pending[..]);
            let _ = server_finish(&p, &confirm);
        }
    }

    #[test]
    fn random_strings_never_panic_b64(s in ".{0,64}") {
        let _ = b64_decode(&s);
    }

    #[test]
    fn random_codes_interoperate(
        receipt in "[0-9]{4,8}",
        sms in "[0-9]{4,8}",
        pan in "[0-9]{16}",
    ) {
        let (fin, resp, _) = run(&pan, &receipt, &sms, &pan, &receipt, &sms);
        let fin = fin.unwrap();
        prop_assert_eq!(server_finish(&resp.pending, &fin.confirm).unwrap(), fin.seed);
    }
}
