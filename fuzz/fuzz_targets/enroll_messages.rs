//! The enrollment protocol's messages (SPAKE2 messages, key confirmations, the server's pending
//! state, removal proofs, base64url) as an attacker on either side would send them.
//!
//! Asserts: no panic; a forged message never completes an enrollment (the server refuses a
//! confirmation it did not derive, the app refuses a server answer that does not know the codes);
//! the pending state and base64url round-trip; a removal proof verifies only for its own seed,
//! token and nonce, and the last reply's MAC for its own seed; the server's check of a first
//! message agrees with its answer.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pooya_enroll::{
    activation_secret, b64_decode, b64_encode, check_client_msg, removal_proof, server_finish,
    server_respond, verify_removal_proof, ClientEnrollment, EnrollError, PendingEnrollment, Seed,
};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    pan: &'a str,
    receipt: &'a str,
    sms: &'a str,
    client_msg: &'a [u8],
    server_msg: &'a [u8],
    confirm: &'a [u8],
    pending: &'a [u8],
    text: &'a str,
    token_id: &'a str,
    nonce: &'a [u8],
}

fuzz_target!(|i: Input<'_>| {
    // base64url: what decodes encodes back to the same text.
    if let Ok(b) = b64_decode(i.text) {
        assert_eq!(b64_encode(&b), i.text);
    }
    assert_eq!(b64_decode(&b64_encode(i.client_msg)).unwrap(), i.client_msg);

    // The server's pending state.
    if let Ok(p) = PendingEnrollment::from_bytes(i.pending) {
        assert_eq!(&p.to_bytes()[..], i.pending);
        // A made-up confirmation does not release the seed (2^-256 to guess).
        assert!(server_finish(&p, i.confirm).is_err());
    }

    let secret = activation_secret(i.pan, i.receipt, i.sms);
    // The server answering a forged client message; its check before counting a try agrees.
    let answered = server_respond(&secret, i.pan, i.client_msg);
    assert_eq!(check_client_msg(i.client_msg).is_ok(), answered.is_ok());
    match answered {
        Ok(r) => {
            assert_eq!(r.msg.len(), pooya_enroll::MSG_LEN);
            // The attacker sends a confirmation it made up: refused.
            assert!(server_finish(&r.pending, i.confirm).is_err());
        }
        Err(e) => assert_eq!(e, EnrollError::Malformed),
    }

    // The app receiving a forged server answer: never a seed.
    let (client, msg) = ClientEnrollment::start(i.pan, i.receipt, i.sms);
    assert_eq!(msg.len(), pooya_enroll::MSG_LEN);
    assert!(client.finish(i.server_msg, i.confirm).is_err());

    // The honest run with the same inputs still works, and both ends agree on the seed.
    let (client, msg) = ClientEnrollment::start(i.pan, i.receipt, i.sms);
    let r = server_respond(&secret, i.pan, &msg).expect("an honest client message");
    let f = client.finish(&r.msg, &r.confirm).expect("an honest server");
    let seed = server_finish(&r.pending, &f.confirm).expect("an honest confirmation");
    assert_eq!(seed.as_bytes(), f.seed.as_bytes());

    // Removal proofs.
    let proof = removal_proof(&seed, i.token_id, i.nonce);
    assert!(verify_removal_proof(&seed, i.token_id, i.nonce, &proof));
    if i.confirm != &proof[..] {
        assert!(!verify_removal_proof(&seed, i.token_id, i.nonce, i.confirm));
    }
    let other = Seed::from_bytes(&[0x5a; 32]).unwrap();
    assert!(!verify_removal_proof(&other, i.token_id, i.nonce, &proof));

    // The server's last reply: its MAC holds for its own seed only.
    let reply = pooya_enroll::IssuedToken {
        token_id: i.token_id.to_owned(),
        pan_masked: i.pan.to_owned(),
        bank_name: i.text.to_owned(),
        lifetime_secs: 60,
        algorithm: i.sms.to_owned(),
        first_digits: 4,
        second_digits: 8,
        server_unix_ms: 0,
    };
    let mac = reply.mac(&seed);
    assert!(reply.verify(&seed, &mac).is_ok());
    assert!(reply.verify(&other, &mac).is_err());
    if i.confirm != &mac[..] {
        assert!(reply.verify(&seed, i.confirm).is_err());
    }
});
