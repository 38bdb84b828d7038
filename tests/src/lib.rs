//! Shared pieces of vigil's cross-crate tests.

/// A dependency-free pcap / pcapng reader for the VRRP test vectors.
pub mod pcap;
