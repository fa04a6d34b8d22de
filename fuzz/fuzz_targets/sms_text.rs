//! Inbound SMS text: what a holder texts to the short number (R21) and what an SMSC delivers.
//!
//! Asserts: no panic; the request parser only ever yields ASCII digits, and takes plain ASCII
//! digits as they are; every text the SMPP client splits into parts comes back whole from the
//! parts (UDH stripped, alphabet decoded), each part fits one short message; the template renderer
//! gives back any text whose braces are doubled; amounts with separators read back as the amount.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pooya_issuer::issuer::normalize_sms_digits;
use pooya_issuer::messages::{format_rials, render, sms_parts};
use pooya_sms::smpp::text;

fuzz_target!(|data: &[u8]| {
    let [selector, rest @ ..] = data else {
        return;
    };
    // Bytes as an SMSC delivers them, in whichever alphabet the selector names.
    let _ = text::decode(*selector, rest);
    if let Ok((concat, body)) = text::strip_udh(rest) {
        assert!(body.len() < rest.len());
        if let Some(c) = concat {
            let _ = (c.total, c.seq);
        }
    }

    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };

    // R21: the holder's request.
    if let Some(d) = normalize_sms_digits(s) {
        assert!(
            !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()),
            "{d:?}"
        );
        assert!(d.len() <= s.chars().count());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        assert_eq!(normalize_sms_digits(s).as_deref(), Some(s));
    }

    // Outgoing text split into short messages and put together again.
    match text::split(s, *selector) {
        Ok(parts) => {
            assert!(!parts.is_empty());
            let mut bytes = Vec::new();
            for p in &parts {
                assert!(p.short_message.len() <= 160, "{}", p.short_message.len());
                assert_eq!(p.data_coding, parts[0].data_coding);
                let body = if p.esm_class & text::ESM_UDHI != 0 {
                    let (c, body) = text::strip_udh(&p.short_message).expect("our own UDH");
                    let c = c.expect("a concatenation element");
                    assert_eq!(usize::from(c.total), parts.len());
                    body
                } else {
                    assert_eq!(parts.len(), 1);
                    &p.short_message[..]
                };
                bytes.extend_from_slice(body);
            }
            assert_eq!(text::decode(parts[0].data_coding, &bytes).as_deref(), Ok(s));
        }
        Err(_) => assert!(s.len() > 153 * 255 / 4),
    }
    assert!(sms_parts(s) >= 1);

    // Templates: a text with its braces doubled renders as itself.
    let escaped = s.replace('{', "{{").replace('}', "}}");
    assert_eq!(render(&escaped, |_| None).as_deref(), Ok(s));
    let _ = render(s, |name| (name.len() % 2 == 0).then(|| name.to_uppercase()));

    if rest.len() >= 8 {
        let amount = i64::from_le_bytes(rest[..8].try_into().unwrap());
        let f = format_rials(amount);
        assert_eq!(f.replace(',', "").parse::<i64>(), Ok(amount), "{f}");
    }
});
