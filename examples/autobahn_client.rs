//! A client testee for the Autobahn conformance suite's fuzzingserver.
//!
//! ```sh
//! # in one terminal, the suite (see https://github.com/crossbario/autobahn-testsuite):
//! docker run -it --rm -v "$PWD/autobahn:/config" -v "$PWD/autobahn/reports:/reports" \
//!     -p 9001:9001 crossbario/autobahn-testsuite \
//!     wstest -m fuzzingserver -s /config/fuzzingserver.json
//! # in another, this testee:
//! cargo run --release --example autobahn_client                          # ws://127.0.0.1:9001
//! cargo run --release --example autobahn_client -- ws://192.168.1.5:9001
//! ```
//!
//! It follows the fuzzingserver's protocol: `GET /getCaseCount` answers with
//! one text message, the number of cases; `/runCase?case=N&agent=hybi` runs
//! case N, in which the testee echoes every text and binary message until
//! the connection ends; `/updateReports?agent=hybi` writes the reports
//! (`reports/clients/index.html`).
//!
//! A case that ends in a protocol error (many cases are meant to) ends that
//! case only: the engine has already sent the Close with the right code, and
//! the next case starts. Messages may be as large as 64 MiB, as the suite's
//! limits cases need.
//!
//! Plain `ws://` only: this example uses nothing but `std::net::TcpStream`.

use std::net::TcpStream;

use hybi::io::blocking::WebSocket;
use hybi::io::{Error, Message};
use hybi::{ClientRequest, CloseCode, Config};

const AGENT: &str = "hybi";

fn main() {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_string());
    let base = base.trim_end_matches('/');
    match ClientRequest::new(base) {
        Ok(request) if request.is_secure() => {
            eprintln!("{base}: wss:// needs TLS; this example speaks plain ws:// only");
            std::process::exit(2);
        }
        Ok(_) => {}
        Err(error) => {
            eprintln!("{base}: {error}");
            std::process::exit(2);
        }
    }

    let count = match case_count(base) {
        Ok(count) => count,
        Err(error) => {
            eprintln!("getCaseCount from {base}: {error}");
            std::process::exit(1);
        }
    };
    println!("{count} cases on {base}");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        match run_case(&url) {
            Ok(()) => println!("case {case}/{count}: done"),
            // Expected for the cases that send invalid frames or text.
            Err(error) => println!("case {case}/{count}: ended with {error}"),
        }
    }

    let url = format!("{base}/updateReports?agent={AGENT}");
    if let Err(error) = update_reports(&url) {
        eprintln!("updateReports: {error}");
        std::process::exit(1);
    }
    println!("reports updated");
}

/// Opens a WebSocket to `url` over a plain TCP connection.
fn open(url: &str) -> Result<WebSocket<TcpStream>, Error> {
    let request = ClientRequest::new(url)?;
    let stream = TcpStream::connect((request.host(), request.port()))?;
    // Echoes go out at once rather than waiting for Nagle.
    stream.set_nodelay(true)?;
    let mut config = Config::default();
    // The suite's limits cases send messages up to 16 MiB in single frames.
    config.max_frame_size = 64 << 20;
    config.max_message_size = 64 << 20;
    WebSocket::connect(request, stream, config)
}

/// Reads the number of cases: one text message.
fn case_count(base: &str) -> Result<u32, Error> {
    let mut ws = open(&format!("{base}/getCaseCount"))?;
    let mut count = None;
    while let Some(message) = ws.read()? {
        if let Message::Text(text) = message {
            count = text.trim().parse().ok();
            // The server closes after the count; reading on completes the
            // closing handshake.
        }
    }
    count.ok_or_else(|| Error::Io(std::io::Error::other("no case count in the answer")))
}

/// Runs one case: echoes every data message until the connection ends.
fn run_case(url: &str) -> Result<(), Error> {
    let mut ws = open(url)?;
    while let Some(message) = ws.read()? {
        if let Message::Text(_) | Message::Binary(_) = message {
            match ws.send(message) {
                // The server's Close may already be in: nothing to echo to.
                Ok(()) | Err(Error::Usage(_)) => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

/// Asks the server to write its reports, then closes politely.
fn update_reports(url: &str) -> Result<(), Error> {
    let mut ws = open(url)?;
    // The server closes when the reports are written; if it has not yet,
    // our Close asks it to.
    match ws.close(CloseCode::NORMAL, "") {
        Ok(()) | Err(Error::Usage(_)) => {}
        Err(error) => return Err(error),
    }
    while ws.read()?.is_some() {}
    Ok(())
}
