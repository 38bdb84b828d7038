//! keepalived's `auth_type AH` around an instance's adverts: each one leaves as a whole
//! IPv4 packet with an IPsec AH header (HMAC-MD5-96 keyed by `auth_pass`), and each
//! received AH packet is verified, its sequence number checked, and the VRRP message
//! behind it handed to the router. The codec is `vigil_core::wire::ah`.

use super::Engine;
use crate::net::Received;
use std::net::IpAddr;
use vigil_core::wire::Auth;
use vigil_core::wire::ah::{self, AH_LEN, SeqCounter};

/// An AH instance's running state, as keepalived keeps it per instance.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct AhState {
    /// One counter for what is sent and what is received.
    seq: SeqCounter,
    /// The IPv4 identification of the last advert: counted up, never 0 (the kernel
    /// would replace a 0, and the ICV covers it).
    ip_id: u16,
}

fn key_of(auth: &Auth) -> Option<[u8; ah::KEY_LEN]> {
    match auth {
        Auth::Ah(key) => Some(*key),
        _ => None,
    }
}

impl Engine {
    /// Verifies an AH packet received on AH socket `si` and returns the VRRP message
    /// behind its header, or counts and logs why it was dropped and returns `None`.
    pub(super) fn open_ah<'a>(&mut self, si: usize, rx: &Received<'a>) -> Option<&'a [u8]> {
        let Some(vrid) = ah::vrid(rx.payload) else {
            self.drop_global("truncated", Some(rx.src), || {
                "AH packet too short for a VRRP advert".to_string()
            });
            return None;
        };
        let found = self.sockets[si].served.iter().copied().find(|&i| {
            self.slots[i].plan.core.vrid == vrid && key_of(&self.slots[i].plan.core.auth).is_some()
        });
        let Some(i) = found else {
            // No instance of ours: the router counts the unknown VRID.
            return rx.payload.get(AH_LEN..);
        };
        let slot = &mut self.slots[i];
        let key = key_of(&slot.plan.core.auth).expect("found by its key");
        let unicast = !slot.plan.unicast_peers.is_empty();
        let checked = ah::verify(rx.ip_header, rx.payload, &key, unicast)
            .and_then(|v| slot.ah.seq.accept(v.seq).map(|()| v.vrrp));
        match checked {
            Ok(vrrp) => Some(vrrp),
            // An AH header for another protocol: not a VRRP packet, ignored as keepalived
            // does.
            Err(ah::AhError::NextHeader(_)) => None,
            Err(e) => {
                // keepalived counts every AH failure as an authentication failure.
                slot.counters.drop("password");
                let name = slot.plan.name.clone();
                self.drop_log.dropped("password", Some(rx.src), || {
                    format!("({name}) IPSEC-AH : {e}")
                });
                None
            }
        }
    }

    /// Wraps the VRRP message in `tx_buf[..n]` of instance `i` into a whole IPv4 AH
    /// packet in place and returns its length; `None` for an instance without AH or a
    /// packet that does not fit.
    pub(super) fn seal_ah(
        &mut self,
        i: usize,
        n: usize,
        src: IpAddr,
        dst: IpAddr,
    ) -> Option<usize> {
        let slot = &mut self.slots[i];
        let key = key_of(&slot.plan.core.auth)?;
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (src, dst) else {
            return None;
        };
        let total = 20 + AH_LEN + n;
        if total > self.tx_buf.len() {
            return None;
        }
        self.tx_buf.copy_within(..n, 20 + AH_LEN);
        slot.ah.ip_id = slot.ah.ip_id.wrapping_add(1).max(1);
        let unicast = !slot.plan.unicast_peers.is_empty();
        let seq = slot.ah.seq.next_to_send();
        let packet = &mut self.tx_buf[..total];
        (ah::write_ip_header(packet, src, dst, slot.ah.ip_id, n)
            && ah::seal(packet, &key, seq, unicast))
        .then_some(total)
    }
}
