//! seedcore hash layer (being written).
