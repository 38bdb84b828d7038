//! Prints the size of an instance and of its VIP list for 1, 4 and 16 VIPs:
//! `cargo run -p vigil-benches --example sizes`.

fn main() {
    print!("{}", vigil_benches::sizes_table());
    println!(
        "target: instance without VIPs <= {} bytes",
        vigil_benches::INSTANCE_TARGET
    );
}
