//! What the codec must do, written from the RFCs and `Repr::parse`'s documented order of
//! checks, without any of the codec's code: the Internet checksum the plain way (RFC 1071,
//! one 16-bit word at a time) and a reference reader and writer of the message layout
//! (RFC 3768 section 5.1, RFC 5798 section 5.1).

use core::net::IpAddr;
use vigil_core::wire::{Auth, ChecksumMode, Error, RxMeta};

/// The one's complement sum of `data` as 16-bit big-endian words, an odd last byte
/// padded with zero (RFC 1071 section 4.1, with the carry folded at every step).
pub fn ones_complement_sum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut i = 0;
    while i < data.len() {
        let hi = data[i];
        let lo = if i + 1 < data.len() { data[i + 1] } else { 0 };
        sum += u32::from(u16::from_be_bytes([hi, lo]));
        sum = (sum & 0xffff) + (sum >> 16);
        i += 2;
    }
    sum as u16
}

/// The IP pseudo-header a VRRPv3 checksum covers: RFC 768's for IPv4 (source,
/// destination, zero, protocol 112, length), RFC 8200 section 8.1's for IPv6 (source,
/// destination, 32-bit length, three zero bytes, next header 112).
pub fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&[0, 112]);
            p.extend_from_slice(&(len as u16).to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(&(len as u32).to_be_bytes());
            p.extend_from_slice(&[0, 0, 0, 112]);
        }
        _ => panic!("pseudo-header of mixed families"),
    }
    p
}

/// Whether a message of this version nibble covers the pseudo-header: v2 never (RFC 3768
/// 5.3.8, the VRRP message only); v3 always over IPv6, and over IPv4 unless the checksum
/// is configured "as v2" (RFC 5798 5.2.8 / keepalived `v3_checksum_as_v2`).
pub fn covers_pseudo_header(version: u8, src: IpAddr, mode: ChecksumMode) -> bool {
    version == 3 && !(src.is_ipv4() && mode == ChecksumMode::AsV2)
}

/// What the checksum covers: the pseudo-header when it applies, then the message.
fn covered(message: &[u8], src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> Vec<u8> {
    let version = message.first().map_or(0, |b| b >> 4);
    let mut all = if covers_pseudo_header(version, src, mode) {
        pseudo_header(src, dst, message.len())
    } else {
        Vec::new()
    };
    all.extend_from_slice(message);
    all
}

/// RFC 1071 verification: the sum over everything covered, checksum field included, is
/// all ones.
pub fn checksum_verifies(message: &[u8], src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> bool {
    ones_complement_sum(&covered(message, src, dst, mode)) == 0xffff
}

/// The checksum a sender puts in the field: the complement of the sum with the field zero.
pub fn checksum_to_send(message: &[u8], src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> u16 {
    let mut m = message.to_vec();
    m[6] = 0;
    m[7] = 0;
    !ones_complement_sum(&covered(&m, src, dst, mode))
}

/// The fields a valid message carries, as [`reference_parse`] reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub version: u8,
    pub vrid: u8,
    pub priority: u8,
    pub interval_centis: u16,
    pub auth: Auth,
    pub addresses: Vec<u8>,
}

/// What `Repr::parse` must answer, checked in its documented order: TTL/hop limit 255,
/// header length, version, type, v2 over IPv6 (and mixed families), address count against
/// length, checksum, auth type, interval not zero.
///
/// The checksum must be the one a sender computes (`checksum_to_send`). RFC 1071
/// verification would also take 0xffff where that is 0x0000 (one's complement minus
/// zero), and keepalived does; vigil does not. The caller checks that every message
/// accepted also verifies the RFC 1071 way.
pub fn reference_parse(m: &[u8], meta: &RxMeta, mode: ChecksumMode) -> Result<Fields, Error> {
    if meta.ttl != 255 {
        return Err(Error::Ttl(meta.ttl));
    }
    if m.len() < 8 {
        return Err(Error::Truncated);
    }
    let version = m[0] >> 4;
    if version != 2 && version != 3 {
        return Err(Error::Version(version));
    }
    if m[0] & 0x0f != 1 {
        return Err(Error::Type(m[0] & 0x0f));
    }
    let addr_len = match (meta.src, meta.dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => 4,
        (IpAddr::V6(_), IpAddr::V6(_)) if version == 2 => return Err(Error::V2OverIpv6),
        (IpAddr::V6(_), IpAddr::V6(_)) => 16,
        _ => return Err(Error::FamilyMismatch),
    };
    let count = m[3];
    let auth_len = if version == 2 { 8 } else { 0 };
    let addresses_end = 8 + usize::from(count) * addr_len;
    if m.len() != addresses_end + auth_len {
        return Err(Error::Length {
            count,
            len: m.len(),
        });
    }
    let found = u16::from_be_bytes([m[6], m[7]]);
    let expected = checksum_to_send(m, meta.src, meta.dst, mode);
    if found != expected {
        return Err(Error::Checksum { found, expected });
    }
    let (interval_centis, auth) = if version == 2 {
        let auth = match m[4] {
            0 => Auth::None,
            1 => {
                let mut p = [0u8; 8];
                p.copy_from_slice(&m[addresses_end..]);
                Auth::Password(p)
            }
            2 => {
                // IPsec AH (keepalived's `auth_type AH`): the host verified the AH
                // header; the message carries 8 bytes of authentication data.
                let mut p = [0u8; 8];
                p.copy_from_slice(&m[addresses_end..]);
                Auth::Ah(p)
            }
            t => return Err(Error::AuthType(t)),
        };
        (u16::from(m[5]) * 100, auth)
    } else {
        // The top four bits of byte 4 are reserved: ignored on receipt.
        (u16::from(m[4] & 0x0f) << 8 | u16::from(m[5]), Auth::None)
    };
    if interval_centis == 0 {
        return Err(Error::IntervalZero);
    }
    Ok(Fields {
        version,
        vrid: m[1],
        priority: m[2],
        interval_centis,
        auth,
        addresses: m[8..addresses_end].to_vec(),
    })
}

/// keepalived's authentication check: the types must match, and so must all 8 bytes of
/// a password; an AH advert reaches the check only once the host verified its header,
/// and an AH advert for an instance without AH is keepalived's AH error.
pub fn reference_check_auth(configured: &Auth, received: &Auth) -> Result<(), Error> {
    let number = |a: &Auth| match a {
        Auth::None => 0,
        Auth::Password(_) => 1,
        Auth::Ah(_) => 2,
    };
    match (configured, received) {
        (Auth::None, Auth::None) => Ok(()),
        (Auth::Password(a), Auth::Password(b)) if a == b => Ok(()),
        (Auth::Password(_), Auth::Password(_)) => Err(Error::Password),
        (Auth::Ah(_), Auth::Ah(_)) => Ok(()),
        (_, Auth::Ah(_)) => Err(Error::AuthAh),
        (c, r) => Err(Error::AuthMismatch {
            expected: number(c),
            found: number(r),
        }),
    }
}

/// The message a sender writes for these fields (RFC 3768 5.1 / RFC 5798 5.1), with its
/// checksum: v3 carries no authentication and writes the reserved bits as zero.
pub fn reference_emit(
    f: &Fields,
    count: u8,
    src: IpAddr,
    dst: IpAddr,
    mode: ChecksumMode,
) -> Vec<u8> {
    let mut m = vec![(f.version << 4) | 1, f.vrid, f.priority, count];
    if f.version == 2 {
        let (auth_type, data) = match f.auth {
            Auth::None => (0, [0u8; 8]),
            Auth::Password(p) => (1, p),
            Auth::Ah(_) => (2, [0u8; 8]),
        };
        m.extend_from_slice(&[auth_type, (f.interval_centis / 100) as u8, 0, 0]);
        m.extend_from_slice(&f.addresses);
        m.extend_from_slice(&data);
    } else {
        let [hi, lo] = f.interval_centis.to_be_bytes();
        m.extend_from_slice(&[hi & 0x0f, lo, 0, 0]);
        m.extend_from_slice(&f.addresses);
    }
    let sum = checksum_to_send(&m, src, dst, mode);
    m[6..8].copy_from_slice(&sum.to_be_bytes());
    m
}

/// Checks the oracle itself on known answers, so that a broken oracle cannot make the
/// targets pass vacuously. Called once at start-up.
pub fn self_test() {
    use core::net::Ipv4Addr;
    // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    assert_eq!(
        ones_complement_sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
        0xddf2
    );
    assert_eq!(ones_complement_sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    let src = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
    let mcast = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
    let peer = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 12));
    let pseudo = ChecksumMode::PseudoHeader;
    // ../shared/vectors: keepalived-v2-mcast-adv1-steady (checksum 0x651b) and
    // keepalived-v3-{mcast,unicast}-adv1-steady (0x74d5 to the group, 0x4a79 to the peer).
    let v2 = [
        0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x65, 0x1b, 0x0a, 0x63, 0x00, 0x32, b's', b'3', b'c',
        b'r', b'3', b't', 0, 0,
    ];
    assert!(checksum_verifies(&v2, src, mcast, pseudo));
    assert_eq!(checksum_to_send(&v2, src, mcast, pseudo), 0x651b);
    let mut v3 = [
        0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x74, 0xd5, 0x0a, 0x63, 0x00, 0x32,
    ];
    assert!(checksum_verifies(&v3, src, mcast, pseudo));
    assert!(!checksum_verifies(&v3, src, peer, pseudo));
    assert!(!checksum_verifies(&v3, src, mcast, ChecksumMode::AsV2));
    v3[6..8].copy_from_slice(&[0x4a, 0x79]);
    assert!(checksum_verifies(&v3, src, peer, pseudo));
}
