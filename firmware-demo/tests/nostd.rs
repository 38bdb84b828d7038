//! The protocol loop builds and runs without `std` and without a heap: runs
//! `nostd-proof/check.sh`, which links vigil-firmware-demo (no default features: the
//! loop, smoltcp, vigil-core) into a `#![no_std] #![no_main]` static binary with no
//! allocator and no libc, inspects it with nm/readelf and runs it over an in-memory
//! device (takeover, yield, resignation). Needs binutils (scripts/setup installs it).

use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn protocol_loop_links_and_runs_without_std_or_heap() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("nostd-proof/check.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .expect("running nostd-proof/check.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("fw-nostd-proof: PASS"),
        "{} failed ({}):\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
}
