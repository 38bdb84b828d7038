//! `sd_notify` for `Type=notify` units: a datagram to `$NOTIFY_SOCKET`, no libsystemd.

use std::os::unix::net::UnixDatagram;

/// Sends a state line such as `READY=1`; a no-op when not started by systemd.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let result = if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)
            .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = result {
        crate::warn!("sd_notify {state}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_reaches_the_socket() {
        let dir = std::env::temp_dir().join(format!("vigil-sdnotify-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let rx = UnixDatagram::bind(&dir).unwrap();
        // SAFETY of the test: no other test reads NOTIFY_SOCKET.
        unsafe { std::env::set_var("NOTIFY_SOCKET", &dir) };
        notify("READY=1");
        let mut buf = [0u8; 32];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        unsafe { std::env::remove_var("NOTIFY_SOCKET") };
        let _ = std::fs::remove_file(&dir);
    }
}
