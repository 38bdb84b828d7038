//! vigild's pieces as a library, so integration tests can drive them.

#[macro_use]
pub mod log;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dump;
pub mod exec;
pub mod lvs;
pub mod mail;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod notify_fifo;
pub mod signum;
pub mod systemd;
pub mod track;
