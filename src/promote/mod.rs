//! Promotion: make one environment run exactly the images another runs,
//! in a planned order, with a migration first, and a shared release ledger.

pub(crate) mod apply;
pub(crate) mod image;
pub(crate) mod inventory;
pub(crate) mod ledger;
pub(crate) mod plan;
pub(crate) mod run;
pub(crate) mod sides;
pub(crate) mod state;
pub(crate) mod summary;
