//! Connecting to a cluster the way kubectl does, and turning API failures
//! into errors a user can act on.

mod bearer;
mod body_timeout;
mod connect;
mod errors;
mod exec;
pub mod fanout;
mod http_log;
pub mod kubeconfig;
pub mod list;
mod proxy;
mod renew;
pub mod retry;
pub mod table;

pub use connect::{Cluster, ConnectOptions, DEFAULT_REQUEST_TIMEOUT, Overrides, Provided, connect};
pub use errors::{api_error, is_not_found, plain, plain_watch, status_of};
pub use exec::never_interactive;
pub use retry::is_transient;
