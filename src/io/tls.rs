//! The rustls pieces shared by the blocking and the tokio `connect`
//! conveniences (feature `rustls`): the default client configuration and
//! the server name a URI's host becomes.

use std::io;
use std::net::IpAddr;
use std::string::ToString;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};

use super::Error;

/// The configuration `connect` uses when the caller brings none: the ring
/// provider, rustls' safe default protocol versions, the Mozilla root store
/// from `webpki-roots`, and no client certificate.
///
/// Built once and shared, so connections to the same server can resume TLS
/// sessions (the session cache lives in the `ClientConfig`). The provider is
/// named explicitly instead of taken from the process default: a binary in
/// which some other crate also enables rustls' `aws-lc-rs` has no single
/// default, and `ClientConfig::builder()` would panic there.
pub(crate) fn default_client_config() -> Result<Arc<ClientConfig>, Error> {
    static DEFAULT: OnceLock<Result<Arc<ClientConfig>, rustls::Error>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(|e| Error::Io(io::Error::other(e)))
}

/// The name the certificate must be valid for, also sent as SNI: the URI's
/// host. An IP literal (IPv6 comes from `ClientRequest::host` without
/// brackets) is checked against the certificate's IP SANs and sends no SNI,
/// as RFC 6066 §3 forbids literal addresses there.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    // Parsed as an address first: the DNS-name check would otherwise see
    // some literals as (odd) names.
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string()).map_err(|e| {
        Error::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            std::format!("{host:?} is not a valid TLS server name: {e}"),
        ))
    })
}
