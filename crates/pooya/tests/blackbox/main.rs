//! pooya's black-box suite: every test starts the real `pooya` binary and talks HTTP (or SMPP) to it.
//!
//! One test binary, not one per file: each binary links the whole workspace, and fourteen of them
//! cost CI's disk gigabytes and its linker minutes. Run one part with
//! `cargo test -p pooya --test blackbox rules_app::`.

mod common;

mod api_edges;
mod app_add;
mod app_cli;
mod app_clock;
mod app_enroll;
mod app_in_force;
mod app_support;
mod app_tui;
mod app_vault;
mod at_rest;
mod audit;
mod browser_smoke;
mod console;
mod crash;
mod durability;
mod enrollment_abuse;
mod first_hour;
mod flow;
mod guessing;
mod hygiene;
mod keys;
mod limits;
mod master_key;
mod model;
mod multi_node;
mod network;
mod openapi;
mod operations;
mod pskc;
mod pskc_policy;
mod request_edges;
mod rules_app;
mod rules_sms;
mod smpp_channel;
mod sms_unified;
mod tls;
mod web_app;
mod wire_schema;
