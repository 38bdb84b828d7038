//! Blocks vigild does not act on but whose interfaces the machine check needs
//! (keepalived refuses a missing one): `linkbeat_interfaces` and `garp_group`. The rest of
//! them is ignored with the usual note.

use super::super::diag::Loc;
use super::super::model::NamedInterface;
use super::{Node, Parser};

impl Parser<'_> {
    /// `linkbeat_interfaces { NAME [MII|ETHTOOL|IOCTL] ... }`: each line's first word.
    pub(super) fn linkbeat_interfaces(&mut self, n: &Node) {
        self.ignored(n, "at top level");
        for line in n.block.iter().flat_map(|b| &b.children) {
            if let Some(i) = self.named_interface(line.name(), line.loc()) {
                self.conf.linkbeat_interfaces.push(i);
            }
        }
    }

    /// `garp_group { garp_interval S  gna_interval S  interface NAME  interfaces { NAME ... } }`.
    /// keepalived reads an `interfaces` block when it closes, so its interfaces are
    /// reported at its `}`; a group without a valid delay is removed at the group's `}`.
    pub(super) fn garp_group(&mut self, n: &Node) {
        self.ignored(n, "at top level");
        let Some(block) = &n.block else { return };
        let mut has_delay = false;
        let mut aggregated = false;
        for line in &block.children {
            let names: Vec<(&str, &Loc)> = match line.name() {
                "garp_interval" | "gna_interval" => {
                    // keepalived 2.2.7 complains of a word that is not a number but still
                    // counts the delay as set (checked with its binary).
                    if let Some(v) = line.arg(0) {
                        has_delay = true;
                        if !garp_delay_ok(v) {
                            self.d.warn(line.loc(), format!("invalid number '{v}'"));
                        }
                    }
                    Vec::new()
                }
                "interface" => line
                    .arg(0)
                    .map(|name| (name, line.loc()))
                    .into_iter()
                    .collect(),
                "interfaces" => {
                    let close = line.end();
                    if line.block.as_ref().is_none_or(|b| b.children.is_empty()) {
                        self.d
                            .warn(close, "Warning - empty garp_group interfaces block");
                        continue;
                    }
                    aggregated = true;
                    line.block
                        .iter()
                        .flat_map(|b| &b.children)
                        .flat_map(Node::words)
                        .filter_map(|t| Some((t.word()?, close)))
                        .collect()
                }
                _ => Vec::new(),
            };
            for (name, loc) in names {
                if let Some(i) = self.named_interface(name, loc) {
                    self.conf.garp_group_interfaces.push(i);
                }
            }
        }
        // keepalived numbers the kept groups that have an `interfaces` block (others: 0).
        let number = if aggregated {
            self.garp_aggregation_groups + 1
        } else {
            0
        };
        if has_delay {
            self.garp_aggregation_groups = number.max(self.garp_aggregation_groups);
        } else {
            self.d.warn(
                n.end(),
                format!("garp group {number} does not have any delay set - removing"),
            );
        }
    }

    /// An interface a route, rule or static address names (`dev`, `iif`, `oif`): keepalived's
    /// `if_get_by_ifname(.., IF_CREATE_IF_DYNAMIC)` as it reads the line. With
    /// `dynamic_interfaces` (as set so far in the file) a missing one is accepted; without
    /// it the caller reports the line and the first such place is kept for the machine
    /// check, which adds keepalived's "Non-existent interface specified" and refuses to run.
    /// The route parser is the one place these are looked up; the machine check only
    /// draws the conclusion.
    pub(super) fn route_interface(&mut self, name: &str, at: &Loc) -> bool {
        if self.conf.global.dynamic_interfaces || super::route_values::interface_exists(name) {
            return true;
        }
        self.conf
            .missing_route_interface
            .get_or_insert_with(|| at.clone());
        false
    }

    fn named_interface(&mut self, name: &str, loc: &Loc) -> Option<NamedInterface> {
        (!name.is_empty() && self.item(loc)).then(|| NamedInterface {
            name: name.to_string(),
            loc: loc.clone(),
        })
    }
}

/// keepalived's `read_decimal_unsigned(.., 0, INT_MAX, 6 digits)` on a garp_group delay:
/// seconds with at most six decimals, at most INT_MAX microseconds.
fn garp_delay_ok(v: &str) -> bool {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) || frac.len() > 6 {
        return false;
    }
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().unwrap_or(u64::MAX)
    };
    let frac: u64 = format!("{frac:0<6}").parse().unwrap_or(0);
    int.checked_mul(1_000_000)
        .and_then(|u| u.checked_add(frac))
        .is_some_and(|u| u <= i32::MAX as u64)
}
