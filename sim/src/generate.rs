//! The scale generator (filled in below).

use crate::store::Store;

pub fn generate(_store: &Store, _nodes: usize, _pods_per_node: usize) {}
