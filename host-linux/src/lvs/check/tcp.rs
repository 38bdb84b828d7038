//! `TCP_CHECK`, as keepalived's `check_tcp.c`: the server is up when a TCP connection
//! to it is established within `connect_timeout`; nothing is sent, the connection is
//! closed at once.

use super::CheckContext;
use super::connect::{self, ConnectError};
use crate::config::lvs::ConnectTo;
use crate::lvs::Attempt;

pub async fn attempt(co: &ConnectTo, ctx: &CheckContext) -> Attempt {
    match connect::tcp(co).await {
        Ok(_stream) => Attempt::Success { weight: None },
        Err(e) => Attempt::Failure(failure(&e, &ctx.server)),
    }
}

/// keepalived's phrase for a failed connection (`tcp_check_thread`,
/// `tcp_connect_thread`).
pub fn failure(e: &ConnectError, server: &str) -> String {
    match e {
        ConnectError::Timeout => format!("TCP connection to {server} timeout."),
        ConnectError::Setup(_) => "TCP socket bind failed. Rescheduling.".to_owned(),
        ConnectError::Immediate(_) | ConnectError::Failed(_) => {
            format!("TCP connection to {server} failed.")
        }
    }
}
