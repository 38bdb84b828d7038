//! keepalived's signal functions by name (`keepalived --signum=NAME`, lib/signals.c),
//! so that scripts written for keepalived (`kill -$(keepalived --signum=DATA) …`) find
//! the same numbers with vigild.

/// The signal keepalived 2.2.7 (built with JSON support, as Debian's is) uses for
/// `name`: STOP, RELOAD, DATA, STATS, STATS_CLEAR or JSON, exactly as spelt. The
/// real-time ones are computed as keepalived computes them, from this libc's
/// SIGRTMIN/SIGRTMAX.
pub fn signum(name: &str) -> Option<i32> {
    Some(match name {
        "STOP" => libc::SIGTERM,
        "RELOAD" => libc::SIGHUP,
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "STATS_CLEAR" => libc::SIGRTMAX() - 1,
        "JSON" => libc::SIGRTMIN() + 2,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_names_and_only_those() {
        assert_eq!(signum("STOP"), Some(15));
        assert_eq!(signum("RELOAD"), Some(1));
        assert_eq!(signum("DATA"), Some(10));
        assert_eq!(signum("STATS"), Some(12));
        assert_eq!(signum("STATS_CLEAR"), Some(libc::SIGRTMAX() - 1));
        assert_eq!(signum("JSON"), Some(libc::SIGRTMIN() + 2));
        // keepalived compares with strcmp: case matters; TDUMP exists only in debug
        // builds.
        for other in ["stop", "TDUMP", "", "DATA "] {
            assert_eq!(signum(other), None, "{other:?}");
        }
    }
}
