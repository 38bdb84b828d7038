//! Which member a datagram is for: each member's (channel, family, VRID) as one key, in
//! member order, chained by VRID. A lookup walks the members with the datagram's VRID
//! (one per channel and family), not a binary search over all: with 1,000 instances
//! that search was a chain of ten dependent loads (43 against 24 ns per advert).

use crate::wire::Family;
use heapless::Vec;

/// A member's key and the next member with the same VRID.
#[derive(Debug, Clone, Copy)]
struct Key {
    key: u64,
    next: u16,
}

/// No member: the end of a VRID's chain.
pub(super) const NONE: u16 = u16::MAX;

/// (channel, family, VRID) as one number.
pub(super) fn key(channel: u32, family: Family, vrid: u8) -> u64 {
    let f = match family {
        Family::V4 => 4,
        Family::V6 => 6,
    };
    (u64::from(channel) << 16) | (f << 8) | u64::from(vrid)
}

fn vrid_of(key: u64) -> usize {
    (key & 0xff) as usize
}

#[derive(Debug)]
pub(super) struct Demux<const N: usize> {
    keys: Vec<Key, N>,
    /// Per VRID, the last member added with it, or [`NONE`].
    by_vrid: [u16; 256],
}

impl<const N: usize> Demux<N> {
    pub(super) const fn new() -> Self {
        Demux {
            keys: Vec::new(),
            by_vrid: [NONE; 256],
        }
    }

    pub(super) fn clear(&mut self) {
        self.keys.clear();
        self.by_vrid = [NONE; 256];
    }

    /// The member with key `k`.
    #[inline]
    pub(super) fn find(&self, k: u64) -> Option<usize> {
        let mut at = self.by_vrid[vrid_of(k)];
        while let Some(e) = self.keys.get(usize::from(at)) {
            if e.key == k {
                return Some(usize::from(at));
            }
            at = e.next;
        }
        None
    }

    /// The next member's key (members are added in order; the router checked room).
    pub(super) fn push(&mut self, k: u64) {
        let i = self.keys.len();
        if self.keys.push(Key { key: k, next: NONE }).is_ok() {
            self.link(i);
        }
    }

    pub(super) fn key_of(&self, index: usize) -> u64 {
        self.keys[index].key
    }

    /// Member `index` has a new key.
    pub(super) fn rekey(&mut self, index: usize, k: u64) {
        self.unlink(index);
        self.keys[index].key = k;
        self.link(index);
    }

    /// Puts member `i` first in its VRID's chain.
    fn link(&mut self, i: usize) {
        let head = &mut self.by_vrid[vrid_of(self.keys[i].key)];
        self.keys[i].next = *head;
        // At most N members, and N is below NONE.
        *head = i as u16;
    }

    /// Takes member `i` out of its VRID's chain.
    fn unlink(&mut self, i: usize) {
        let next = self.keys[i].next;
        let head = &mut self.by_vrid[vrid_of(self.keys[i].key)];
        if usize::from(*head) == i {
            *head = next;
            return;
        }
        let mut at = *head;
        while let Some(e) = self.keys.get_mut(usize::from(at)) {
            if usize::from(e.next) == i {
                e.next = next;
                return;
            }
            at = e.next;
        }
    }
}
