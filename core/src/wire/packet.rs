//! Zero-copy view over a VRRP message.
//!
//! ```text
//!  v2 (RFC 3768 5.1)                         v3 (RFC 5798 5.1)
//!  0       4       8               16              24              32
//! +-------+-------+---------------+---------------+---------------+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-------+-------+---------------+---------------+---------------+
//! v2: |   Auth Type   |   Adver Int   |          Checksum             |
//! v3: |(rsvd) |  Max Adver Int (cs)   |          Checksum             |
//! +---------------------------------------------------------------+
//! |              IP address list (Count x 4 or 16 bytes)          |
//! +---------------------------------------------------------------+
//! v2: |              Authentication Data (8 bytes)                    |
//! ```

use super::{Error, Family, HEADER_LEN, Result, V2_AUTH_LEN, checksum};
use core::net::IpAddr;

mod field {
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2: auth type; v3: reserved nibble and the high nibble of the interval.
    pub const AUTH_OR_INT_HI: usize = 4;
    /// v2: interval in seconds; v3: the low byte of the interval.
    pub const INT_LO: usize = 5;
    pub const CHECKSUM: core::ops::Range<usize> = 6..8;
    pub const ADDRESSES: usize = 8;
}

/// A VRRP message in a buffer, with the address family of the IP packet that carried it
/// (the message itself does not say how long its addresses are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    family: Family,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it. Accessors may panic on a short buffer: use
    /// [`Packet::new_checked`] for received data.
    pub const fn new_unchecked(buffer: T, family: Family) -> Self {
        Packet { buffer, family }
    }

    /// Wraps a buffer after [`Packet::check_len`]: every accessor is then panic-free.
    pub fn new_checked(buffer: T, family: Family) -> Result<Self> {
        let packet = Self::new_unchecked(buffer, family);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds exactly the header, `count` addresses and, for v2,
    /// the authentication data. An unknown version is reported here, since the length
    /// depends on it.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let trailer = match self.version() {
            2 => V2_AUTH_LEN,
            3 => 0,
            v => return Err(Error::Version(v)),
        };
        let count = self.count();
        if data.len() != self.expected_len(trailer) {
            return Err(Error::Length {
                count,
                len: data.len(),
            });
        }
        Ok(())
    }

    fn expected_len(&self, trailer: usize) -> usize {
        HEADER_LEN + usize::from(self.count()) * self.family.addr_len() + trailer
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn family(&self) -> Family {
        self.family
    }

    /// The VRRP message length in bytes.
    pub fn len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    #[inline]
    pub fn count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// v2 only: the auth type.
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_OR_INT_HI]
    }

    /// v2 only: the advertisement interval in whole seconds.
    pub fn adver_int_secs(&self) -> u8 {
        self.buffer.as_ref()[field::INT_LO]
    }

    /// v3 only: the four reserved bits before the interval.
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_OR_INT_HI] >> 4
    }

    /// v3 only: the 12-bit maximum advertisement interval in centiseconds.
    #[inline(always)]
    pub fn max_adver_int(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::AUTH_OR_INT_HI] & 0x0f, d[field::INT_LO]])
    }

    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        let d = self.buffer.as_ref();
        u16::from_be_bytes([d[field::CHECKSUM.start], d[field::CHECKSUM.start + 1]])
    }

    /// The address list, `count` addresses of the family's length, in network order.
    pub fn addresses(&self) -> &[u8] {
        let end = field::ADDRESSES + usize::from(self.count()) * self.family.addr_len();
        &self.buffer.as_ref()[field::ADDRESSES..end]
    }

    /// v2: the 8 bytes of authentication data after the address list. Empty for v3,
    /// which has none, so that no accessor of a checked packet can panic.
    pub fn auth_data(&self) -> &[u8] {
        let d = self.buffer.as_ref();
        let start = field::ADDRESSES + usize::from(self.count()) * self.family.addr_len();
        d.get(start..start + V2_AUTH_LEN).unwrap_or(&[])
    }

    /// The checksum this message should carry, given what it must cover.
    pub fn expected_checksum(&self, pseudo: Option<(IpAddr, IpAddr)>) -> u16 {
        checksum::compute(self.buffer.as_ref(), pseudo.as_ref().map(|(s, d)| (s, d)))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version_and_type(&mut self, version: u8, msg_type: u8) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (msg_type & 0x0f);
    }

    pub fn set_vrid(&mut self, vrid: u8) {
        self.buffer.as_mut()[field::VRID] = vrid;
    }

    pub fn set_priority(&mut self, priority: u8) {
        self.buffer.as_mut()[field::PRIORITY] = priority;
    }

    pub fn set_count(&mut self, count: u8) {
        self.buffer.as_mut()[field::COUNT] = count;
    }

    /// v2 only.
    pub fn set_auth_type(&mut self, auth_type: u8) {
        self.buffer.as_mut()[field::AUTH_OR_INT_HI] = auth_type;
    }

    /// v2 only.
    pub fn set_adver_int_secs(&mut self, secs: u8) {
        self.buffer.as_mut()[field::INT_LO] = secs;
    }

    /// v3 only: writes the 12-bit interval with the reserved bits zero.
    pub fn set_max_adver_int(&mut self, centis: u16) {
        let [hi, lo] = (centis & 0x0fff).to_be_bytes();
        let d = self.buffer.as_mut();
        d[field::AUTH_OR_INT_HI] = hi;
        d[field::INT_LO] = lo;
    }

    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    pub fn addresses_mut(&mut self) -> &mut [u8] {
        let end = field::ADDRESSES + usize::from(self.count()) * self.family.addr_len();
        &mut self.buffer.as_mut()[field::ADDRESSES..end]
    }

    /// v2: the authentication data; empty for a v3 packet, as [`Packet::auth_data`].
    pub fn auth_data_mut(&mut self) -> &mut [u8] {
        let start = field::ADDRESSES + usize::from(self.count()) * self.family.addr_len();
        self.buffer
            .as_mut()
            .get_mut(start..start + V2_AUTH_LEN)
            .unwrap_or(&mut [])
    }

    /// Computes and writes the checksum; every other field must be written first.
    pub fn fill_checksum(&mut self, pseudo: Option<(IpAddr, IpAddr)>) {
        let sum = self.expected_checksum(pseudo);
        self.set_checksum(sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // keepalived-v2-mcast-adv1-steady, message 1.
    const V2: [u8; 20] = [
        0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x65, 0x1b, 0x0a, 0x63, 0x00, 0x32, b's', b'3', b'c',
        b'r', b'3', b't', 0, 0,
    ];

    #[test]
    fn accessors_read_keepalived_v2() {
        let p = Packet::new_checked(&V2[..], Family::V4).unwrap();
        assert_eq!(
            (p.version(), p.msg_type(), p.vrid(), p.priority(), p.count()),
            (2, 1, 51, 100, 1)
        );
        assert_eq!((p.auth_type(), p.adver_int_secs()), (1, 1));
        assert_eq!(p.checksum(), 0x651b);
        assert_eq!(p.addresses(), &[10, 99, 0, 50]);
        assert_eq!(p.auth_data(), b"s3cr3t\0\0");
        assert_eq!(p.expected_checksum(None), 0x651b);
    }

    #[test]
    fn check_len_rejects_every_short_or_long_buffer() {
        for len in 0..V2.len() {
            assert!(
                Packet::new_checked(&V2[..len], Family::V4).is_err(),
                "len {len}"
            );
        }
        let mut long = [0u8; 21];
        long[..20].copy_from_slice(&V2);
        assert_eq!(
            Packet::new_checked(&long[..], Family::V4),
            Err(Error::Length { count: 1, len: 21 })
        );
        // The same bytes read as IPv6 want a 16-byte address.
        assert!(Packet::new_checked(&V2[..], Family::V6).is_err());
    }
}
