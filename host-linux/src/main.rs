//! vigild: a keepalived.conf-compatible VRRP daemon for Linux load balancers.
//!
//! ```text
//! vigild [-f FILE] [-i ID] [-D] [--control SOCKET] [--state FILE] [--metrics-listen ADDR:PORT]
//!                                              run (foreground; systemd Type=notify)
//! vigild -t [-f FILE] [-i ID]                  test the configuration (keepalived's exit codes)
//! vigild check [-f FILE] [-i ID]               would the daemon start with it? (0 yes, 1 no)
//! vigild status [--json|--prometheus] [--control SOCKET]
//!                                              show every instance of a running daemon
//! vigild --signum=NAME                         keepalived's signal number for NAME
//! ```
//! keepalived's `-n`, `-l`, `-P`/`--vrrp` and `-D` are accepted, so unit files and
//! habits carry over.

use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use vigil_linux::{config, control, daemon, error, info, log};

const DEFAULT_CONFIG: &str = "/etc/keepalived/keepalived.conf";

const USAGE: &str = "\
usage: vigild [-f FILE] [-i ID] [-D] [--control SOCKET] [--state FILE] [--metrics-listen ADDR:PORT]
                                                  run the daemon (foreground)
       vigild -t [-f FILE] [-i ID]                test the configuration and exit
       vigild check [-f FILE] [-i ID]             exit 0 if the daemon would run it, 1 if not
       vigild status [--json|--prometheus] [--control SOCKET]
                                                  show the running daemon's instances
       vigild --signum=NAME                       print keepalived's signal number for
                                                  STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON
       vigild --version | --help

  -f, --use-file FILE   configuration (default /etc/keepalived/keepalived.conf)
  -i, --config-id ID    the config id that conditional lines (`@ID ...`) and ${_INSTANCE}
                        use (default: the host name up to its first dot, as keepalived)
  -t, --config-test     check the configuration; exit as `keepalived -t` (0, 2, 4, 5, 6)
  check                 print the diagnostics; exit 0 if the daemon would start with
                        the configuration (warnings allowed), 1 if it would refuse it
  -D, --log-detail      debug logging
  --control SOCKET      control socket (default /run/vigild.sock)
  --state FILE          what vigild may have installed, for the next start after a
                        crash (default: the control socket's path, .installed)
  --metrics-listen ADDR:PORT
                        serve Prometheus metrics on http://ADDR:PORT/metrics (off
                        by default; e.g. 127.0.0.1:9650 or [::]:9650)
  --json, --prometheus  `status` as JSON, or as Prometheus text (the endpoint's, for
                        node_exporter's textfile collector)
  -n, -l, -P, --vrrp, --dont-fork, --log-console   accepted for keepalived compatibility
";

struct Args {
    config: PathBuf,
    test: bool,
    check: bool,
    debug: bool,
    status: bool,
    json: bool,
    prometheus: bool,
    control: PathBuf,
    state: Option<PathBuf>,
    metrics_listen: Option<std::net::SocketAddr>,
    config_id: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        config: PathBuf::from(DEFAULT_CONFIG),
        test: false,
        check: false,
        debug: false,
        status: false,
        json: false,
        prometheus: false,
        control: PathBuf::from(control::DEFAULT_SOCKET),
        state: None,
        metrics_listen: None,
        config_id: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-f" | "--use-file" => a.config = it.next().ok_or("-f needs a file")?.into(),
            s if s.starts_with("--use-file=") => a.config = s["--use-file=".len()..].into(),
            "-t" | "--config-test" => a.test = true,
            "-i" | "--config-id" => {
                a.config_id = Some(it.next().ok_or("-i needs a config id")?);
            }
            s if s.starts_with("--config-id=") => {
                a.config_id = Some(s["--config-id=".len()..].to_string());
            }
            "-D" | "--log-detail" => a.debug = true,
            "--control" => a.control = it.next().ok_or("--control needs a path")?.into(),
            "--state" => a.state = Some(it.next().ok_or("--state needs a path")?.into()),
            "status" => a.status = true,
            "check" => a.check = true,
            "--json" => a.json = true,
            "--prometheus" => a.prometheus = true,
            "--metrics-listen" => {
                let v = it.next().ok_or("--metrics-listen needs ADDR:PORT")?;
                a.metrics_listen = Some(parse_listen(&v)?);
            }
            s if s.starts_with("--metrics-listen=") => {
                a.metrics_listen = Some(parse_listen(&s["--metrics-listen=".len()..])?);
            }
            "-n" | "--dont-fork" | "-l" | "--log-console" | "-P" | "--vrrp" => {}
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            "--signum" => print_signum(it.next().as_deref()),
            s if s.starts_with("--signum=") => print_signum(Some(&s["--signum=".len()..])),
            "-v" | "--version" => {
                println!("vigild {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if [a.test, a.check, a.status].iter().filter(|m| **m).count() > 1 {
        return Err(format!("-t, check and status exclude each other\n{USAGE}"));
    }
    if a.json && a.prometheus {
        return Err(format!(
            "--json and --prometheus exclude each other\n{USAGE}"
        ));
    }
    Ok(a)
}

/// `--metrics-listen`: an address and port (`[::]:9650` for IPv6).
fn parse_listen(v: &str) -> Result<std::net::SocketAddr, String> {
    v.parse()
        .map_err(|_| format!("--metrics-listen: {v:?} is not ADDR:PORT (e.g. 127.0.0.1:9650)"))
}

/// `--signum=NAME`, as `keepalived --signum`: the number on standard output and exit 0,
/// or keepalived's message and exit 1.
fn print_signum(name: Option<&str>) -> ! {
    match name
        .filter(|n| !n.is_empty())
        .map(|n| (n, vigil_linux::signum::signum(n)))
    {
        Some((_, Some(n))) => {
            println!("{n}");
            std::process::exit(0)
        }
        Some((n, None)) => {
            eprintln!("Unknown sigfunc {n}");
            std::process::exit(1)
        }
        None => {
            eprintln!("Missing parameter for option --signum");
            std::process::exit(1)
        }
    }
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

/// `vigild check`: the unit's pre-start and pre-reload check. `-t` cannot serve there:
/// it exits as `keepalived -t`, 5 for warnings as well as errors, and 5 also for a
/// missing interface, which keepalived refuses to run. This applies the daemon's own
/// rule instead (the configuration, machine check included, loads without errors and
/// becomes a plan), logs every diagnostic with its severity, and exits 0 if the daemon
/// would run the file, 1 if it would refuse it, saying whether keepalived would have
/// run it. Writes nothing (track files' `init_file` is left to the daemon).
fn check_for_start(path: &std::path::Path) -> ExitCode {
    let loaded = config::machine::load(path);
    daemon::log_diagnostics(&loaded);
    let refusal = match &loaded.config {
        None => Some(format!(
            "{} error(s); {}",
            loaded.errors().count(),
            keepalived_would(&loaded.summary)
        )),
        Some(conf) => daemon::plan_from(conf).err(),
    };
    match refusal {
        None => {
            info!(
                "configuration {} would run ({} warning(s))",
                path.display(),
                loaded.warnings().count()
            );
            ExitCode::SUCCESS
        }
        Some(why) => {
            error!("configuration {} would be refused: {why}", path.display());
            ExitCode::from(1)
        }
    }
}

/// Whether keepalived 2.2.7 would run a configuration vigild refuses, from the classes
/// of its diagnostics: it refuses only what stops its reading (a keyword without its
/// value) and what it cannot run (a missing file, a missing interface).
fn keepalived_would(s: &config::Summary) -> &'static str {
    use config::KaClass;
    if s.has(KaClass::Abort) || s.has(KaClass::Fatal) {
        "keepalived would not run it either"
    } else {
        "keepalived would run it (vigild cannot: see the errors)"
    }
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
    // Every load (-t, check, the daemon's start and reloads) compares `@ID` lines with it.
    config::lexer::set_config_id(args.config_id.clone());
    if args.status {
        let format = if args.json {
            daemon::StatusFormat::Json
        } else if args.prometheus {
            daemon::StatusFormat::Prometheus
        } else {
            daemon::StatusFormat::Table
        };
        return match daemon::query_status(&args.control, format) {
            // Label values are escaped by the exposition format itself.
            Ok(s) if format != daemon::StatusFormat::Table => {
                print!("{s}");
                ExitCode::SUCCESS
            }
            Ok(s) => {
                // Instance names and interfaces come from the configuration: escaped
                // line by line like the log (JSON escapes them itself).
                for line in s.lines() {
                    println!("{}", log::escape_controls(line));
                }
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
        let loaded = config::machine::load(&args.config);
        for d in &loaded.diagnostics {
            eprintln!("{d}");
        }
        if let Some(note) = loaded.omitted_note() {
            eprintln!("{note}");
        }
        let code = config::test_exit_code(&loaded);
        if code == 0 {
            let name = args.config.display().to_string();
            eprintln!(
                "vigild: configuration {} is valid",
                log::escape_controls(&name)
            );
        }
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    if args.check {
        return check_for_start(&args.config);
    }
    let path = args.config.clone();
    let loader: daemon::Loader = Rc::new(move || daemon::load_plan(&path));
    let state_file = args
        .state
        .unwrap_or_else(|| daemon::installed::default_path(&args.control));
    let code = daemon::run_with_lvs(
        daemon::Options {
            config_path: args.config,
            control_socket: args.control,
            state_file,
            metrics_listen: args.metrics_listen,
        },
        loader,
        Some(lvs_hooks()),
    );
    if code != 0 {
        error!("exiting with status {code}");
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The LVS checker's outside world: the kernel's IPVS table (generic netlink) and the
/// health checks.
fn lvs_hooks() -> daemon::LvsHooks {
    use vigil_linux::lvs::{check::Checks, ipvs};
    let checks = Rc::new(Checks::default());
    let configured = checks.clone();
    daemon::LvsHooks {
        ipvs: Rc::new(|| {
            ipvs::netlink::NetlinkIpvs::open().map(|t| Box::new(t) as Box<dyn ipvs::Ipvs>)
        }),
        prober: checks,
        configure: Rc::new(move |plan: &daemon::plan::Plan| {
            configured.configure(&plan.lvs.0, plan.lvs.1.clone(), plan.script_user)
        }),
    }
}
