//! Promotion: make one environment run exactly the images another runs,
//! in a planned order, with a migration first, and a shared release ledger.

pub mod apply;
pub mod image;
pub mod inventory;
pub mod ledger;
pub mod plan;
pub mod run;
pub mod sides;
pub mod state;
pub mod summary;

pub use plan::{PromotionPlan, WorkloadChange};
pub use sides::{Side, Sides};
