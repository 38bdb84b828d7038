//! What the daemon runs: the configuration resolved into the terms the event loop
//! needs. Built from a parsed keepalived.conf by [`super::plan_from`]; two plans
//! compare equal exactly when a reload would change nothing for that instance.

use crate::exec::RunAs;
use crate::net::Scope;
use crate::notify;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use vigil_core::machine::Config as CoreConfig;
use vigil_core::priority::Weight;

/// A virtual address with keepalived's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    pub addr: IpAddr,
    /// A bare address is /32 or /128, as keepalived.
    pub prefix_len: u8,
    /// `dev`: another interface than the instance's.
    pub dev: Option<String>,
    pub label: Option<String>,
    pub scope: Option<Scope>,
    pub broadcast: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub name: String,
    pub interface: String,
    /// Everything the protocol core needs. `core.primary` is a placeholder when
    /// `source` is `None`: the interface's primary address replaces it at start.
    pub core: CoreConfig,
    /// `unicast_src_ip` / `mcast_src_ip`.
    pub source: Option<IpAddr>,
    /// Advertised VIPs.
    pub vips: Vec<Vip>,
    /// `virtual_ipaddress_excluded`: installed with the VIPs, not advertised.
    pub excluded: Vec<Vip>,
    /// Empty for multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// `unicast_fault_no_peer` without peers: the instance waits in FAULT for good.
    pub fault_no_peer: bool,
    /// Adverts from other sources than `unicast_peers` are dropped
    /// (`check_unicast_src`, `vrrp_check_unicast_src`; unicast only).
    pub check_unicast_src: bool,
    /// `unicast_ttl`: the TTL / hop limit of adverts to unicast peers (`None`: the
    /// socket's, 255 over IPv4 and the kernel's default over IPv6, as keepalived).
    pub unicast_ttl: Option<u8>,
    /// With `check_unicast_src`: the unicast peers given a `min_ttl` / `max_ttl`, with
    /// the TTL range their adverts must arrive with.
    pub peer_ttl: Vec<(IpAddr, u8, u8)>,
    /// `promote_secondaries`: set on [`Instance::interface`] while vigild runs.
    pub promote_secondaries: bool,
    /// The multicast group (`vrrp_mcast_group4/6`).
    pub mcast_group: IpAddr,
    pub track_interfaces: Vec<(String, Weight)>,
    /// Names of `vrrp_script`s with the weight this instance gives them.
    pub track_scripts: Vec<(String, Weight)>,
    /// `track_file`: name, weight (value multiplier), reverse.
    pub track_files: Vec<(String, Weight)>,
    pub track_processes: Vec<(String, Weight)>,
    /// Track the instance's own interface (FAULT when down) unless
    /// `dont_track_primary`.
    pub track_own_interface: bool,
    pub notify: notify::Scripts,
    /// `smtp_alert`, resolved as keepalived does (its own, else `smtp_alert_vrrp`, else
    /// `smtp_alert`, else off), whether or not mail can be sent.
    pub smtp_alert: bool,
    /// `garp_extra_if all SECS` (else the global `vrrp_garp_extra_if all SECS`): a
    /// master sends one gratuitous ARP / NA this often on each interface of its VIPs
    /// other than its own.
    pub garp_extra_if: Option<std::time::Duration>,
    /// `notify_deleted`: a reload that removes the instance notifies DELETED (else
    /// FAULT, unless it was in FAULT already).
    pub notify_deleted: bool,
    /// `notify_priority_changes` (its own, else its sync group's, else the global one):
    /// priority changes go to the notify FIFOs.
    pub notify_priority_changes: bool,
    /// `notify_master_rx_lower_pri`: run (without arguments) each time this instance,
    /// as master, hears a lower-priority advert.
    pub notify_master_rx_lower_pri: Option<notify::Script>,
    /// `use_vmac`: the macvlan's name.
    pub use_vmac: Option<String>,
    /// `vmac_xmit_base` (with `use_vmac`): adverts go and come on [`Instance::interface`],
    /// the VIPs without a `dev` on the macvlan.
    pub vmac_xmit_base: bool,
    /// `virtual_routes` and `virtual_rules`: installed after the VIPs by a master,
    /// removed (rules first) before them ([`crate::net::routes`]).
    pub routes: Vec<crate::config::Route>,
    pub rules: Vec<crate::config::Rule>,
}

/// A `vrrp_script` as its tracker runs it.
pub use crate::track::Script;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackProcess {
    pub name: String,
    /// What to count (`process`, parameters, `param_match`, `full_command`,
    /// `quorum_max`, the delays); `track::watch_process` takes it as it took the name.
    pub process: crate::track::ProcessSpec,
    /// `quorum`: at least this many (0 only with `quorum_max 0`).
    pub quorum: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub members: Vec<String>,
    pub notify: notify::Scripts,
    /// `smtp_alert`, resolved as keepalived does (its own, else `smtp_alert_vrrp`, else
    /// `smtp_alert`, else off), whether or not mail can be sent.
    pub smtp_alert: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub instances: Vec<Instance>,
    pub scripts: Vec<Script>,
    pub files: Vec<TrackFile>,
    pub processes: Vec<TrackProcess>,
    pub groups: Vec<Group>,
    /// The default script user (`script_user`, else keepalived's default:
    /// `keepalived_script` if it exists, else the user vigild runs as). Every script in
    /// the plan carries its own user already.
    pub script_user: RunAs,
    /// What keepalived's dump files show of the configuration beyond what the daemon
    /// runs on ([`crate::dump`]).
    pub dump: DumpConfig,
    /// `dynamic_interfaces`: instances whose interface is missing wait in FAULT
    /// ([`super::waiting`]) instead of failing the install.
    pub dynamic_interfaces: bool,
    /// `static_ipaddress`, `static_routes`, `static_rules`: installed at start,
    /// removed at exit, whatever the VRRP states.
    pub statics: Statics,
    /// `notify_fifo`, `vrrp_notify_fifo`, then `lvs_notify_fifo` (with virtual servers),
    /// when configured.
    pub fifos: Vec<crate::notify_fifo::Spec>,
    /// `fifo_write_vrrp_states_on_reload`.
    pub fifo_write_states_on_reload: bool,
    /// Mail alerts (`None`: no recipient or no server, as keepalived sends none).
    pub mail: Option<crate::mail::Settings>,
    /// The LVS half: what the checker engine runs ([`crate::lvs::engine`]).
    pub lvs: Lvs,
}

/// The typed LVS configuration, shared (it is large and only read), with the
/// `track_file`s its `FILE_CHECK`s read.
#[derive(Debug, Clone, Default)]
pub struct Lvs(
    pub std::sync::Arc<crate::config::lvs::LvsConf>,
    pub std::sync::Arc<crate::lvs::check::TrackFileMap>,
);

impl PartialEq for Lvs {
    fn eq(&self, other: &Self) -> bool {
        // The configuration has no equality of its own; its rendering is exact.
        (std::sync::Arc::ptr_eq(&self.0, &other.0)
            || format!("{:?}", self.0) == format!("{:?}", other.0))
            && self.1.files == other.1.files
    }
}

impl Eq for Lvs {}

/// What keepalived installs at start whatever the VRRP states.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Statics {
    pub addresses: Vec<crate::config::StaticAddress>,
    pub routes: Vec<crate::config::Route>,
    pub rules: Vec<crate::config::Rule>,
}

/// The parts of `global_defs` and of the `vrrp_script`s that keepalived's SIGUSR1 dump
/// shows and that the rest of the plan does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpConfig {
    /// `router_id`, else the host name (keepalived's default).
    pub router_id: String,
    pub mcast_group4: Ipv4Addr,
    pub mcast_group6: std::net::Ipv6Addr,
    /// `vrrp_version`.
    pub default_version: u8,
    pub strict: bool,
    pub skip_check_adv_addr: bool,
    pub check_unicast_src: bool,
    /// `vrrp_garp_interval` / `vrrp_gna_interval`.
    pub garp_interval: std::time::Duration,
    pub gna_interval: std::time::Duration,
    /// The global `vrrp_garp_*` defaults.
    pub garp_delay: std::time::Duration,
    pub garp_repeat: u32,
    pub garp_refresh: std::time::Duration,
    pub garp_refresh_repeat: u32,
    pub garp_lower_prio_delay: std::time::Duration,
    pub garp_lower_prio_repeat: u32,
    pub down_timer_adverts: u8,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    /// `enable_script_security`.
    pub script_security: bool,
    /// What the `vrrp_script`s say beyond what their trackers run on.
    pub scripts: Vec<DumpScript>,
}

/// A `vrrp_script`'s own `weight` and configured `timeout` (keepalived shows 0 when
/// unset; the tracker uses the interval then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpScript {
    pub name: String,
    pub weight: Weight,
    pub timeout: Option<std::time::Duration>,
}

impl Default for DumpConfig {
    /// keepalived's defaults.
    fn default() -> Self {
        let five = std::time::Duration::from_secs(5);
        DumpConfig {
            router_id: String::new(),
            mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            mcast_group6: std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            default_version: 2,
            strict: false,
            skip_check_adv_addr: false,
            check_unicast_src: false,
            garp_interval: std::time::Duration::ZERO,
            gna_interval: std::time::Duration::ZERO,
            garp_delay: five,
            garp_repeat: 5,
            garp_refresh: std::time::Duration::ZERO,
            garp_refresh_repeat: 1,
            garp_lower_prio_delay: five,
            garp_lower_prio_repeat: 5,
            down_timer_adverts: 3,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            script_security: false,
            scripts: Vec::new(),
        }
    }
}
