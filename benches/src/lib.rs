//! Fixtures for the criterion benchmarks of the vigil core (`benches/core.rs`): the
//! cases, the received packets (built with `Repr::emit`), routers holding instances in
//! BACKUP and MASTER, and the step each `step` benchmark times: one received datagram
//! through [`Router::on_datagram`], then the router drained as a host drains it.
//!
//! `cargo test -p vigil-benches` checks that each benchmark measures what its name says
//! (packets that parse and authenticate, a backup that stays backup, a master that
//! answers once per interval, the advert reaching the right one of 1,000 instances)
//! without running criterion.

use std::hint::black_box;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vigil_core::machine::{Config, Instance, MAX_VIPS, State, Vips};
use vigil_core::router::{Accepted, Destination, Router, RxDrop};
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

/// The receive path a fixture's router hears on (an interface in vigild).
pub const CHANNEL: u32 = 0;

/// The router of the 1,000-instance row: vigild's capacity (`MAX_INSTANCES`).
pub const MANY: usize = 1_000;
/// Its capacity, as vigild's.
pub const MANY_CAPACITY: usize = 1024;

/// What one [`Step::step`] handed back, besides the advert's fate: what the drain saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    /// Adverts written by `poll_transmit`.
    pub sent: u64,
    /// Outputs of `poll_event`.
    pub events: u64,
}

/// A router with one instance under test receiving the same advert over and over,
/// `tick` apart: one call of [`Step::step`] is what a host does with one received
/// datagram: [`Router::on_datagram`] (demultiplexing by channel, family and VRID, the
/// destination check, parse, checksum, the state machine, the sync-group check), then
/// draining [`Router::poll_transmit`] and [`Router::poll_event`] until both are empty.
#[derive(Debug)]
pub struct Step<const N: usize = 1> {
    pub router: Box<Router<N>>,
    /// The index of the instance under test.
    pub index: usize,
    /// The channel its adverts arrive on.
    pub channel: u32,
    packet: Vec<u8>,
    meta: RxMeta,
    pub now: Instant,
    tick: Duration,
    buf: [u8; BUF_LEN],
    /// Everything the drains saw since the fixture was built.
    pub drained: Drained,
}

impl Fixture {
    /// A stopped instance of this case's VIPs at `priority` and with `vrid`.
    pub fn instance(&self, vrid: u8, priority: u8) -> Instance<MAX_VIPS> {
        let mut config = Config::new(vrid, self.case.version, priority, self.local);
        config.auth = self.auth;
        let vips = Vips::from_iter(self.case.family, self.addresses().iter()).expect("VIPs fit");
        Instance::new(config, vips).expect("valid configuration")
    }

    /// A router holding `count` instances of this case on consecutive (channel, VRID)
    /// keys (VRIDs 1 to 250 per channel, channels from [`CHANNEL`] up), all at
    /// `priority` and started (BACKUP); the one with [`VRID`] on the middle channel is
    /// the one under test (with one instance: the only one). Returns its index.
    fn router<const N: usize>(
        &self,
        count: usize,
        priority: u8,
        now: Instant,
    ) -> (Box<Router<N>>, usize) {
        let mut router = Box::new(Router::<N>::new());
        let channels = count_channels(count);
        let mut under_test = None;
        for k in 0..count {
            let (channel, vrid) = if count == 1 {
                (CHANNEL, VRID)
            } else {
                (
                    CHANNEL + (k / PER_CHANNEL) as u32,
                    u8::try_from(1 + k % PER_CHANNEL).expect("VRID fits"),
                )
            };
            let i = router
                .add(
                    self.instance(vrid, priority),
                    channel,
                    Destination::Multicast(self.group),
                )
                .expect("room for every instance");
            if vrid == VRID && channel == CHANNEL + channels / 2 {
                under_test = Some(i);
            }
        }
        router.start_all(now);
        drain(&mut router, &mut [0; BUF_LEN]);
        let index = under_test.expect("the instance under test is there");
        assert_eq!(
            router.instance(index).map(Instance::state),
            Some(State::Backup)
        );
        (router, index)
    }
}

/// VRIDs per channel in a router of many instances.
const PER_CHANNEL: usize = 250;

/// The channels `count` instances take.
fn count_channels(count: usize) -> u32 {
    u32::try_from(count.div_ceil(PER_CHANNEL)).expect("few channels")
}

/// Drains a router as a host does: every advert (written into `buf`), then every event.
#[inline]
pub fn drain<const N: usize>(router: &mut Router<N>, buf: &mut [u8]) -> Drained {
    let mut d = Drained::default();
    while let Some(t) = router.poll_transmit(buf) {
        d.sent += u64::from(t.len.is_ok());
    }
    while router.poll_event().is_some() {
        d.events += 1;
    }
    d
}

impl Step<1> {
    /// A BACKUP (priority 100) hearing its master (priority 200) once a second, as the
    /// master's adverts arrive: every step restarts the master-down timer.
    pub fn backup_hears_master(fixture: &Fixture) -> Self {
        Step::backup_hears_master_among(fixture, 1)
    }

    /// A MASTER (priority 200) hearing a lower-priority (100) advert every `tick`.
    /// keepalived's default is to answer with an advert (and a gratuitous-ARP burst);
    /// vigil answers at most once per advertisement interval (1 s here). With `tick` of
    /// a second or more every step answers (one advert written and one announcement
    /// drained); with a shorter one most steps take the rate-limited path and answer
    /// nothing.
    pub fn master_hears_lower(fixture: &Fixture, tick: Duration) -> Self {
        let start = Instant::from_secs(1);
        let (mut router, index) = fixture.router::<1>(1, MASTER_PRIORITY, start);
        let mut buf = [0; BUF_LEN];
        let now = router.poll_at().expect("the master-down timer runs");
        router.on_timeout(now);
        drain(&mut router, &mut buf);
        assert_eq!(
            router.instance(index).map(Instance::state),
            Some(State::Master)
        );
        Step {
            router,
            index,
            channel: CHANNEL,
            packet: fixture.packet(BACKUP_PRIORITY),
            meta: fixture.meta(),
            now,
            tick,
            buf,
            drained: Drained::default(),
        }
    }
}

impl<const N: usize> Step<N> {
    /// [`Step::backup_hears_master`] in a router of `count` instances (see
    /// [`Fixture`]'s layout): the advert is for one of them.
    pub fn backup_hears_master_among(fixture: &Fixture, count: usize) -> Self {
        let now = Instant::from_secs(1);
        let (router, index) = fixture.router::<N>(count, BACKUP_PRIORITY, now);
        let channel = router.channel(index).expect("the instance under test");
        Step {
            router,
            index,
            channel,
            packet: fixture.packet(MASTER_PRIORITY),
            meta: fixture.meta(),
            now,
            tick: wire::Interval::DEFAULT.duration(),
            buf: [0; BUF_LEN],
            drained: Drained::default(),
        }
    }

    /// The datagram each step receives.
    pub fn packet(&self) -> &[u8] {
        &self.packet
    }

    /// [`Step::step`] as the benchmark runs it: the result goes through `black_box` by
    /// reference; `true` if the advert was accepted.
    #[inline]
    pub fn run(&mut self) -> bool {
        let r = self.step();
        black_box(&r);
        r.is_ok()
    }

    /// Advances `now` by the tick, hands the datagram to the router and drains it.
    #[inline]
    pub fn step(&mut self) -> Result<Accepted, RxDrop> {
        self.now += self.tick;
        let r = self.router.on_datagram(
            self.now,
            self.channel,
            black_box(&self.packet).as_slice(),
            &self.meta,
        );
        let d = drain(&mut self.router, &mut self.buf);
        self.drained.sent += d.sent;
        self.drained.events += d.events;
        r
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

    /// What the backup fixtures check on every step: accepted by the instance under
    /// test, which stays BACKUP, follows the advert's sender and restarts its
    /// master-down timer; nothing to send, nothing to report.
    fn check_backup_step<const N: usize>(s: &mut Step<N>, name: &str) {
        for _ in 0..10 {
            let a = s.step().unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(a.instance, s.index, "{name}");
            assert_eq!((a.priority, a.ours), (MASTER_PRIORITY, BACKUP_PRIORITY));
            assert_eq!(a.was, State::Backup);
            assert!(a.restarted_timer, "{name}");
            let instance = s.router.instance(s.index).unwrap();
            assert_eq!(instance.state(), State::Backup);
            assert_eq!(instance.master(), Some(s.meta.src));
            assert!(instance.poll_at().unwrap() > s.now);
            assert_eq!(instance.config().vrid, VRID);
        }
        assert_eq!(
            s.drained,
            Drained::default(),
            "{name}: a backup hearing its master is silent"
        );
        assert!(!s.router.has_output());
        assert_eq!(s.router.events_lost(), 0);
    }

    #[test]
    fn backup_stays_backup_and_follows_its_master() {
        for case in CASES {
            let mut s = Step::backup_hears_master(&Fixture::new(case));
            assert_eq!(s.router.len(), 1);
            check_backup_step(&mut s, case.name);
        }
    }

    #[test]
    fn the_advert_reaches_one_of_a_thousand_instances() {
        // A router of this capacity is about a megabyte: built on the heap, but a debug
        // build may pass it through the stack first.
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                let f = Fixture::new(CASES[2]);
                let mut s = Step::<MANY_CAPACITY>::backup_hears_master_among(&f, MANY);
                assert_eq!(s.router.len(), MANY);
                assert!(s.channel > CHANNEL, "not the first channel's instance");
                check_backup_step(&mut s, "1,000 instances");
                // Every other instance is untouched: it never heard a master.
                for i in (0..MANY).filter(|&i| i != s.index) {
                    assert_eq!(s.router.instance(i).unwrap().master(), None);
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn master_answers_a_lower_priority_advert_once_per_interval() {
        for case in CASES {
            let f = Fixture::new(case);
            let mut s = Step::master_hears_lower(&f, Duration::from_secs(1));
            for i in 1..=10 {
                let a = s.step().unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
                assert_eq!((a.was, a.priority), (State::Master, BACKUP_PRIORITY));
                assert!(!a.restarted_timer);
                assert_eq!(s.router.instance(0).unwrap().state(), State::Master);
                // An advert written, and a gratuitous-ARP burst, each time.
                assert_eq!(s.drained, Drained { sent: i, events: i }, "{}", case.name);
            }
            let mut s = Step::master_hears_lower(&f, Duration::from_micros(1));
            for _ in 0..1000 {
                assert!(s.step().is_ok(), "{}", case.name);
            }
            assert_eq!(s.router.instance(0).unwrap().state(), State::Master);
            assert_eq!(
                s.drained,
                Drained { sent: 1, events: 1 },
                "only the first advert is answered"
            );
            assert_eq!(s.router.events_lost(), 0);
        }
    }

    #[test]
    fn the_answer_is_the_masters_advert() {
        let f = Fixture::new(CASES[5]);
        let mut s = Step::master_hears_lower(&f, Duration::from_secs(1));
        s.router
            .on_datagram(s.now, CHANNEL, &f.packet(BACKUP_PRIORITY), &f.meta())
            .unwrap();
        let mut buf = [0u8; BUF_LEN];
        let t = s.router.poll_transmit(&mut buf).unwrap();
        let n = t.len.unwrap();
        let meta = RxMeta {
            src: t.src,
            dst: t.dst,
            ttl: wire::TTL,
        };
        let r = parse_and_check(&buf[..n], &meta, &f.auth).unwrap();
        assert_eq!((r.vrid, r.priority), (VRID, MASTER_PRIORITY));
        assert_eq!((t.src, t.dst), (f.local, f.group));
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
