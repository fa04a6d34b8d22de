//! pooya-server
