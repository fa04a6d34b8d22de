//! A generic JSON-over-HTTP SMS gateway (being written).
