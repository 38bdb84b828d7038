//! The typed keepalived configuration, as vigild runs it.
//!
//! Values are the *effective* ones: keepalived's defaults filled in, global defaults applied
//! to instances, and keepalived's interaction rules applied (a `nopreempt` that keepalived
//! clears is `preempt: true` here, a weighted tracker it drops inside a sync group is not in
//! the list). Every item keeps the [`Loc`] it was declared at, so the daemon can name the
//! line when something goes wrong at run time.

use super::diag::Loc;
pub use crate::track::ParamMatch;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use vigil_core::machine::InitialState;
use vigil_core::priority::Weight;
use vigil_core::timer::Interval;
use vigil_core::wire::{Auth, Family, Version};

/// A whole configuration.
#[derive(Debug, Clone, Default)]
pub struct KeepalivedConf {
    pub global: Global,
    pub scripts: Vec<VrrpScript>,
    pub track_processes: Vec<TrackProcess>,
    pub track_files: Vec<TrackFile>,
    pub instances: Vec<Instance>,
    pub sync_groups: Vec<SyncGroup>,
    /// Where each top-level LVS block (`virtual_server`, `virtual_server_group`, `SSL`)
    /// is; what they say is in [`KeepalivedConf::lvs`].
    pub lvs_blocks: Vec<Loc>,
    /// The LVS half (`virtual_server`, `virtual_server_group`, `SSL`), typed.
    pub lvs: super::lvs::LvsConf,
    /// `static_ipaddress`: addresses kept whatever the VRRP state.
    pub static_addresses: Vec<StaticAddress>,
    /// `static_routes`.
    pub static_routes: Vec<Route>,
    /// `static_rules`.
    pub static_rules: Vec<Rule>,
    /// `track_group NAME { group { ... } }`, which static addresses, routes and rules may
    /// name.
    pub static_track_groups: Vec<StaticTrackGroup>,
    /// `linkbeat_interfaces { NAME ... }` (vigild watches links through netlink; the
    /// machine check still requires them, as keepalived does).
    pub linkbeat_interfaces: Vec<NamedInterface>,
    /// The interfaces of every `garp_group` (`interface`, `interfaces { }`): not used by
    /// vigild, checked against the machine as keepalived does.
    pub garp_group_interfaces: Vec<NamedInterface>,
    /// The first route, rule or static address line whose interface is missing (the route
    /// parser reports and drops the line; the machine check refuses the configuration, as
    /// keepalived's VRRP process does).
    pub missing_route_interface: Option<Loc>,
}

/// An interface named by a block vigild otherwise ignores, kept for the machine check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedInterface {
    pub name: String,
    pub loc: Loc,
}

impl KeepalivedConf {
    pub fn instance(&self, name: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.name == name)
    }
    pub fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.scripts.iter().find(|s| s.name == name)
    }
    pub fn track_process(&self, name: &str) -> Option<&TrackProcess> {
        self.track_processes.iter().find(|s| s.name == name)
    }
    pub fn track_file(&self, name: &str) -> Option<&TrackFile> {
        self.track_files.iter().find(|s| s.name == name)
    }
    pub fn sync_group(&self, name: &str) -> Option<&SyncGroup> {
        self.sync_groups.iter().find(|s| s.name == name)
    }
}

/// `global_defs`.
#[derive(Debug, Clone)]
pub struct Global {
    pub router_id: Option<String>,
    /// `vrrp_mcast_group4` (default 224.0.0.18).
    pub mcast_group4: Ipv4Addr,
    /// `vrrp_mcast_group6` (default ff02::12).
    pub mcast_group6: Ipv6Addr,
    /// `vrrp_version`: the default for instances (IPv6 instances always run version 3).
    pub version: Version,
    pub strict: bool,
    pub skip_check_adv_addr: bool,
    /// `check_unicast_src` (an instance) / `vrrp_check_unicast_src` (global): a unicast
    /// instance accepts adverts from its peers only.
    pub check_unicast_src: bool,
    /// `vrrp_garp_interval`: delay between the gratuitous ARPs of one burst.
    /// `vrrp_garp_extra_if [all] SECS`: the default of the instances' `garp_extra_if`.
    pub garp_extra_if: Option<GarpExtraIf>,
    pub garp_interval: Duration,
    /// `vrrp_gna_interval`: the same for unsolicited neighbour advertisements.
    pub gna_interval: Duration,
    pub garp_master_delay: Duration,
    pub garp_master_repeat: u32,
    pub garp_master_refresh: Duration,
    pub garp_master_refresh_repeat: u32,
    /// `vrrp_garp_lower_prio_delay` (default: `vrrp_garp_master_delay`).
    pub garp_lower_prio_delay: Option<Duration>,
    /// `vrrp_garp_lower_prio_repeat` (default: `vrrp_garp_master_repeat`).
    pub garp_lower_prio_repeat: Option<u32>,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    /// `vrrp_down_timer_adverts` (default 3).
    pub down_timer_adverts: u8,
    pub script_user: Option<User>,
    /// `dynamic_interfaces`: keepalived then runs instances whose interfaces do not exist
    /// yet (in FAULT); read for the machine check (`machine`).
    pub dynamic_interfaces: bool,
    /// Where `script_user` was written (the machine check names it if the user is unknown).
    pub script_user_at: Option<Loc>,
    pub enable_script_security: bool,
    /// The mail alert settings ([`crate::mail`] sends the alerts).
    pub mail: Mail,
    /// `notify_fifo` / `notify_fifo_script`: every transition written as a line.
    pub notify_fifo: NotifyFifo,
    /// `vrrp_notify_fifo` / `vrrp_notify_fifo_script`: the same for VRRP only.
    pub vrrp_notify_fifo: NotifyFifo,
    /// `lvs_notify_fifo` / `lvs_notify_fifo_script`: the same for LVS only.
    pub lvs_notify_fifo: NotifyFifo,
    /// `fifo_write_vrrp_states_on_reload`.
    pub fifo_write_vrrp_states_on_reload: bool,
    /// `vrrp_notify_priority_changes`: the default of `notify_priority_changes`.
    pub notify_priority_changes: bool,
}

/// A notify FIFO: its path (`text`) with its owner, and the script fed from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyFifo {
    pub fifo: Option<Command>,
    pub script: Option<Command>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            router_id: None,
            mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            version: Version::V2,
            strict: false,
            skip_check_adv_addr: false,
            check_unicast_src: false,
            garp_extra_if: None,
            garp_interval: Duration::ZERO,
            gna_interval: Duration::ZERO,
            garp_master_delay: Duration::from_secs(5),
            garp_master_repeat: 5,
            garp_master_refresh: Duration::ZERO,
            garp_master_refresh_repeat: 1,
            garp_lower_prio_delay: None,
            garp_lower_prio_repeat: None,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            down_timer_adverts: 3,
            script_user: None,
            dynamic_interfaces: false,
            script_user_at: None,
            enable_script_security: false,
            mail: Mail::default(),
            notify_fifo: NotifyFifo::default(),
            vrrp_notify_fifo: NotifyFifo::default(),
            lvs_notify_fifo: NotifyFifo::default(),
            fifo_write_vrrp_states_on_reload: false,
            notify_priority_changes: false,
        }
    }
}

/// The mail alert settings of `global_defs` ([`crate::mail`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mail {
    pub notification_email: Vec<String>,
    pub from: Option<String>,
    pub smtp_server: Option<String>,
    /// The port of the last `smtp_server` line (keepalived's default: 25).
    pub smtp_port: Option<String>,
    /// `smtp_helo_name` (keepalived's default: the host name).
    pub helo_name: Option<String>,
    /// `smtp_alert [BOOL]`: the default for instances and sync groups.
    pub smtp_alert: Option<bool>,
    /// `smtp_alert_vrrp [BOOL]`: the VRRP default, before `smtp_alert`.
    pub smtp_alert_vrrp: Option<bool>,
    /// `no_email_faults`: no mail on entering FAULT.
    pub no_email_faults: bool,
    /// Every `smtp_server NAME [PORT]` line: the machine check resolves each name as
    /// keepalived does while reading it.
    pub smtp_server_lines: Vec<SmtpServerLine>,
    pub smtp_connect_timeout: Option<u32>,
}

/// One `smtp_server NAME [PORT]` line, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServerLine {
    pub name: String,
    pub port: Option<String>,
    pub loc: Loc,
}

/// A user and optional group to run scripts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user: String,
    pub group: Option<String>,
}

/// A command line to run: `notify_*`, `script`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command as written (quotes removed), e.g. `/etc/keepalived/notify.sh master`.
    pub text: String,
    /// Split as keepalived splits it: `argv[0]` is the program.
    pub argv: Vec<String>,
    /// `[username [groupname]]` after the command (notify scripts).
    pub user: Option<User>,
    pub loc: Loc,
}

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone)]
pub struct VrrpScript {
    pub name: String,
    pub loc: Loc,
    /// Its block's `}`: keepalived's end-of-block checks (the default user) report there.
    pub end: Loc,
    pub command: Command,
    /// `interval` (whole seconds, default 1).
    pub interval: Duration,
    /// `timeout` (whole seconds); `None`: keepalived's default, the interval.
    pub timeout: Option<Duration>,
    /// `weight W [reverse]` (default 0: a failure is a FAULT).
    pub weight: Weight,
    pub rise: u32,
    pub fall: u32,
    pub user: Option<User>,
    /// Where `user` was written (the machine check names it if the user is unknown).
    pub user_at: Option<Loc>,
    pub init_fail: bool,
}

/// `vrrp_track_process NAME { ... }`.
#[derive(Debug, Clone)]
pub struct TrackProcess {
    pub name: String,
    pub loc: Loc,
    /// The process name (`/proc/PID/stat`'s comm), or with `full_command` the command
    /// line's first word.
    pub process: String,
    /// Parameters to match, if any were given after the process name.
    pub params: Vec<String>,
    /// `param_match [initial|partial]`; parameters imply the exact match. `None`:
    /// parameters are not compared.
    pub param_match: Option<ParamMatch>,
    /// `full_command`, also implied by parameters or `param_match`.
    pub full_command: bool,
    /// `quorum` (default 1; 0 only with `quorum_max 0`).
    pub quorum: u32,
    /// `quorum_max` (`None`: no maximum).
    pub quorum_max: Option<u32>,
    /// `weight` (default 0 here as in keepalived 2.2.7's dump: a lost quorum is a FAULT).
    pub weight: Weight,
    /// `fork_delay` / `delay`.
    pub fork_delay: Duration,
    /// `terminate_delay` / `delay`.
    pub terminate_delay: Duration,
}

/// `track_file NAME { file ...; weight ... }` (also `vrrp_track_file`).
#[derive(Debug, Clone)]
pub struct TrackFile {
    pub name: String,
    pub loc: Loc,
    pub file: String,
    /// The value read from the file is multiplied by this (default 1).
    pub weight: i32,
    pub reverse: bool,
    /// `init_file [VALUE] [overwrite]`: the daemon writes VALUE (default 0) to the file
    /// at start if it is missing, or with `overwrite` whatever it holds (not on reload).
    pub init_file: Option<(i64, bool)>,
}

/// One entry of `track_script`, `track_file` or `track_process`: the tracked object's name
/// and the weight given here (`None`: the object's own weight).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRef {
    pub name: String,
    pub weight: Option<Weight>,
    pub loc: Loc,
}

/// One entry of `track_interface`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInterface {
    pub name: String,
    /// Weight 0 (the default): the interface going down is a FAULT.
    pub weight: Weight,
    pub loc: Loc,
}

/// `notify_master`, `notify_backup`, `notify_fault`, `notify_stop`, `notify`.
#[derive(Debug, Clone, Default)]
pub struct Notify {
    pub master: Option<Command>,
    pub backup: Option<Command>,
    pub fault: Option<Command>,
    pub stop: Option<Command>,
    /// `notify`: called on every transition with keepalived's four extra arguments.
    pub any: Option<Command>,
    /// `notify_master_rx_lower_pri` (instances only): run, without arguments, each time
    /// the master hears a lower-priority advert.
    pub master_rx_lower_pri: Option<Command>,
    /// `notify_deleted SCRIPT` (instances only): run when a reload removes the instance.
    pub deleted: Option<Command>,
}

impl Notify {
    pub fn iter(&self) -> impl Iterator<Item = &Command> {
        [
            &self.master,
            &self.backup,
            &self.fault,
            &self.stop,
            &self.any,
            &self.master_rx_lower_pri,
            &self.deleted,
        ]
        .into_iter()
        .flatten()
    }
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }
}

/// An address of `virtual_ipaddress` / `virtual_ipaddress_excluded`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualAddress {
    pub addr: IpAddr,
    /// `/len`; a bare address is /32 or /128, as in keepalived.
    pub prefix_len: u8,
    pub dev: Option<String>,
    pub label: Option<String>,
    pub scope: Option<String>,
    pub brd: Option<Ipv4Addr>,
    pub peer: Option<IpAddr>,
    pub no_track: bool,
    /// Other `ip address` options (home, -nodad, noprefixroute, ...), kept as written.
    pub flags: Vec<String>,
    pub loc: Loc,
}

/// An entry of `unicast_peer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
    pub loc: Loc,
}

/// keepalived's authentication block as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub kind: AuthType,
    pub pass: Option<String>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    Pass,
    Ah,
}

/// `use_vmac [NAME] [MAC]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UseVmac {
    pub name: Option<String>,
    pub mac: Option<String>,
}

/// A gratuitous ARP / unsolicited NA schedule (keepalived's `garp_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpSettings {
    pub master_delay: Duration,
    pub master_repeat: u32,
    pub master_refresh: Duration,
    pub master_refresh_repeat: u32,
    pub lower_prio_delay: Duration,
    pub lower_prio_repeat: u32,
    /// `vrrp_garp_interval` (global only).
    pub interval: Duration,
    /// `vrrp_gna_interval` (global only).
    pub gna_interval: Duration,
}

impl Default for GarpSettings {
    fn default() -> Self {
        GarpSettings {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: Duration::ZERO,
            master_refresh_repeat: 1,
            lower_prio_delay: Duration::from_secs(5),
            lower_prio_repeat: 5,
            interval: Duration::ZERO,
            gna_interval: Duration::ZERO,
        }
    }
}

/// `garp_extra_if [all] SECS`: periodic gratuitous ARPs / NAs on the interfaces of VIPs
/// that are not the instance's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpExtraIf {
    /// Seconds between them (0: off).
    pub every: u64,
    /// `all`: every such interface; without it, only the VMAC interfaces keepalived
    /// creates for addresses (`use_vmac_addr`), which vigild does not.
    pub all: bool,
}

/// keepalived's `unicast_chksum_compat` (`old_unicast_checksum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OldUnicastChecksum {
    /// Not written: the new checksum, switching to the old one for good when a unicast
    /// peer's advert has it (Debian's build).
    #[default]
    Auto,
    /// `old_unicast_checksum`: the old one from the start.
    Config,
    /// `old_unicast_checksum never`: the new one only.
    Never,
}

/// `vrrp_instance NAME { ... }`, with effective values.
#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    pub loc: Loc,
    /// `unicast_fault_no_peer` without unicast peers: keepalived holds the instance in
    /// FAULT for good.
    pub fault_no_peer: bool,
    /// `unicast_ttl` (with unicast peers): the TTL / hop limit of the adverts sent to
    /// them. `None`: 255 over IPv4, the kernel's default hop limit over IPv6, as
    /// keepalived sends.
    pub unicast_ttl: Option<u8>,
    /// `promote_secondaries` (not with `use_vmac`): set the interface's IPv4
    /// `promote_secondaries` while running.
    pub promote_secondaries: bool,
    /// `state`; without it, MASTER for an address owner (priority 255), else BACKUP.
    pub state: InitialState,
    pub interface: Option<String>,
    pub vrid: u8,
    /// Base priority; `state MASTER` without `priority` is 255, as in keepalived.
    pub priority: u8,
    /// `advert_int`, rounded as keepalived rounds it for the version.
    pub advert_int: Interval,
    pub version: Version,
    /// The family of the VIPs (and of the adverts).
    pub family: Family,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// `notify_priority_changes` (`None`: its sync group's, else the global one).
    pub notify_priority_changes: Option<bool>,
    /// The authentication vigild uses (`None` after keepalived's rules dropped it).
    pub auth: Auth,
    /// The block as written, if any.
    pub auth_config: Option<AuthConfig>,
    /// Advertised VIPs, all of [`Instance::family`].
    pub vips: Vec<VirtualAddress>,
    /// `virtual_ipaddress_excluded`: installed with the VIPs, not advertised.
    pub excluded_vips: Vec<VirtualAddress>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<UnicastPeer>,
    pub mcast_src_ip: Option<IpAddr>,
    /// `mcast_dst_ip`: another multicast group for this instance's adverts.
    pub mcast_dst_ip: Option<IpAddr>,
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackRef>,
    pub track_files: Vec<TrackRef>,
    pub track_processes: Vec<TrackRef>,
    pub notify: Notify,
    /// `notify_deleted` (with or without a script): a reload that removes the instance
    /// notifies DELETED, not keepalived's default FAULT.
    pub notify_deleted: bool,
    /// `garp_extra_if [all] SECS` (unset: the global `vrrp_garp_extra_if`).
    pub garp_extra_if: Option<GarpExtraIf>,
    pub garp: GarpSettings,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub dont_track_primary: bool,
    pub use_vmac: Option<UseVmac>,
    /// `vmac_xmit_base` (forced with unicast peers): with `use_vmac`, adverts are sent
    /// and received on the base interface; the VIPs stay on the macvlan.
    pub vmac_xmit_base: bool,
    pub down_timer_adverts: u8,
    /// `old_unicast_checksum [never]`: keepalived ≤ 1.3.6's VRRPv3 unicast checksum.
    pub old_unicast_checksum: OldUnicastChecksum,
    pub skip_check_adv_addr: bool,
    /// `check_unicast_src` (an instance) / `vrrp_check_unicast_src` (global): a unicast
    /// instance accepts adverts from its peers only.
    pub check_unicast_src: bool,
    /// `strict_mode`, default `vrrp_strict`.
    pub strict: bool,
    /// `accept` / `no_accept` as written (parsed, not acted on yet).
    pub accept: Option<bool>,
    /// The sync group this instance belongs to.
    pub sync_group: Option<String>,
    /// `virtual_routes`: added with the VIPs by a master.
    pub vroutes: Vec<Route>,
    /// `virtual_rules`: added with the VIPs by a master.
    pub vrules: Vec<Rule>,
    /// `smtp_alert [BOOL]` (unset: the global default).
    pub smtp_alert: Option<bool>,
    /// The keywords as written, before global defaults and keepalived's rules.
    pub(crate) given: Given,
}

impl Instance {
    pub(crate) fn new(name: String, loc: Loc) -> Self {
        Instance {
            name,
            loc,
            fault_no_peer: false,
            unicast_ttl: None,
            promote_secondaries: false,
            state: InitialState::Backup,
            interface: None,
            vrid: 0,
            priority: 100,
            advert_int: Interval::DEFAULT,
            version: Version::V2,
            family: Family::V4,
            preempt: true,
            preempt_delay: Duration::ZERO,
            auth: Auth::None,
            auth_config: None,
            vips: Vec::new(),
            excluded_vips: Vec::new(),
            unicast_src_ip: None,
            unicast_peers: Vec::new(),
            mcast_src_ip: None,
            mcast_dst_ip: None,
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            track_processes: Vec::new(),
            notify: Notify::default(),
            notify_deleted: false,
            notify_priority_changes: None,
            garp_extra_if: None,
            garp: GarpSettings::default(),
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            dont_track_primary: false,
            vmac_xmit_base: false,
            use_vmac: None,
            down_timer_adverts: 3,
            old_unicast_checksum: OldUnicastChecksum::Auto,
            skip_check_adv_addr: false,
            check_unicast_src: false,
            strict: false,
            accept: None,
            sync_group: None,
            vroutes: Vec::new(),
            vrules: Vec::new(),
            smtp_alert: None,
            given: Given::default(),
        }
    }

    /// Unicast mode: adverts go to `unicast_peers` instead of the multicast group.
    pub fn is_unicast(&self) -> bool {
        !self.unicast_peers.is_empty()
    }

    /// The source address given in the configuration (`unicast_src_ip`, else
    /// `mcast_src_ip`); `None` means the interface's primary address.
    pub fn configured_source(&self) -> Option<IpAddr> {
        self.unicast_src_ip.or(self.mcast_src_ip)
    }
}

/// A value a `vrrp_instance` may write, else takes from `global_defs` (keepalived's
/// `garp_*`, `down_timer_adverts`...): the last value read, and where it was written if
/// it stands. A line with an invalid value withdraws it (the global default applies, as
/// in keepalived); a line missing its value keeps the last one (keepalived stops reading
/// there anyway).
#[derive(Debug, Clone)]
pub(crate) struct Written<T> {
    /// The last valid value (or the instance's default).
    pub value: T,
    /// Where it was written; `None`: not written, or withdrawn.
    pub at: Option<Loc>,
}

impl<T: Copy> Written<T> {
    pub(crate) const fn new(default: T) -> Self {
        Written {
            value: default,
            at: None,
        }
    }
    /// A valid value at `at`.
    pub(crate) fn set(&mut self, value: T, at: &Loc) {
        self.value = value;
        self.at = Some(at.clone());
    }
    /// The keyword at `at` without its value: the last one stands.
    pub(crate) fn touch(&mut self, at: &Loc) {
        self.at = Some(at.clone());
    }
    /// The keyword with an invalid value: the default applies.
    pub(crate) fn withdraw(&mut self) {
        self.at = None;
    }
    /// The value, if written.
    pub(crate) fn given(&self) -> Option<T> {
        self.at.as_ref().map(|_| self.value)
    }
    /// The value if written, else `default`.
    pub(crate) fn or(&self, default: T) -> T {
        self.given().unwrap_or(default)
    }
}

/// A `vrrp_instance` as written: what keepalived's rules look at (was it written, where)
/// beyond the effective values of [`Instance`]. Written twice, the last line counts.
#[derive(Debug, Clone)]
pub(crate) struct Given {
    /// `state`, at its keyword (an unknown state is BACKUP).
    pub state: Written<Option<InitialState>>,
    pub priority: Option<u8>,
    /// `advert_int` in microseconds, at its value.
    pub advert_micros: Option<(u64, Loc)>,
    /// `version`, at its keyword (an invalid value keeps the last valid one).
    pub version: Written<Option<Version>>,
    /// `nopreempt`, unless a later `preempt` undid it.
    pub nopreempt: Option<Loc>,
    /// Where `preempt_delay` was last written (the value is [`Instance::preempt_delay`]).
    pub preempt_delay_at: Option<Loc>,
    pub garp_master_delay: Written<Duration>,
    pub garp_master_repeat: Written<u32>,
    pub garp_master_refresh: Written<Duration>,
    pub garp_master_refresh_repeat: Written<u32>,
    pub garp_lower_prio_delay: Written<Duration>,
    pub garp_lower_prio_repeat: Written<u32>,
    pub lower_prio_no_advert: Written<bool>,
    pub higher_prio_send_advert: Written<bool>,
    pub skip_check_adv_addr: Written<bool>,
    pub strict_mode: Written<bool>,
    pub down_timer_adverts: Written<u8>,
    /// Where `interface` was last written (the machine check names it).
    pub interface: Option<Loc>,
    /// The first keyword that asks for unicast (`unicast_peer`, `unicast_src_ip`,
    /// `check_unicast_src`, `unicast_fault_no_peer`): without peers keepalived warns and
    /// runs multicast.
    pub unicast_keyword: Option<Loc>,
    /// `unicast_fault_no_peer`: without peers keepalived holds the instance in FAULT.
    pub fault_no_peer: Option<Loc>,
    /// The family keepalived settled on while reading (see the parser's `InstanceBlock`).
    pub family: Option<Family>,
}

impl Default for Given {
    fn default() -> Self {
        let garp = GarpSettings::default();
        Given {
            state: Written::new(None),
            priority: None,
            advert_micros: None,
            version: Written::new(None),
            nopreempt: None,
            preempt_delay_at: None,
            garp_master_delay: Written::new(garp.master_delay),
            garp_master_repeat: Written::new(garp.master_repeat),
            garp_master_refresh: Written::new(garp.master_refresh),
            garp_master_refresh_repeat: Written::new(garp.master_refresh_repeat),
            garp_lower_prio_delay: Written::new(garp.lower_prio_delay),
            garp_lower_prio_repeat: Written::new(garp.lower_prio_repeat),
            lower_prio_no_advert: Written::new(false),
            higher_prio_send_advert: Written::new(false),
            skip_check_adv_addr: Written::new(false),
            strict_mode: Written::new(false),
            down_timer_adverts: Written::new(3),
            interface: None,
            unicast_keyword: None,
            fault_no_peer: None,
            family: None,
        }
    }
}

/// `vrrp_sync_group NAME { group { ... } ... }`.
#[derive(Debug, Clone)]
pub struct SyncGroup {
    pub name: String,
    pub loc: Loc,
    pub members: Vec<(String, Loc)>,
    pub notify: Notify,
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackRef>,
    pub track_files: Vec<TrackRef>,
    pub track_processes: Vec<TrackRef>,
    /// `sync_group_tracking_weight`: members keep their trackers' weights.
    pub tracking_weight: bool,
    /// `notify_priority_changes` for members without their own.
    pub notify_priority_changes: Option<bool>,
    /// `smtp_alert [BOOL]` (unset: the global default).
    pub smtp_alert: Option<bool>,
}

// ----- routes and rules (`virtual_routes`, `virtual_rules`, `static_routes`, `static_rules`)

/// keepalived's routing protocol number for the routes and rules it tracks
/// (`RTPROT_KEEPALIVED`).
pub const RTPROT_KEEPALIVED: u8 = 18;

/// An address of `static_ipaddress`: the `virtual_ipaddress` syntax (its `dev` filled
/// in with keepalived's default interface, eth0, when not written), and a track group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticAddress {
    pub addr: VirtualAddress,
    pub track_group: Option<String>,
}

/// `track_group NAME { group { INSTANCE ... } }`: static addresses, routes and rules
/// naming it are removed while those instances are in FAULT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticTrackGroup {
    pub name: String,
    pub instances: Vec<String>,
    pub loc: Loc,
}

/// A route's or rule's address: `default` / `any` / `all` (`addr` `None`, any family) or
/// an address with its prefix length (a bare address is a host route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutePrefix {
    pub addr: Option<IpAddr>,
    pub len: u8,
}

/// A route's type (`rtm_type`): keepalived's names, or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteType {
    Unicast,
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Nat,
    Xresolve,
    /// Another `rtm_type` given as a number.
    Other(u8),
}

impl RouteType {
    /// The kernel's `RTN_*` value.
    pub fn number(self) -> u8 {
        match self {
            RouteType::Unicast => 1,
            RouteType::Local => 2,
            RouteType::Broadcast => 3,
            RouteType::Anycast => 4,
            RouteType::Multicast => 5,
            RouteType::Blackhole => 6,
            RouteType::Unreachable => 7,
            RouteType::Prohibit => 8,
            RouteType::Throw => 9,
            RouteType::Nat => 10,
            RouteType::Xresolve => 11,
            RouteType::Other(n) => n,
        }
    }
    /// From the kernel's `RTN_*` value.
    pub fn from_number(n: u8) -> Self {
        match n {
            1 => RouteType::Unicast,
            2 => RouteType::Local,
            3 => RouteType::Broadcast,
            4 => RouteType::Anycast,
            5 => RouteType::Multicast,
            6 => RouteType::Blackhole,
            7 => RouteType::Unreachable,
            8 => RouteType::Prohibit,
            9 => RouteType::Throw,
            10 => RouteType::Nat,
            11 => RouteType::Xresolve,
            n => RouteType::Other(n),
        }
    }
}

/// Where a route goes in the kernel's list for its key (`add` / `prepend` / `append`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouteMode {
    /// keepalived's default: NLM_F_CREATE without NLM_F_APPEND (before the others).
    #[default]
    Prepend,
    /// `add`: NLM_F_EXCL, as `ip route add`.
    Add,
    /// `append`: NLM_F_APPEND.
    Append,
}

/// A route metric (`RTAX_*`) keepalived reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Mtu,
    Hoplimit,
    Advmss,
    /// In the kernel's units: 1/8 ms.
    Rtt,
    /// In the kernel's units: 1/4 ms.
    Rttvar,
    Reordering,
    Window,
    Cwnd,
    Ssthresh,
    /// In ms.
    RtoMin,
    Initcwnd,
    Initrwnd,
    Quickack,
    FastopenNoCookie,
}

/// One metric of a route; `locked`: `lock` was written before the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMetric {
    pub kind: MetricKind,
    pub value: u32,
    pub locked: bool,
}

/// Lightweight tunnel encapsulation (`encap ip|ip6|mpls|ila ...`), as written after the
/// type: keepalived checks the `ip` / `ip6` options; vigild keeps the words for the later
/// installation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encap {
    pub kind: String,
    pub words: Vec<String>,
}

/// One `nexthop` of a multipath route (or an `or` alternative, which keepalived turns
/// into two).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NextHop {
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    /// As written (1..=256); the kernel's `rtnh_hops` is one less.
    pub weight: Option<u16>,
    pub onlink: bool,
    pub realms: Option<u32>,
    pub encap: Option<Encap>,
}

/// A route of `virtual_routes` or `static_routes`, with keepalived 2.2.7's corrections
/// made (protocol 18 unless `no_track`, tracking dropped without an interface, family
/// settled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub family: Family,
    pub dst: RoutePrefix,
    pub kind: RouteType,
    /// Whether the type was written (`blackhole 10.0.0.0/8`).
    pub kind_given: bool,
    /// `src`: the preferred source address.
    pub pref_src: Option<IpAddr>,
    /// `from`: a source prefix (IPv6 only).
    pub from: Option<RoutePrefix>,
    /// `via` / `gw`.
    pub via: Option<IpAddr>,
    /// `dev` / `oif`.
    pub dev: Option<String>,
    /// `table` (default main, 254).
    pub table: u32,
    /// `scope` (default global, 0).
    pub scope: u8,
    pub scope_given: bool,
    /// `metric` / `priority` / `preference`.
    pub metric: Option<u32>,
    /// `protocol`, or keepalived's 18 for a tracked route.
    pub protocol: Option<u8>,
    /// `tos` / `dsfield`.
    pub tos: Option<u8>,
    pub onlink: bool,
    pub realms: Option<u32>,
    /// `expires` (IPv6 only), seconds.
    pub expires: Option<u32>,
    /// `pref low|medium|high|N` (IPv6 only): the router preference.
    pub pref: Option<u8>,
    pub metrics: Vec<RouteMetric>,
    /// `congctl [lock] NAME`.
    pub congctl: Option<(String, bool)>,
    /// `features ecn`.
    pub ecn: bool,
    /// `ttl-propagate enabled|disabled`.
    pub ttl_propagate: Option<bool>,
    pub encap: Option<Encap>,
    pub mode: RouteMode,
    /// `vrf NAME`: the route goes in that VRF's table.
    pub vrf: Option<String>,
    /// `nexthop ...` (or `via A or B`).
    pub nexthops: Vec<NextHop>,
    /// keepalived does not watch the route (written `no_track`, or it has no `dev`).
    pub no_track: bool,
    /// `track_group NAME` (static routes only).
    pub track_group: Option<String>,
    pub loc: Loc,
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// `table N` / `lookup N` (FR_ACT_TO_TBL).
    Table(u32),
    /// `l3mdev` (FR_ACT_TO_TBL without a table).
    L3mdev,
    /// `goto N`.
    Goto(u32),
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// A rule of `virtual_rules` or `static_rules`, with keepalived 2.2.7's corrections made
/// (a preference chosen when none is written, protocol 18 unless `no_track`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub from: Option<RoutePrefix>,
    pub to: Option<RoutePrefix>,
    /// `not`.
    pub invert: bool,
    pub action: RuleAction,
    /// `preference` / `priority` / `order`, or the one keepalived chose.
    pub priority: u32,
    pub priority_given: bool,
    pub tos: Option<u8>,
    /// `fwmark MARK[/MASK]`.
    pub fwmark: Option<(u32, Option<u32>)>,
    pub realms: Option<u32>,
    pub suppress_prefixlen: Option<u32>,
    pub suppress_group: Option<u32>,
    /// `iif` / `dev`.
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub tunnel_id: Option<u64>,
    pub uid_range: Option<(u32, u32)>,
    /// `protocol`, or keepalived's 18 for a tracked rule.
    pub protocol: Option<u8>,
    pub ip_proto: Option<u8>,
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    pub no_track: bool,
    /// `track_group NAME` (static rules only).
    pub track_group: Option<String>,
    pub loc: Loc,
}
