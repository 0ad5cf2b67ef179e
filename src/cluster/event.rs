//! What nodes publish to each other (being written).
