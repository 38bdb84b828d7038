//! vigil-core: the VRRP protocol (v2, RFC 3768; v3, RFC 5798 / RFC 9568) as a sans-IO
//! library with no `std` and no heap.
//!
//! - [`wire`]: the advertisement codec (zero-copy [`wire::Packet`], validated
//!   [`wire::Repr`]), IPv4 and IPv6, v2 simple-password auth, checksums; and the bytes
//!   around it that hosts building their own frames need (IPv4 header, ARP, Ethernet,
//!   the virtual MAC).
//! - [`timer`]: advertisement interval, skew time, master-down interval, in integers.
//! - [`priority`]: effective priority from tracker weights; rise/fall counting.
//! - [`machine`]: the per-instance state machine. Time comes in as an argument
//!   (`embassy_time::Instant`), effects and the next deadline come out; nothing here
//!   reads a clock or touches a socket.
//! - [`router`]: every instance of a host and their sync groups behind one door: datagrams,
//!   deadlines, trackers and commands in; adverts, VIP changes and state changes out.
//!
//! Capacities are fixed at compile time and documented where they are declared;
//! exceeding one is a configuration error ([`priority::CapacityError`]), never a panic.
#![no_std]
#![forbid(unsafe_code)]

pub mod machine;
pub mod priority;
pub mod router;
pub mod timer;
pub mod wire;

pub use embassy_time::{Duration, Instant};
