//! Fixtures for the criterion benchmarks of the vigil core (`benches/core.rs`): the
//! cases, the received packets (built with `Repr::emit`), instances in BACKUP and
//! MASTER, and the state-machine step each `step` benchmark times.
//!
//! `cargo test -p vigil-benches` checks that each benchmark measures what its name says
//! (packets that parse and authenticate, a backup that stays backup, a master that
//! answers once per interval) without running criterion.

use std::hint::black_box;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vigil_core::machine::{Config, Drop, Effect, Instance, MAX_VIPS, Sink, State, Vips};
use vigil_core::wire::{
    self, Addresses, Auth, ChecksumMode, Family, MCAST_V4, MCAST_V6, Repr, RxMeta, Version,
};
use vigil_core::{Duration, Instant};

/// The virtual router every fixture uses.
pub const VRID: u8 = 51;
/// The priority of the peer whose adverts the instance under test receives when it is
/// BACKUP (the peer is master).
pub const MASTER_PRIORITY: u8 = 200;
/// The priority of the instance under test when it is BACKUP.
pub const BACKUP_PRIORITY: u8 = 100;
/// The VRRPv2 simple password of the v2 cases.
pub const PASSWORD: &[u8] = b"s3cr3t";
/// The emit buffer: larger than any case's message (the largest, VRRPv3 over IPv6 with 16
/// addresses, is 264 bytes).
pub const BUF_LEN: usize = 512;

/// One benchmark case: a protocol version, an address family, a number of VIPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// The benchmark id's parameter, e.g. `v3-ipv6/16`.
    pub name: &'static str,
    pub version: Version,
    pub family: Family,
    pub vips: usize,
}

/// The cases of the issue: VRRPv2 (IPv4, PASS auth) and VRRPv3 over IPv4 and IPv6, each
/// with 1 and 16 VIPs.
pub const CASES: [Case; 6] = [
    case("v2-ipv4-pass/1", Version::V2, Family::V4, 1),
    case("v2-ipv4-pass/16", Version::V2, Family::V4, 16),
    case("v3-ipv4/1", Version::V3, Family::V4, 1),
    case("v3-ipv4/16", Version::V3, Family::V4, 16),
    case("v3-ipv6/1", Version::V3, Family::V6, 1),
    case("v3-ipv6/16", Version::V3, Family::V6, 16),
];

const fn case(name: &'static str, version: Version, family: Family, vips: usize) -> Case {
    Case {
        name,
        version,
        family,
        vips,
    }
}

/// A case made concrete: VIPs, addresses and authentication, owned so that adverts can
/// borrow them.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub case: Case,
    vips4: Vec<[u8; 4]>,
    vips6: Vec<[u8; 16]>,
    /// The configured auth (a password for v2, none for v3).
    pub auth: Auth,
    /// The master's address: the source of every received advert.
    pub peer: IpAddr,
    /// The address of the instance under test.
    pub local: IpAddr,
    /// The multicast group.
    pub group: IpAddr,
}

impl Fixture {
    pub fn new(case: Case) -> Self {
        let (peer, local, group) = match case.family {
            Family::V4 => (
                IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11)),
                IpAddr::V4(Ipv4Addr::new(10, 99, 0, 12)),
                IpAddr::V4(MCAST_V4),
            ),
            Family::V6 => (
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x11)),
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x12)),
                IpAddr::V6(MCAST_V6),
            ),
        };
        let n = u8::try_from(case.vips).expect("at most 255 VIPs");
        Fixture {
            case,
            vips4: (1..=n).map(|i| [10, 99, 0, 100 + i]).collect(),
            vips6: (1..=n)
                .map(|i| {
                    Ipv6Addr::new(0x2001, 0xdb8, 0, 0x99, 0, 0, 0, 0x100 + u16::from(i)).octets()
                })
                .collect(),
            auth: match case.version {
                Version::V2 => Auth::password(PASSWORD),
                Version::V3 => Auth::None,
            },
            peer,
            local,
            group,
        }
    }

    pub fn addresses(&self) -> Addresses<'_> {
        match self.case.family {
            Family::V4 => Addresses::v4(&self.vips4),
            Family::V6 => Addresses::v6(&self.vips6),
        }
    }

    /// The advert the master sends, with `priority`.
    pub fn advert(&self, priority: u8) -> Repr<'_> {
        Repr {
            version: self.case.version,
            vrid: VRID,
            priority,
            interval: wire::Interval::DEFAULT,
            auth: self.auth,
            addresses: self.addresses(),
        }
    }

    /// The bytes of [`Fixture::advert`], emitted from the peer to the group.
    pub fn packet(&self, priority: u8) -> Vec<u8> {
        let mut buf = [0u8; BUF_LEN];
        let n = self
            .advert(priority)
            .emit(&mut buf, self.peer, self.group, ChecksumMode::default())
            .expect("fixture advert emits");
        buf[..n].to_vec()
    }

    /// What the IP layer reports for a packet from the peer: TTL 255.
    pub fn meta(&self) -> RxMeta {
        RxMeta {
            src: self.peer,
            dst: self.group,
            ttl: wire::TTL,
        }
    }

    /// A started instance of this case's VIPs at `priority`: in BACKUP.
    pub fn backup(&self, priority: u8, now: Instant, sink: &mut impl Sink) -> Instance<MAX_VIPS> {
        let mut config = Config::new(VRID, self.case.version, priority, self.local);
        config.auth = self.auth;
        let vips = Vips::from_iter(self.case.family, self.addresses().iter()).expect("VIPs fit");
        let mut instance = Instance::new(config, vips).expect("valid configuration");
        instance.start(now, sink);
        assert_eq!(instance.state(), State::Backup);
        instance
    }
}

/// Parse and validate a received advert as a host does: [`Repr::parse`] with the
/// default checksum mode, then [`Repr::check_auth`] against the configured auth.
#[inline]
pub fn parse_and_check<'a>(bytes: &'a [u8], meta: &RxMeta, auth: &Auth) -> wire::Result<Repr<'a>> {
    let repr = Repr::parse(bytes, meta, ChecksumMode::default())?;
    repr.check_auth(auth)?;
    Ok(repr)
}

/// What the `parse` benchmark times: one received advert parsed (TTL 255) and
/// authenticated.
#[derive(Debug, Clone)]
pub struct ParseBench {
    packet: Vec<u8>,
    meta: RxMeta,
    auth: Auth,
}

impl ParseBench {
    /// The master's advert of `fixture`, as the backup receives it.
    pub fn new(fixture: &Fixture) -> Self {
        ParseBench {
            packet: fixture.packet(MASTER_PRIORITY),
            meta: fixture.meta(),
            auth: fixture.auth,
        }
    }

    /// Parses and authenticates the advert once; `true` if it is accepted.
    ///
    /// Inputs and results go through `black_box` by reference only: the `Repr` stays
    /// where `Repr::parse` wrote it, as in a host that hands it on by reference. (Moving
    /// a `Result<Repr, _>` by value once more, or `black_box`ing a fat pointer by value,
    /// costs 10 to 25 ns of store-forwarding stalls here: see the README.)
    #[inline]
    pub fn run(&self) -> bool {
        let repr = Repr::parse(
            black_box(&self.packet).as_slice(),
            black_box(&self.meta),
            ChecksumMode::default(),
        );
        let auth = match &repr {
            Ok(r) => r.check_auth(black_box(&self.auth)),
            Err(e) => Err(*e),
        };
        black_box(&repr);
        black_box(&auth);
        auth.is_ok()
    }
}

/// What the `emit` benchmark times: one advert written into a stack buffer.
#[derive(Debug)]
pub struct EmitBench<'a> {
    advert: Repr<'a>,
    src: IpAddr,
    dst: IpAddr,
    buf: [u8; BUF_LEN],
}

impl<'a> EmitBench<'a> {
    /// The master's advert of `fixture`, from the peer to the group.
    pub fn new(fixture: &'a Fixture) -> Self {
        EmitBench {
            advert: fixture.advert(MASTER_PRIORITY),
            src: fixture.peer,
            dst: fixture.group,
            buf: [0; BUF_LEN],
        }
    }

    /// Emits the advert once; its length, or 0 if it failed. (A `usize`, not the
    /// `Result`, so that criterion's `black_box` of the return value stays one register.)
    #[inline]
    pub fn run(&mut self) -> usize {
        let n = black_box(&self.advert).emit(
            &mut self.buf,
            *black_box(&self.src),
            *black_box(&self.dst),
            ChecksumMode::default(),
        );
        black_box(&self.buf);
        black_box(&n);
        n.unwrap_or(0)
    }

    /// The bytes the last [`EmitBench::run`] wrote.
    pub fn buf(&self) -> &[u8; BUF_LEN] {
        &self.buf
    }
}

/// A sink that only counts effects.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counter {
    pub effects: u64,
}

impl Sink for Counter {
    #[inline]
    fn effect(&mut self, _effect: Effect) {
        self.effects += 1;
    }
}

/// Why a [`Step`] did not apply its advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepError {
    Parse(wire::Error),
    Drop(Drop),
}

/// One instance receiving the same advert over and over, `tick` apart: one call of
/// [`Step::step`] is one parse plus one [`Instance::on_advert`] at an injected `now`.
#[derive(Debug, Clone)]
pub struct Step {
    pub instance: Instance<MAX_VIPS>,
    packet: Vec<u8>,
    meta: RxMeta,
    now: Instant,
    tick: Duration,
    pub sink: Counter,
}

impl Step {
    /// A BACKUP (priority 100) hearing its master (priority 200) once a second, as the
    /// master's adverts arrive: every step restarts the master-down timer.
    pub fn backup_hears_master(fixture: &Fixture) -> Self {
        let now = Instant::from_secs(1);
        let mut sink = Counter::default();
        let instance = fixture.backup(BACKUP_PRIORITY, now, &mut sink);
        Step {
            instance,
            packet: fixture.packet(MASTER_PRIORITY),
            meta: fixture.meta(),
            now,
            tick: wire::Interval::DEFAULT.duration(),
            sink,
        }
    }

    /// A MASTER (priority 200) hearing a lower-priority (100) advert every `tick`.
    /// keepalived's default is to answer with an advert (and a gratuitous-ARP burst);
    /// vigil answers at most once per advertisement interval (1 s here). With `tick` of
    /// a second or more every step answers; with a shorter one most steps take the
    /// rate-limited path and answer nothing.
    pub fn master_hears_lower(fixture: &Fixture, tick: Duration) -> Self {
        let start = Instant::from_secs(1);
        let mut sink = Counter::default();
        let mut instance = fixture.backup(MASTER_PRIORITY, start, &mut sink);
        let now = start + instance.master_down_interval();
        instance.on_timeout(now, &mut sink);
        assert_eq!(instance.state(), State::Master);
        Step {
            instance,
            packet: fixture.packet(BACKUP_PRIORITY),
            meta: fixture.meta(),
            now,
            tick,
            sink: Counter::default(),
        }
    }

    /// [`Step::step`] as the benchmark runs it: the result goes through `black_box` by
    /// reference; `true` if the advert was applied.
    #[inline]
    pub fn run(&mut self) -> bool {
        let r = self.step();
        black_box(&r);
        r.is_ok()
    }

    /// Advances `now` by the tick, parses the advert and hands it to the instance.
    #[inline]
    pub fn step(&mut self) -> Result<(), StepError> {
        self.now += self.tick;
        let advert = Repr::parse(
            black_box(&self.packet).as_slice(),
            &self.meta,
            self.instance.config().checksum,
        )
        .map_err(StepError::Parse)?;
        self.instance
            .on_advert(self.now, &advert, self.meta.src, &mut self.sink)
            .map_err(StepError::Drop)
    }
}

/// The size of an instance with room for `N` VIPs, and of its VIP list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    pub vips_capacity: usize,
    pub instance: usize,
    pub vips: usize,
}

impl Sizes {
    pub fn of<const N: usize>() -> Self {
        Sizes {
            vips_capacity: N,
            instance: size_of::<Instance<N>>(),
            vips: size_of::<Vips<N>>(),
        }
    }

    /// The instance without its VIP list (the target: at most 256 bytes).
    pub fn without_vips(&self) -> usize {
        self.instance - self.vips
    }
}

/// The target for an instance without its VIP list, in bytes.
pub const INSTANCE_TARGET: usize = 256;

/// Sizes for 1, 4 and 16 VIPs.
pub fn sizes() -> [Sizes; 3] {
    [Sizes::of::<1>(), Sizes::of::<4>(), Sizes::of::<16>()]
}

/// The sizes as a Markdown table.
pub fn sizes_table() -> String {
    let mut s = String::from(
        "| N (VIP capacity) | size_of::<Instance<N>>() | size_of::<Vips<N>>() | instance without VIPs |\n\
         |---:|---:|---:|---:|\n",
    );
    for z in sizes() {
        s += &format!(
            "| {} | {} | {} | {} |\n",
            z.vips_capacity,
            z.instance,
            z.vips,
            z.without_vips()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_parses_and_authenticates() {
        for case in CASES {
            let f = Fixture::new(case);
            let packet = f.packet(MASTER_PRIORITY);
            let r = parse_and_check(&packet, &f.meta(), &f.auth).unwrap();
            assert_eq!(r, f.advert(MASTER_PRIORITY), "{}", case.name);
            assert_eq!(r.addresses.len(), case.vips);
            let mut buf = [0u8; BUF_LEN];
            let n = r.emit(&mut buf, f.peer, f.group, ChecksumMode::default());
            assert_eq!(n, Ok(packet.len()));
            assert_eq!(&buf[..packet.len()], &packet[..]);
        }
    }

    #[test]
    fn parse_and_emit_benches_do_their_work() {
        for case in CASES {
            let f = Fixture::new(case);
            assert!(ParseBench::new(&f).run(), "{}", case.name);
            let packet = f.packet(MASTER_PRIORITY);
            let mut e = EmitBench::new(&f);
            assert_eq!(e.run(), packet.len());
            assert_eq!(&e.buf()[..packet.len()], &packet[..]);
        }
    }

    #[test]
    fn v2_cases_carry_a_password() {
        let f = Fixture::new(CASES[0]);
        assert_eq!(f.auth, Auth::password(PASSWORD));
        let packet = f.packet(MASTER_PRIORITY);
        assert_eq!(packet[4], 1, "auth type 1 (simple password)");
        assert_eq!(
            parse_and_check(&packet, &f.meta(), &Auth::password(b"wrong")),
            Err(wire::Error::Password)
        );
    }

    #[test]
    fn backup_stays_backup_and_follows_its_master() {
        for case in CASES {
            let mut s = Step::backup_hears_master(&Fixture::new(case));
            let effects = s.sink.effects;
            for _ in 0..10 {
                assert_eq!(s.step(), Ok(()), "{}", case.name);
                assert_eq!(s.instance.state(), State::Backup);
                assert_eq!(s.instance.master(), Some(s.meta.src));
                // The master-down timer moves with every advert.
                assert!(s.instance.poll_at().unwrap() > s.now);
            }
            assert_eq!(
                s.sink.effects, effects,
                "a backup hearing its master is silent"
            );
        }
    }

    #[test]
    fn master_answers_a_lower_priority_advert_once_per_interval() {
        for case in CASES {
            let f = Fixture::new(case);
            let mut s = Step::master_hears_lower(&f, Duration::from_secs(1));
            for i in 1..=10 {
                assert_eq!(s.step(), Ok(()), "{}", case.name);
                assert_eq!(s.instance.state(), State::Master);
                // An advert and a gratuitous-ARP burst each time.
                assert_eq!(s.sink.effects, 2 * i);
            }
            let mut s = Step::master_hears_lower(&f, Duration::from_micros(1));
            for _ in 0..1000 {
                assert_eq!(s.step(), Ok(()), "{}", case.name);
            }
            assert_eq!(s.instance.state(), State::Master);
            assert_eq!(s.sink.effects, 2, "only the first advert is answered");
        }
    }

    #[test]
    fn prints_instance_sizes() {
        let table = sizes_table();
        println!("{table}");
        for z in sizes() {
            assert!(z.vips <= z.instance);
            assert!(
                z.without_vips() <= INSTANCE_TARGET,
                "Instance<{}> without its VIPs is {} bytes",
                z.vips_capacity,
                z.without_vips()
            );
        }
    }
}
