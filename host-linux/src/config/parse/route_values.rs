//! keepalived 2.2.7's readers of route and rule values, for `routes` and `ip_rules`: C
//! numbers (`strtoul`, `read_unsigned`), the names of `/etc/iproute2/` (`find_rttables_*`),
//! addresses and prefixes (`parse_ipaddress`, `parse_route`), rtt times, fwmarks, ranges,
//! IP protocols, and whether an interface exists.

use super::super::model::{RoutePrefix, RouteType};
use super::fam;
use super::routes::Fam;
use std::net::IpAddr;
use vigil_core::wire::Family;

/// Where keepalived (and vigild) look up routing names.
pub(super) const IPROUTE2_DIR: &str = "/etc/iproute2/";

/// keepalived's table, protocol and scope names it knows without the files.
pub(super) const TABLE_NAMES: &[(u32, &str)] = &[(253, "default"), (254, "main"), (255, "local")];
pub(super) const PROTO_NAMES: &[(u32, &str)] = &[
    (0, "none"),
    (1, "redirect"),
    (2, "kernel"),
    (3, "boot"),
    (4, "static"),
    (8, "gated"),
    (9, "ra"),
    (10, "mrt"),
    (11, "zebra"),
    (12, "bird"),
    (42, "babel"),
    (13, "dnrouted"),
    (14, "xorp"),
    (15, "ntk"),
    (16, "dhcp"),
];
pub(super) const SCOPE_NAMES: &[(u32, &str)] = &[
    (0, "global"),
    (255, "nowhere"),
    (254, "host"),
    (253, "link"),
    (200, "site"),
];
pub(super) const RTN_TYPES: &[(&str, RouteType)] = &[
    ("local", RouteType::Local),
    ("nat", RouteType::Nat),
    ("broadcast", RouteType::Broadcast),
    ("brd", RouteType::Broadcast),
    ("anycast", RouteType::Anycast),
    ("multicast", RouteType::Multicast),
    ("prohibit", RouteType::Prohibit),
    ("unreachable", RouteType::Unreachable),
    ("blackhole", RouteType::Blackhole),
    ("xresolve", RouteType::Xresolve),
    ("unicast", RouteType::Unicast),
    ("throw", RouteType::Throw),
];

/// keepalived's default interface for a static address without `dev`.
pub(super) const DEFAULT_INTERFACE: &str = "eth0";

/// Whether the interface exists in vigild's network namespace (keepalived's
/// `if_get_by_ifname` without `dynamic_interfaces`).
pub(super) fn interface_exists(name: &str) -> bool {
    !name.is_empty() && nix::net::if_::if_nametoindex(name).is_ok()
}

/// Whether the interface is a VRF device: its ethtool driver is `vrf`.
pub(super) fn is_vrf(name: &str) -> bool {
    const ETHTOOL_GDRVINFO: u32 = 0x3;
    /// `struct ethtool_drvinfo`.
    #[repr(C)]
    struct DrvInfo {
        cmd: u32,
        driver: [u8; 32],
        rest: [u8; 160],
    }
    let Ok(sock) = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None) else {
        return false;
    };
    let mut info = DrvInfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        rest: [0; 160],
    };
    // SAFETY: ifreq is plain data; the name fits (checked) and ifr_data points at `info`,
    // which outlives the call.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return false;
    }
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_data = (&raw mut info).cast();
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCETHTOOL with a valid ifreq whose data points at a drvinfo buffer.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut req) };
    rc == 0 && info.driver.starts_with(b"vrf\0")
}

pub(super) trait OkOrDefault {
    fn ok_or_default(self) -> Result<u32, String>;
}
impl OkOrDefault for Option<u32> {
    fn ok_or_default(self) -> Result<u32, String> {
        self.ok_or_else(String::new)
    }
}

// ----- value readers, as keepalived's -------------------------------------------------

/// C's `strtoul(s, &end, base)` on the start of `s` (leading blanks and a `+` skipped):
/// the value (saturated) and the rest. `None` if no digit was read.
pub(super) fn strtoul(s: &str, base: u32) -> Option<(u64, &str)> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let t = t.strip_prefix('+').unwrap_or(t);
    let (radix, digits) = match base {
        0 if t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) => {
            if t.as_bytes()[2].is_ascii_hexdigit() {
                (16, &t[2..])
            } else {
                (8, t)
            }
        }
        0 if t.starts_with('0') => (8, t),
        0 => (10, t),
        16 => (
            16,
            t.strip_prefix("0x").or(t.strip_prefix("0X")).unwrap_or(t),
        ),
        b => (b, t),
    };
    let n = digits
        .bytes()
        .take_while(|c| (*c as char).is_digit(radix))
        .count();
    if n == 0 {
        return None;
    }
    let v = digits[..n].bytes().fold(0u64, |acc, c| {
        acc.saturating_mul(u64::from(radix))
            .saturating_add(u64::from((c as char).to_digit(radix).unwrap_or(0)))
    });
    Some((v, &digits[n..]))
}

/// keepalived's `read_unsigned`: the whole word a number in `0..=max` (no sign), else
/// its message.
pub(super) fn read_unsigned(s: &str, base: u32, max: u64) -> Result<u64, String> {
    let t = s.trim_start_matches([' ', '\t']);
    if t.starts_with('-') {
        return Err(format!("negative number '{s}'"));
    }
    match strtoul(t, base) {
        Some((v, "")) if v <= max => Ok(v),
        Some((_, "")) => Err(format!("number '{s}' outside range [0, {max}]")),
        _ => Err(format!("invalid number '{s}'")),
    }
}

/// keepalived's `find_entry`: a number (any C base) up to `max`, or a name from
/// `/etc/iproute2/FILE` (lines `NUMBER NAME`), then from `defaults`.
pub(super) fn lookup(s: &str, file: &str, defaults: &[(u32, &str)], max: u32) -> Option<u32> {
    if let Some((v, "")) = strtoul(s, 0) {
        let v = v as u32; // keepalived keeps an unsigned int
        return (v <= max).then_some(v);
    }
    let text = std::fs::read_to_string(format!("{IPROUTE2_DIR}{file}")).unwrap_or_default();
    let mut entries: Vec<(u32, &str)> = Vec::new();
    for line in text.lines() {
        let line = line.split(['#', '!']).next().unwrap_or("");
        let words: Vec<&str> = line.split_whitespace().collect();
        let [num, name] = words[..] else { continue };
        if num.starts_with('-') {
            continue;
        }
        if let Some((id, "")) = strtoul(num, 0)
            && id <= u64::from(max)
        {
            entries.push((id as u32, name));
        }
    }
    for d in defaults {
        if !entries.iter().any(|e| e.0 == d.0) {
            entries.push(*d);
        }
    }
    entries.iter().find(|e| e.1 == s).map(|e| e.0)
}

/// A route type name or number (keepalived's `find_rttables_rtntype`).
pub(super) fn route_type(s: &str) -> Option<RouteType> {
    if let Some((_, t)) = RTN_TYPES.iter().find(|(n, _)| *n == s) {
        return Some(*t);
    }
    if s.starts_with('-') {
        return None;
    }
    match strtoul(s, 0) {
        Some((v, "")) if v <= 255 => Some(RouteType::from_number(v as u8)),
        _ => None,
    }
}

/// `REALM[/REALM]` by number or `/etc/iproute2/rt_realms` name.
pub(super) fn realms(s: &str) -> Option<u32> {
    match s.split_once('/') {
        Some((a, b)) => {
            let a = lookup(a, "rt_realms", &[], 255)?;
            let b = lookup(b, "rt_realms", &[], 255)?;
            Some(a << 16 | b)
        }
        None => lookup(s, "rt_realms", &[], 255),
    }
}

/// keepalived's `parse_ipaddress`: the family by the presence of `:`, an optional
/// `/LEN` (when `subnet`; a bad length is reported and the full length used), and the
/// address. `Ok` carries the length and the length's complaint, if any.
pub(super) fn parse_ipaddress(
    s: &str,
    subnet: bool,
) -> Result<(IpAddr, u8, Option<String>), String> {
    let v6 = s.contains(':');
    let max: u8 = if v6 { 128 } else { 32 };
    let (a, len) = match s.split_once('/') {
        Some((a, l)) if subnet => (a, Some(l)),
        _ => (s, None),
    };
    let mut plen = max;
    let mut note = None;
    if let Some(l) = len {
        match read_unsigned(l, 10, max.into()) {
            Ok(v) => plen = v as u8,
            Err(e) => {
                note = Some(format!(
                    "{e}; Invalid address prefix len {l} for address {s} - using {max}"
                ));
            }
        }
    }
    let addr = if v6 {
        a.parse::<std::net::Ipv6Addr>().map(IpAddr::V6).ok()
    } else {
        a.parse::<std::net::Ipv4Addr>().map(IpAddr::V4).ok()
    };
    match addr {
        Some(a) => Ok((a, plen, note)),
        None => Err(format!("VRRP parsed invalid IP {s}. skipping IP...")),
    }
}

/// keepalived's `parse_route`: `default` / `any` / `all` (any family), `default6`, or an
/// address with an optional prefix length.
/// `Ok` carries the prefix length's complaint, if any.
pub(super) fn route_prefix(s: &str) -> Result<(RoutePrefix, Fam, Option<String>), String> {
    match s {
        "default" | "any" | "all" => Ok((RoutePrefix { addr: None, len: 0 }, None, None)),
        "default6" => Ok((RoutePrefix { addr: None, len: 0 }, Some(Family::V6), None)),
        _ => {
            let (a, len, note) = parse_ipaddress(s, true)?;
            Ok((RoutePrefix { addr: Some(a), len }, Some(fam(&a)), note))
        }
    }
}

/// keepalived's `get_time_rtt`: a number of ms (`unit`: the kernel's units per ms), or
/// with `s` / `ms` (`sec`, `secs`) a time, decimals allowed; clamped to 200 ms..120 s.
pub(super) fn time_rtt(s: &str, unit: u32) -> Option<u32> {
    const MIN_MS: u64 = 200;
    const MAX_MS: u64 = 120_000;
    let s = s.trim_start();
    let (num, shift, raw) = match s.find(['s', 'S']) {
        Some(p) => {
            let suffix = s[p..].to_ascii_lowercase();
            if !matches!(suffix.as_str(), "s" | "sec" | "secs") {
                return None;
            }
            let (end, shift) = if p > 0 && s.as_bytes()[p - 1].eq_ignore_ascii_case(&b'm') {
                (p - 1, 0)
            } else {
                (p, 3)
            };
            if end == 0 {
                return None;
            }
            (&s[..end], shift, false)
        }
        None => (s, 0, true),
    };
    if num.contains(['e', 'E']) || num.starts_with('-') {
        return None;
    }
    // keepalived's read_decimal_unsigned with `shift` decimals.
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if !int.bytes().all(|c| c.is_ascii_digit()) || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut digits = format!("{int}{}", &frac[..frac.len().min(shift)]);
    for _ in frac.len().min(shift)..shift {
        digits.push('0');
    }
    let mut v: u64 = digits.parse().ok()?;
    if frac.len() > shift && frac.as_bytes()[shift] >= b'5' {
        v += 1;
    }
    let unit = u64::from(unit);
    if v > MAX_MS * unit {
        return None;
    }
    if !raw {
        v *= unit;
    }
    Some(v.clamp(MIN_MS * unit, MAX_MS * unit) as u32)
}

/// `fwmark MARK[/MASK]` as keepalived reads it (C numbers, an empty mask is 0).
pub(super) fn fwmark(s: &str) -> Option<(u32, Option<u32>)> {
    let t = s.trim_start();
    if t.starts_with('-') {
        return None;
    }
    let (mark, rest) = match strtoul(t, 0) {
        Some(x) => x,
        None => (0, t),
    };
    if mark > u64::from(u32::MAX) {
        return None;
    }
    let (mask, rest) = match rest.strip_prefix('/') {
        Some(m) => {
            if m.starts_with(|c: char| c.is_whitespace() || c == '-') {
                return None;
            }
            let (v, r) = strtoul(m, 0).unwrap_or((0, m));
            if v > u64::from(u32::MAX) {
                return None;
            }
            (Some(v as u32), r)
        }
        None => (None, rest),
    };
    rest.is_empty().then_some((mark as u32, mask))
}

/// C's `sscanf(s, "%u-%u")`: two numbers (each up to `max`) around a `-`; what
/// follows is not looked at. keepalived's `sport` / `dport` read `%hu-%hu` and insist on
/// both numbers too.
pub(super) fn scan_range(s: &str, max: u64) -> Option<(u64, u64)> {
    let num = |t: &str| -> Option<(u64, usize)> {
        let lead = t.len() - t.trim_start().len();
        let u = &t[lead..];
        let digits = u.strip_prefix('+').unwrap_or(u);
        let n = digits.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let v: u64 = digits[..n].parse().unwrap_or(u64::MAX);
        Some((v.min(max), lead + (u.len() - digits.len()) + n))
    };
    let (a, used) = num(s)?;
    let (b, _) = num(s[used..].strip_prefix('-')?)?;
    Some((a, b))
}

/// keepalived's `inet_proto_a2n`: a number up to 127, or a name from `/etc/protocols`.
pub(super) fn ip_proto(s: &str) -> Option<u8> {
    let t = s.trim_start();
    if t.is_empty() || t.starts_with('-') {
        return None;
    }
    let (v, rest) = strtoul(t, 10).unwrap_or((0, t));
    if v > 127 {
        return None;
    }
    if rest.is_empty() {
        return Some(v as u8);
    }
    let text = std::fs::read_to_string("/etc/protocols").unwrap_or_default();
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let name = words.next()?;
        let number: u8 = words.next()?.parse().ok()?;
        (name == t || words.any(|alias| alias == t)).then_some(number)
    })
}

/// An MPLS label stack `L[/L...]` (20-bit labels).
pub(super) fn mpls_labels(s: &str) -> bool {
    s.split('/')
        .all(|l| read_unsigned(l, 10, (1 << 20) - 1).is_ok())
}

/// An ILA locator: four groups of up to four hex digits separated by `:`.
pub(super) fn ila_locator(s: &str) -> bool {
    let groups: Vec<&str> = s.split(':').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| (1..=4).contains(&g.len()) && g.bytes().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoul_reads_c_numbers() {
        assert_eq!(strtoul("0x10", 0), Some((16, "")));
        assert_eq!(strtoul("010", 0), Some((8, "")));
        assert_eq!(strtoul("0", 0), Some((0, "")));
        assert_eq!(strtoul("12ab", 10), Some((12, "ab")));
        assert_eq!(strtoul("ab", 10), None);
    }

    #[test]
    fn read_unsigned_says_why() {
        assert_eq!(
            read_unsigned("300", 10, 255),
            Err("number '300' outside range [0, 255]".into())
        );
        assert_eq!(
            read_unsigned("-1", 10, 255),
            Err("negative number '-1'".into())
        );
        assert_eq!(
            read_unsigned("abc", 10, 255),
            Err("invalid number 'abc'".into())
        );
        assert_eq!(
            read_unsigned("0x10", 10, 255),
            Err("invalid number '0x10'".into())
        );
        assert_eq!(read_unsigned("0x10", 0, 255), Ok(16));
    }

    #[test]
    fn route_types_by_name_or_number() {
        assert_eq!(route_type("blackhole"), Some(RouteType::Blackhole));
        assert_eq!(route_type("brd"), Some(RouteType::Broadcast));
        assert_eq!(route_type("7"), Some(RouteType::Unreachable));
        assert_eq!(route_type("256"), None);
        assert_eq!(route_type("type"), None);
        assert_eq!(route_type("10.0.0.0/8"), None);
    }

    #[test]
    fn builtin_names_resolve_without_the_files() {
        assert_eq!(
            lookup("main", "vigil-no-such-file", TABLE_NAMES, u32::MAX),
            Some(254)
        );
        assert_eq!(
            lookup("link", "vigil-no-such-file", SCOPE_NAMES, 255),
            Some(253)
        );
        assert_eq!(
            lookup("static", "vigil-no-such-file", PROTO_NAMES, 255),
            Some(4)
        );
        assert_eq!(lookup("300", "vigil-no-such-file", PROTO_NAMES, 255), None);
        assert_eq!(
            lookup("nosuch", "vigil-no-such-file", TABLE_NAMES, u32::MAX),
            None
        );
        assert_eq!(lookup("0x10", "vigil-no-such-file", &[], 255), Some(16));
    }

    #[test]
    fn prefixes_and_addresses() {
        let (p, f, _) = route_prefix("default").unwrap();
        assert_eq!((p.addr, f), (None, None));
        assert_eq!(route_prefix("default6").unwrap().1, Some(Family::V6));
        let (p, f, _) = route_prefix("10.1.0.0/16").unwrap();
        assert_eq!(
            (p.addr, p.len, f),
            (Some("10.1.0.0".parse().unwrap()), 16, Some(Family::V4))
        );
        // A bad length is a complaint, not a failure: the full length is used.
        let (_, len, note) = parse_ipaddress("10.1.0.0/33", true).unwrap();
        assert_eq!(len, 32);
        assert!(note.unwrap().contains("Invalid address prefix len 33"));
        assert!(parse_ipaddress("10.0.0.1/24", false).is_err());
        assert!(route_prefix("bogus").is_err());
    }

    #[test]
    fn rtt_times() {
        assert_eq!(time_rtt("300ms", 8), Some(2400));
        assert_eq!(time_rtt("1s", 1), Some(1000));
        assert_eq!(time_rtt("0.5s", 1), Some(500));
        assert_eq!(time_rtt("100", 1), Some(200), "clamped to 200 ms");
        assert_eq!(time_rtt("1e3", 8), None);
        assert_eq!(time_rtt("5x", 8), None);
        assert_eq!(time_rtt("5min", 8), None);
    }

    #[test]
    fn fwmarks_and_ranges() {
        assert_eq!(fwmark("0x10/0xff"), Some((16, Some(255))));
        assert_eq!(fwmark("0x10/"), Some((16, Some(0))));
        assert_eq!(fwmark("7"), Some((7, None)));
        assert_eq!(fwmark("-7"), None);
        assert_eq!(fwmark("7x"), None);
        assert_eq!(fwmark("0x100000000"), None);
        assert_eq!(scan_range("100-200", u32::MAX.into()), Some((100, 200)));
        assert_eq!(scan_range("100", u32::MAX.into()), None);
        assert_eq!(scan_range("80", 65535), None, "keepalived wants both ports");
        assert_eq!(scan_range("x", 65535), None);
    }

    #[test]
    fn realms_and_protocols() {
        assert_eq!(realms("1/2"), Some(1 << 16 | 2));
        assert_eq!(realms("3"), Some(3));
        assert_eq!(realms("300"), None);
        assert_eq!(ip_proto("6"), Some(6));
        assert_eq!(ip_proto("200"), None);
        assert_eq!(ip_proto("-1"), None);
    }

    #[test]
    fn encap_words() {
        assert!(mpls_labels("100/200"));
        assert!(!mpls_labels("x"));
        assert!(ila_locator("2001:db8:1:2"));
        assert!(!ila_locator("2001:db8"));
    }
}
