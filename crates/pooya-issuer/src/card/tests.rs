//! Unit tests of the card state machine (filled in by the state-machine test work).
use super::*;
