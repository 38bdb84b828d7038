//! The machine check: what keepalived 2.2.7 checks against the host once it has read a
//! configuration, run by `vigild -t`, by `vigild check` and by the daemon's load (so the
//! three agree). [`super::load_str`] and [`super::load`] stay pure; this pass takes the
//! host through [`Host`], which tests replace.
//!
//! What keepalived does, and so what this does (its source, `vrrp_if.c`, `vrrp_parser.c`,
//! `vrrp.c` `check_vrrp_script_security`, `lib/notify.c` `check_script_secure`, checked
//! with its binary):
//!
//! - An interface named by an instance (`interface`), a `track_interface` (instance or
//!   sync group) or a VIP's `dev` that does not exist: a message at its line (`-t` exits 5)
//!   and "Non-existent interface specified in configuration" (CONFIG_BAD_IF, exit 4 when
//!   nothing else was reported). keepalived then stops: the daemon does not start (its
//!   VRRP process exits with a permanent CONFIG error) and nothing after it is checked,
//!   script security included. vigild refuses the configuration the same way.
//!   With `dynamic_interfaces` keepalived instead logs it and runs such instances in
//!   FAULT until the interface appears; so does vigild (`daemon/waiting.rs`).
//! - Every `vrrp_script` (used or not) and every notify script, if any instance exists:
//!   found as `execvp` would (a bare name through `PATH`), resolved through symlinks, and
//!   when it runs with root's rights, every directory on its path and the file itself
//!   owned by root and not writable by a non-root group or others (a sticky directory may
//!   be). A missing `vrrp_script` is disabled ("since not found/accessible", exit 5), an
//!   unsafe one under `enable_script_security` too ("due to insecure", exit 5), one that
//!   is not executable silently; notify scripts that are missing, unsafe or not executable
//!   are dropped silently. Tracking a disabled script is dropped too.
//! - "SECURITY VIOLATION" (exit 6) without `enable_script_security` only if some script
//!   exists: a configuration whose scripts are all missing exits 0 (notify) or 5.
//! - The default script user: `script_user`, else `keepalived_script` if it exists, else
//!   root; with `enable_script_security` a missing `keepalived_script` (and no
//!   `script_user`) disables every script without its own user.

use super::diag::{Diags, KaClass, Loc, Severity};
use super::{KeepalivedConf, Loaded};
use crate::exec::RunAs;
use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a path is, as `lstat`/`stat` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// The parts of `struct stat` keepalived's checks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub kind: Kind,
    /// Permission bits with set-uid, set-gid and sticky (`st_mode & 07777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The machine as the check sees it. [`System`] is the real one.
pub trait Host {
    fn interface_exists(&self, name: &str) -> bool;
    /// `lstat`: a symlink is reported as one.
    fn lstat(&self, path: &Path) -> io::Result<FileInfo>;
    /// `stat`: follows symlinks.
    fn stat(&self, path: &Path) -> io::Result<FileInfo>;
    /// `realpath(3)`.
    fn realpath(&self, path: &Path) -> io::Result<PathBuf>;
    /// `PATH` for bare script names (keepalived: `/bin:/usr/bin` without one).
    fn path_env(&self) -> OsString;
    /// `user [group]` as `script_user` and a script's own user name them.
    fn user(&self, user: &str, group: Option<&str>) -> Option<RunAs>;
    /// The user `keepalived_script`, if it exists.
    fn keepalived_script_user(&self) -> Option<RunAs>;
    /// Who vigild runs as (the default script user without `keepalived_script`).
    fn me(&self) -> RunAs;
    /// Whether `getaddrinfo` finds an address for `name` (`smtp_server`); `None` if the
    /// resolver did not answer within [`RESOLVE_BOUND`]. Fakes resolve everything.
    fn resolves(&self, _name: &str) -> Option<bool> {
        Some(true)
    }
}

/// How long the check waits for the resolver on `smtp_server`'s name. keepalived waits as
/// long as `getaddrinfo` takes (glibc: 5 s per try and server by default, then it fails
/// and keepalived reports the server invalid); `-t` and a load must not hang on a dead
/// resolver, so past this the name counts as not resolved.
pub const RESOLVE_BOUND: std::time::Duration = std::time::Duration::from_secs(3);

/// `getaddrinfo(name)` on a thread of its own, waited for at most [`RESOLVE_BOUND`] (a
/// lookup that hangs is left to finish or fail alone).
fn resolve_bounded(name: &str) -> Option<bool> {
    use std::net::ToSocketAddrs;
    let (tx, rx) = std::sync::mpsc::channel();
    let name = name.to_string();
    let spawned = std::thread::Builder::new()
        .name("smtp-resolve".into())
        .spawn(move || {
            let found = (name.as_str(), 0u16)
                .to_socket_addrs()
                .is_ok_and(|mut a| a.next().is_some());
            let _ = tx.send(found);
        });
    if spawned.is_err() {
        return None;
    }
    rx.recv_timeout(RESOLVE_BOUND).ok()
}

/// The machine vigild runs on (in its network namespace).
#[derive(Debug, Clone, Copy)]
pub struct System;

fn info(md: &std::fs::Metadata) -> FileInfo {
    let ft = md.file_type();
    let kind = if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Other
    };
    FileInfo {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
    }
}

impl Host for System {
    fn interface_exists(&self, name: &str) -> bool {
        nix::net::if_::if_nametoindex(name).is_ok()
    }
    fn lstat(&self, path: &Path) -> io::Result<FileInfo> {
        std::fs::symlink_metadata(path).map(|m| info(&m))
    }
    fn stat(&self, path: &Path) -> io::Result<FileInfo> {
        std::fs::metadata(path).map(|m| info(&m))
    }
    fn realpath(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }
    fn path_env(&self) -> OsString {
        std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into())
    }
    fn user(&self, user: &str, group: Option<&str>) -> Option<RunAs> {
        RunAs::lookup(user, group).ok()
    }
    fn keepalived_script_user(&self) -> Option<RunAs> {
        match RunAs::keepalived_default() {
            (r, true) => Some(r),
            (_, false) => None,
        }
    }
    fn me(&self) -> RunAs {
        RunAs::current()
    }
    fn resolves(&self, name: &str) -> Option<bool> {
        resolve_bounded(name)
    }
}

/// This machine's files and users with every interface present: checks a configuration
/// written for another machine's interfaces (the tests' configurations).
#[derive(Debug, Clone, Copy)]
pub struct AnyInterface;

impl Host for AnyInterface {
    fn interface_exists(&self, _: &str) -> bool {
        true
    }
    fn lstat(&self, path: &Path) -> io::Result<FileInfo> {
        System.lstat(path)
    }
    fn stat(&self, path: &Path) -> io::Result<FileInfo> {
        System.stat(path)
    }
    fn realpath(&self, path: &Path) -> io::Result<PathBuf> {
        System.realpath(path)
    }
    fn path_env(&self) -> OsString {
        System.path_env()
    }
    fn user(&self, user: &str, group: Option<&str>) -> Option<RunAs> {
        System.user(user, group)
    }
    fn keepalived_script_user(&self) -> Option<RunAs> {
        System.keepalived_script_user()
    }
    fn me(&self) -> RunAs {
        System.me()
    }
}

/// keepalived's `check_script_secure` flags (lib/notify.h).
mod sc {
    pub const INSECURE: u32 = 0x01;
    pub const ISSCRIPT: u32 = 0x02;
    pub const INHIBIT: u32 = 0x04;
    pub const NOTFOUND: u32 = 0x08;
    pub const EXECUTABLE: u32 = 0x10;
    pub const SYSTEM: u32 = 0x40;
}

/// Runs the machine check on a load: appends its diagnostics, removes what keepalived
/// disables (scripts, and tracking of them), and refuses the configuration (`config`
/// becomes `None`) where keepalived would not run it.
pub fn check(loaded: &mut Loaded, host: &dyn Host) {
    let Some(conf) = loaded.config.as_mut().or(loaded.rejected.as_mut()) else {
        return;
    };
    let mut d = Diags {
        items: std::mem::take(&mut loaded.diagnostics),
        summary: loaded.summary,
        ..Diags::default()
    };
    smtp_server(conf, host, &mut d);
    linkbeat(conf, host, &mut d);
    if interfaces(conf, host, &mut d) {
        scripts(conf, host, &mut d);
        lvs_scripts(conf, host, &mut d);
    }
    if d.has_errors()
        && let Some(conf) = loaded.config.take()
    {
        loaded.rejected = Some(conf);
    }
    loaded.diagnostics = d.items;
    loaded.summary = d.summary;
}

/// [`super::load`] and [`check`] against this machine: what `vigild -t`, `vigild check`
/// and the daemon read.
pub fn load(path: &Path) -> Loaded {
    let mut loaded = super::load(path);
    check(&mut loaded, &System);
    loaded
}

/// keepalived's `smtpserver_handler`: the port must be a number in 1..=65535, and the
/// name an address (`inet_pton`, tried unless it holds `-` or `/`) or a name
/// `getaddrinfo` resolves; otherwise "Invalid smtp server NAME PORT" (`-t` exits 5). The
/// server that passes is where vigild sends its mail alerts (`crate::mail`).
fn smtp_server(conf: &KeepalivedConf, host: &dyn Host, d: &mut Diags) {
    for line in &conf.global.mail.smtp_server_lines {
        let name = &line.name;
        let port = line.port.as_deref().unwrap_or("25");
        let port_ok = port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        let why = if !port_ok {
            Some("")
        } else if name.parse::<std::net::IpAddr>().is_ok() {
            None
        } else {
            match host.resolves(name) {
                Some(true) => None,
                Some(false) => Some(""),
                None => Some(" (the resolver did not answer within the check's bound)"),
            }
        };
        if let Some(why) = why {
            d.warn(&line.loc, format!("Invalid smtp server {name} {port}{why}"));
        }
    }
}

/// `linkbeat_interfaces`: a missing interface there is CONFIG_FATAL for keepalived's `-t`
/// (exit 4) unless `dynamic_interfaces` lets it wait for it; yet its daemon runs, without
/// that entry (checked with its binary), so this is a warning of the Fatal class: `-t`
/// exits 4 and vigild runs the configuration.
fn linkbeat(conf: &KeepalivedConf, host: &dyn Host, d: &mut Diags) {
    if conf.global.dynamic_interfaces {
        return;
    }
    for i in &conf.linkbeat_interfaces {
        if !host.interface_exists(&i.name) {
            d.push(
                Severity::Warning,
                KaClass::Fatal,
                &i.loc,
                format!(
                    "unknown interface {} specified for linkbeat interface",
                    i.name
                ),
            );
        }
    }
}

/// Every interface the configuration names exists; `false` if keepalived would stop here.
fn interfaces(conf: &KeepalivedConf, host: &dyn Host, d: &mut Diags) -> bool {
    let dynamic = conf.global.dynamic_interfaces;
    let mut first_missing: Option<Loc> = None;
    let mut missing = |name: &str, loc: &Loc, message: String, d: &mut Diags| {
        if host.interface_exists(name) {
            return;
        }
        if dynamic {
            // keepalived only logs this; the instance waits in FAULT (daemon/waiting.rs).
            d.note(
                loc,
                format!(
                    "Configuration specifies interface {name} which doesn't currently exist - will use if created (its instance waits in FAULT until then)"
                ),
            );
        } else {
            d.push(Severity::Error, KaClass::Config, loc, message);
            first_missing.get_or_insert_with(|| loc.clone());
        }
    };
    for inst in &conf.instances {
        if let Some(name) = &inst.interface {
            let loc = inst.given.interface.as_ref().unwrap_or(&inst.loc);
            let m = format!(
                "WARNING - interface {name} for vrrp_instance {} doesn't exist",
                inst.name
            );
            missing(name, loc, m, d);
        }
        for t in &inst.track_interfaces {
            let m = format!("({}) tracked interface {} doesn't exist", inst.name, t.name);
            missing(&t.name, &t.loc, m, d);
        }
        for v in inst.vips.iter().chain(&inst.excluded_vips) {
            if let Some(dev) = &v.dev {
                let m = format!(
                    "WARNING - interface {dev} for ip address {} doesn't exist",
                    v.addr
                );
                missing(dev, &v.loc, m, d);
            }
        }
    }
    // keepalived creates these with dynamic_interfaces (and then says nothing).
    for i in conf.garp_group_interfaces.iter().filter(|_| !dynamic) {
        let m = format!(
            "WARNING - interface {} specified for garp_group doesn't exist",
            i.name
        );
        missing(&i.name, &i.loc, m, d);
    }
    for g in &conf.sync_groups {
        for t in &g.track_interfaces {
            let m = format!("({}) tracked interface {} doesn't exist", g.name, t.name);
            missing(&t.name, &t.loc, m, d);
        }
    }
    // Routes, rules and static addresses: looked up (and reported) by the route parser.
    let first_missing = match (first_missing, &conf.missing_route_interface) {
        (Some(a), Some(b)) => Some(if (b.line, b.col) < (a.line, a.col) {
            b.clone()
        } else {
            a
        }),
        (a, b) => a.or_else(|| b.clone()),
    };
    match first_missing {
        Some(loc) => {
            d.push(
                Severity::Error,
                KaClass::Fatal,
                &loc,
                "Non-existent interface specified in configuration (keepalived does not start; -t checks nothing further)",
            );
            false
        }
        None => true,
    }
}

/// Who runs scripts without a user of their own: keepalived's `get_default_script_user`.
enum DefaultUser {
    Known(RunAs),
    /// `script_user` names no user, or script security without `keepalived_script`.
    Failed,
}

/// One script to check: where it is written, its program, who runs it.
struct Site<'a> {
    loc: &'a Loc,
    argv0: &'a str,
    user: Option<&'a super::User>,
}

fn scripts(conf: &mut KeepalivedConf, host: &dyn Host, d: &mut Diags) {
    if conf.instances.is_empty() {
        return;
    }
    let security = conf.global.enable_script_security;
    let mut default = match &conf.global.script_user {
        Some(u) => match host.user(&u.user, u.group.as_deref()) {
            Some(r) => Some(DefaultUser::Known(r)),
            None => {
                let loc = conf.global.script_user_at.clone();
                let loc = loc.unwrap_or_else(|| conf.instances[0].loc.clone());
                d.warn(&loc, "Error setting global script uid/gid");
                Some(DefaultUser::Failed)
            }
        },
        None => None,
    };
    // Resolved the first time a script needs it, at that script's line (a vrrp_script's
    // `}`, where keepalived's end-of-block handler asks), as keepalived does while it
    // reads the file.
    let mut default_for = |loc: &Loc, d: &mut Diags| -> Option<RunAs> {
        let def = default.get_or_insert_with(|| match host.keepalived_script_user() {
            Some(r) => DefaultUser::Known(r),
            None if security => {
                d.warn(
                    loc,
                    format!(
                        "Unable to set default user {} for script",
                        crate::exec::DEFAULT_SCRIPT_USER
                    ),
                );
                DefaultUser::Failed
            }
            None => DefaultUser::Known(host.me()),
        });
        match def {
            DefaultUser::Known(r) => Some(*r),
            DefaultUser::Failed => None,
        }
    };
    // The first script (in file order) without a user of its own settles the default.
    let first_needing = conf
        .scripts
        .iter()
        .filter(|s| s.user.is_none())
        .map(|s| &s.end)
        .chain(
            conf.instances
                .iter()
                .flat_map(|i| i.notify.iter())
                .chain(conf.sync_groups.iter().flat_map(|g| g.notify.iter()))
                .filter(|c| c.user.is_none())
                .map(|c| &c.loc),
        )
        .min_by_key(|l| (l.line, l.col))
        .cloned();
    if let Some(loc) = first_needing {
        default_for(&loc, d);
    }
    let mut flags = 0;
    let mut disabled: BTreeSet<String> = BTreeSet::new();
    // Removed while keepalived reads the file: tracking them is then reported.
    let mut no_user: BTreeSet<String> = BTreeSet::new();
    // vrrp_scripts first, then notify scripts, each in file order (keepalived reads the
    // vrrp_scripts' users as it parses them; the order decides where a failed default
    // user is reported).
    for s in &conf.scripts {
        let argv0 = s.command.argv.first().map_or("", String::as_str);
        let who = match &s.user {
            Some(u) => host.user(&u.user, u.group.as_deref()),
            None => default_for(&s.end, d),
        };
        if who.is_none() && s.user.is_some() {
            let loc = s.user_at.as_ref().unwrap_or(&s.loc);
            d.warn(loc, format!("Unable to set uid/gid for script '{argv0}'"));
            disabled.insert(s.name.clone());
            no_user.insert(s.name.clone());
            continue;
        }
        let Some(who) = who else {
            d.warn(
                &s.end,
                format!(
                    "Unable to set default user for vrrp script {} - removing",
                    s.name
                ),
            );
            disabled.insert(s.name.clone());
            no_user.insert(s.name.clone());
            continue;
        };
        let f = script_flags(host, argv0, who, security);
        flags |= f;
        if f & sc::INHIBIT != 0 {
            d.warn(
                &s.command.loc,
                format!("Disabling track script {} due to insecure", s.name),
            );
            disabled.insert(s.name.clone());
        } else if f & sc::NOTFOUND != 0 {
            d.warn(
                &s.command.loc,
                format!(
                    "Disabling track script {} since not found/accessible",
                    s.name
                ),
            );
            disabled.insert(s.name.clone());
        } else if f & (sc::EXECUTABLE | sc::SYSTEM) == 0 {
            d.note(
                &s.command.loc,
                format!(
                    "track script {}: '{argv0}' is not executable for uid:gid {}:{} - disabling (keepalived only logs this)",
                    s.name, who.uid, who.gid
                ),
            );
            disabled.insert(s.name.clone());
        }
    }
    let notifies = conf
        .instances
        .iter_mut()
        .flat_map(|i| notify_slots(&mut i.notify))
        .chain(
            conf.sync_groups
                .iter_mut()
                .flat_map(|g| notify_slots(&mut g.notify)),
        );
    for slot in notifies {
        let Some(c) = slot.as_ref() else { continue };
        let site = Site {
            loc: &c.loc,
            argv0: c.argv.first().map_or("", String::as_str),
            user: c.user.as_ref(),
        };
        let who = match site.user {
            Some(u) => host.user(&u.user, u.group.as_deref()),
            None => default_for(site.loc, d),
        };
        let keep = match who {
            None => {
                d.note(
                    site.loc,
                    format!(
                        "no user to run notify script {} - ignoring (keepalived only logs this)",
                        site.argv0
                    ),
                );
                false
            }
            Some(who) => {
                let f = script_flags(host, site.argv0, who, security);
                flags |= f;
                let keep = f & (sc::INHIBIT | sc::NOTFOUND) == 0 && f & sc::EXECUTABLE != 0;
                if !keep {
                    d.note(
                        site.loc,
                        format!(
                            "notify script {} is {} - not run (keepalived only logs this)",
                            site.argv0,
                            why(f, who)
                        ),
                    );
                }
                keep
            }
        };
        if !keep {
            *slot = None;
        }
    }
    if !security && flags & sc::ISSCRIPT != 0 {
        let first = conf
            .scripts
            .iter()
            .filter(|s| !disabled.contains(&s.name))
            .map(|s| &s.command.loc)
            .chain(
                conf.instances
                    .iter()
                    .flat_map(|i| i.notify.iter().map(|c| &c.loc)),
            )
            .chain(
                conf.sync_groups
                    .iter()
                    .flat_map(|g| g.notify.iter().map(|c| &c.loc)),
            )
            .min_by_key(|l| (l.line, l.col))
            .or_else(|| conf.scripts.first().map(|s| &s.command.loc))
            .unwrap_or(&conf.instances[0].loc)
            .clone();
        let insecure = if flags & sc::INSECURE != 0 {
            " There are insecure scripts."
        } else {
            ""
        };
        d.push(
            Severity::Warning,
            KaClass::Security,
            &first,
            format!(
                "SECURITY VIOLATION - scripts are being executed but script_security not enabled.{insecure} (add `enable_script_security` to global_defs; keepalived -t exits 6)"
            ),
        );
    }
    if disabled.is_empty() {
        return;
    }
    // keepalived frees disabled scripts and every tracking of them (silently, except for
    // scripts it removed while reading, which it no longer knows).
    conf.scripts.retain(|s| !disabled.contains(&s.name));
    for (owner, refs) in conf
        .instances
        .iter_mut()
        .map(|i| (&i.name, &mut i.track_scripts))
        .chain(
            conf.sync_groups
                .iter_mut()
                .map(|g| (&g.name, &mut g.track_scripts)),
        )
    {
        for r in refs.iter().filter(|r| no_user.contains(&r.name)) {
            d.warn(
                &r.loc,
                format!("({owner}) track script {} not found, ignoring...", r.name),
            );
        }
        refs.retain(|r| !disabled.contains(&r.name));
    }
}

/// keepalived's checker process (`check_check_script_security`): MISC_CHECK scripts and
/// the real servers' and services' notify scripts. A missing, unsafe or not executable
/// one is dropped (keepalived only logs it); scripts that exist without
/// `enable_script_security` are its own SECURITY VIOLATION (exit 6).
fn lvs_scripts(conf: &mut KeepalivedConf, host: &dyn Host, d: &mut Diags) {
    use super::lvs::CheckKind;
    if conf.lvs.virtual_servers.is_empty() {
        return;
    }
    let security = conf.global.enable_script_security;
    // The default user, resolved when a script first needs it (keepalived's checker
    // process asks at the end of each MISC_CHECK without `user`).
    let mut default: Option<Option<RunAs>> = None;
    let script_user = conf.global.script_user.clone();
    let script_user_at = conf.global.script_user_at.clone();
    let reported_by_vrrp = !conf.instances.is_empty();
    let mut default_for = |loc: &Loc, d: &mut Diags| -> Option<RunAs> {
        *default.get_or_insert_with(|| match &script_user {
            Some(u) => {
                let r = host.user(&u.user, u.group.as_deref());
                if r.is_none() && !reported_by_vrrp {
                    d.warn(
                        script_user_at.as_ref().unwrap_or(loc),
                        "Error setting global script uid/gid",
                    );
                }
                r
            }
            None => match host.keepalived_script_user() {
                Some(r) => Some(r),
                None if security => {
                    d.warn(
                        loc,
                        format!(
                            "Unable to set default user {} for script",
                            crate::exec::DEFAULT_SCRIPT_USER
                        ),
                    );
                    None
                }
                None => Some(host.me()),
            },
        })
    };
    for vs in &mut conf.lvs.virtual_servers {
        for rs in &mut vs.real_servers {
            rs.checkers.retain(|c| match &c.kind {
                CheckKind::Misc(m) if m.user.is_none() => {
                    if default_for(&c.loc, d).is_none() {
                        d.warn(
                            &c.loc,
                            format!(
                                "Unable to set default user for misc script {} - removing",
                                m.path.text
                            ),
                        );
                        return false;
                    }
                    true
                }
                _ => true,
            });
        }
    }
    let mut flags = 0;
    let mut first: Option<Loc> = None;
    let mut judge = |c: &super::Command, who: Option<RunAs>, d: &mut Diags| -> bool {
        let Some(who) = who else {
            d.note(
                &c.loc,
                format!(
                    "no user to run script {} - ignoring (keepalived only logs this)",
                    c.text
                ),
            );
            return false;
        };
        let argv0 = c.argv.first().map_or("", String::as_str);
        let f = script_flags(host, argv0, who, security);
        flags |= f;
        if f & sc::ISSCRIPT != 0 && first.as_ref().is_none_or(|l| l.line > c.loc.line) {
            first = Some(c.loc.clone());
        }
        let keep = f & (sc::INHIBIT | sc::NOTFOUND) == 0 && f & (sc::EXECUTABLE | sc::SYSTEM) != 0;
        if !keep {
            d.note(
                &c.loc,
                format!(
                    "script {argv0} is {} - not run (keepalived only logs this)",
                    why(f, who)
                ),
            );
        }
        keep
    };
    for vs in &mut conf.lvs.virtual_servers {
        for rs in &mut vs.real_servers {
            rs.checkers.retain(|c| match &c.kind {
                CheckKind::Misc(m) => {
                    let who = match &m.user {
                        Some(u) => host.user(&u.user, u.group.as_deref()),
                        None => default_for(&c.loc, d),
                    };
                    if let (Some(_), Some(at)) = (&m.user, &m.user_at)
                        && who.is_none()
                    {
                        d.warn(
                            at,
                            format!(
                                "Failed to set uid/gid for misc checker script {} - removing",
                                m.path.text
                            ),
                        );
                        return false;
                    }
                    judge(&m.path, who, d)
                }
                _ => true,
            });
        }
    }
    for vs in &mut conf.lvs.virtual_servers {
        let slots = [&mut vs.quorum_up, &mut vs.quorum_down].into_iter().chain(
            vs.real_servers
                .iter_mut()
                .flat_map(|r| [&mut r.notify_up, &mut r.notify_down]),
        );
        for slot in slots {
            let Some(c) = slot.as_ref() else { continue };
            let who = match &c.user {
                Some(u) => host.user(&u.user, u.group.as_deref()),
                None => default_for(&c.loc, d),
            };
            if !judge(c, who, d) {
                *slot = None;
            }
        }
    }
    // Then the FIFO scripts the checker process runs: the global one and the LVS one.
    let g = &mut conf.global;
    for slot in [&mut g.notify_fifo.script, &mut g.lvs_notify_fifo.script] {
        let Some(c) = slot.as_ref() else { continue };
        let who = match &c.user {
            Some(u) => host.user(&u.user, u.group.as_deref()),
            None => default_for(&c.loc, d),
        };
        if !judge(c, who, d) {
            *slot = None;
        }
    }
    if !security
        && flags & sc::ISSCRIPT != 0
        && let Some(loc) = first
    {
        let insecure = if flags & sc::INSECURE != 0 {
            " There are insecure scripts."
        } else {
            ""
        };
        d.push(
            Severity::Warning,
            KaClass::Security,
            &loc,
            format!(
                "SECURITY VIOLATION - check scripts are being executed but script_security not enabled.{insecure} (add `enable_script_security` to global_defs; keepalived -t exits 6)"
            ),
        );
    }
}

/// keepalived's `check_vrrp_script_security` order.
fn notify_slots(n: &mut super::Notify) -> [&mut Option<super::Command>; 7] {
    [
        &mut n.backup,
        &mut n.master,
        &mut n.fault,
        &mut n.stop,
        &mut n.deleted,
        &mut n.any,
        &mut n.master_rx_lower_pri,
    ]
}

fn why(f: u32, who: RunAs) -> String {
    if f & sc::NOTFOUND != 0 {
        "not found/accessible".into()
    } else if f & sc::INHIBIT != 0 {
        "insecure (enable_script_security)".into()
    } else {
        format!("not executable for uid:gid {}:{}", who.uid, who.gid)
    }
}

/// keepalived's `is_executable`: root needs any execute bit, others their class's.
fn executable(f: &FileInfo, who: RunAs) -> bool {
    let m = f.mode;
    (who.uid == 0 && m & 0o111 != 0)
        || (who.uid == f.uid && m & 0o100 != 0)
        || (who.uid != f.uid
            && ((who.gid == f.gid && m & 0o010 != 0) || (who.gid != f.gid && m & 0o001 != 0)))
}

/// keepalived's `check_script_secure` for a script's program as `who` runs it.
fn script_flags(host: &dyn Host, argv0: &str, who: RunAs, security: bool) -> u32 {
    // `</path`: a file to be opened, never executed.
    if argv0
        .strip_prefix('<')
        .is_some_and(|rest| rest.trim_start_matches([' ', '\t']).starts_with('/'))
    {
        return sc::SYSTEM;
    }
    if argv0.is_empty() {
        return sc::NOTFOUND;
    }
    let path = if argv0.contains('/') {
        PathBuf::from(argv0)
    } else {
        match find_path(host, argv0, who) {
            Some(p) => p,
            None => return sc::NOTFOUND,
        }
    };
    let Ok(real) = host.realpath(&path) else {
        return sc::NOTFOUND;
    };
    let Ok(file) = host.stat(&real) else {
        return sc::NOTFOUND;
    };
    let mut flags = sc::ISSCRIPT;
    if !executable(&file, who) {
        return flags;
    }
    flags |= sc::EXECUTABLE;
    let root_rights = who.uid == 0
        || who.gid == 0
        || (file.uid == 0 && file.mode & 0o4100 == 0o4100)
        || (file.gid == 0 && file.mode & 0o2010 == 0o2010);
    if root_rights {
        flags |= path_security(host, &real, security);
    }
    flags
}

/// keepalived's `find_path`: the first regular file in `PATH` that `who` may execute.
fn find_path(host: &dyn Host, prog: &str, who: RunAs) -> Option<PathBuf> {
    let path = host.path_env();
    path.as_bytes().split(|&b| b == b':').find_map(|dir| {
        let candidate = if dir.is_empty() {
            PathBuf::from(prog)
        } else {
            Path::new(OsStr::from_bytes(dir)).join(prog)
        };
        let f = host.stat(&candidate).ok()?;
        (f.kind == Kind::File && executable(&f, who)).then_some(candidate)
    })
}

/// keepalived's `check_security` over `/`, each directory of `path` and the file
/// (not following symlinks).
fn path_security(host: &dyn Host, path: &Path, security: bool) -> u32 {
    let mut prefixes: Vec<&Path> = path
        .ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    prefixes.reverse();
    let last = prefixes.len().saturating_sub(1);
    for (i, p) in prefixes.into_iter().enumerate() {
        let Ok(f) = host.lstat(p) else {
            return sc::NOTFOUND;
        };
        let right_type = if i < last {
            f.kind == Kind::Dir
        } else {
            matches!(f.kind, Kind::File | Kind::Symlink)
        };
        if !right_type {
            return sc::INHIBIT;
        }
        let guarded = (f.kind == Kind::Dir && f.mode & 0o1000 == 0) || f.kind == Kind::File;
        let writable = (f.gid != 0 && f.mode & 0o020 != 0) || f.mode & 0o002 != 0;
        if f.uid != 0 || (guarded && writable) {
            return sc::INSECURE | if security { sc::INHIBIT } else { 0 };
        }
    }
    0
}

#[cfg(test)]
mod tests;
