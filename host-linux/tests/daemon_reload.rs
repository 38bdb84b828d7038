//! SIGHUP reloads of vigild while a client requests the VIP every 10 ms: an unchanged
//! configuration and one where only an unrelated instance changed cause no failed
//! request and no state change; a broken configuration is rejected and the running one
//! stays. Reloads as keepalived 2.2.7 does them (`docs/reload.md`): an added VIP is
//! installed and announced without a transition or notify, a changed priority is
//! advertised without one, a changed VRID restarts the instance; and two keepalived
//! doing the same.
//!
//! Every test skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use nix::sys::signal::Signal;
use std::time::Duration;
use vigil_tests::netns::privileged_or_skip;

const ADVERT: &str = "0.1";
const SETTLE: Duration = Duration::from_secs(5);
/// 300 requests, one every 10 ms: the client runs about 3 s.
const REQUESTS: usize = 300;

/// VI_1 (the VIP the client uses) tracks nginx; VI_2 is the unrelated instance.
fn conf(router: &str, prio1: u8, prio2: u8) -> String {
    let chk = "vrrp_script chk_nginx {\n    script \"/usr/bin/curl -sf -o /dev/null -m 1 \
               http://127.0.0.1/\"\n    interval 1\n    weight -20\n}\n";
    let vi1 = Inst::v3("VI_1", 51, "BACKUP", prio1, ADVERT)
        .with_extra("    track_script {\n        chk_nginx\n    }");
    let mut vi2 = Inst::v3("VI_2", 52, "BACKUP", prio2, ADVERT);
    vi2.vips = vec![format!("{VIP2}/24")];
    global_defs(router, "") + chk + &vi1.render() + &vi2.render()
}

/// Sends SIGHUP and waits until the daemon has logged its `n`th reload and answers its
/// control socket again (the reload is done when the loop serves the socket).
fn reload(v: &Vigild, n: usize) {
    v.signal(Signal::SIGHUP);
    let done = wait_for(Duration::from_secs(3), Duration::from_millis(5), || {
        (v.log_text().matches("Reloading configuration file").count() >= n).then_some(())
    });
    assert!(
        done.is_some(),
        "{} did not reload:\n{}",
        v.name,
        v.log_text()
    );
    assert!(
        v.status().is_some(),
        "{} does not answer after reload",
        v.name
    );
}

#[test]
fn sighup_reloads_without_a_failed_request() {
    if !privileged_or_skip("sighup_reloads_without_a_failed_request") {
        return;
    }
    let p = Pair::start_conf(
        "reload",
        "vrl",
        "VI_1",
        &conf("lb1", 150, 150),
        &conf("lb2", 100, 100),
        SETTLE,
    );
    p.lb1.expect_state("VI_2", "MASTER", SETTLE);
    p.lb2.expect_state("VI_2", "BACKUP", SETTLE);
    for v in [&p.lb1, &p.lb2] {
        assert!(
            v.wait_log("VRRP_Script(chk_nginx) succeeded", 1, SETTLE),
            "{}",
            v.log_text()
        );
    }
    let before1 = p.lb1.instance("VI_1").unwrap();
    let before2 = p.lb2.instance("VI_1").unwrap();

    let client = Client::start(
        p.ns(2),
        VIP,
        REQUESTS,
        Duration::from_millis(10),
        Duration::from_millis(500),
    );
    std::thread::sleep(Duration::from_millis(200));

    // 1. Unchanged configuration, on both, twice.
    for n in 1..=2 {
        reload(&p.lb1, n);
        reload(&p.lb2, n);
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(!p.lb1.log_text().contains("configuration changed"));

    // 2. Only VI_2 changes (its priority): updated in place as keepalived does, no
    // transition; VI_1 does not notice.
    let vi2_before = p.lb1.instance("VI_2").unwrap();
    std::fs::write(&p.lb1.conf, conf("lb1", 150, 140)).unwrap();
    reload(&p.lb1, 3);
    p.lb1
        .wait_log("(VI_2) configuration changed", 1, Duration::from_secs(2));
    let log = p.lb1.log_text();
    assert!(
        log.contains("(VI_2) configuration changed, updated in place"),
        "{log}"
    );
    assert!(!log.contains("restarting the instance"), "{log}");
    assert!(!log.contains("(VI_1) configuration changed"), "{log}");
    let vi2 = wait_for(SETTLE, Duration::from_millis(10), || {
        p.lb1
            .instance("VI_2")
            .filter(|i| i["base_priority"] == 140 && i["state"] == "MASTER")
    });
    let vi2 = vi2.unwrap_or_else(|| panic!("VI_2 not master at 140:\n{log}"));
    for c in ["became_master", "left_master"] {
        assert_eq!(counter(&vi2_before, c), counter(&vi2, c), "{c}: {vi2}");
    }

    // 3. A broken configuration: rejected, the running one stays.
    std::fs::write(
        &p.lb1.conf,
        "vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    \
         virtual_router_id 300\n    priority 150\n",
    )
    .unwrap();
    reload(&p.lb1, 4);
    p.lb1
        .wait_log("configuration rejected", 1, Duration::from_secs(2));
    let log = p.lb1.log_text();
    assert!(
        log.contains("new configuration rejected, keeping the running one"),
        "{log}"
    );
    let st = p.lb1.status_cli();
    assert_eq!(st["instances"].as_array().map(Vec::len), Some(2), "{st}");
    assert_eq!(instance_of(&st, "VI_1").unwrap()["state"], "MASTER");
    assert_eq!(instance_of(&st, "VI_2").unwrap()["base_priority"], 140);

    let samples = client.join();
    let failed: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.result.as_deref() != Ok("lb1"))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed or went elsewhere: {failed:?}\n{}",
        failed.len(),
        samples.len(),
        p.logs()
    );
    assert_eq!(samples.len(), REQUESTS);

    // No state change of VI_1 on either node.
    let after1 = p.lb1.instance("VI_1").unwrap();
    let after2 = p.lb2.instance("VI_1").unwrap();
    for (b, a) in [(&before1, &after1), (&before2, &after2)] {
        assert_eq!(b["state"], a["state"], "{a}");
        for c in ["became_master", "left_master"] {
            assert_eq!(counter(b, c), counter(a, c), "{c}: {b} -> {a}");
        }
        // The instance was kept, not restarted: its counters went on.
        assert!(counter(a, "adverts_rx") + counter(a, "adverts_tx") > 0);
    }
    assert!(counter(&after1, "adverts_tx") > counter(&before1, "adverts_tx") + 20);
    // The track script restarted with each reload without touching the priority.
    assert_eq!(after1["effective_priority"], 150, "{after1}");
    for v in [&p.lb1, &p.lb2] {
        let log = v.log_text();
        assert!(!log.contains("Changing effective priority"), "{log}");
        assert!(!log.contains("VRRP_Script(chk_nginx) failed"), "{log}");
    }
    assert_eq!(counter(&after1, "priority_zero_tx"), 0, "{after1}");
    assert!(has_addr(p.ns(0), "eth0", VIP));
    assert!(!has_addr(p.ns(1), "eth0", VIP));
    // VI_2's VIP is back on lb1 too.
    wait_addr(p.ns(0), "eth0", VIP2, true, Duration::from_secs(2)).expect("VIP2 on lb1");
}
