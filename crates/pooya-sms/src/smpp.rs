//! SMPP 3.4 to an SMSC (being written).
