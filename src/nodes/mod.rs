//! Nodes: list, cordon, the drain decision, pre-flight check, drain, replace
//! and rotate. Everything here returns data; `commands::node` renders it.

pub(crate) mod check;
pub(crate) mod cordon;
pub(crate) mod decide;
pub(crate) mod drain;
pub(crate) mod lean;
pub(crate) mod list;
pub(crate) mod plan;
pub(crate) mod rebuild;
pub(crate) mod replace;
pub(crate) mod scale;
pub(crate) mod selector;
pub(crate) mod targets;
#[cfg(test)]
pub(crate) mod testing;

pub(crate) use lean::LeanNode;
