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
    /// Adverts from other sources than `unicast_peers` are dropped
    /// (`check_unicast_src`, `vrrp_check_unicast_src`; unicast only).
    pub check_unicast_src: bool,
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
    /// `use_vmac`: the macvlan's name.
    pub use_vmac: Option<String>,
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
}
