//! `SSL_GET`: [`super::http`]'s exchange over TLS, as keepalived's `check_ssl.c`.
//!
//! The TLS is the system's OpenSSL (libssl3), the library Debian's keepalived uses: the
//! same protocol versions and ciphers, the same PEM files (an encrypted key with the
//! `SSL` block's `password`). As keepalived, the server's certificate is never
//! verified: keepalived loads the `ca` file but never asks OpenSSL to verify the peer,
//! so a self-signed or expired certificate passes. With `enable_sni` the server name is
//! the virtualhost (the url's, else the checker's).

use super::CheckContext;
use super::connect;
use super::http::{self, ATTEMPT_STEPS, Transport};
use crate::config::lvs::{ConnectTo, HttpGet, SslClient};
use crate::lvs::Attempt;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

/// The TLS client every `SSL_GET` shares (keepalived's one `SSL_CTX`).
pub struct TlsClient {
    connector: SslConnector,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsClient")
    }
}

impl TlsClient {
    /// Builds the client from the `SSL { }` block (`None`: no client certificate). The
    /// error is keepalived's phrase for what could not be loaded.
    pub fn new(conf: Option<&SslClient>) -> Result<TlsClient, String> {
        let mut b = SslConnector::builder(SslMethod::tls_client())
            .map_err(|_| "SSL error: cannot create new SSL context".to_owned())?;
        // keepalived never sets SSL_VERIFY_PEER: the certificate is not checked.
        b.set_verify(SslVerifyMode::NONE);
        if let Some(c) = conf {
            if let Some(cert) = &c.certificate {
                b.set_certificate_chain_file(cert)
                    .map_err(|_| "SSL error : Cant load certificate file...".to_owned())?;
            }
            if let Some(key) = &c.key {
                let loaded = match &c.password {
                    // An encrypted key, opened with the block's password.
                    Some(pw) => std::fs::read(key).ok().and_then(|pem| {
                        openssl::pkey::PKey::private_key_from_pem_passphrase(&pem, pw.as_bytes())
                            .ok()
                    }),
                    None => None,
                };
                match loaded {
                    Some(k) => b.set_private_key(&k),
                    None => b.set_private_key_file(key, SslFiletype::PEM),
                }
                .map_err(|_| "SSL error : Cant load key file...".to_owned())?;
            }
            if let Some(ca) = &c.ca {
                b.set_ca_file(ca)
                    .map_err(|_| "SSL error : Cant load CA file...".to_owned())?;
            }
        }
        b.set_verify_depth(1);
        Ok(TlsClient {
            connector: b.build(),
        })
    }

    /// The client without an `SSL` block, built once.
    pub fn default_client() -> Option<Arc<TlsClient>> {
        static DEFAULT: OnceLock<Option<Arc<TlsClient>>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| TlsClient::new(None).ok().map(Arc::new))
            .clone()
    }
}

pub async fn attempt(co: &ConnectTo, h: &HttpGet, ctx: &CheckContext) -> Attempt {
    let Some(tls) = ctx.tls.clone().or_else(TlsClient::default_client) else {
        return Attempt::Failure("SSL error: cannot create new SSL context".to_owned());
    };
    for url in &h.urls {
        let tcp = match connect::tcp(co).await {
            Ok(s) => s,
            Err(e) => return Attempt::Failure(http::connect_failure(&e, &ctx.server)),
        };
        let sni = url.virtualhost.as_deref().or(h.virtualhost.as_deref());
        let req = http::request(url, h, co.addr);
        let exchange = async {
            let ssl = tls
                .connector
                .configure()
                .and_then(|mut c| {
                    c.set_verify_hostname(false);
                    c.set_use_server_name_indication(h.enable_sni && sni.is_some());
                    c.into_ssl(sni.unwrap_or(""))
                })
                .map_err(|_| "SSL handshake/communication error connecting to")?;
            let mut stream = tokio_openssl::SslStream::new(ssl, tcp)
                .map_err(|_| "SSL handshake/communication error connecting to")?;
            match tokio::time::timeout(co.timeout, Pin::new(&mut stream).connect()).await {
                Err(_) => return Err("Timeout connecting"),
                Ok(Err(_)) => return Err("SSL handshake/communication error connecting to"),
                Ok(Ok(())) => {}
            }
            http::exchange(stream, req.as_bytes(), url, co.timeout, Transport::Tls).await
        };
        let bound = co.timeout.saturating_mul(ATTEMPT_STEPS + 1);
        match tokio::time::timeout(bound, exchange).await {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => return Attempt::Failure(http::phrase(msg, &ctx.server)),
            Err(_) => return Attempt::Failure(http::phrase("Timeout SSL read", &ctx.server)),
        }
    }
    Attempt::Success { weight: None }
}
