//! What a connection is routed to. [`guide`]: the guide's endpoints.

pub mod fuzzingserver;
pub mod guide;
