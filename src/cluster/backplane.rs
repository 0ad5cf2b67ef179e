//! The Redis backplane worker (being written).
