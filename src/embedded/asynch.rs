//! The async adapter: a [`Connection`] over [`embedded_io_async::Read`] +
//! [`embedded_io_async::Write`] (embassy-net's `TcpSocket`, esp-hal
//! sockets), on any executor. The same methods as
//! [`blocking::WebSocket`](super::blocking::WebSocket), `async`; see the
//! [module docs](super) for the choices, and for racing
//! [`next_event`](WebSocket::next_event) against a timer.

use core::ops::Range;

use embedded_io_async::{Read, Write};

use super::{websocket_methods, Engine, Error, Next};
use crate::close::CloseCode;
use crate::connection::storage::Storage;
use crate::connection::{Connection, DefaultStorage};
use crate::event::Event;
use crate::frame::MessageKind;
use crate::handshake::{Decision, Request};
use crate::time::Instant;

/// A WebSocket over an async embedded-io transport `T`, reading into the
/// caller's buffer `'b`.
#[derive(Debug)]
pub struct WebSocket<'b, T: embedded_io_async::ErrorType, S: Storage = DefaultStorage> {
    engine: Engine<'b, S>,
    transport: T,
    /// A write error met after an event was handed out, returned by the
    /// next call so that the event itself was not lost.
    pending: Option<Error<<T as embedded_io_async::ErrorType>::Error>>,
}

impl<'b, T: Read + Write, S: Storage> WebSocket<'b, T, S> {
    websocket_methods!(async; .await);
}
