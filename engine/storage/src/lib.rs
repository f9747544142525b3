//! seedcore storage layer (being written).
