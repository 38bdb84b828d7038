//! `cargo run -p vigil-linux --example conftest -- FILE...`: what `vigild -t -f FILE` will
//! print (diagnostics on stderr) and its exit code, for each file.

fn main() {
    let mut code = 0;
    for arg in std::env::args().skip(1) {
        let loaded = vigil_linux::config::load(std::path::Path::new(&arg));
        for d in &loaded.diagnostics {
            eprintln!("{d}");
        }
        code = vigil_linux::config::test_exit_code(&loaded);
        println!("{arg}: exit {code}");
    }
    std::process::exit(code);
}
