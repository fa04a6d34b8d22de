//! Text to short messages and back: the choice of alphabet, concatenation, and decoding what an
//! SMSC delivers.
//!
//! Outgoing text that is entirely *GSM-safe ASCII* (characters whose ASCII code is also their
//! code in the GSM 03.38 default alphabet: letters, digits, space, CR, LF and
//! `!"#%&'()*+,-./:;<=>?`) goes as data_coding 0x00, one octet per character, which reads the same
//! whether the SMSC takes 0x00 as GSM or as ASCII. Everything else, Persian included, goes as
//! UCS-2 (data_coding 0x08, UTF-16BE). Long texts are cut into parts with a concatenation UDH
//! (esm_class 0x40, IEI 0x00, 8-bit reference): 153 characters a part for 0x00, 67 UTF-16 units
//! for UCS-2 (never splitting a surrogate pair).

pub const DC_DEFAULT: u8 = 0x00;
pub const DC_IA5: u8 = 0x01;
pub const DC_LATIN1: u8 = 0x03;
pub const DC_UCS2: u8 = 0x08;
/// esm_class bit: the short message starts with a user data header.
pub const ESM_UDHI: u8 = 0x40;

const GSM_SINGLE: usize = 160;
const GSM_PART: usize = 153;
const UCS2_SINGLE: usize = 70;
const UCS2_PART: usize = 67;

/// The GSM 03.38 default alphabet; 0x1B is the escape to the extension table.
const GSM_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

fn gsm_extension(b: u8) -> Option<char> {
    Some(match b {
        0x0A => '\u{0c}',
        0x14 => '^',
        0x28 => '{',
        0x29 => '}',
        0x2F => '\\',
        0x3C => '[',
        0x3D => '~',
        0x3E => ']',
        0x40 => '|',
        0x65 => '€',
        _ => return None,
    })
}

/// True when `c` has the same code in ASCII and in the GSM default alphabet.
pub fn is_gsm_safe_ascii(c: char) -> bool {
    c.is_ascii() && c != '\u{1b}' && GSM_BASIC[c as usize] == c
}

/// One submit_sm's worth of a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub data_coding: u8,
    pub esm_class: u8,
    /// UDH (if any) followed by the encoded text.
    pub short_message: Vec<u8>,
}

/// Cuts `text` into the parts to submit. `reference` tells a long message's parts from another's.
pub fn split(text: &str, reference: u8) -> Result<Vec<Part>, String> {
    let (data_coding, units, single, per_part): (u8, Vec<Vec<u8>>, usize, usize) =
        if text.chars().all(is_gsm_safe_ascii) {
            let units = text.bytes().map(|b| vec![b]).collect();
            (DC_DEFAULT, units, GSM_SINGLE, GSM_PART)
        } else {
            let units = text
                .encode_utf16()
                .map(|u| u.to_be_bytes().to_vec())
                .collect();
            (DC_UCS2, units, UCS2_SINGLE, UCS2_PART)
        };
    if units.len() <= single {
        return Ok(vec![Part {
            data_coding,
            esm_class: 0,
            short_message: units.concat(),
        }]);
    }
    let mut chunks: Vec<&[Vec<u8>]> = Vec::new();
    let mut rest = &units[..];
    while !rest.is_empty() {
        let mut n = per_part.min(rest.len());
        // Never end a UCS-2 part on the high half of a surrogate pair.
        if data_coding == DC_UCS2 && n < rest.len() {
            let last = u16::from_be_bytes([rest[n - 1][0], rest[n - 1][1]]);
            if (0xD800..0xDC00).contains(&last) {
                n -= 1;
            }
        }
        chunks.push(&rest[..n]);
        rest = &rest[n..];
    }
    if chunks.len() > 255 {
        return Err(format!(
            "the text needs {} SMS parts; concatenation allows 255",
            chunks.len()
        ));
    }
    let total = chunks.len() as u8;
    Ok(chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut sm = vec![0x05, 0x00, 0x03, reference, total, i as u8 + 1];
            sm.extend(chunk.iter().flatten());
            Part {
                data_coding,
                esm_class: ESM_UDHI,
                short_message: sm,
            }
        })
        .collect())
}

/// Decodes user data (without UDH) of the given data_coding.
pub fn decode(data_coding: u8, bytes: &[u8]) -> Result<String, String> {
    match data_coding {
        DC_DEFAULT => Ok(decode_gsm(bytes)),
        // GSM message-class coding groups with the default alphabet.
        0xF0..=0xFF if data_coding & 0x04 == 0 => Ok(decode_gsm(bytes)),
        DC_IA5 => bytes
            .iter()
            .map(|&b| {
                b.is_ascii()
                    .then_some(b as char)
                    .ok_or("IA5 text holds a non-ASCII octet")
            })
            .collect::<Result<String, _>>()
            .map_err(str::to_owned),
        DC_LATIN1 => Ok(bytes.iter().map(|&b| b as char).collect()),
        DC_UCS2 => {
            if bytes.len() % 2 != 0 {
                return Err("UCS-2 text has an odd number of octets".into());
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units)
                .map_err(|_| "UCS-2 text holds a broken surrogate pair".into())
        }
        other => Err(format!(
            "data_coding {other:#04x} is not a text alphabet pooya reads"
        )),
    }
}

/// The GSM default alphabet, one septet per octet (how SMPP carries it). Octets above 0x7F are
/// not GSM; some SMSCs send Latin-1 under data_coding 0, so they are read as Latin-1.
fn decode_gsm(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut it = bytes.iter().copied().peekable();
    while let Some(b) = it.next() {
        match b {
            0x1B => match it.next() {
                Some(e) => {
                    out.push(gsm_extension(e).unwrap_or_else(|| GSM_BASIC[(e & 0x7F) as usize]))
                }
                None => out.push(' '),
            },
            0x00..=0x7F => out.push(GSM_BASIC[b as usize]),
            _ => out.push(b as char),
        }
    }
    out
}

/// Where a part belongs in a concatenated message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Concat {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

/// Splits user data that starts with a UDH into the concatenation element (IEI 0x00 or 0x08), if
/// the header has one, and the text octets.
pub fn strip_udh(payload: &[u8]) -> Result<(Option<Concat>, &[u8]), String> {
    let Some((&udhl, rest)) = payload.split_first() else {
        return Err("the user data header is missing".into());
    };
    let udhl = udhl as usize;
    if rest.len() < udhl {
        return Err("the user data header is longer than the message".into());
    }
    let (mut header, body) = rest.split_at(udhl);
    let mut concat = None;
    while let [iei, len, tail @ ..] = header {
        let len = *len as usize;
        if tail.len() < len {
            return Err("a user data header element overruns the header".into());
        }
        let data = &tail[..len];
        match (*iei, data) {
            (0x00, [r, total, seq]) => {
                concat = Some(Concat {
                    reference: *r as u16,
                    total: *total,
                    seq: *seq,
                })
            }
            (0x08, [r1, r2, total, seq]) => {
                concat = Some(Concat {
                    reference: u16::from_be_bytes([*r1, *r2]),
                    total: *total,
                    seq: *seq,
                })
            }
            _ => {}
        }
        header = &tail[len..];
    }
    Ok((concat, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(parts: &[Part]) -> String {
        let mut bytes = Vec::new();
        for p in parts {
            let body = if p.esm_class & ESM_UDHI != 0 {
                strip_udh(&p.short_message).unwrap().1
            } else {
                &p.short_message[..]
            };
            bytes.extend_from_slice(body);
        }
        decode(parts[0].data_coding, &bytes).unwrap()
    }

    #[test]
    fn gsm_safe_set() {
        for c in "Az09 \r\n!\"#%&'()*+,-./:;<=>?".chars() {
            assert!(is_gsm_safe_ascii(c), "{c:?}");
        }
        for c in "@$_[]{}\\^~|`\u{1b}\té۱".chars() {
            assert!(!is_gsm_safe_ascii(c), "{c:?}");
        }
    }

    #[test]
    fn single_part_limits() {
        let a = "a".repeat(160);
        let p = split(&a, 1).unwrap();
        assert_eq!(
            (p.len(), p[0].data_coding, p[0].esm_class),
            (1, DC_DEFAULT, 0)
        );
        assert_eq!(p[0].short_message, a.as_bytes());
        assert_eq!(split(&"a".repeat(161), 1).unwrap().len(), 2);
        let fa = "س".repeat(70);
        let p = split(&fa, 1).unwrap();
        assert_eq!((p.len(), p[0].data_coding), (1, DC_UCS2));
        assert_eq!(p[0].short_message.len(), 140);
        assert_eq!(split(&"س".repeat(71), 1).unwrap().len(), 2);
        // One '@' makes the whole text UCS-2.
        assert_eq!(split("code@1", 1).unwrap()[0].data_coding, DC_UCS2);
    }

    #[test]
    fn long_texts_get_numbered_parts() {
        let t = "x".repeat(400);
        let p = split(&t, 9).unwrap();
        assert_eq!(p.len(), 3);
        for (i, part) in p.iter().enumerate() {
            assert_eq!(part.esm_class, ESM_UDHI);
            assert_eq!(&part.short_message[..6], &[5, 0, 3, 9, 3, i as u8 + 1]);
        }
        assert_eq!(p[0].short_message.len(), 6 + 153);
        assert_eq!(text_of(&p), t);

        let fa = "رمز یکبار مصرف شما ۱۲۳۴۵۶ است. ".repeat(6);
        let p = split(&fa, 200).unwrap();
        assert!(p.iter().all(|x| x.short_message.len() <= 140));
        assert_eq!(text_of(&p), fa);
    }

    #[test]
    fn surrogate_pairs_stay_whole() {
        let t = format!("{}😀{}", "a".repeat(66), "b".repeat(10));
        let p = split(&t, 1).unwrap();
        assert_eq!(p[0].short_message.len(), 6 + 66 * 2);
        assert_eq!(text_of(&p), t);
    }

    #[test]
    fn too_long_is_refused() {
        assert!(split(&"a".repeat(153 * 256), 1).is_err());
    }

    #[test]
    fn decoding() {
        assert_eq!(
            decode(0, b"Hi\x00\x02\x11\x1b\x3c\x1b\x65").unwrap(),
            "Hi@$_[€"
        );
        assert_eq!(decode(3, &[0xE9]).unwrap(), "é");
        assert_eq!(decode(1, b"1234").unwrap(), "1234");
        assert!(decode(1, &[0xE9]).is_err());
        let ucs: Vec<u8> = "۱۲۳۴".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode(8, &ucs).unwrap(), "۱۲۳۴");
        assert!(decode(8, &ucs[..3]).is_err());
        assert!(decode(8, &[0xD8, 0x00]).is_err());
        assert!(decode(4, b"bin").is_err());
    }

    #[test]
    fn udh_parsing() {
        let (c, body) = strip_udh(&[5, 0, 3, 7, 2, 1, b'a']).unwrap();
        assert_eq!(
            c,
            Some(Concat {
                reference: 7,
                total: 2,
                seq: 1
            })
        );
        assert_eq!(body, b"a");
        let (c, _) = strip_udh(&[6, 8, 4, 1, 2, 3, 3, b'a']).unwrap();
        assert_eq!(c.unwrap().reference, 0x0102);
        let (c, body) = strip_udh(&[3, 0x24, 1, 0, b'z']).unwrap();
        assert_eq!((c, body), (None, &b"z"[..]));
        assert!(strip_udh(&[]).is_err());
        assert!(strip_udh(&[9, 0, 3]).is_err());
        assert!(strip_udh(&[3, 0, 9, 1]).is_err());
    }
}
