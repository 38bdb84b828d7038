//! The keepalived.conf loader on any text, and everything vigild does with what it loads:
//! - `config::load_str` (the lexer with its includes, the parser, keepalived's rules), the
//!   diagnostics as `vigild -t` prints them, and `-t`'s exit code;
//! - for a configuration without errors: each instance's `core_config` (with the
//!   placeholder source the daemon uses and with real ones) and `vips`, and the daemon's
//!   whole plan (`daemon::plan_from`).
//!
//! Nothing may panic, and the answers must agree with each other: exit code 0 only for a
//! configuration that loaded; a configuration is returned exactly when no diagnostic is an
//! error; no VIP is lost on the way to the core; and a configuration `vigild -t` accepts
//! is one the daemon can build its plan from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use vigil_fuzz::sandbox::{self, Sandbox};
use vigil_linux::config::{self, exit};
use vigil_linux::daemon;

static SANDBOX: OnceLock<Sandbox> = OnceLock::new();

fuzz_target!(
    init: {
        sandbox::panic_messages_to_saved_stderr();
        SANDBOX.get_or_init(Sandbox::create);
    },
    |data: &[u8]| {
        // As `config::load` reads a file.
        let text = String::from_utf8_lossy(data);
        if !sandbox::includes_stay_inside(&text) {
            return;
        }
        let sandbox = SANDBOX.get_or_init(Sandbox::create);
        let loaded = config::load_str(&sandbox.main, &text);
        for d in &loaded.diagnostics {
            let _ = d.to_string();
        }
        let code = config::test_exit_code(&loaded);
        assert!(
            [exit::OK, exit::ABORT, exit::CONFIG, exit::CONFIG_TEST, exit::CONFIG_TEST_SECURITY]
                .contains(&code),
            "exit code {code}"
        );
        assert_eq!(loaded.config.is_some(), !loaded.has_errors());
        let Some(conf) = &loaded.config else {
            assert_ne!(code, exit::OK, "-t exits 0 for a configuration that did not load");
            return;
        };
        for inst in &conf.instances {
            for primary in [
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            ] {
                let _ = inst.core_config(primary);
            }
            assert_eq!(inst.vips().len(), inst.vips.len(), "({}) VIPs lost", inst.name);
        }
        if let Err(e) = daemon::plan_from(conf) {
            panic!("vigild -t exits {code} (no error), but the daemon cannot start: {e}");
        }
    }
);
