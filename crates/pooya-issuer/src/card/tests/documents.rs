//! The stored document (`cards.svc`) as main wrote it at commit 5b3d0dc, before the card's service
//! became an enum: every state of the module doc's drawing, made by that commit's code (the card
//! operations of these tests) and kept in `documents-main-5b3d0dc.json`. Each must read into the
//! same state and be written back byte for byte, so old and new servers read each other's rows.
use super::*;

const DOCUMENTS: &str = include_str!("documents-main-5b3d0dc.json");

#[test]
fn documents_written_by_main_read_the_same_and_are_written_back_unchanged() {
    let docs: Vec<serde_json::Value> = serde_json::from_str(DOCUMENTS).unwrap();
    assert!(docs.len() >= 20);
    let c = Ctx::new();
    for d in &docs {
        let what = d["what"].as_str().unwrap();
        let stored = d["doc"].as_str().unwrap();
        let at = d["at"].as_i64().unwrap();
        let svc: DynamicService = serde_json::from_str(stored).unwrap();
        let (_, mut card) = c.card(PAN_A);
        card.svc = svc;
        let (mode, state) = card.effective(at);
        assert_eq!(
            (mode.as_str(), state.as_str()),
            (d["mode"].as_str().unwrap(), d["state"].as_str().unwrap()),
            "{what}"
        );
        assert_eq!(serde_json::to_string(&card.svc).unwrap(), stored, "{what}");
    }
}

/// The old shape can say more than a card can be; the code before never wrote these, and acted on
/// none of the extra credentials. Each reads as the state that code acted on.
#[test]
fn documents_that_say_more_than_a_card_can_be_read_as_the_code_before_acted_on() {
    let docs: Vec<serde_json::Value> = serde_json::from_str(DOCUMENTS).unwrap();
    let doc = |what: &str| -> serde_json::Value {
        let d = docs.iter().find(|d| d["what"] == what).unwrap();
        serde_json::from_str(d["doc"].as_str().unwrap()).unwrap()
    };
    let token = doc("app/active: a token")["token"].clone();
    let sms = doc("sms/active: a variable part")["sms"].clone();
    let activation = doc("app/pending: an activation")["activation"].clone();
    let read = |mut v: serde_json::Value, extra: &[(&str, &serde_json::Value)]| {
        for (k, x) in extra {
            v[*k] = (*x).clone();
        }
        serde_json::from_value::<DynamicService>(v).unwrap().service
    };

    // Locked: every credential dead, whatever the document still holds.
    let locked = doc("locked from app");
    let s = read(locked.clone(), &[("token", &token), ("sms", &sms)]);
    assert_eq!(s, Service::Locked(Mode::App));
    // The card's channel is its mode's: a token beside an SMS channel is not the card's.
    let s = read(doc("sms/active: a variable part"), &[("token", &token)]);
    assert!(matches!(s, Service::Sms(_)), "{s:?}");
    let s = read(
        doc("a new card: none/inactive"),
        &[("sms", &sms), ("token", &token)],
    );
    assert_eq!(s, Service::None);
    // Mode app: a hardware token, else the app's token, else an activation.
    let s = read(doc("app/active: a token"), &[("activation", &activation)]);
    assert!(matches!(s, Service::App(_)), "{s:?}");
    let mut bare = doc("app/pending: an activation");
    bare.as_object_mut().unwrap().remove("activation");
    assert_eq!(read(bare, &[]), Service::None);
}
