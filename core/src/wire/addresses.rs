//! The address list of an advert, borrowed as bytes in network order.

use super::Family;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A list of addresses of one family, stored back to back in network order, as on the
/// wire. Received adverts borrow it from the packet; an instance lends its VIP list the
/// same way, so comparing the two is a byte comparison in the common case.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Addresses<'a> {
    family: Family,
    bytes: &'a [u8],
}

impl<'a> Addresses<'a> {
    /// `None` unless `bytes` is a whole number of addresses of `family`.
    pub fn new(family: Family, bytes: &'a [u8]) -> Option<Self> {
        bytes
            .len()
            .is_multiple_of(family.addr_len())
            .then_some(Addresses { family, bytes })
    }

    /// For the codec, whose packet view already checked the length.
    pub(super) const fn from_wire(family: Family, bytes: &'a [u8]) -> Self {
        Addresses { family, bytes }
    }

    pub fn v4(list: &'a [[u8; 4]]) -> Self {
        Addresses {
            family: Family::V4,
            bytes: list.as_flattened(),
        }
    }

    pub fn v6(list: &'a [[u8; 16]]) -> Self {
        Addresses {
            family: Family::V6,
            bytes: list.as_flattened(),
        }
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / self.family.addr_len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = IpAddr> + 'a {
        let family = self.family;
        self.bytes
            .chunks_exact(family.addr_len())
            .map(move |c| match family {
                Family::V4 => IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
                Family::V6 => {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(o))
                }
            })
    }

    /// Whether both lists hold the same addresses, in any order. A list with a duplicate
    /// never equals one without it (lengths are compared first).
    #[inline]
    pub fn same_set(&self, other: &Addresses<'_>) -> bool {
        if self.family != other.family || self.bytes.len() != other.bytes.len() {
            return false;
        }
        if bytes_eq(self.bytes, other.bytes) {
            return true;
        }
        let n = self.family.addr_len();
        self.bytes
            .chunks_exact(n)
            .all(|a| other.bytes.chunks_exact(n).any(|b| a == b))
            && other
                .bytes
                .chunks_exact(n)
                .all(|b| self.bytes.chunks_exact(n).any(|a| a == b))
    }
}

/// `a == b` for slices of equal length. Up to four IPv4 addresses (most instances
/// have one to four VIPs) are compared as 4-byte words in line: a call to `memcmp`
/// costs more than the compare.
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() > 16 || !a.len().is_multiple_of(4) {
        return a == b;
    }
    a.chunks_exact(4).zip(b.chunks_exact(4)).all(|(x, y)| {
        u32::from_ne_bytes([x[0], x[1], x[2], x[3]]) == u32::from_ne_bytes([y[0], y[1], y[2], y[3]])
    })
}

impl core::fmt::Debug for Addresses<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Addresses<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{} address(es)", self.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_set_ignores_order_but_not_content() {
        let a = [[10, 0, 0, 1], [10, 0, 0, 2]];
        let b = [[10, 0, 0, 2], [10, 0, 0, 1]];
        let c = [[10, 0, 0, 2], [10, 0, 0, 2]];
        assert!(Addresses::v4(&a).same_set(&Addresses::v4(&b)));
        assert!(!Addresses::v4(&a).same_set(&Addresses::v4(&c)));
        assert!(!Addresses::v4(&c).same_set(&Addresses::v4(&a)));
        assert!(!Addresses::v4(&a).same_set(&Addresses::v4(&a[..1])));
    }

    #[test]
    fn new_rejects_partial_addresses() {
        assert!(Addresses::new(Family::V4, &[1, 2, 3]).is_none());
        assert_eq!(Addresses::new(Family::V6, &[0; 32]).unwrap().len(), 2);
    }
}
