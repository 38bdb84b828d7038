//! vigil-fw: the firmware demo's protocol loop ([`vigil_firmware_demo::Vrrp`]) on a
//! Linux TAP device, configured from the command line. Everything VRRP happens in the
//! `no_std` library; this file only parses arguments, opens the TAP, reads the clock,
//! sleeps, and prints what the loop reports.
//!
//! ```text
//! vigil-fw --tap tap0 --addr 10.77.0.13/24 --mac 02:77:00:00:00:13 \
//!          --vrid 51 --priority 150 --interval 1 --version 2 --auth s3cr3t \
//!          --vip 10.77.0.50/24 [--vip ...] [--peer 10.77.0.11 ...]
//! ```
//!
//! SIGINT or SIGTERM stops it cleanly: a master sends its priority-0 advert and drops
//! its VIPs; the exit status is then 0.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;

use smoltcp::phy::{Medium, TunTapInterface, wait};
use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use vigil_core::Instant;
use vigil_core::machine::Config;
use vigil_core::router::{Event, Transmit};
use vigil_core::timer::Interval;
use vigil_core::wire::{Auth, Version};
use vigil_firmware_demo::{NetConfig, Observer, RxDrop, Storage, TxError, Vrrp};

const USAGE: &str = "usage: vigil-fw --tap NAME --addr A.B.C.D/LEN --mac XX:XX:XX:XX:XX:XX
                --vrid N --priority N --vip A.B.C.D/LEN [--vip ...]
                [--interval SECONDS] [--version 2|3] [--auth PASSWORD]
                [--peer A.B.C.D ...] [--gateway A.B.C.D] [--name NAME] [--nopreempt]";

/// Instances this binary runs (one; the library takes more).
const INSTANCES: usize = 1;
/// VIPs per instance: smoltcp's address table (8) less the own address.
const VIPS: usize = 7;
/// Unicast peers per instance.
const PEERS: usize = 8;
/// The longest sleep between two checks of the stop flag.
const MAX_WAIT: StdDuration = StdDuration::from_millis(200);

static STOP: AtomicBool = AtomicBool::new(false);

#[derive(Debug)]
struct Args {
    tap: String,
    addr: Ipv4Cidr,
    mac: EthernetAddress,
    gateway: Option<Ipv4Addr>,
    name: String,
    vrid: u8,
    priority: u8,
    interval: Interval,
    version: Version,
    auth: Option<String>,
    vips: Vec<Ipv4Cidr>,
    peers: Vec<Ipv4Addr>,
    preempt: bool,
}

fn parse_cidr(s: &str) -> Result<Ipv4Cidr, String> {
    let (a, len) = s.split_once('/').unwrap_or((s, "32"));
    let addr: Ipv4Addr = a.parse().map_err(|_| format!("bad address {a:?}"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("bad prefix length in {s:?}"))?;
    Ok(Ipv4Cidr::new(addr, len))
}

fn parse_mac(s: &str) -> Result<EthernetAddress, String> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        let p = parts.next().ok_or_else(|| format!("bad MAC {s:?}"))?;
        *b = u8::from_str_radix(p, 16).map_err(|_| format!("bad MAC {s:?}"))?;
    }
    if parts.next().is_some() {
        return Err(format!("bad MAC {s:?}"));
    }
    Ok(EthernetAddress(mac))
}

/// Seconds with up to two decimals ("1", "0.5", "1.25") as centiseconds.
fn parse_interval(s: &str) -> Result<Interval, String> {
    let bad = || format!("bad interval {s:?} (seconds, at most two decimals)");
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: u32 = whole.parse().map_err(|_| bad())?;
    let frac: u32 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    let centis = whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(frac))
        .and_then(|c| u16::try_from(c).ok())
        .ok_or_else(bad)?;
    Ok(Interval::from_centis(centis))
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut tap = None;
    let mut addr = None;
    let mut mac = None;
    let mut vrid = None;
    let mut priority = None;
    let mut a = Args {
        tap: String::new(),
        addr: Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0),
        mac: EthernetAddress([0; 6]),
        gateway: None,
        name: String::new(),
        vrid: 0,
        priority: 0,
        interval: Interval::DEFAULT,
        version: Version::V3,
        auth: None,
        vips: Vec::new(),
        peers: Vec::new(),
        preempt: true,
    };
    let mut name = None;
    while let Some(flag) = it.next() {
        if flag == "--nopreempt" {
            a.preempt = false;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| -> Result<u8, String> {
            value
                .parse::<u8>()
                .map_err(|_| format!("bad {what} {value:?}"))
        };
        match flag.as_str() {
            "--tap" => tap = Some(value.clone()),
            "--addr" => addr = Some(parse_cidr(&value)?),
            "--mac" => mac = Some(parse_mac(&value)?),
            "--gateway" => {
                a.gateway = Some(
                    value
                        .parse()
                        .map_err(|_| format!("bad gateway {value:?}"))?,
                )
            }
            "--name" => name = Some(value.clone()),
            "--vrid" => vrid = Some(number("VRID")?),
            "--priority" => priority = Some(number("priority")?),
            "--interval" => a.interval = parse_interval(&value)?,
            "--version" => {
                a.version = match value.as_str() {
                    "2" => Version::V2,
                    "3" => Version::V3,
                    _ => return Err(format!("bad version {value:?} (2 or 3)")),
                }
            }
            "--auth" => a.auth = Some(value.clone()),
            "--vip" => a.vips.push(parse_cidr(&value)?),
            "--peer" => a.peers.push(
                value
                    .parse()
                    .map_err(|_| format!("bad peer address {value:?}"))?,
            ),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    a.tap = tap.ok_or("--tap is required")?;
    a.addr = addr.ok_or("--addr is required")?;
    a.mac = mac.ok_or("--mac is required")?;
    a.vrid = vrid.ok_or("--vrid is required")?;
    a.priority = priority.ok_or("--priority is required")?;
    if a.vips.is_empty() {
        return Err("at least one --vip is required".into());
    }
    a.name = name.unwrap_or_else(|| format!("VI_{}", a.vrid));
    Ok(a)
}

/// Prints what the loop reports, with keepalived's phrases where it has one.
struct Printer<'a> {
    name: &'a str,
    epoch: std::time::Instant,
}

impl Printer<'_> {
    fn line(&self, text: std::fmt::Arguments<'_>) {
        let t = self.epoch.elapsed();
        println!("[{:>4}.{:03}] {text}", t.as_secs(), t.subsec_millis());
    }
}

impl Observer for Printer<'_> {
    fn event(&mut self, _instance: usize, event: &Event) {
        let name = self.name;
        match *event {
            Event::StateChanged { to, reason, .. } => self.line(format_args!(
                "({name}) Entering {} STATE ({})",
                to.as_str(),
                reason.as_str()
            )),
            Event::AddVips => self.line(format_args!("({name}) VIPs added")),
            Event::RemoveVips => self.line(format_args!("({name}) VIPs removed")),
            Event::Announce { count, .. } => {
                self.line(format_args!("({name}) sending {count} gratuitous ARPs"))
            }
            Event::PriorityChanged { from, to } => self.line(format_args!(
                "({name}) Changing effective priority from {from} to {to}"
            )),
        }
    }

    fn advert(&mut self, transmit: &Transmit) {
        if transmit.priority == 0 && transmit.first {
            let name = self.name;
            self.line(format_args!(
                "({name}) sending priority 0 advert (resigning)"
            ));
        }
    }

    fn dropped(&mut self, drop: RxDrop) {
        self.line(format_args!("dropped advert: {drop:?}"));
    }

    fn failed(&mut self, _instance: usize, error: TxError) {
        self.line(format_args!("({}) advert not sent: {error:?}", self.name));
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("vigil-fw: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigil-fw: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, &STOP).map_err(|e| format!("signal handler: {e}"))?;
    }
    let mut device = TunTapInterface::new(&args.tap, Medium::Ethernet)
        .map_err(|e| format!("cannot open TAP device {}: {e}", args.tap))?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&device);

    // std's monotonic clock as embassy-time instants since start-up.
    let epoch = std::time::Instant::now();
    let now = || Instant::from_micros(u64::try_from(epoch.elapsed().as_micros()).unwrap_or(0));

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id());
    let net = NetConfig {
        mac: args.mac,
        addr: args.addr,
        gateway: args.gateway,
        random_seed: seed,
    };
    let mut storage = Storage::new();
    let mut vrrp: Vrrp<'_, INSTANCES, VIPS, PEERS> =
        Vrrp::new(net, &mut device, &mut storage, now()).map_err(|e| e.to_string())?;

    let mut config = Config::new(
        args.vrid,
        args.version,
        args.priority,
        std::net::IpAddr::V4(args.addr.address()),
    );
    config.interval = args.interval;
    config.preempt = args.preempt;
    if let Some(pass) = &args.auth {
        config.auth = Auth::password(pass.as_bytes());
    }
    vrrp.add_instance(config, &args.vips, &args.peers)
        .map_err(|e| e.to_string())?;

    let mut obs = Printer {
        name: &args.name,
        epoch,
    };
    obs.line(format_args!(
        "vigil-fw: {} {} on {} ({}), VRRPv{} VRID {} priority {}, {}",
        args.name,
        args.addr,
        args.tap,
        args.mac,
        args.version.number(),
        args.vrid,
        args.priority,
        if args.peers.is_empty() {
            "multicast 224.0.0.18".to_owned()
        } else {
            format!("unicast to {:?}", args.peers)
        }
    ));
    vrrp.start(now(), &mut device, &mut obs);

    while !STOP.load(Ordering::SeqCst) {
        let t = now();
        vrrp.poll(t, &mut device, &mut obs);
        let sleep = match vrrp.poll_at(t) {
            Some(at) => StdDuration::from_micros(at.saturating_duration_since(now()).as_micros()),
            None => MAX_WAIT,
        }
        .min(MAX_WAIT);
        if !sleep.is_zero() {
            // EINTR from a signal just ends the wait early.
            let _ = wait(
                fd,
                Some(smoltcp::time::Duration::from_micros(
                    sleep.as_micros() as u64
                )),
            );
        }
    }

    obs.line(format_args!("vigil-fw: stopping"));
    vrrp.shutdown(now(), &mut device, &mut obs);
    // TAP writes are synchronous: the priority-0 advert has left when this returns.
    obs.line(format_args!("vigil-fw: stopped"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, String> {
        parse_args(s.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_a_full_command_line() {
        let a = args(
            "--tap t0 --addr 10.0.0.2/24 --mac 02:00:00:00:00:02 --vrid 51 --priority 150 \
             --interval 0.5 --version 3 --vip 10.0.0.50/24 --vip 10.0.0.51 --peer 10.0.0.3 \
             --nopreempt",
        )
        .unwrap();
        assert_eq!(a.tap, "t0");
        assert_eq!(a.addr, Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 2), 24));
        assert_eq!(a.mac, EthernetAddress([2, 0, 0, 0, 0, 2]));
        assert_eq!((a.vrid, a.priority), (51, 150));
        assert_eq!(a.interval, Interval::from_centis(50));
        assert_eq!(a.version, Version::V3);
        assert_eq!(a.vips[1], Ipv4Cidr::new(Ipv4Addr::new(10, 0, 0, 51), 32));
        assert_eq!(a.peers, [Ipv4Addr::new(10, 0, 0, 3)]);
        assert!(!a.preempt);
        assert_eq!(a.name, "VI_51");
    }

    #[test]
    fn refuses_bad_input() {
        let base = "--tap t0 --addr 10.0.0.2/24 --mac 02:00:00:00:00:02 --vrid 51 --priority 1";
        assert!(args(base).unwrap_err().contains("--vip"));
        assert!(args(&format!("{base} --vip 10.0.0.50/33")).is_err());
        assert!(args(&format!("{base} --vip 10.0.0.50 --interval 1.234")).is_err());
        assert!(args(&format!("{base} --vip 10.0.0.50 --version 4")).is_err());
        assert!(args(&format!("{base} --vip 10.0.0.50 --mac 02:00")).is_err());
        assert!(args(&format!("{base} --vip 10.0.0.50 --bogus 1")).is_err());
        assert_eq!(parse_interval("1.25").unwrap().centis(), 125);
        assert_eq!(parse_interval("40.95").unwrap().centis(), 4095);
    }
}
