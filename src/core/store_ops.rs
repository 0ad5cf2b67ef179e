//! Shared-store jobs the core hands to the store worker, and their answers.

/// A shared-store job.
#[derive(Debug)]
pub enum StoreJob {}

/// A finished shared-store job.
#[derive(Debug)]
pub enum StoreDone {}
