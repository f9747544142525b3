//! seedcore benchmark support (being written).
