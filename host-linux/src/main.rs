//! vigild: a keepalived.conf-compatible VRRP daemon for Linux load balancers.
//!
//! ```text
//! vigild [-f FILE] [-D] [--control SOCKET] [--state FILE]   run (foreground; systemd Type=notify)
//! vigild -t [-f FILE]                          test the configuration (keepalived's exit codes)
//! vigild status [--json] [--control SOCKET]    show every instance of a running daemon
//! ```
//! keepalived's `-n`, `-l`, `-P`/`--vrrp` and `-D` are accepted, so unit files and
//! habits carry over.

use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use vigil_linux::{config, control, daemon, error, log};

const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

const USAGE: &str = "\
usage: vigild [-f FILE] [-D] [--control SOCKET] [--state FILE]   run the daemon (foreground)
       vigild -t [-f FILE]                        test the configuration and exit
       vigild status [--json] [--control SOCKET]  show the running daemon's instances
       vigild --version | --help

  -f, --use-file FILE   configuration (default /etc/keepalived/keepalived.conf)
  -t, --config-test     check the configuration; exit 0 when it is usable
  -D, --log-detail      debug logging
  --control SOCKET      control socket (default /run/vigild.sock)
  --state FILE          what vigild may have installed, for the next start after a
                        crash (default: the control socket's path, .installed)
  -n, -l, -P, --vrrp, --dont-fork, --log-console   accepted for keepalived compatibility
";

struct Args {
    config: PathBuf,
    test: bool,
    debug: bool,
    status: bool,
    json: bool,
    control: PathBuf,
    state: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        config: PathBuf::from(DEFAULT_CONFIG),
        test: false,
        debug: false,
        status: false,
        json: false,
        control: PathBuf::from(control::DEFAULT_SOCKET),
        state: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-f" | "--use-file" => a.config = it.next().ok_or("-f needs a file")?.into(),
            s if s.starts_with("--use-file=") => a.config = s["--use-file=".len()..].into(),
            "-t" | "--config-test" => a.test = true,
            "-D" | "--log-detail" => a.debug = true,
            "--control" => a.control = it.next().ok_or("--control needs a path")?.into(),
            "--state" => a.state = Some(it.next().ok_or("--state needs a path")?.into()),
            "status" => a.status = true,
            "--json" => a.json = true,
            "-n" | "--dont-fork" | "-l" | "--log-console" | "-P" | "--vrrp" => {}
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "-v" | "--version" => {
                println!("vigild {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(a)
}

/// A panic is a bug. The runtime would catch it and leave the rest running without the
/// task that panicked: a receiver gone deaf makes a backup take over beside a live
/// master. Dying instead lets systemd restart the daemon, which clears VIPs it left
/// behind and rejoins the group.
fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vigild: {e}");
            return ExitCode::from(2);
        }
    };
    log::init(args.debug);
    abort_on_panic();
    if args.status {
        return match daemon::query_status(&args.control, args.json) {
            Ok(s) => {
                print!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!(
                    "vigild: cannot reach the daemon on {}: {e}",
                    args.control.display()
                );
                ExitCode::from(1)
            }
        };
    }
    if args.test {
        let loaded = config::load(&args.config);
        for d in &loaded.diagnostics {
            eprintln!("{d}");
        }
        let code = config::test_exit_code(&loaded);
        if code == 0 {
            eprintln!("vigild: configuration {} is valid", args.config.display());
        }
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let path = args.config.clone();
    let loader: daemon::Loader = Rc::new(move || daemon::load_plan(&path));
    let state_file = args
        .state
        .unwrap_or_else(|| daemon::installed::default_path(&args.control));
    let code = daemon::run(
        daemon::Options {
            config_path: args.config,
            control_socket: args.control,
            state_file,
        },
        loader,
    );
    if code != 0 {
        error!("exiting with status {code}");
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
