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
