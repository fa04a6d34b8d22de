//! SMPP PDUs from the SMSC: frames, bind, submit_sm/deliver_sm bodies, and the framer that cuts a
//! byte stream into PDUs.
//!
//! Asserts: no panic; whatever decodes encodes back to the same bytes (PDU frames, deliver_sm and
//! bind bodies), and decodes again to the same value; the framer yields only what `decode` would.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pooya_sms::smpp::pdu::{self, Bind, Framer, Pdu, ShortMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Pdu::decode(data) {
        assert_eq!(p.encode(), data);
        assert_eq!(Pdu::decode(&p.encode()).unwrap(), p);
    }
    if let Ok(sm) = ShortMessage::decode(data, "deliver_sm") {
        let again = sm.encode().expect("a decoded short message encodes");
        assert_eq!(again, data);
        assert_eq!(ShortMessage::decode(&again, "deliver_sm").unwrap(), sm);
        let _ = sm.payload();
    }
    if let Ok(b) = Bind::decode(data) {
        let again = Bind::decode(&b.encode()).unwrap();
        assert_eq!(again, b);
    }
    let _ = pdu::decode_cstr_body(data, 65, "submit_sm_resp");

    // A stream: every PDU the framer yields is a frame `decode` accepts.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut f = Framer::new(data);
        let mut consumed = 0usize;
        while let Ok(Some(p)) = f.read_pdu().await {
            let frame = p.encode();
            assert_eq!(&data[consumed..consumed + frame.len()], &frame[..]);
            consumed += frame.len();
        }
    });
});
