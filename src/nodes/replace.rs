//! `node replace` and `node rotate`: terminate drained nodes and wait for
//! their replacements.
