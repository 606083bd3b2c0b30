//! An axum 0.8 server with a WebSocket echo route on hybi's extractor
//! (`hybi::io::axum::WebSocketUpgrade`) and a page that uses it.
//!
//! ```sh
//! cargo run --example axum_server --features axum [ADDR]   # 127.0.0.1:8082
//! # then open http://127.0.0.1:8082/ in a browser, or:
//! cargo run --example client -- ws://127.0.0.1:8082/ws --protocol echo
//! ```
//!
//! * `GET /` is a page whose script connects to `/ws`, sends what you type
//!   and shows what comes back.
//! * `/ws` upgrades with `WebSocketUpgrade`: subprotocol `echo` when the
//!   client offers it, permessage-deflate (browsers offer it), a 1 MiB
//!   message limit, and a keepalive Ping every 30 s; then echoes every text
//!   and binary message. It is routed with `any`, so both an HTTP/1.1
//!   upgrade (`GET`) and an HTTP/2 extended CONNECT (RFC 8441; `axum::serve`
//!   speaks cleartext HTTP/2 to a client with prior knowledge) reach it.
//!   A request that is not a valid upgrade gets the engine's answer (426
//!   for a wrong version, 400 for a missing header, ...).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::response::{Html, Response};
use axum::routing::{any, get};
use axum::Router;
use hybi::io::axum::{WebSocket, WebSocketUpgrade};
use hybi::io::Message;
use hybi::{Config, DeflateConfig};

/// The subprotocol this server speaks, if the client offers it.
pub const PROTOCOL: &str = "echo";

const USAGE: &str = "\
usage: axum_server [ADDR]

Serves a page on http://ADDR/ (default 127.0.0.1:8082) and a WebSocket echo
at ws://ADDR/ws (subprotocol \"echo\", permessage-deflate), by HTTP/1.1
upgrade or HTTP/2 extended CONNECT (RFC 8441).

options:
  -h, --help   print this help and exit
";

/// Every connection's configuration.
pub fn config() -> Config {
    let mut config = Config::default();
    config.deflate = Some(DeflateConfig::default());
    config.max_message_size = 1 << 20;
    config.keepalive_interval = Some(Duration::from_secs(30));
    config
}

/// The application: the page and the echo route.
pub fn app() -> Router {
    Router::new()
        .route("/", get(page))
        .route("/ws", any(upgrade))
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn upgrade(ws: WebSocketUpgrade) -> Response {
    ws.protocols([PROTOCOL])
        .config(config())
        .on_failed_upgrade(|error| eprintln!("upgrade failed: {error}"))
        .on_upgrade(echo)
}

/// Echoes text and binary messages until the client closes; the engine
/// answers Pings and the Close.
async fn echo(mut socket: WebSocket) {
    while let Some(message) = socket.next().await {
        match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            Ok(_) => {}
            // A protocol error: the engine already sent the Close with its
            // code; the stream ends next.
            Err(error) => eprintln!("connection failed: {error}"),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
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
    let addr: SocketAddr = match addr.as_deref().unwrap_or("127.0.0.1:8082").parse() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("error: ADDR: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: {addr}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(addr);
    println!("http://{addr}/ (the page), ws://{addr}/ws (the echo)");
    match axum::serve(listener, app()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>hybi on axum: echo</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40em; margin: 2em auto; }
  #log { border: 1px solid #ccc; padding: .5em; min-height: 10em; white-space: pre-wrap; }
</style>
<h1>Echo</h1>
<p id="state">connecting…</p>
<form id="form"><input id="text" autocomplete="off" autofocus> <button>Send</button></form>
<div id="log"></div>
<script>
  const log = (line) => { document.getElementById("log").textContent += line + "\n"; };
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws`, ["echo"]);
  ws.onopen = () => {
    document.getElementById("state").textContent =
      `connected (subprotocol ${ws.protocol || "none"}, extensions ${ws.extensions || "none"})`;
  };
  ws.onmessage = (event) => log(`< ${event.data}`);
  ws.onclose = (event) => {
    document.getElementById("state").textContent = `closed (${event.code}, clean: ${event.wasClean})`;
  };
  document.getElementById("form").onsubmit = (event) => {
    event.preventDefault();
    const input = document.getElementById("text");
    ws.send(input.value);
    log(`> ${input.value}`);
    input.value = "";
  };
</script>
</html>
"#;
