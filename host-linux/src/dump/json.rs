//! `/tmp/keepalived.json` (keepalived's JSON signal, SIGRTMIN+2): keepalived's
//! `vrrp_print_json` (vrrp_json.c): one line, an array with a `data` and a `stats`
//! object per instance, fields in keepalived's order, written as its json_writer
//! writes them (`/` escaped as `\/`, floats as `%g`).

use super::stats::KeepalivedStats;
use super::{format_vip, instances, state_number};
use crate::control::{InstanceStatus, Status};
use crate::daemon::plan::{Instance, Plan};
use std::fmt::Write as _;
use vigil_core::machine::LowerPriority;
use vigil_core::wire::Auth;

/// The whole file.
pub fn render(status: &Status, plan: &Plan) -> String {
    let mut out = String::from("[");
    for (k, (s, p)) in instances(status, plan).into_iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str("{\"data\":");
        data(&mut out, plan, s, p);
        out.push_str(",\"stats\":");
        stats(&mut out, s);
        out.push('}');
    }
    out.push_str("]\n");
    out
}

/// A JSON string as keepalived's json_writer writes it.
fn string(s: &str) -> String {
    let mut o = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '/' => o.push_str("\\/"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\u{8}' => o.push_str("\\b"),
            '\u{c}' => o.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A float as `%g` writes the values that occur here (intervals, delays).
fn float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Fields in order; `raw` values are already JSON.
struct Object(Vec<(&'static str, String)>);

impl Object {
    fn raw(&mut self, k: &'static str, v: impl ToString) {
        self.0.push((k, v.to_string()));
    }
    fn str(&mut self, k: &'static str, v: &str) {
        self.0.push((k, string(v)));
    }
    fn write(self, out: &mut String) {
        out.push('{');
        for (i, (k, v)) in self.0.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"{k}\":{v}");
        }
        out.push('}');
    }
}

fn data(out: &mut String, plan: &Plan, s: &InstanceStatus, p: &Instance) {
    let c = &p.core;
    let g = &plan.dump;
    let b = |v: bool| if v { "true" } else { "false" };
    let mut o = Object(Vec::new());
    o.str("iname", &p.name);
    o.raw("dont_track_primary", u8::from(!p.track_own_interface));
    o.raw("skip_check_adv_addr", u8::from(!c.check_addresses));
    o.raw("strict_mode", u8::from(g.strict));
    o.str("vmac_ifname", p.use_vmac.as_deref().unwrap_or(""));
    o.str("ifp_ifname", &p.interface);
    o.raw("master_priority", s.dump.master_priority);
    let t = s.dump.last_transition_unix_us;
    o.raw(
        "last_transition",
        format!("{}.{:06}", t / 1_000_000, t % 1_000_000),
    );
    o.raw("garp_delay", float(c.garp.delay.as_micros() as f64 / 1e6));
    o.raw("garp_refresh", c.garp.refresh.as_secs());
    o.raw("garp_rep", c.garp.repeat);
    o.raw("garp_refresh_rep", c.garp.refresh_repeat);
    o.raw("garp_lower_prio_delay", g.garp_lower_prio_delay.as_secs());
    o.raw("garp_lower_prio_rep", c.lower_prio_announce);
    o.raw(
        "lower_prio_no_advert",
        u8::from(c.lower_priority == LowerPriority::Discard),
    );
    o.raw(
        "higher_prio_send_advert",
        u8::from(c.higher_prio_send_advert),
    );
    o.raw("vrid", s.vrid);
    o.raw("base_priority", s.base_priority);
    o.raw("effective_priority", s.effective_priority);
    o.raw("vipset", b(s.state == "MASTER"));
    o.raw("promote_secondaries", "false");
    o.raw("adver_int", float(s.advert_interval_ms as f64 / 1000.0));
    o.raw(
        "master_adver_int",
        float(s.master_advert_interval_ms as f64 / 1000.0),
    );
    o.raw("accept", u8::from(!g.strict));
    o.raw("nopreempt", b(!c.preempt));
    o.raw("preempt_delay", c.preempt_delay.as_secs());
    o.raw("state", state_number(s.state));
    o.raw("wantstate", state_number(s.state));
    o.raw("version", s.version);
    o.raw("smtp_alert", b(p.smtp_alert));
    o.raw("notify_deleted", b(p.notify_deleted));
    let script = |o: &mut Object, k: &'static str, sc: &Option<crate::notify::Script>| {
        if let Some(sc) = sc {
            o.str(k, &super::command_line(&sc.argv));
        }
    };
    script(&mut o, "script_backup", &p.notify.backup);
    script(&mut o, "script_master", &p.notify.master);
    script(&mut o, "script_fault", &p.notify.fault);
    script(&mut o, "script_stop", &p.notify.stop);
    script(&mut o, "script_deleted", &p.notify.deleted);
    script(&mut o, "script", &p.notify.any);
    script(
        &mut o,
        "script_master_rx_lower_pri",
        &p.notify_master_rx_lower_pri,
    );
    let set = s.state == "MASTER";
    let array = |o: &mut Object, k: &'static str, items: Vec<String>| {
        if !items.is_empty() {
            let v: Vec<String> = items.iter().map(|i| string(i)).collect();
            o.raw(k, format!("[{}]", v.join(",")));
        }
    };
    array(
        &mut o,
        "vips",
        p.vips
            .iter()
            .map(|v| format_vip(v, &p.interface, set))
            .collect(),
    );
    array(
        &mut o,
        "evips",
        p.excluded
            .iter()
            .map(|v| format_vip(v, &p.interface, set))
            .collect(),
    );
    array(
        &mut o,
        "track_ifp",
        p.track_interfaces.iter().map(|(n, _)| n.clone()).collect(),
    );
    array(
        &mut o,
        "track_script",
        p.track_scripts
            .iter()
            .filter_map(|(n, _)| plan.scripts.iter().find(|s| s.name == *n))
            .map(|s| super::command_line(&s.args))
            .collect(),
    );
    match c.auth {
        Auth::None => o.raw("auth_type", 0),
        Auth::Password(pw) | Auth::Ah(pw) => {
            o.raw("auth_type", c.auth.type_number());
            let end = pw.iter().position(|&b| b == 0).unwrap_or(pw.len());
            o.str("auth_data", &String::from_utf8_lossy(&pw[..end]));
        }
    }
    o.write(out);
}

fn stats(out: &mut String, s: &InstanceStatus) {
    let k = KeepalivedStats::from_counters(&s.counters);
    let mut o = Object(Vec::new());
    o.raw("advert_rcvd", k.advert_rcvd);
    o.raw("advert_sent", k.advert_sent);
    o.raw("become_master", k.become_master);
    o.raw("release_master", k.release_master);
    o.raw("packet_len_err", k.packet_len_err);
    o.raw("advert_interval_err", k.advert_interval_err);
    o.raw("ip_ttl_err", k.ip_ttl_err);
    o.raw("invalid_type_rcvd", k.invalid_type_rcvd);
    o.raw("addr_list_err", k.addr_list_err);
    o.raw("invalid_authtype", k.invalid_authtype);
    o.raw("authtype_mismatch", k.authtype_mismatch);
    o.raw("auth_failure", k.auth_failure);
    o.raw("pri_zero_rcvd", k.pri_zero_rcvd);
    o.raw("pri_zero_sent", k.pri_zero_sent);
    o.write(out);
}

#[cfg(test)]
mod tests {
    use super::super::tests::{plan, status};
    use super::*;

    #[test]
    fn valid_json_with_keepalived_fields_in_order() {
        let text = render(&status(), &plan());
        assert!(text.ends_with("]\n") && !text[..text.len() - 1].contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let all = v.as_array().unwrap();
        assert_eq!(all.len(), 4);
        let d = &all[0]["data"];
        assert_eq!(d["iname"], "VI_1");
        assert_eq!(d["vrid"], 51);
        assert_eq!(d["state"], 2);
        assert_eq!(d["vipset"], true);
        assert_eq!(d["adver_int"], 1);
        assert_eq!(d["last_transition"].as_f64(), Some(1_796_616_058.026_076));
        assert_eq!(d["vips"][0], "10.0.0.100/24 dev veth0 scope global set");
        assert_eq!(d["auth_type"], 1);
        assert_eq!(d["auth_data"], "secret");
        assert_eq!(all[0]["stats"]["ip_ttl_err"], 2);
        assert_eq!(all[0]["stats"]["advert_sent"], 7);
        let d3 = &all[2]["data"];
        assert_eq!(d3["state"], 1);
        assert_eq!(d3["master_priority"], 120);
        assert_eq!(d3["nopreempt"], true);
        assert_eq!(d3["track_script"][0], "'/usr/bin/true'");
        assert_eq!(all[3]["data"]["adver_int"], 0.5);
        // keepalived's json_writer escapes '/' and orders the fields as vrrp_json.c.
        assert!(text.starts_with(
            "[{\"data\":{\"iname\":\"VI_1\",\"dont_track_primary\":0,\"skip_check_adv_addr\":0,\"strict_mode\":0,\"vmac_ifname\":\"\",\"ifp_ifname\":\"veth0\",\"master_priority\":0,\"last_transition\":1796616058.026076,\"garp_delay\":5,"
        ), "{text}");
        assert!(text.contains("\"vips\":[\"10.0.0.100\\/24 dev veth0 scope global set\","));
        assert!(text.contains(",\"stats\":{\"advert_rcvd\":0,\"advert_sent\":7,"));
    }

    #[test]
    fn strings_escaped_as_keepalived() {
        assert_eq!(string("a/b\"c\\\n\u{1}"), "\"a\\/b\\\"c\\\\\\n\\u0001\"");
        assert_eq!(float(5.0), "5");
        assert_eq!(float(0.25), "0.25");
    }
}
