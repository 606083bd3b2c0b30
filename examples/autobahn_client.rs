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
//! cargo run --release --example autobahn_client -- --no-deflate
//! ```
//!
//! It follows the fuzzingserver's protocol: `GET /getCaseCount` answers with
//! one text message, the number of cases; `/runCase?case=N&agent=hybi` runs
//! case N, in which the testee echoes every text and binary message until
//! the connection ends; `/updateReports?agent=hybi` writes the reports
//! (`reports/clients/index.html`).
//!
//! permessage-deflate (RFC 7692) is offered, as `echo_server` accepts it:
//! `Config::deflate` is `Some(DeflateConfig::default())`, so the suite's
//! section 12 and 13 cases (compressed messages, the window and context
//! parameters the server answers with) run; `--no-deflate` offers nothing.
//!
//! The fuzzingserver aborts the TCP connection (a reset) right after each
//! closing handshake. The adapter reads a reset after the closing handshake
//! as the connection's end, clean, so a case that closed properly ends
//! without an error, and the case count read from `/getCaseCount` is kept
//! however that connection ends. A case that ends in a protocol error
//! (many cases are meant to) ends that case only: the engine has already
//! sent the Close with the right code, and the next case starts. Messages
//! may be as large as 64 MiB, as the suite's limits cases need.
//!
//! At the end it prints how the cases ended and exits 0 once the reports
//! were asked for; 1 if the server could not be used.
//!
//! Plain `ws://` only (TCP through `io::Connector`, no proxy).

use std::process::ExitCode;

use hybi::io::{Connector, Error, MaybeTlsStream, Message};
use hybi::{CloseCode, Config, DeflateConfig};

type WebSocket = hybi::io::blocking::WebSocket<MaybeTlsStream>;

const AGENT: &str = "hybi";

const USAGE: &str = "\
usage: autobahn_client [ws://HOST:PORT] [--no-deflate]

Runs every case of an Autobahn|Testsuite fuzzingserver (default
ws://127.0.0.1:9001) as a client testee, echoing each message, then asks
the server to write its reports.

options:
  --no-deflate   do not offer permessage-deflate (RFC 7692)
  -h, --help     print this help and exit
";

/// The command line.
struct Options {
    base: String,
    deflate: bool,
}

/// Reads the command line: the options, or the exit code after printing
/// the usage (0 for `--help`, 2 for a mistake).
fn options() -> Result<Options, ExitCode> {
    let mut options = Options {
        base: "ws://127.0.0.1:9001".into(),
        deflate: true,
    };
    let mut base = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Err(ExitCode::SUCCESS);
            }
            "--no-deflate" => options.deflate = false,
            _ if arg.starts_with('-') => return Err(usage(&format!("unknown option {arg}"))),
            _ if base.is_none() => base = Some(arg),
            _ => return Err(usage(&format!("unexpected argument {arg}"))),
        }
    }
    if let Some(base) = base {
        options.base = base.trim_end_matches('/').to_string();
    }
    Ok(options)
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\n\n{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(code) => return code,
    };
    let base = options.base.as_str();
    match Connector::new(base) {
        Ok(connector) if connector.request().is_secure() => {
            return usage(&format!("{base}: this example speaks plain ws:// only"));
        }
        Ok(_) => {}
        Err(error) => return usage(&format!("{base}: {error}")),
    }
    let config = config(options.deflate);

    let count = match case_count(base, &config) {
        Ok(count) => count,
        Err(error) => {
            eprintln!("getCaseCount from {base}: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{count} cases on {base} (permessage-deflate {})",
        if options.deflate { "offered" } else { "off" }
    );

    let mut tally = Tally::default();
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        let ending = run_case(&url, &config);
        println!("case {case}/{count}: {ending}");
        tally.add(&ending);
    }
    println!(
        "{count} cases: {} closed cleanly, {} failed by this testee (the engine's Close \
         with its code), {} ended otherwise",
        tally.clean, tally.failed, tally.other
    );

    let url = format!("{base}/updateReports?agent={AGENT}");
    if let Err(error) = update_reports(&url, &config) {
        eprintln!("updateReports: {error}");
        return ExitCode::FAILURE;
    }
    println!("reports updated");
    ExitCode::SUCCESS
}

/// The testee's configuration: large limits, deflate offered.
fn config(deflate: bool) -> Config {
    let mut config = Config::default();
    // The suite's limits cases send messages up to 16 MiB in single frames.
    config.max_frame_size = 64 << 20;
    config.max_message_size = 64 << 20;
    if deflate {
        config.deflate = Some(DeflateConfig::default());
    }
    config
}

/// Opens a WebSocket to `url`: TCP and the handshake, within the
/// config's handshake deadline, never through a proxy.
fn open(url: &str, config: &Config) -> Result<WebSocket, Error> {
    Connector::new(url)?
        .config(config.clone())
        .proxy(None)
        .connect()
}

/// Reads the number of cases: one text message. The count is kept however
/// the connection ends after it.
fn case_count(base: &str, config: &Config) -> Result<u32, Error> {
    let mut ws = open(&format!("{base}/getCaseCount"), config)?;
    let mut count = None;
    loop {
        match ws.read() {
            Ok(Some(Message::Text(text))) => count = text.trim().parse().ok(),
            // The server closes after the count; reading on completes the
            // closing handshake.
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(error) if count.is_some() => {
                eprintln!("getCaseCount: the connection ended with {error} after the count");
                break;
            }
            Err(error) => return Err(error),
        }
    }
    count.ok_or_else(|| Error::Io(std::io::Error::other("no case count in the answer")))
}

/// How a case ended.
enum Ending {
    /// The closing handshake completed.
    Clean(CloseCode),
    /// This testee failed the connection: the peer broke the protocol, and
    /// the engine sent the Close with the code for it.
    Failed(Error),
    /// Anything else: the connection was lost, or the case never opened.
    Other(String),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Clean(code) => write!(f, "closed cleanly ({code})"),
            Ending::Failed(error) => write!(f, "failed the connection: {error}"),
            Ending::Other(what) => write!(f, "ended: {what}"),
        }
    }
}

#[derive(Default)]
struct Tally {
    clean: u32,
    failed: u32,
    other: u32,
}

impl Tally {
    fn add(&mut self, ending: &Ending) {
        match ending {
            Ending::Clean(_) => self.clean += 1,
            Ending::Failed(_) => self.failed += 1,
            Ending::Other(_) => self.other += 1,
        }
    }
}

/// Runs one case: echoes every data message until the connection ends.
fn run_case(url: &str, config: &Config) -> Ending {
    let mut ws = match open(url, config) {
        Ok(ws) => ws,
        Err(error) => return Ending::Other(format!("could not open: {error}")),
    };
    let mut failure = None;
    loop {
        match ws.read() {
            Ok(Some(message @ (Message::Text(_) | Message::Binary(_)))) => {
                match ws.send(message) {
                    // The server's Close may already be in: nothing to echo to.
                    Ok(()) | Err(Error::Usage(_)) => {}
                    Err(error) => failure = failure.or(Some(error)),
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            // A protocol error is reported once, after the Close went out;
            // the next read ends.
            Err(error @ Error::Protocol(_)) => failure = failure.or(Some(error)),
            // The transport failed: nothing more will come.
            Err(error) => {
                failure = failure.or(Some(error));
                break;
            }
        }
    }
    match (ws.closed(), failure) {
        (Some(closed), None) if closed.clean => Ending::Clean(closed.code),
        (_, Some(error @ Error::Protocol(_))) => Ending::Failed(error),
        (_, Some(error)) => Ending::Other(error.to_string()),
        (closed, None) => Ending::Other(format!("{closed:?}")),
    }
}

/// Asks the server to write its reports, then closes politely.
fn update_reports(url: &str, config: &Config) -> Result<(), Error> {
    let mut ws = open(url, config)?;
    // The server closes when the reports are written; if it has not yet,
    // our Close asks it to.
    match ws.close(CloseCode::NORMAL, "") {
        Ok(()) | Err(Error::Usage(_)) => {}
        Err(error) => return Err(error),
    }
    while ws.read()?.is_some() {}
    Ok(())
}
