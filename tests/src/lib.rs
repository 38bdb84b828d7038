//! Shared pieces of vigil's cross-crate tests.

/// A dependency-free pcap / pcapng reader for the VRRP test vectors.
pub mod pcap;

/// Network-namespace harness: privileged_or_skip, Netns, Lan, run_in.
pub mod netns;

/// The deterministic LAN simulation: many core instances, virtual time, invariants.
pub mod sim;

/// A qemu guest with a real IPVS kernel for the LVS tests: vm_or_skip, Guest, normalise_ipvsadm.
pub mod vm;
