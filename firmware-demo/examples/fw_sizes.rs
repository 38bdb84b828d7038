//! The static memory of the firmware demo's protocol loop, as `size_of` sees it on the
//! build target: `cargo run -p vigil-firmware-demo --example fw_sizes` (add `--release`
//! for the optimised layout; the sizes are the same).
//!
//! A firmware keeps `Storage` and `Vrrp` in statics (or on `main`'s stack, which never
//! returns); nothing else is allocated. The device's own buffers are the driver's and
//! not counted here.

use core::mem::size_of;

use vigil_core::machine::Instance;
use vigil_core::router::{EVENTS_PER_INSTANCE, Event, Router};
use vigil_firmware_demo::neighbours::Neighbours;
use vigil_firmware_demo::node::{RX_BYTES, RX_PACKETS, TX_BYTES, TX_PACKETS};
use vigil_firmware_demo::smoltcp::iface::{Interface, SocketStorage};
use vigil_firmware_demo::smoltcp::socket::raw;
use vigil_firmware_demo::{Storage, Vrrp};

fn row(what: &str, bytes: usize) {
    println!("{what:<58} {bytes:>6}");
}

fn main() {
    println!("{:<58} {:>6}", "item", "bytes");
    row(
        "Storage (socket table + raw socket buffers)",
        size_of::<Storage<'static>>(),
    );
    row(
        &format!("  of which packet bytes: rx {RX_BYTES} + tx {TX_BYTES}"),
        RX_BYTES + TX_BYTES,
    );
    row(
        &format!("  of which packet metadata: {RX_PACKETS} + {TX_PACKETS} slots"),
        (RX_PACKETS + TX_PACKETS) * size_of::<raw::PacketMetadata>(),
    );
    row(
        "  of which socket table (1 slot)",
        size_of::<SocketStorage<'static>>(),
    );
    row("smoltcp Interface (in Vrrp)", size_of::<Interface>());
    row(
        "raw::Socket (in Storage's socket table)",
        size_of::<raw::Socket<'static>>(),
    );
    row(
        "Instance<7> (one vigil-core instance, 7 VIPs)",
        size_of::<Instance<7>>(),
    );
    row(
        "Instance<16> (16 VIPs, the core's MAX_VIPS)",
        size_of::<Instance<16>>(),
    );
    row(
        "Neighbours (smoltcp's neighbour cache kept, in Vrrp)",
        size_of::<Neighbours>(),
    );
    row(
        "Vrrp<1, 7, 8>: 1 instance, 7 VIPs, 8 peers (vigil-fw)",
        size_of::<Vrrp<'static, 1, 7, 8>>(),
    );
    row(
        "Vrrp<1, 4, 1>: 1 instance, 4 VIPs, 1 peer (nostd-proof)",
        size_of::<Vrrp<'static, 1, 4, 1>>(),
    );
    row(
        "Vrrp<4, 4, 2>: 4 instances, 4 VIPs, 2 peers each",
        size_of::<Vrrp<'static, 4, 4, 2>>(),
    );
    row(
        "Router<1, 7, 8> (instances, outboxes, demux; in Vrrp)",
        size_of::<Router<1, 7, 8>>(),
    );
    row(
        &format!("  of which event queues: {EVENTS_PER_INSTANCE} Events per instance"),
        EVENTS_PER_INSTANCE * size_of::<Event>(),
    );
    row(
        "total for vigil-fw: Storage + Vrrp<1, 7, 8>",
        size_of::<Storage<'static>>() + size_of::<Vrrp<'static, 1, 7, 8>>(),
    );
}
