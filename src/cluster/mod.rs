//! Connecting to a cluster the way kubectl does, and turning API failures
//! into errors a user can act on.

mod connect;
mod errors;
pub mod list;

pub use connect::{Cluster, ConnectOptions, connect};
pub use errors::{api_error, is_not_found, is_transient, status_of};
