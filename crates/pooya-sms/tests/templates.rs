//! Issue 19, point 6: what each SMS the bank sends costs. Every text is rendered at its longest
//! (the most digits its codes may have, the longest card-number tail, the longest lifetime the
//! profile sets) and measured twice: by the issuer's count (`messages::sms_parts`, what the
//! start-up check of the unified template uses) and by the SMPP provider's own cutting
//! (`smpp::text::split`, what goes to the SMSC), which must agree.

use pooya_issuer::card::PAN_TAIL_MAX;
use pooya_issuer::domain::TxnType;
use pooya_issuer::messages::{self, sms_parts, Language, UnifiedOtp};
use pooya_issuer::policy::Policy;
use pooya_sms::smpp::text::split;

/// SMS parts of `text`, the issuer's count and the provider's, which must agree.
fn parts(text: &str) -> u32 {
    let sent = split(text, 1).unwrap().len() as u32;
    assert_eq!(sent, sms_parts(text), "{text:?}");
    sent
}

/// The fixed texts of `p` in `lang`, each at its longest.
fn fixed_texts(p: &Policy, lang: Language) -> Vec<(&'static str, String)> {
    let bank = &p.bank_name;
    let nines = |n: usize| "9".repeat(n);
    vec![
        (
            "activation_code",
            messages::activation_code(
                lang,
                bank,
                &nines(usize::from(p.activation.sms_code_digits)),
                p.activation.ttl_secs.div_ceil(3600),
            ),
        ),
        (
            "variable_part",
            messages::variable_part(
                lang,
                bank,
                "9999",
                &nines(usize::from(p.sms.variable_part_digits)),
                p.otp.lifetime_secs,
            ),
        ),
        (
            "ambiguous_card",
            messages::ambiguous_card(
                lang,
                bank,
                &nines(PAN_TAIL_MAX - 1),
                &p.sms.short_number,
                PAN_TAIL_MAX,
            ),
        ),
        (
            "ambiguous_card_final",
            messages::ambiguous_card_final(lang, bank, &nines(PAN_TAIL_MAX)),
        ),
    ]
}

/// UTF-16 units of a Persian text, characters of a GSM-7 one: what a part holds 70 or 160 of.
fn units(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.encode_utf16().count()
    }
}

/// The Persian replies to an ambiguous card tail cannot fit one part: they say that no password
/// was issued, the digits typed, and how many digits to send where (or whom to call) — with the
/// bank's name, over 70 characters. They are rare (a holder with two SMS cards ending alike) and
/// take two parts.
const TWO_PARTS_IN_PERSIAN: [&str; 2] = ["ambiguous_card", "ambiguous_card_final"];

/// Parts `name` may take in `lang`.
fn allowed_parts(name: &str, lang: Language) -> u32 {
    if lang == Language::Fa && TWO_PARTS_IN_PERSIAN.contains(&name) {
        2
    } else {
        1
    }
}

/// The fixed texts fit one part (the ambiguous-card replies in Persian, two), in both languages,
/// under both profiles, at their longest.
/// Codes, card tails and counts are ASCII digits in every language (there is no setting for
/// Persian digits): in a UCS-2 text a Persian digit costs what an ASCII one does, and in an
/// English text ASCII keeps GSM-7.
#[test]
fn every_fixed_sms_fits_one_part_the_persian_ambiguous_replies_two() {
    for profile in ["central-bank", "maskan"] {
        let p = Policy::profile(profile).unwrap();
        for lang in [Language::Fa, Language::En] {
            for (name, text) in fixed_texts(&p, lang) {
                println!("{profile} {lang:?} {name}: {} units", units(&text));
                let allowed = allowed_parts(name, lang);
                assert_eq!(parts(&text), allowed, "{profile} {lang:?} {name}: {text:?}");
                assert!(allowed <= p.sms.max_parts);
            }
        }
    }
}

/// The longest bank name (`bank_name`, 1 to 40 characters) with which every fixed text still fits
/// its parts: Persian letters in a Persian text, Latin in an English one. docs/configuration.md
/// gives these figures; a longer name costs a second part on some texts.
const FA_BANK_NAME_ROOM: usize = 12;
const EN_BANK_NAME_ROOM: usize = 26;

#[test]
fn the_bank_name_room_is_as_documented() {
    for (lang, letter, room) in [
        (Language::Fa, "ب", FA_BANK_NAME_ROOM),
        (Language::En, "B", EN_BANK_NAME_ROOM),
    ] {
        let fits = |n: usize| {
            let p = Policy {
                bank_name: letter.repeat(n),
                ..Policy::default()
            };
            fixed_texts(&p, lang)
                .iter()
                .all(|(name, t)| parts(t) <= allowed_parts(name, lang))
        };
        let longest = (1..=40).take_while(|&n| fits(n)).last().unwrap_or(0);
        assert_eq!(longest, room, "{lang:?}");
    }
}

/// The unified transaction SMS (R24) cannot fit one part: it must carry the code, the type, the
/// amount, the merchant, the card, the expiry and the date and time. At its longest (the largest
/// amount, a merchant name of `sms.merchant_max_chars` Persian letters, the longest type) it is
/// held to `sms.max_parts` by the start-up check, which refuses a template that needs more.
#[test]
fn the_unified_sms_is_held_to_max_parts() {
    for lang in [Language::Fa, Language::En] {
        let p = Policy::default();
        let merchant = "م".repeat(p.sms.merchant_max_chars as usize);
        let code = "9".repeat(usize::from(p.otp.second_digits));
        let longest = UnifiedOtp {
            bank: &p.bank_name,
            code: &code,
            txn_type: TxnType::Bill,
            amount_rials: i64::MAX,
            merchant: &merchant,
            last4: "9999",
            issued_at_ms: 1_774_038_600_000,
            expires_at_ms: 1_774_038_600_000 + i64::from(p.otp.lifetime_secs) * 1000,
            lifetime_secs: p.otp.lifetime_secs,
        };
        let text = messages::unified_otp(&p.templates, lang, &longest).unwrap();
        let n = parts(&text);
        println!("unified {lang:?}: {} units, {n} parts", units(&text));
        // A Persian merchant name makes even the English text UCS-2.
        assert!((2..=p.sms.max_parts).contains(&n), "{lang:?}: {n} parts");
        assert_eq!(messages::sms_parts(&text), n);
        // One part fewer allowed: the server refuses to start, naming the template.
        let mut tight = p.clone();
        tight.sms.max_parts = n - 1;
        let e = tight.validate().unwrap_err();
        assert!(e.to_string().contains("unified_otp"), "{e}");
    }
}
