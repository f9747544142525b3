//! seedcore's runtime: shards that serve peers, and the control thread.
