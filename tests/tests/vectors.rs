//! The reference captures as byte-exact codec vectors.
//!
//! Every VRRP message in every `*.pcap` / `*.pcapng` under `$VIGIL_VECTORS` (default:
//! `shared/vectors` beside the workspace) must parse with `Repr::parse` and re-emit byte
//! for byte with `Repr::emit`. The directory is read at run time, so a capture dropped in
//! is checked with no code change. Where a `.vrrp.txt` listing sits beside a capture, its
//! payloads and fields must agree with what the pcap reader extracted: that pins the
//! reader itself, so a reader bug cannot make the codec check pass vacuously.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use vigil_core::wire::{Addresses, ChecksumMode, Interval, Repr, Version};
use vigil_tests::pcap;

/// What one capture file held.
#[derive(Debug, Default)]
struct FileReport {
    /// VRRP messages that parsed and re-emitted identically.
    checked: usize,
    /// Of those, how many verified in each (version, family, checksum mode).
    by_kind: BTreeMap<&'static str, usize>,
    /// Lines of a `.vrrp.txt` listing cross-checked, if there was one.
    listing_lines: Option<usize>,
}

/// The outcome of checking a directory: per-file reports and every failure found.
#[derive(Debug, Default)]
struct DirReport {
    files: BTreeMap<PathBuf, FileReport>,
    failures: Vec<String>,
}

impl DirReport {
    fn total_checked(&self) -> usize {
        self.files.values().map(|f| f.checked).sum()
    }

    fn summary(&self) -> String {
        let mut s = String::new();
        for (path, f) in &self.files {
            let kinds: Vec<String> = f.by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let listing = match f.listing_lines {
                Some(n) => format!(", {n} .vrrp.txt lines agree"),
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "{}: {} VRRP messages checked ({}){listing}",
                path.display(),
                f.checked,
                kinds.join(", ")
            );
        }
        s
    }

    /// Panics with every failure, so one run shows them all.
    fn assert_ok(&self, dir: &Path) {
        print!("{}", self.summary());
        assert!(
            self.failures.is_empty(),
            "{} failure(s) in {}:\n{}",
            self.failures.len(),
            dir.display(),
            self.failures.join("\n")
        );
    }
}

/// The vectors directory: `$VIGIL_VECTORS`, or `shared/vectors` beside the workspace.
fn vectors_dir() -> PathBuf {
    std::env::var_os("VIGIL_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors"))
        })
}

/// Every `*.pcap` and `*.pcapng` under `dir`, recursively, sorted for a stable report.
fn captures(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            captures(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("pcap" | "pcapng")
        ) {
            out.push(path);
        }
    }
    out.sort();
    Ok(())
}

/// Checks every capture under `dir`. Fails (in the report) on a directory without
/// captures and on a capture without VRRP, so that nothing passes vacuously.
fn check_dir(dir: &Path) -> DirReport {
    let mut report = DirReport::default();
    let mut paths = Vec::new();
    if let Err(e) = captures(dir, &mut paths) {
        report
            .failures
            .push(format!("{}: cannot list: {e}", dir.display()));
        return report;
    }
    if paths.is_empty() {
        report.failures.push(format!(
            "{}: no *.pcap or *.pcapng file: nothing would be checked",
            dir.display()
        ));
    }
    for path in paths {
        let file = check_file(&path, &mut report.failures);
        report.files.insert(path, file);
    }
    report
}

fn check_file(path: &Path, failures: &mut Vec<String>) -> FileReport {
    let mut report = FileReport::default();
    let name = path.display();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            failures.push(format!("{name}: cannot read: {e}"));
            return report;
        }
    };
    let messages = match pcap::vrrp_messages(&bytes) {
        Ok(m) => m,
        Err(e) => {
            failures.push(format!("{name}: {e}"));
            return report;
        }
    };
    if messages.is_empty() {
        failures.push(format!("{name}: no VRRP message in the capture"));
    }
    let mut parsed = Vec::new();
    for msg in &messages {
        match round_trip(msg) {
            Ok((repr, kind)) => {
                report.checked += 1;
                *report.by_kind.entry(kind).or_default() += 1;
                parsed.push(Some(repr));
            }
            Err(e) => {
                failures.push(format!("{name} frame {}: {e}", msg.frame));
                parsed.push(None);
            }
        }
    }
    let listing = path.with_extension("vrrp.txt");
    if listing.is_file() {
        match std::fs::read_to_string(&listing) {
            Ok(text) => {
                let before = failures.len();
                let lines = cross_check(&text, &messages, &parsed, |e| {
                    failures.push(format!("{}: {e}", listing.display()));
                });
                if failures.len() == before {
                    report.listing_lines = Some(lines);
                }
            }
            Err(e) => failures.push(format!("{}: cannot read: {e}", listing.display())),
        }
    }
    report
}

/// Parses with the pseudo-header checksum, then the v2-style one (RFC 9568 senders), and
/// re-emits with the mode that verified. Returns the Repr and which kind verified.
fn round_trip<'a>(msg: &pcap::Vrrp<'a>) -> Result<(Repr<'a>, &'static str), String> {
    let meta = msg.rx_meta();
    let (repr, mode) = match Repr::parse(msg.payload, &meta, ChecksumMode::PseudoHeader) {
        Ok(r) => (r, ChecksumMode::PseudoHeader),
        Err(first) => match Repr::parse(msg.payload, &meta, ChecksumMode::AsV2) {
            Ok(r) => (r, ChecksumMode::AsV2),
            Err(second) => {
                return Err(format!(
                    "parse failed: pseudo-header checksum: {first}; as-v2 checksum: {second} \
                     (payload {})",
                    hex(msg.payload)
                ));
            }
        },
    };
    let kind = match (repr.version, msg.src, mode) {
        (Version::V2, _, _) => "v2",
        (Version::V3, IpAddr::V6(_), _) => "v3/IPv6",
        (Version::V3, IpAddr::V4(_), ChecksumMode::PseudoHeader) => "v3/IPv4 pseudo-header",
        (Version::V3, IpAddr::V4(_), ChecksumMode::AsV2) => "v3/IPv4 as-v2",
        (Version::V3, IpAddr::V4(_), ChecksumMode::OldUnicast) => "v3/IPv4 old unicast",
    };
    let mut out = vec![0u8; repr.buffer_len()];
    let n = repr
        .emit(&mut out, msg.src, msg.dst, mode)
        .map_err(|e| format!("emit failed ({kind}): {e}"))?;
    if out[..n] != *msg.payload {
        return Err(format!(
            "re-emit differs ({kind}): captured {} emitted {}",
            hex(msg.payload),
            hex(&out[..n])
        ));
    }
    Ok((repr, kind))
}

/// Compares a `.vrrp.txt` listing (one line per VRRP message: `N src=.. dst=.. ttl=..
/// v2|v3 vrid=.. prio=.. count=.. int=1s|100cs csum=.. ok payload=..`) with the messages
/// the reader extracted and the Reprs they parsed to. Returns the number of lines.
fn cross_check(
    text: &str,
    messages: &[pcap::Vrrp<'_>],
    parsed: &[Option<Repr<'_>>],
    mut fail: impl FnMut(String),
) -> usize {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != messages.len() {
        fail(format!(
            "{} lines but the pcap reader found {} VRRP messages",
            lines.len(),
            messages.len()
        ));
    }
    for (i, (line, msg)) in lines.iter().zip(messages).enumerate() {
        let at = format!("line {} (frame {})", i + 1, msg.frame);
        let mut fields = BTreeMap::new();
        let mut version = None;
        for token in line.split_whitespace() {
            match token.split_once('=') {
                Some((k, v)) => {
                    fields.insert(k, v);
                }
                None if token == "v2" || token == "v3" => version = Some(token),
                None => {}
            }
        }
        let mut expect = |key: &str, actual: String| match fields.get(key) {
            Some(v) if **v == actual => {}
            Some(v) => fail(format!("{at}: {key}={v} but the capture gives {actual}")),
            None => fail(format!("{at}: no {key}= field")),
        };
        expect("payload", hex(msg.payload));
        expect("src", msg.src.to_string());
        expect("dst", msg.dst.to_string());
        expect("ttl", msg.ttl.to_string());
        let Some(Some(repr)) = parsed.get(i) else {
            continue; // Its parse failure is reported already.
        };
        expect("vrid", repr.vrid.to_string());
        expect("prio", repr.priority.to_string());
        expect("count", repr.addresses.len().to_string());
        let int = match repr.version {
            Version::V2 => format!("{}s", repr.interval.centis() / 100),
            Version::V3 => format!("{}cs", repr.interval.centis()),
        };
        expect("int", int);
        let v = format!("v{}", repr.version.number());
        if version != Some(v.as_str()) {
            fail(format!(
                "{at}: version {version:?} but the capture gives {v}"
            ));
        }
    }
    lines.len()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[test]
fn shared_vectors_parse_and_reemit_byte_for_byte() {
    let dir = vectors_dir();
    let report = check_dir(&dir);
    report.assert_ok(&dir);
    assert!(report.total_checked() > 0);
}

// ---- A directory of captures written here: IPv6, pcapng, a subdirectory ----

/// A scratch directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "vigil-vectors-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x99, 0, 0, 0x11);

/// An Ethernet + IPv6 frame (with an optional 8-byte hop-by-hop header) carrying `vrrp`
/// from `src` to ff02::12, as a VRRPv3 router sends it: virtual MAC, hop limit 255.
fn ipv6_frame(vrid: u8, src: Ipv6Addr, vrrp: &[u8], hop_by_hop: bool) -> Vec<u8> {
    let mut f = vec![
        0x33, 0x33, 0, 0, 0, 0x12, 0, 0, 0x5e, 0, 0x02, vrid, 0x86, 0xdd,
    ];
    let ext: &[u8] = if hop_by_hop {
        &[112, 0, 1, 4, 0, 0, 0, 0] // next VRRP, PadN(4)
    } else {
        &[]
    };
    let plen = u16::try_from(ext.len() + vrrp.len()).unwrap();
    f.extend_from_slice(&[0x6c, 0, 0, 0]); // traffic class 0xc0
    f.extend_from_slice(&plen.to_be_bytes());
    f.extend_from_slice(&[if hop_by_hop { 0 } else { 112 }, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&vigil_core::wire::MCAST_V6.octets());
    f.extend_from_slice(ext);
    f.extend_from_slice(vrrp);
    f
}

/// A classic little-endian pcap with Ethernet link type.
fn classic_pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 262_144, 1] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    for (i, frame) in frames.iter().enumerate() {
        let len = u32::try_from(frame.len()).unwrap();
        for v in [1_700_000_000, u32::try_from(i).unwrap() * 1000, len, len] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(frame);
    }
    f
}

/// A big-endian pcapng with one Ethernet interface and Enhanced Packet Blocks.
fn pcapng_be(frames: &[Vec<u8>]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let padded = body.len().div_ceil(4) * 4;
        let total = u32::try_from(12 + padded).unwrap().to_be_bytes();
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&total);
        out.extend_from_slice(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend_from_slice(&total);
    }
    let mut f = Vec::new();
    block(
        &mut f,
        0x0a0d_0d0a,
        &[
            0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    block(&mut f, 1, &[0, 1, 0, 0, 0, 0, 0, 0]);
    for frame in frames {
        let len = u32::try_from(frame.len()).unwrap().to_be_bytes();
        let mut epb = vec![0; 12];
        epb.extend_from_slice(&len);
        epb.extend_from_slice(&len);
        epb.extend_from_slice(frame);
        block(&mut f, 6, &epb);
    }
    f
}

/// VRRPv3 adverts over IPv6, emitted by the codec itself, with one to three VIPs.
fn crafted_ipv6_frames(first_vrid: u8) -> (Vec<Vec<u8>>, String) {
    let vips: [[u8; 16]; 3] = [
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x50).octets(),
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0x99, 0, 0, 0, 0x50).octets(),
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0x99, 0, 0, 0, 0x51).octets(),
    ];
    let mut frames = Vec::new();
    let mut listing = String::new();
    let cases = [
        (100u8, 100u16, 1usize),
        (0, 10, 2),
        (255, 4095, 3),
        (99, 1, 1),
    ];
    for (i, &(priority, centis, n)) in cases.iter().enumerate() {
        let vrid = first_vrid + u8::try_from(i).unwrap();
        let repr = Repr {
            version: Version::V3,
            vrid,
            priority,
            interval: Interval::from_centis(centis),
            auth: Default::default(),
            addresses: Addresses::v6(&vips[..n]),
        };
        let src = IpAddr::V6(LINK_LOCAL);
        let dst = IpAddr::V6(vigil_core::wire::MCAST_V6);
        let mut vrrp = vec![0u8; repr.buffer_len()];
        repr.emit(&mut vrrp, src, dst, ChecksumMode::PseudoHeader)
            .unwrap();
        frames.push(ipv6_frame(vrid, LINK_LOCAL, &vrrp, i % 2 == 1));
        let _ = writeln!(
            listing,
            "{} src={src} dst={dst} ttl=255 v3 vrid={vrid} prio={priority} count={n} \
             int={centis}cs csum={} ok payload={}",
            i + 1,
            hex(&vrrp[6..8]),
            hex(&vrrp)
        );
    }
    (frames, listing)
}

#[test]
fn any_directory_of_captures_is_checked_including_ipv6() {
    let tmp = TempDir::new("ipv6");
    let (frames, listing) = crafted_ipv6_frames(1);
    std::fs::write(tmp.0.join("crafted-v3-ipv6.pcap"), classic_pcap(&frames)).unwrap();
    std::fs::write(tmp.0.join("crafted-v3-ipv6.vrrp.txt"), listing).unwrap();
    std::fs::create_dir(tmp.0.join("more")).unwrap();
    let (frames_ng, _) = crafted_ipv6_frames(100);
    std::fs::write(tmp.0.join("more/crafted.pcapng"), pcapng_be(&frames_ng)).unwrap();

    let report = check_dir(&tmp.0);
    report.assert_ok(&tmp.0);
    assert_eq!(report.files.len(), 2, "{}", report.summary());
    assert_eq!(report.total_checked(), 8);
    for f in report.files.values() {
        assert_eq!(f.by_kind.get("v3/IPv6"), Some(&4));
    }
    let classic = &report.files[&tmp.0.join("crafted-v3-ipv6.pcap")];
    assert_eq!(classic.listing_lines, Some(4));
}

/// The checker itself must not pass vacuously: no capture, or a capture without VRRP,
/// or a listing that disagrees with the capture, is a failure.
#[test]
fn checker_fails_on_empty_dir_vrrp_free_capture_and_wrong_listing() {
    let tmp = TempDir::new("negative");
    let report = check_dir(&tmp.0);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(report.failures[0].contains("no *.pcap"));

    let arp = vec![0xff; 60];
    std::fs::write(tmp.0.join("arp-only.pcap"), classic_pcap(&[arp])).unwrap();
    let report = check_dir(&tmp.0);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(report.failures[0].contains("no VRRP message"));
    std::fs::remove_file(tmp.0.join("arp-only.pcap")).unwrap();

    let (frames, listing) = crafted_ipv6_frames(1);
    std::fs::write(tmp.0.join("x.pcap"), classic_pcap(&frames)).unwrap();
    std::fs::write(
        tmp.0.join("x.vrrp.txt"),
        listing.replace("prio=255", "prio=254"),
    )
    .unwrap();
    let report = check_dir(&tmp.0);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(report.failures[0].contains("prio=254"));

    // A corrupted message is reported with file and frame number.
    let mut bad = frames.clone();
    let last = bad[0].len() - 1;
    bad[0][last] ^= 1;
    std::fs::write(tmp.0.join("x.pcap"), classic_pcap(&bad)).unwrap();
    std::fs::remove_file(tmp.0.join("x.vrrp.txt")).unwrap();
    let report = check_dir(&tmp.0);
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(
        report.failures[0].contains("x.pcap frame 1: parse failed"),
        "{}",
        report.failures[0]
    );
}
