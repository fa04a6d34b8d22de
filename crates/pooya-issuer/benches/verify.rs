//! One verification decision of the issuer core, without I/O (`cargo bench -p pooya-issuer`):
//! a card with a TOTP token decides a typed second password for a transaction. The card is
//! cloned for each iteration (each decision uses its code up), as the server decodes a fresh
//! card for each request. `with_row` adds what the SQL store does around it per request: the
//! card's service document parsed from JSON and written back.

use pooya_issuer::card::{CardRecord, DynamicService, HardwareKey, HardwareKind};
use pooya_issuer::domain::{CustomerId, Digits, Expiry, Pan, PasswordKind, Transaction};
use pooya_issuer::keys::{HashCost, Keyring, StaticSecret};
use pooya_issuer::policy::Policy;

fn main() {
    divan::main();
}

const NOW: i64 = 1_790_000_000_000;
const SEED: &[u8] = b"12345678901234567890";

struct Setup {
    keys: Keyring,
    policy: Policy,
    card: CardRecord,
    right: Digits,
    wrong: Digits,
    txn: Transaction,
}

fn setup(cost: HashCost) -> Setup {
    let keys = Keyring::from_master(&[7u8; 32], cost).unwrap();
    let pan = Pan::parse("6280231234567898").unwrap();
    let mut card = CardRecord::new(
        &pan,
        keys.pan_hash(&pan),
        CustomerId::parse("C1").unwrap(),
        Expiry::parse("9912").unwrap(),
        keys.hash_static(StaticSecret::Pin, &keys.pan_hash(&pan), "1234")
            .unwrap(),
        keys.hash_static(StaticSecret::SecondPassword, &keys.pan_hash(&pan), "55555")
            .unwrap(),
        NOW,
    );
    let hw = HardwareKey {
        serial: "S1",
        kind: HardwareKind::Totp,
        key: SEED,
        algorithm: "SHA1",
        digits: 8,
        step_secs: 60,
        counter: 0,
        usage: pooya_pskc::Usage::default(),
    };
    card.install_hardware_token(&hw, NOW, &keys).unwrap();
    let totp = pooya_otp::Totp::new(
        60,
        pooya_otp::Digits::new(8).unwrap(),
        pooya_otp::Algorithm::Sha1,
    )
    .unwrap();
    let code = totp.code_at(&pooya_otp::OtpKey::from_bytes(SEED), NOW);
    let right = Digits::typed_password(code.as_str()).unwrap();
    let mut w = code.as_str().as_bytes().to_vec();
    w[0] = b'0' + (w[0] - b'0' + 1) % 10;
    let wrong = Digits::typed_password(std::str::from_utf8(&w).unwrap()).unwrap();
    let txn = Transaction::new("t1", 1_250_000, "Shop").unwrap();
    Setup {
        keys,
        policy: Policy::default(),
        card,
        right,
        wrong,
        txn,
    }
}

fn cheap() -> HashCost {
    HashCost {
        m_kib: 64,
        t: 1,
        p: 1,
    }
}

/// A right code: approved.
#[divan::bench]
fn right_code(b: divan::Bencher) {
    let s = setup(cheap());
    b.with_inputs(|| s.card.clone()).bench_local_refs(|card| {
        let v = card.verify_for(
            PasswordKind::Second,
            &s.right,
            Some(&s.txn),
            NOW,
            &s.policy,
            &s.keys,
        );
        assert!(v.approved());
    });
}

/// A right code, with the service document decoded from and encoded to JSON as the store does.
#[divan::bench]
fn right_code_with_row(b: divan::Bencher) {
    let s = setup(cheap());
    let doc = serde_json::to_string(&s.card.svc).unwrap();
    b.with_inputs(|| s.card.clone()).bench_local_refs(|card| {
        card.svc = serde_json::from_str::<DynamicService>(&doc).unwrap();
        let v = card.verify_for(
            PasswordKind::Second,
            &s.right,
            Some(&s.txn),
            NOW,
            &s.policy,
            &s.keys,
        );
        assert!(v.approved());
        divan::black_box(serde_json::to_string(&card.svc).unwrap());
    });
}

/// A wrong code with the default (production) Argon2 cost: the decision checks the typed value
/// against the dead static second password too (R9: `static_password_disabled` vs
/// `wrong_password`), and that check is what costs.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn wrong_code_default_argon2(b: divan::Bencher) {
    let s = setup(HashCost::default());
    b.with_inputs(|| s.card.clone()).bench_local_refs(|card| {
        let v = card.verify_for(
            PasswordKind::Second,
            &s.wrong,
            Some(&s.txn),
            NOW,
            &s.policy,
            &s.keys,
        );
        assert!(!v.approved());
    });
}
