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

pub mod ipvs;
