//! Feature `http`: `http::Request` in, `http::Response` out, for the
//! HTTP/1.1 upgrade (RFC 6455 §4.2) and RFC 8441 extended CONNECT.
#![cfg(feature = "http")]

use http::{Method, Request, Version};
use hybi::handshake::h2::ConnectError;
use hybi::handshake::http::{
    connect_error_response, connect_request, connect_response, upgrade_error_response,
    upgrade_request,
};
use hybi::{Accept, Config, ProtocolError};

/// RFC 6455 §1.2's request, as hyper hands it over.
fn rfc6455_request() -> http::request::Builder {
    Request::builder()
        .method(Method::GET)
        .uri("/chat")
        .version(Version::HTTP_11)
        .header("host", "server.example.com")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("origin", "http://example.com")
        .header("sec-websocket-protocol", "chat, superchat")
        .header("sec-websocket-version", "13")
}

#[test]
fn http1_upgrade_gives_the_rfc_101() {
    let request = rfc6455_request().body(()).unwrap();
    let upgrade = upgrade_request(&request, Config::default().handshake_settings()).unwrap();
    let view = upgrade.request();
    assert_eq!(view.path(), "/chat");
    assert_eq!(view.host(), "server.example.com");
    assert_eq!(view.origin(), Some("http://example.com"));
    let (response, negotiated) = upgrade
        .accept(
            &Accept::new().subprotocol("chat"),
            Config::default().handshake_settings(),
        )
        .unwrap();
    assert_eq!(response.status(), 101);
    let headers = response.headers();
    assert_eq!(headers["upgrade"], "websocket");
    assert_eq!(headers["connection"], "Upgrade");
    // RFC 6455 §1.3's example answer.
    assert_eq!(
        headers["sec-websocket-accept"],
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert_eq!(headers["sec-websocket-protocol"], "chat");
    assert_eq!(negotiated.subprotocol(), Some("chat"));
}

#[cfg(feature = "deflate")]
#[test]
fn http1_upgrade_negotiates_deflate_as_the_engine() {
    let request = rfc6455_request()
        .header(
            "sec-websocket-extensions",
            "permessage-deflate; client_max_window_bits",
        )
        .body(())
        .unwrap();
    let mut config = Config::default();
    config.deflate = Some(hybi::DeflateConfig::default());
    let upgrade = upgrade_request(&request, config.handshake_settings()).unwrap();
    let (response, negotiated) = upgrade
        .accept(&Accept::new(), config.handshake_settings())
        .unwrap();
    let (params, element) = hybi::DeflateConfig::default()
        .negotiate(["permessage-deflate; client_max_window_bits"])
        .unwrap();
    assert_eq!(
        response.headers()["sec-websocket-extensions"],
        element.as_str()
    );
    assert_eq!(negotiated.deflate(), Some(params));
}

#[test]
fn http1_refusals_are_the_engines() {
    let cases = [
        (
            rfc6455_request().header("sec-websocket-version", "8"),
            ProtocolError::UnsupportedVersion,
        ),
        (
            rfc6455_request().method(Method::POST),
            ProtocolError::MethodNotGet,
        ),
        (
            rfc6455_request().header("sec-websocket-key", "short"),
            ProtocolError::InvalidKey,
        ),
        (
            rfc6455_request().version(Version::HTTP_10),
            ProtocolError::HttpVersionTooOld,
        ),
    ];
    for (builder, error) in cases {
        let request = builder.body(()).unwrap();
        let got = upgrade_request(&request, Config::default().handshake_settings()).unwrap_err();
        assert_eq!(got, error);
    }
    let response = upgrade_error_response(ProtocolError::UnsupportedVersion);
    assert_eq!(response.status(), 426);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
    assert_eq!(response.headers()["upgrade"], "websocket");
    assert_eq!(
        upgrade_error_response(ProtocolError::MethodNotGet).status(),
        405
    );
    // An unoffered subprotocol: a usage error, not an answer.
    let request = rfc6455_request().body(()).unwrap();
    let upgrade = upgrade_request(&request, Config::default().handshake_settings()).unwrap();
    assert!(upgrade
        .accept(
            &Accept::new().subprotocol("mqtt"),
            Config::default().handshake_settings()
        )
        .is_err());
}

/// RFC 8441 §5.1's request, as an HTTP/2 library hands it over.
fn rfc8441_request() -> http::request::Builder {
    Request::builder()
        .method(Method::CONNECT)
        .uri("https://server.example.com/chat")
        .version(Version::HTTP_2)
        .header("sec-websocket-protocol", "chat, superchat")
        .header("sec-websocket-version", "13")
        .header("origin", "http://www.example.com")
}

#[test]
fn http2_connect_round_trip() {
    let request = rfc8441_request().body(()).unwrap();
    let connect = connect_request(&request, Some("websocket")).unwrap();
    assert_eq!(connect.scheme(), "https");
    assert_eq!(connect.authority(), "server.example.com");
    assert_eq!(connect.path(), "/chat");
    let answer = connect
        .accept(
            &Accept::new().subprotocol("chat"),
            Config::default().handshake_settings(),
        )
        .unwrap();
    let response = connect_response(&answer);
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat");
    assert_eq!(response.headers().len(), 1);
}

#[test]
fn http2_connect_refusals() {
    let request = rfc8441_request().body(()).unwrap();
    assert_eq!(
        connect_request(&request, None).unwrap_err(),
        ConnectError::MissingProtocol
    );
    assert_eq!(
        connect_request(&request, Some("webtransport")).unwrap_err(),
        ConnectError::UnsupportedProtocol
    );
    let old = rfc8441_request()
        .header("sec-websocket-version", "8")
        .body(())
        .unwrap();
    // Two version fields (13 and 8): refused.
    let error = connect_request(&old, Some("websocket")).unwrap_err();
    assert_eq!(error, ConnectError::UnsupportedVersion);
    let response = connect_error_response(error);
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
    assert_eq!(
        connect_error_response(ConnectError::UnsupportedProtocol).status(),
        501
    );
    // An HTTP/1.1 upgrade is not an extended CONNECT, and vice versa.
    let get = rfc6455_request().body(()).unwrap();
    assert!(connect_request(&get, Some("websocket")).is_err());
    assert!(upgrade_request(&request, Config::default().handshake_settings()).is_err());
}
