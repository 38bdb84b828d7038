//! A load-balancer pair: two vigilds with nginx, and a client, on one LAN.

use super::{
    Inst, Nginx, VIP, Vigild, global_defs, host_ip, http_get, in_netns, lan, wait_for, workdir,
};
use std::time::Duration;
use vigil_tests::netns::{Lan, Netns};

/// Two load balancers with nginx (answering `lb1` / `lb2`) and vigild, and a client:
/// hosts 0, 1 and 2 of a LAN. The instance `inst.name` of lb1 is master, lb2's backup.
#[derive(Debug)]
pub struct Pair {
    // Dropped in this order: processes first, then their namespaces, then the files.
    pub lb1: Vigild,
    pub lb2: Vigild,
    pub nginx1: Nginx,
    pub nginx2: Nginx,
    pub lan: Lan,
    pub dir: tempfile::TempDir,
}

impl Pair {
    /// Starts lb1 first and waits until it is master, then lb2 and waits until it is
    /// backup and has heard lb1, so the start-up order is deterministic.
    pub fn start(test: &str, prefix: &str, lb1: &Inst, lb2: &Inst, settle: Duration) -> Pair {
        Self::start_conf(
            test,
            prefix,
            &lb1.name,
            &(global_defs("lb1", "") + &lb1.render()),
            &(global_defs("lb2", "") + &lb2.render()),
            settle,
        )
    }

    /// Like [`start`](Self::start) with whole configurations; `inst` is the instance
    /// to wait for.
    pub fn start_conf(
        test: &str,
        prefix: &str,
        inst: &str,
        conf1: &str,
        conf2: &str,
        settle: Duration,
    ) -> Pair {
        Self::start_with(test, prefix, inst, conf1, conf2, settle, |_| {})
    }

    /// Like [`start_conf`](Self::start_conf), with `setup` run on the LAN before any
    /// daemon starts (extra links, ...).
    pub fn start_with(
        test: &str,
        prefix: &str,
        inst: &str,
        conf1: &str,
        conf2: &str,
        settle: Duration,
        setup: impl FnOnce(&Lan),
    ) -> Pair {
        let lan = lan(prefix, 3);
        setup(&lan);
        let dir = workdir(test);
        let nginx1 = Nginx::start(&lan.host(0).ns, dir.path(), "lb1");
        let nginx2 = Nginx::start(&lan.host(1).ns, dir.path(), "lb2");
        let lb1 = Vigild::start(&lan.host(0).ns, dir.path(), "lb1", conf1);
        lb1.expect_state(inst, "MASTER", settle);
        let lb2 = Vigild::start(&lan.host(1).ns, dir.path(), "lb2", conf2);
        lb2.expect_state(inst, "BACKUP", settle);
        let heard = wait_for(settle, Duration::from_millis(5), || {
            lb2.instance(inst)
                .filter(|i| i["master"] == host_ip(0).to_string())
        });
        assert!(heard.is_some(), "lb2 never heard lb1:\n{}", lb2.log_text());
        Pair {
            lb1,
            lb2,
            nginx1,
            nginx2,
            lan,
            dir,
        }
    }

    /// The namespace of host `i` (0: lb1, 1: lb2, 2: the client).
    pub fn ns(&self, i: usize) -> &Netns {
        &self.lan.host(i).ns
    }

    /// Starts lb1's vigild again with the configuration it had.
    pub fn restart_lb1(&mut self) {
        let conf = std::fs::read_to_string(&self.lb1.conf).expect("lb1.conf");
        self.lb1 = Vigild::start(self.ns(0), self.dir.path(), "lb1", &conf);
    }

    /// The client's request for the VIP, answered by whom.
    pub fn get_vip(&self) -> Result<String, String> {
        in_netns(&self.ns(2).path(), || http_get(VIP, Duration::from_secs(1)))
    }

    /// Both daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- lb1 ---\n{}\n--- lb2 ---\n{}",
            self.lb1.log_text(),
            self.lb2.log_text()
        )
    }
}
