//! keepalived's other half: LVS virtual servers with health checkers.
//!
//! - [`ipvs`]: the kernel's IPVS table through generic netlink (services, destinations),
//!   behind the [`ipvs::Ipvs`] trait so the checker's logic is tested without the kernel.
//! - `check`: one module per health check (`TCP_CHECK`, `HTTP_GET`, ...), each an async
//!   function that runs one attempt against a real server.
//! - `engine`: what keepalived's checker process does with the results: real servers up
//!   and down, weights, quorum and the sorry server, notify scripts, the IPVS table kept
//!   in step (on start, reload and exit), off the VRRP protocol thread.
//!
//! The configuration comes typed from [`crate::config::lvs`].

pub mod check;
pub mod engine;
pub mod ipvs;

/// The result of one attempt of one health checker against one real server (the engine
/// counts attempts against `retry` and turns them into up/down transitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The check passed. `weight` is a new weight the check asked for (`misc_dynamic`
    /// exit codes 2..=255, a `FILE_CHECK` value), `None` to keep the configured one.
    Success { weight: Option<u32> },
    /// The check failed; the text is keepalived's log phrase for why (it is logged as
    /// is, e.g. `HTTP status code error to [10.0.0.2]:tcp:80 url(/), status_code [404].`).
    Failure(String),
}
