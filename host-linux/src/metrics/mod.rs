//! Prometheus metrics: the exposition built from the protocol thread's status snapshot
//! and the service thread's own table ([`service`]), served over HTTP ([`http`]) and by
//! `vigild status --prometheus`.
//!
//! Where keepalived's most used exporter (mehdy/keepalived-exporter, formerly
//! cafebazaar's) has a metric, the same name and labels (`iname`, `intf`, `vrid`,
//! `ip_address`; `name` for scripts) are used, so dashboards built on it work; the
//! rest are `vigil_*`. docs/metrics.md lists them all.

mod exposition;
pub mod http;
pub mod service;

pub use exposition::{CONTENT_TYPE, Exposition, Histogram, Kind};

use crate::control::{InstanceStatus, Status};
use service::ServiceStats;
use std::time::SystemTime;
use vigil_core::machine::Reason;

/// Failover latency buckets, seconds: a takeover on this host is a millisecond or two;
/// the upper buckets catch a starved or stalled daemon.
pub static FAILOVER_SECONDS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0,
];

/// A new failover-latency histogram.
pub fn failover_histogram() -> Histogram {
    Histogram::new(&FAILOVER_SECONDS)
}

/// The `reason` label of a state change.
pub const fn reason_label(r: Reason) -> &'static str {
    match r {
        Reason::Startup => "startup",
        Reason::Owner => "address_owner",
        Reason::MasterDown => "master_down",
        Reason::MasterResigned => "master_resigned",
        Reason::HigherPriority => "higher_priority",
        Reason::Fault => "fault",
        Reason::Waiting => "waiting",
        Reason::Recovered => "recovered",
        Reason::SyncGroup => "sync_group",
        Reason::Withdrawn => "withdrawn",
        Reason::Shutdown => "shutdown",
    }
}

/// keepalived's numeric states, as its exporter reports them in `keepalived_vrrp_state`.
fn keepalived_state(state: &str) -> f64 {
    match state {
        "BACKUP" => 1.0,
        "MASTER" => 2.0,
        "FAULT" => 3.0,
        _ => 0.0,
    }
}

const STATES: [&str; 4] = ["INIT", "BACKUP", "MASTER", "FAULT"];

/// keepalived's per-instance error counters (its `.stats` dump, as the exporter names
/// them) and the drop reasons each sums.
const KEEPALIVED_ERRORS: [(&str, &str, &[&str]); 8] = [
    (
        "keepalived_packet_length_errors_total",
        "Packet length errors (vigil: length, truncated).",
        &["length", "truncated"],
    ),
    (
        "keepalived_advertisements_interval_errors_total",
        "Advertisement interval errors (vigil: interval).",
        &["interval"],
    ),
    (
        "keepalived_ip_ttl_errors_total",
        "TTL errors (vigil: ttl).",
        &["ttl"],
    ),
    (
        "keepalived_invalid_type_received_total",
        "Invalid type errors (vigil: type).",
        &["type"],
    ),
    (
        "keepalived_address_list_errors_total",
        "Address list errors (vigil: addresses).",
        &["addresses"],
    ),
    (
        "keepalived_authentication_invalid_total",
        "Authentication invalid (vigil: auth_type, auth_ah).",
        &["auth_type", "auth_ah"],
    ),
    (
        "keepalived_authentication_mismatch_total",
        "Authentication mismatch (vigil: auth_mismatch).",
        &["auth_mismatch"],
    ),
    (
        "keepalived_authentication_failure_total",
        "Authentication failure (vigil: password, auth).",
        &["password", "auth"],
    ),
];

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The instance's common labels, keepalived exporter's: name, interface, VRID.
struct Ids {
    vrid: String,
}

impl Ids {
    fn of(i: &InstanceStatus) -> Self {
        Ids {
            vrid: i.vrid.to_string(),
        }
    }
}

fn labels<'a>(i: &'a InstanceStatus, ids: &'a Ids) -> [(&'static str, &'a str); 3] {
    [
        ("iname", i.name.as_str()),
        ("intf", i.interface.as_str()),
        ("vrid", ids.vrid.as_str()),
    ]
}

/// Writes one per-instance family: HELP/TYPE, then `value(instance)` for each.
fn per_instance(
    e: &mut Exposition,
    status: &Status,
    ids: &[Ids],
    name: &str,
    kind: Kind,
    help: &str,
    value: impl Fn(&InstanceStatus) -> f64,
) {
    e.family(name, kind, help);
    for (i, id) in status.instances.iter().zip(ids) {
        e.sample(name, &labels(i, id), value(i));
    }
}

/// The whole exposition.
pub fn render(status: &Status, service: &ServiceStats) -> String {
    let mut e = Exposition::new();
    let ids: Vec<Ids> = status.instances.iter().map(Ids::of).collect();

    e.family(
        "vigil_build_info",
        Kind::Gauge,
        "vigild's version; always 1.",
    );
    e.sample("vigil_build_info", &[("version", status.version)], 1.0);
    e.family(
        "keepalived_up",
        Kind::Gauge,
        "Whether the VRRP daemon answered (always 1 when vigild serves its own metrics).",
    );
    e.sample("keepalived_up", &[], 1.0);
    e.family(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since the Unix epoch, in seconds.",
    );
    let start = unix_seconds(SystemTime::now()) - status.uptime_secs as f64;
    e.sample("process_start_time_seconds", &[], start.floor());

    // State, keepalived's way: one series per VIP, keepalived's numbers.
    for (name, excluded, help) in [
        (
            "keepalived_vrrp_state",
            false,
            "State of the VRRP instance per VIP (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT).",
        ),
        (
            "keepalived_vrrp_excluded_state",
            true,
            "State of the VRRP instance per excluded VIP (0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT).",
        ),
    ] {
        e.family(name, Kind::Gauge, help);
        for (i, id) in status.instances.iter().zip(&ids) {
            let value = keepalived_state(i.state);
            let mut any = false;
            for a in i.addresses.iter().filter(|a| a.excluded == excluded) {
                any = true;
                e.sample(
                    name,
                    &[
                        ("iname", &i.name),
                        ("intf", &a.interface),
                        ("vrid", &id.vrid),
                        ("ip_address", &a.address),
                    ],
                    value,
                );
            }
            // As the exporter: an instance without VIPs still has its state.
            if !any && !excluded {
                e.sample(
                    name,
                    &[
                        ("iname", &i.name),
                        ("intf", &i.interface),
                        ("vrid", &id.vrid),
                        ("ip_address", ""),
                    ],
                    value,
                );
            }
        }
    }
    e.family(
        "vigil_instance_state",
        Kind::Gauge,
        "1 for the instance's current state, 0 for the others.",
    );
    for (i, id) in status.instances.iter().zip(&ids) {
        let [a, b, c] = labels(i, id);
        for s in STATES {
            let v = if i.state == s { 1.0 } else { 0.0 };
            e.sample("vigil_instance_state", &[a, b, c, ("state", s)], v);
        }
    }
    per_instance(
        &mut e,
        status,
        &ids,
        "vigil_instance_base_priority",
        Kind::Gauge,
        "Configured priority.",
        |i| f64::from(i.base_priority),
    );
    per_instance(
        &mut e,
        status,
        &ids,
        "vigil_instance_effective_priority",
        Kind::Gauge,
        "Priority after tracker weights.",
        |i| f64::from(i.effective_priority),
    );
    per_instance(
        &mut e,
        status,
        &ids,
        "vigil_instance_advert_interval_seconds",
        Kind::Gauge,
        "The master's advertisement interval in use.",
        |i| i.master_advert_interval_ms as f64 / 1000.0,
    );
    e.family(
        "vigil_instance_master",
        Kind::Gauge,
        "1 with the address of the current master (this host's when MASTER); absent while unknown.",
    );
    for (i, id) in status.instances.iter().zip(&ids) {
        if let Some(m) = &i.master {
            let [a, b, c] = labels(i, id);
            e.sample("vigil_instance_master", &[a, b, c, ("master", m)], 1.0);
        }
    }

    // Counters the exporter has.
    type Count = fn(&InstanceStatus) -> u64;
    let compatible: [(&str, &str, Count); 6] = [
        (
            "keepalived_advertisements_received_total",
            "Advertisements received.",
            |i| i.counters.adverts_rx,
        ),
        (
            "keepalived_advertisements_sent_total",
            "Advertisements sent.",
            |i| i.counters.adverts_tx,
        ),
        (
            "keepalived_become_master_total",
            "Times the instance became master.",
            |i| i.counters.became_master,
        ),
        (
            "keepalived_release_master_total",
            "Times the instance left master.",
            |i| i.counters.left_master,
        ),
        (
            "keepalived_priority_zero_received_total",
            "Priority zero adverts received.",
            |i| i.counters.priority_zero_rx,
        ),
        (
            "keepalived_priority_zero_sent_total",
            "Priority zero adverts sent.",
            |i| i.counters.priority_zero_tx,
        ),
    ];
    for (name, help, count) in compatible {
        per_instance(&mut e, status, &ids, name, Kind::Counter, help, |i| {
            count(i) as f64
        });
    }
    for (name, help, reasons) in KEEPALIVED_ERRORS {
        per_instance(&mut e, status, &ids, name, Kind::Counter, help, |i| {
            reasons
                .iter()
                .map(|r| i.counters.drops.get(r).copied().unwrap_or(0))
                .sum::<u64>() as f64
        });
    }

    e.family(
        "vigil_instance_dropped_packets_total",
        Kind::Counter,
        "Adverts for the instance dropped, by reason (only reasons seen).",
    );
    for (i, id) in status.instances.iter().zip(&ids) {
        let [a, b, c] = labels(i, id);
        for (reason, &n) in &i.counters.drops {
            let l = [a, b, c, ("reason", reason)];
            e.sample("vigil_instance_dropped_packets_total", &l, n as f64);
        }
    }
    per_instance(
        &mut e,
        status,
        &ids,
        "vigil_instance_overflow_deferrals_total",
        Kind::Counter,
        "Master-down deadlines put off one interval because the kernel dropped packets on the socket.",
        |i| i.counters.overflow_deferrals as f64,
    );
    e.family(
        "vigil_instance_transitions_total",
        Kind::Counter,
        "State changes by new state and reason.",
    );
    for (i, id) in status.instances.iter().zip(&ids) {
        let [a, b, c] = labels(i, id);
        for (to, reasons) in &i.counters.transitions {
            for (reason, &n) in reasons {
                let l = [a, b, c, ("state", to), ("reason", reason)];
                e.sample("vigil_instance_transitions_total", &l, n as f64);
            }
        }
    }
    e.family(
        "vigil_instance_last_transition_timestamp_seconds",
        Kind::Gauge,
        "When the instance's state last changed, seconds since the Unix epoch.",
    );
    for (i, id) in status.instances.iter().zip(&ids) {
        let l = labels(i, id);
        e.sample(
            "vigil_instance_last_transition_timestamp_seconds",
            &l,
            i.last_transition_unix,
        );
    }

    e.family(
        "vigil_failover_latency_seconds",
        Kind::Histogram,
        "Takeovers: from the master-down deadline to the VIPs installed.",
    );
    e.histogram(
        "vigil_failover_latency_seconds",
        &[],
        &status.failover_latency,
    );

    e.family(
        "vigil_sync_group_state",
        Kind::Gauge,
        "1 for the sync group's current state, 0 for the others.",
    );
    for g in &status.groups {
        for s in STATES {
            let v = if g.state == s { 1.0 } else { 0.0 };
            e.sample(
                "vigil_sync_group_state",
                &[("group", &g.name), ("state", s)],
                v,
            );
        }
    }

    e.family(
        "vigil_dropped_packets_total",
        Kind::Counter,
        "Packets dropped before any instance saw them, by reason.",
    );
    for (reason, &n) in &status.drops {
        e.sample(
            "vigil_dropped_packets_total",
            &[("reason", reason)],
            n as f64,
        );
    }
    e.family(
        "vigil_socket_filter_loaded",
        Kind::Gauge,
        "1 if the VRRP sockets' eBPF filter is loaded (it then drops in the kernel).",
    );
    e.sample(
        "vigil_socket_filter_loaded",
        &[],
        if status.filtered.is_some() { 1.0 } else { 0.0 },
    );
    e.family(
        "vigil_socket_filter_dropped_packets_total",
        Kind::Counter,
        "Packets the socket filter dropped in the kernel, by reason.",
    );
    for (reason, &n) in status.filtered.iter().flatten() {
        let l = [("reason", *reason)];
        e.sample("vigil_socket_filter_dropped_packets_total", &l, n as f64);
    }
    e.family(
        "vigil_kernel_dropped_packets_total",
        Kind::Counter,
        "Packets the kernel dropped because a VRRP socket's receive buffer was full.",
    );
    e.sample(
        "vigil_kernel_dropped_packets_total",
        &[],
        status.kernel_drops as f64,
    );

    render_service(&mut e, service);
    e.finish()
}

fn render_service(e: &mut Exposition, service: &ServiceStats) {
    e.family(
        "keepalived_script_status",
        Kind::Gauge,
        "vrrp_script status after rise/fall (0 BAD, 1 GOOD).",
    );
    for (name, s) in &service.scripts {
        if let Some(good) = s.good {
            let v = if good { 1.0 } else { 0.0 };
            e.sample("keepalived_script_status", &[("name", name)], v);
        }
    }
    e.family(
        "vigil_script_runs_total",
        Kind::Counter,
        "vrrp_script runs by result (success, failure, timeout, signal, spawn_failed).",
    );
    for (name, s) in &service.scripts {
        for (result, &n) in &s.runs {
            let l = [("name", name.as_str()), ("result", result)];
            e.sample("vigil_script_runs_total", &l, n as f64);
        }
    }
    e.family(
        "vigil_script_duration_seconds",
        Kind::Histogram,
        "vrrp_script run time.",
    );
    for (name, s) in &service.scripts {
        e.histogram(
            "vigil_script_duration_seconds",
            &[("name", name)],
            &s.duration,
        );
    }
    e.family(
        "vigil_track_file_value",
        Kind::Gauge,
        "The integer a track_file holds (0 when missing).",
    );
    for (path, &v) in &service.files {
        e.sample("vigil_track_file_value", &[("path", path)], v as f64);
    }
    e.family(
        "vigil_track_process_up",
        Kind::Gauge,
        "1 if a track_process has its quorum.",
    );
    for (name, &up) in &service.processes {
        let v = if up { 1.0 } else { 0.0 };
        e.sample("vigil_track_process_up", &[("process", name)], v);
    }
    e.family(
        "vigil_reloads_total",
        Kind::Counter,
        "Reloads (SIGHUP) by result: ok, rejected (did not load), failed (not installed).",
    );
    for result in ["ok", "rejected", "failed"] {
        let n = service.reloads.results.get(result).copied().unwrap_or(0);
        e.sample("vigil_reloads_total", &[("result", result)], n as f64);
    }
    e.family(
        "vigil_last_reload_success_timestamp_seconds",
        Kind::Gauge,
        "When a reload last succeeded, seconds since the Unix epoch.",
    );
    if let Some(t) = service.reloads.last_success {
        e.sample(
            "vigil_last_reload_success_timestamp_seconds",
            &[],
            unix_seconds(t),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{AddressStatus, Counters, GroupStatus};
    use std::collections::BTreeMap;

    fn instance(name: &str, state: &'static str) -> InstanceStatus {
        let mut counters = Counters {
            adverts_rx: 7,
            adverts_tx: 3,
            ..Counters::default()
        };
        counters.drop("ttl");
        counters.drop("truncated");
        counters.drop("length");
        counters
            .transitions
            .entry("MASTER")
            .or_default()
            .insert("master_down", 2);
        InstanceStatus {
            name: name.to_owned(),
            interface: "eth0".to_owned(),
            vrid: 51,
            version: 3,
            state,
            base_priority: 100,
            effective_priority: 90,
            master: Some("10.0.0.1".to_owned()),
            advert_interval_ms: 1000,
            master_advert_interval_ms: 1000,
            master_down_interval_ms: 3609,
            next_deadline_ms: None,
            vips: vec!["10.0.0.50/24".to_owned()],
            addresses: vec![
                AddressStatus {
                    address: "10.0.0.50/24".to_owned(),
                    interface: "eth0".to_owned(),
                    excluded: false,
                },
                AddressStatus {
                    address: "10.9.9.9".to_owned(),
                    interface: "eth1".to_owned(),
                    excluded: true,
                },
            ],
            counters,
            last_transition_unix: 1_800_000_000.5,
            dump: Default::default(),
        }
    }

    fn status() -> Status {
        let mut failover_latency = failover_histogram();
        failover_latency.observe(0.0015);
        Status {
            version: "0.1.0",
            pid: 1,
            uptime_secs: 10,
            config: "/etc/keepalived/keepalived.conf".to_owned(),
            instances: vec![instance("VI_1", "MASTER"), instance("we\"ird\\", "BACKUP")],
            groups: vec![GroupStatus {
                name: "G".to_owned(),
                state: "MASTER",
                members: vec!["VI_1".to_owned()],
            }],
            drops: BTreeMap::from([("unknown_vrid", 4)]),
            filtered: None,
            kernel_drops: 0,
            dump: Default::default(),
            failover_latency,
        }
    }

    #[test]
    fn keepalived_exporter_series_and_ours() {
        let text = render(&status(), &ServiceStats::default());
        for line in [
            "keepalived_vrrp_state{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",ip_address=\"10.0.0.50/24\"} 2",
            "keepalived_vrrp_state{iname=\"we\\\"ird\\\\\",intf=\"eth0\",vrid=\"51\",ip_address=\"10.0.0.50/24\"} 1",
            "keepalived_vrrp_excluded_state{iname=\"VI_1\",intf=\"eth1\",vrid=\"51\",ip_address=\"10.9.9.9\"} 2",
            "keepalived_advertisements_received_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 7",
            "keepalived_packet_length_errors_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 2",
            "keepalived_ip_ttl_errors_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 1",
            "vigil_instance_state{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",state=\"MASTER\"} 1",
            "vigil_instance_state{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",state=\"BACKUP\"} 0",
            "vigil_instance_effective_priority{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 90",
            "vigil_instance_master{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",master=\"10.0.0.1\"} 1",
            "vigil_instance_dropped_packets_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",reason=\"ttl\"} 1",
            "vigil_instance_transitions_total{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",state=\"MASTER\",reason=\"master_down\"} 2",
            "vigil_instance_last_transition_timestamp_seconds{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\"} 1800000000.5",
            "vigil_failover_latency_seconds_bucket{le=\"0.001\"} 0",
            "vigil_failover_latency_seconds_bucket{le=\"0.002\"} 1",
            "vigil_failover_latency_seconds_count 1",
            "vigil_sync_group_state{group=\"G\",state=\"MASTER\"} 1",
            "vigil_dropped_packets_total{reason=\"unknown_vrid\"} 4",
            "vigil_socket_filter_loaded 0",
            "vigil_reloads_total{result=\"rejected\"} 0",
            "vigil_build_info{version=\"0.1.0\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    /// Every family is announced once, and all its samples follow its TYPE line.
    #[test]
    fn families_are_contiguous() {
        let mut service = ServiceStats::default();
        service.files.insert("/run/x".to_owned(), 3);
        let text = render(&status(), &service);
        let mut seen = std::collections::HashSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_owned();
                assert!(seen.insert(current.clone()), "{current} announced twice");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|b| *b == current))
                    .unwrap_or(name);
                assert_eq!(base, current, "{line}");
            }
        }
    }
}
