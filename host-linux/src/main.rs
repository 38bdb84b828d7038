//! vigild: the Linux VRRP daemon. The daemon itself arrives with its own issue; for now
//! the binary only says what it is, so the workspace builds end to end.

fn main() {
    println!(
        "vigild {}: the daemon is not built yet; see the README",
        env!("CARGO_PKG_VERSION")
    );
}
