//! `Repr::emit` on a representation built from arbitrary fields, against the oracle:
//! - it refuses exactly what the reference says it cannot carry (v2 over IPv6, mixed
//!   families, more than 255 addresses, a short buffer, an interval the version cannot
//!   carry), in that order;
//! - otherwise it writes exactly the reference writer's bytes (the checksum an
//!   independent RFC 1071 sum), nothing past them, and they parse back to the same value
//!   (v3 drops authentication).
#![no_main]

use arbitrary::Arbitrary;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use libfuzzer_sys::fuzz_target;
use vigil_core::wire::{
    Addresses, Auth, ChecksumMode, Error, Family, Interval, Repr, RxMeta, Version,
};
use vigil_fuzz::oracle::{self, Fields};

#[derive(Debug, Arbitrary)]
struct Input {
    v3: bool,
    v6: bool,
    /// The IP destination is of the other family (a caller's mistake emit must refuse).
    mixed: bool,
    as_v2: bool,
    vrid: u8,
    priority: u8,
    interval_centis: u16,
    password: Option<[u8; 8]>,
    /// How many addresses: taken modulo 300, so that more than 255 is reached.
    count: u16,
    /// Their bytes, repeated as needed (each address also gets its index mixed in).
    address_bytes: Vec<u8>,
    src: [u8; 16],
    dst: [u8; 16],
    /// How much shorter than needed the buffer is (mostly not).
    short_by: u8,
}

fn addr(bytes: &[u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(*bytes))
    } else {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    }
}

fuzz_target!(init: oracle::self_test(), |input: Input| {
    let family = if input.v6 { Family::V6 } else { Family::V4 };
    let count = usize::from(input.count % 300);
    let len = family.addr_len();
    let mut list = vec![0u8; count * len];
    for (i, a) in list.chunks_exact_mut(len).enumerate() {
        for (j, b) in a.iter_mut().enumerate() {
            let k = i * len + j;
            *b = input.address_bytes.get(k % input.address_bytes.len().max(1)).copied().unwrap_or(0);
        }
        a[len - 1] ^= i as u8;
    }
    let addresses = Addresses::new(family, &list).expect("whole addresses");
    let version = if input.v3 { Version::V3 } else { Version::V2 };
    let auth = match input.password {
        Some(p) => Auth::Password(p),
        None => Auth::None,
    };
    let repr = Repr {
        version,
        vrid: input.vrid,
        priority: input.priority,
        interval: Interval::from_centis(input.interval_centis),
        auth,
        addresses,
    };
    let src = addr(&input.src, input.v6);
    let dst = addr(&input.dst, input.v6 != input.mixed);
    let mode = if input.as_v2 { ChecksumMode::AsV2 } else { ChecksumMode::PseudoHeader };

    let needed = 8 + count * len + if input.v3 { 0 } else { 8 };
    assert_eq!(repr.buffer_len(), needed);
    let short_by = if input.short_by < 200 { 0 } else { usize::from(input.short_by - 199) };
    let buf_len = needed.saturating_sub(short_by);
    let mut buf = vec![0x5au8; buf_len + 32];
    let result = repr.emit(&mut buf[..buf_len], src, dst, mode);

    let centis = input.interval_centis;
    let expected_refusal = if src.is_ipv6() && !input.v3 {
        Some(Error::V2OverIpv6)
    } else if input.mixed {
        Some(Error::FamilyMismatch)
    } else if count > 255 {
        Some(Error::TooManyAddresses)
    } else if buf_len < needed {
        Some(Error::BufferTooSmall)
    } else if (input.v3 && (centis == 0 || centis > 4095))
        || (!input.v3 && (centis == 0 || !centis.is_multiple_of(100) || centis > 25500))
    {
        Some(Error::IntervalRange)
    } else {
        None
    };
    if let Some(e) = expected_refusal {
        assert_eq!(result, Err(e), "{repr:?} from {src} to {dst}");
        return;
    }
    assert_eq!(result, Ok(needed), "{repr:?} from {src} to {dst}");
    assert!(buf[needed..].iter().all(|&b| b == 0x5a), "emit wrote past its length");

    let sent = Fields {
        version: version.number(),
        vrid: input.vrid,
        priority: input.priority,
        interval_centis: centis,
        auth: if input.v3 { Auth::None } else { auth },
        addresses: list.clone(),
    };
    let emitted = &buf[..needed];
    assert_eq!(emitted, &oracle::reference_emit(&sent, count as u8, src, dst, mode)[..]);
    assert!(oracle::checksum_verifies(emitted, src, dst, mode));

    let meta = RxMeta { src, dst, ttl: 255 };
    let back = Repr::parse(emitted, &meta, mode).expect("what emit wrote parses");
    assert_eq!(back, Repr { auth: sent.auth, ..repr });
});
