//! A hyper 1 server that upgrades `/ws` to a WebSocket and hands the
//! connection to hybi, which echoes every message.
//!
//! ```sh
//! cargo run --example hyper_server --features tokio,http [ADDR]
//! cargo run --example client -- ws://127.0.0.1:8081/ws
//! ```
//!
//! One port serves both ways in (hyper_util's auto builder):
//!
//! * HTTP/1.1 `Upgrade: websocket`: `handshake::http::upgrade_request`
//!   checks the request exactly as hybi's own handshake does, and
//!   `UpgradeRequest::accept` builds the 101 (Sec-WebSocket-Accept,
//!   subprotocol, permessage-deflate).
//! * HTTP/2 extended CONNECT (RFC 8441, cleartext h2 with prior knowledge
//!   here; behind TLS with ALPN `h2` it is the same code):
//!   `enable_connect_protocol` makes hyper advertise
//!   `SETTINGS_ENABLE_CONNECT_PROTOCOL`, `handshake::http::connect_request`
//!   checks the request and `ConnectRequest::accept` builds the 200.
//!
//! Either way hyper writes the answer, and `hyper::upgrade::on` yields the
//! stream (the TCP connection, or the HTTP/2 stream), which goes to
//! `WebSocketStream::from_upgraded` with what was negotiated. hyper's
//! `Upgraded` replays any bytes it read past the request itself, so there
//! are no leftover bytes to pass.

use std::convert::Infallible;
use std::net::SocketAddr;

use hybi::handshake::http::{
    connect_error_response, connect_request, connect_response, upgrade_error_response,
    upgrade_request,
};
use hybi::io::tokio::WebSocketStream;
use hybi::io::Message;
use hybi::{Accept, Config, Negotiated, Role};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// The subprotocol this server speaks, if the client offers it.
const PROTOCOL: &str = "echo";

/// The configuration for every connection: the defaults, with
/// permessage-deflate on (browsers offer it).
pub fn config() -> Config {
    let mut config = Config::default();
    config.deflate = Some(hybi::DeflateConfig::default());
    config
}

/// Serves HTTP/1.1 and HTTP/2 on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http2().enable_connect_protocol();
            let service = service_fn(handle);
            // Errors are one client's business (it hung up, spoke nonsense).
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                .await;
        });
    }
}

/// Routes one request: `/ws` is the WebSocket, anything else a 404.
async fn handle(mut request: Request<Incoming>) -> Result<Response<String>, Infallible> {
    if request.uri().path() != "/ws" {
        return Ok(status(StatusCode::NOT_FOUND, "try /ws\n"));
    }
    let config = config();
    let answer = if request.method() == Method::CONNECT {
        upgrade_h2(&request, &config)
    } else {
        upgrade_h1(&request, &config)
    };
    let (response, negotiated) = match answer {
        Answer::Accept(response, negotiated) => (response, negotiated),
        Answer::Refuse(refusal) => return Ok(refusal),
    };
    // The upgrade completes once hyper has sent the answer returned below.
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let io = TokioIo::new(upgraded);
        match WebSocketStream::from_upgraded(io, Role::Server, config, negotiated, &[]) {
            Ok(ws) => echo(ws).await,
            Err(e) => eprintln!("from_upgraded: {e}"),
        }
    });
    Ok(response)
}

/// What to do with an upgrade request.
enum Answer {
    /// Send the answer, then run the WebSocket with what was agreed.
    Accept(Response<String>, Negotiated),
    /// Send this refusal.
    Refuse(Response<String>),
}

/// HTTP/1.1: `GET /ws` with `Upgrade: websocket`, answered with a 101.
fn upgrade_h1(request: &Request<Incoming>, config: &Config) -> Answer {
    let upgrade = match upgrade_request(request, config.handshake_settings()) {
        Ok(upgrade) => upgrade,
        Err(e) => return Answer::Refuse(upgrade_error_response(e)),
    };
    let view = upgrade.request();
    let accept = if view.offers_subprotocol(PROTOCOL) {
        Accept::new().subprotocol(PROTOCOL)
    } else {
        Accept::new()
    };
    match upgrade.accept(&accept, config.handshake_settings()) {
        Ok((response, negotiated)) => Answer::Accept(response.map(|()| String::new()), negotiated),
        Err(e) => Answer::Refuse(status(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
    }
}

/// HTTP/2: `CONNECT` with `:protocol websocket`, answered with a 200.
fn upgrade_h2(request: &Request<Incoming>, config: &Config) -> Answer {
    // hyper keeps `:protocol` as a request extension of its own type.
    let protocol = request
        .extensions()
        .get::<hyper::ext::Protocol>()
        .map(|p| p.as_str());
    // The same handshake limits as HTTP/1.1 (a 431 when over).
    let connect = match connect_request(request, protocol).and_then(|connect| {
        connect.check_limits(config.handshake_settings())?;
        Ok(connect)
    }) {
        Ok(connect) => connect,
        Err(e) => return Answer::Refuse(connect_error_response(e).map(|()| e.to_string())),
    };
    let accept = if connect.offers_subprotocol(PROTOCOL) {
        Accept::new().subprotocol(PROTOCOL)
    } else {
        Accept::new()
    };
    match connect.accept(&accept, config.handshake_settings()) {
        Ok(answer) => Answer::Accept(
            connect_response(&answer).map(|()| String::new()),
            answer.into_negotiated(),
        ),
        Err(e) => Answer::Refuse(status(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
    }
}

/// Echoes text and binary messages until the client closes.
async fn echo<S>(mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(message) = ws.next().await {
        match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(message).await.is_err() {
                    return;
                }
            }
            // Pings are answered and Closes replied to by the engine.
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

fn status(code: StatusCode, body: &str) -> Response<String> {
    let mut response = Response::new(String::from(body));
    *response.status_mut() = code;
    response
}

const USAGE: &str = "\
usage: hyper_server [ADDR]

Serves HTTP/1.1 and HTTP/2 (cleartext, prior knowledge) with hyper on ADDR
(default 127.0.0.1:8081) and upgrades /ws to a WebSocket that echoes, by
Upgrade (HTTP/1.1) or extended CONNECT (RFC 8441, HTTP/2).

options:
  -h, --help   print this help and exit
";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    use std::process::ExitCode;
    let mut addr = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if arg.starts_with('-') || addr.is_some() => {
                eprintln!("error: unexpected argument {arg}\n\n{USAGE}");
                return ExitCode::from(2);
            }
            _ => addr = Some(arg),
        }
    }
    let addr: SocketAddr = match addr.as_deref().unwrap_or("127.0.0.1:8081").parse() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("error: ADDR: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(addr);
    println!("ws://{addr}/ws (HTTP/1.1 upgrade or HTTP/2 extended CONNECT)");
    serve(listener).await;
    ExitCode::SUCCESS
}
