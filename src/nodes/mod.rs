//! Nodes: list, cordon, the drain decision, pre-flight check, drain, replace
//! and rotate. Everything here returns data; `commands::node` renders it.

pub mod check;
pub mod cordon;
pub mod decide;
pub mod drain;
pub mod lean;
pub mod list;
pub mod plan;
pub mod rebuild;
pub mod replace;
pub mod scale;
pub mod selector;
pub mod targets;
#[cfg(test)]
pub mod testing;

pub use lean::{LeanNode, LeanPod};
