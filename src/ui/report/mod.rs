//! The reports a command and the runbook step that runs the same
//! procedure both show: one `Report` (data, text, exit) per procedure, so
//! neither writes its own second rendering.

pub(crate) mod jobs;
pub(crate) mod nodes;
pub(crate) mod promote;
pub(crate) mod secrets;
pub(crate) mod workloads;
