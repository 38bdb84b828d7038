//! `/tmp/keepalived.stats` (SIGUSR2, STATS_CLEAR): keepalived's `vrrp_print_stats`
//! (vrrp_print.c). vigild counts drops by its own reasons; [`KeepalivedStats`] sums
//! them into keepalived's counters.

use crate::control::{Counters, InstanceStatus, Status};
use std::fmt::Write as _;

/// An instance's counters under keepalived's names (`vrrp_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepalivedStats {
    pub advert_rcvd: u64,
    pub advert_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub packet_len_err: u64,
    pub advert_interval_err: u64,
    pub ip_ttl_err: u64,
    pub invalid_type_rcvd: u64,
    pub addr_list_err: u64,
    pub invalid_authtype: u64,
    pub authtype_mismatch: u64,
    pub auth_failure: u64,
    pub pri_zero_rcvd: u64,
    pub pri_zero_sent: u64,
}

/// Which of vigild's drop reasons (an instance's, `vigil_core::router::drop`) counts
/// in which of keepalived's error counters (vrrp.c `vrrp_check_packet`). Reasons not
/// listed (a checksum, a wrong VRID or family, a unicast source not a peer...) have no
/// counter in keepalived's file; `vigild status` shows them.
fn keepalived_counter<'a>(s: &'a mut KeepalivedStats, reason: &str) -> Option<&'a mut u64> {
    Some(match reason {
        "length" | "truncated" => &mut s.packet_len_err,
        "ttl" => &mut s.ip_ttl_err,
        "type" => &mut s.invalid_type_rcvd,
        "interval" | "interval_zero" => &mut s.advert_interval_err,
        "addresses" => &mut s.addr_list_err,
        "auth_type" => &mut s.invalid_authtype,
        "auth_mismatch" | "auth_ah" => &mut s.authtype_mismatch,
        "password" | "auth" => &mut s.auth_failure,
        _ => return None,
    })
}

impl KeepalivedStats {
    pub fn from_counters(c: &Counters) -> Self {
        let mut s = KeepalivedStats {
            advert_rcvd: c.adverts_rx,
            advert_sent: c.adverts_tx,
            become_master: c.became_master,
            release_master: c.left_master,
            pri_zero_rcvd: c.priority_zero_rx,
            pri_zero_sent: c.priority_zero_tx,
            ..Default::default()
        };
        for (reason, n) in &c.drops {
            if let Some(counter) = keepalived_counter(&mut s, reason) {
                *counter += n;
            }
        }
        s
    }
}

/// The whole file: every instance, in the status's order.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    for i in &status.instances {
        instance(&mut out, i);
    }
    out
}

fn instance(out: &mut String, i: &InstanceStatus) {
    let s = KeepalivedStats::from_counters(&i.counters);
    let _ = write!(
        out,
        "VRRP Instance: {}\n\
         \x20 Advertisements:\n\
         \x20   Received: {}\n\
         \x20   Sent: {}\n\
         \x20 Became master: {}\n\
         \x20 Released master: {}\n\
         \x20 Packet Errors:\n\
         \x20   Length: {}\n\
         \x20   TTL: {}\n\
         \x20   Invalid Type: {}\n\
         \x20   Advertisement Interval: {}\n\
         \x20   Address List: {}\n\
         \x20 Authentication Errors:\n\
         \x20   Invalid Type: {}\n\
         \x20   Type Mismatch: {}\n\
         \x20   Failure: {}\n\
         \x20 Priority Zero:\n\
         \x20   Received: {}\n\
         \x20   Sent: {}\n",
        i.name,
        s.advert_rcvd,
        s.advert_sent,
        s.become_master,
        s.release_master,
        s.packet_len_err,
        s.ip_ttl_err,
        s.invalid_type_rcvd,
        s.advert_interval_err,
        s.addr_list_err,
        s.invalid_authtype,
        s.authtype_mismatch,
        s.auth_failure,
        s.pri_zero_rcvd,
        s.pri_zero_sent,
    );
}

#[cfg(test)]
mod tests {
    use super::super::tests::status;
    use super::*;

    #[test]
    fn counters_in_keepalived_layout() {
        let text = render(&status());
        let first: Vec<&str> = text.lines().take(18).collect();
        assert_eq!(
            first,
            [
                "VRRP Instance: VI_1",
                "  Advertisements:",
                "    Received: 0",
                "    Sent: 7",
                "  Became master: 1",
                "  Released master: 0",
                "  Packet Errors:",
                "    Length: 0",
                "    TTL: 2",
                "    Invalid Type: 0",
                "    Advertisement Interval: 1",
                "    Address List: 0",
                "  Authentication Errors:",
                "    Invalid Type: 0",
                "    Type Mismatch: 0",
                "    Failure: 1",
                "  Priority Zero:",
                "    Received: 0",
            ]
        );
        assert_eq!(text.lines().count(), 4 * 19);
        assert!(text.contains("VRRP Instance: VI_3\n  Advertisements:\n    Received: 12\n"));
    }

    #[test]
    fn drop_reasons_map_to_keepalived_counters() {
        let mut c = Counters::default();
        for r in [
            "length",
            "truncated",
            "auth_ah",
            "auth_mismatch",
            "auth_type",
            "addresses",
            "checksum",
            "vrid",
        ] {
            c.drop(r);
        }
        let s = KeepalivedStats::from_counters(&c);
        assert_eq!(s.packet_len_err, 2);
        assert_eq!(s.authtype_mismatch, 2);
        assert_eq!(s.invalid_authtype, 1);
        assert_eq!(s.addr_list_err, 1);
        // checksum and vrid have no keepalived counter.
        assert_eq!(
            s,
            KeepalivedStats {
                packet_len_err: 2,
                authtype_mismatch: 2,
                invalid_authtype: 1,
                addr_list_err: 1,
                ..Default::default()
            }
        );
    }
}
