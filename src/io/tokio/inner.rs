//! The state behind a [`WebSocketStream`](super::WebSocketStream) and its
//! halves: the adapter core, the transport, the wakers of two tasks.

use core::pin::Pin;
use core::task::{ready, Context, Poll};
use std::boxed::Box;
use std::io::{self as stdio, ErrorKind, IoSlice};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Wake, Waker};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::super::driver::{Driver, HeapCore, Step};
use super::super::{is_disconnect, Error, Message};
use crate::adapter::{Payload, Queued, ReadBuffer};
use crate::close::CloseCode;
use crate::connection::prepared::PreparedMessage;
use crate::connection::{Compression, Connection, State, Transmit};
use crate::error::UsageError;
use crate::frame::MessageKind;
use crate::handshake::{Decision, Request};
use crate::time::Instant;

/// Sends wait while more than this many bytes are queued (or half of
/// `max_buffered_output`, if less).
const HIGH_WATER: usize = 1 << 20;

/// Which half is polling: each has its own slot for write-readiness wakers.
#[derive(Debug, Clone, Copy)]
pub(super) enum Side {
    /// Reading (and the handshake): writes opportunistically.
    Read = 0,
    /// Sending.
    Write = 1,
}

/// The tasks to wake when the transport can take more bytes.
///
/// A transport remembers one waker per direction, the last one given, so two
/// tasks writing through it would silently replace each other's. Both halves
/// instead give the transport this waker, which wakes whichever of them is
/// waiting to write; and the reader's waker is kept so the writer can wake
/// it when it changes how the connection ends.
#[derive(Debug, Default)]
pub(super) struct Wakers {
    slots: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    writing: [Option<Waker>; 2],
    reader: Option<Waker>,
}

impl Wakers {
    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `side` waits to write and returns the waker to give the
    /// transport.
    pub(super) fn register(self: &Arc<Self>, side: Side, waker: &Waker) -> Waker {
        let mut slots = self.slots();
        let slot = &mut slots.writing[side as usize];
        match slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
        drop(slots);
        Waker::from(Arc::clone(self))
    }

    /// `side` no longer waits to write.
    pub(super) fn clear(&self, side: Side) {
        self.slots().writing[side as usize] = None;
    }

    /// Wakes the other half if it waits to write (this one freed room).
    pub(super) fn wake_other(&self, side: Side) {
        let other = match side {
            Side::Read => Side::Write,
            Side::Write => Side::Read,
        };
        let waker = self.slots().writing[other as usize].take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(super) fn set_reader(&self, waker: &Waker) {
        let mut slots = self.slots();
        match &slots.reader {
            Some(old) if old.will_wake(waker) => {}
            _ => slots.reader = Some(waker.clone()),
        }
    }

    pub(super) fn wake_reader(&self) {
        let waker = self.slots().reader.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken under the lock, woken outside it.
        let [a, b] = {
            let mut slots = self.slots();
            [slots.writing[0].take(), slots.writing[1].take()]
        };
        for waker in [a, b].into_iter().flatten() {
            waker.wake();
        }
    }
}

/// Polls a transport operation with the task's own waker first: when it
/// is ready at once (the usual case) no shared waker is made and nothing is
/// locked. One that would wait is polled again with the waker both halves
/// share (made once per `poll_output`, kept in `shared`), which replaces
/// the task's in the transport, so whichever half waits to write wakes when
/// there is room.
fn own_waker_first<T>(
    shared: &mut Option<Waker>,
    wakers: &Arc<Wakers>,
    side: Side,
    cx: &mut Context<'_>,
    mut op: impl FnMut(&mut Context<'_>) -> Poll<T>,
) -> Poll<T> {
    if let Some(waker) = shared {
        return op(&mut Context::from_waker(waker));
    }
    match op(cx) {
        Poll::Pending => {
            let waker = shared.insert(wakers.register(side, cx.waker()));
            op(&mut Context::from_waker(waker))
        }
        ready => ready,
    }
}

/// How far the transport's write side is shut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteSide {
    Open,
    /// The engine said `Shutdown`; `poll_shutdown` has not completed.
    ShuttingDown,
    Shut,
}

/// Everything but the API: the adapter core (engine, read buffer), the
/// transport and the Sink's held message. Every method is synchronous and
/// returns `Pending` after registering a waker, so it can run under the
/// halves' lock.
pub(super) struct Inner<S> {
    pub(super) core: HeapCore,
    pub(super) stream: S,
    pub(super) driver: Driver,
    /// The connection's time origin, on tokio's clock (so tests with paused
    /// time and the sleeps below agree).
    clock: ::tokio::time::Instant,
    /// Sends wait while more than this is queued.
    pub(super) high_water: usize,
    /// A message the Sink accepted that did not fit in the engine yet: at
    /// most one, so the Sink never holds more than the caller handed it.
    unsent: Option<Message>,
    write_side: WriteSide,
    /// Bytes were written since the transport was last flushed.
    needs_flush: bool,
    /// `None` was returned.
    pub(super) finished: bool,
    wakers: Arc<Wakers>,
    /// Wakes the reader at the engine's next deadline (`poll_timeout`).
    sleep: Option<Pin<Box<::tokio::time::Sleep>>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    pub(super) fn new(conn: Connection, stream: S, max_buffered_output: usize) -> Self {
        Inner {
            core: HeapCore::new(conn, ReadBuffer::heap().into_inner()),
            stream,
            driver: Driver::default(),
            clock: ::tokio::time::Instant::now(),
            high_water: HIGH_WATER.min(max_buffered_output / 2),
            unsent: None,
            write_side: WriteSide::Open,
            needs_flush: false,
            finished: false,
            wakers: Arc::default(),
            sleep: None,
        }
    }

    /// Runs the engine's deadlines that have passed and arms a sleep for
    /// the next one, so the reading task wakes for it. Returns whether a
    /// deadline ran (its events are then ready for `process`).
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.core.conn.poll_timeout() else {
            self.sleep = None;
            return false;
        };
        if self.core.fire_timers(self.now()) {
            return true;
        }
        let at = self.clock + std::time::Duration::from_micros(deadline.as_micros());
        match &mut self.sleep {
            Some(sleep) if sleep.deadline() == at => {}
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.sleep = Some(Box::pin(::tokio::time::sleep_until(at))),
        }
        let fired = match &mut self.sleep {
            Some(sleep) => core::future::Future::poll(sleep.as_mut(), cx).is_ready(),
            None => false,
        };
        fired && self.core.fire_timers(self.now().max(deadline))
    }

    pub(super) fn now(&self) -> Instant {
        Instant::from_micros(self.clock.elapsed().as_micros() as u64)
    }

    /// Drives the opening handshake until the connection is open. `decide`
    /// is asked about the request on a server, never called on a client.
    pub(super) fn poll_handshake<'d>(
        &mut self,
        cx: &mut Context<'_>,
        decide: &mut dyn FnMut(&Request<'_>) -> Decision<'d>,
    ) -> Poll<Result<(), Error>> {
        // One reading of the clock for the whole poll (no waiting happens
        // inside it), taken again after a deadline fired.
        let mut now = self.now();
        loop {
            if matches!(self.core.conn.state(), State::Open | State::Closing) {
                // Bytes after the handshake are frames, left for `next`.
                return self.poll_output(cx, Side::Read, 0).map_err(Error::Io);
            }
            // Also when closed: the `Closed` event carries the error.
            if let Some(step) = self.process(now, decide)? {
                if let Step::Rejected(response) = step {
                    let _ = self.poll_output(cx, Side::Read, 0);
                    return Poll::Ready(Err(Error::Rejected(Box::new(response))));
                }
                continue;
            }
            if self.core.conn.state() == State::Closed {
                // The answer to a refused or malformed request goes out (and
                // the write side is shut) before the error; a transport
                // error then is moot.
                let _ = ready!(self.poll_output(cx, Side::Read, 0));
                return Poll::Ready(Err(self.driver.handshake_error()));
            }
            ready!(self.poll_output(cx, Side::Read, 0))?;
            if self.core.conn.state() != State::Handshaking {
                continue;
            }
            match self.poll_fill(cx, now) {
                Poll::Pending if self.poll_timers(cx) => now = self.now(),
                other => ready!(other)?,
            }
        }
    }

    /// The reading loop, the blocking adapter's `read` made pollable.
    pub(super) fn poll_next_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        if self.core.conn.state() == State::Handshaking {
            return Poll::Ready(Some(Err(Error::Usage(UsageError::NotOpen))));
        }
        // One reading of the clock for the whole poll (no waiting happens
        // inside it), taken again after a deadline fired.
        let mut now = self.now();
        loop {
            match self.process(now, &mut |_| Decision::accept()) {
                Err(error) => return Poll::Ready(Some(Err(error))),
                Ok(Some(Step::Message(message))) => {
                    // Answers (a Pong, a Close reply) go out before the
                    // application sees what they answer.
                    self.flush_for_reader(cx);
                    return Poll::Ready(Some(Ok(message)));
                }
                Ok(Some(_)) => continue,
                Ok(None) => {}
            }
            // Every event read is out: now a failure may be reported (a
            // protocol error once its Close is written as far as the
            // transport takes it, a transport error after the messages
            // before it).
            if let Some(error) = self.driver.pending_error.take() {
                let _ = self.poll_output(cx, Side::Read, 0);
                return Poll::Ready(Some(Err(error)));
            }
            // Write what the engine queued before waiting for input. If the
            // transport is full this registers for write readiness, so a
            // reader parked below also wakes to finish writing the Pong.
            // Write errors surface through the reads that follow, or (one
            // that ended the transport) the next time round.
            self.flush_for_reader(cx);
            if self.driver.pending_error.is_some() {
                continue;
            }
            if self.core.closed.is_some() && (self.write_side == WriteSide::Shut || self.core.eof) {
                self.finished = true;
                return Poll::Ready(None);
            }
            match self.poll_fill(cx, now) {
                // A deadline passed while waiting: run it, and carry on
                // with what it produced (a keepalive Ping, `Closed`).
                Poll::Pending if self.poll_timers(cx) => now = self.now(),
                Poll::Pending => {
                    self.wakers.set_reader(cx.waker());
                    return Poll::Pending;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(Ok(())) => {}
            }
        }
    }

    /// Writes what the engine queued for the reader, as far as the
    /// transport takes it now. A write that found the peer gone before the
    /// closing handshake (a reset while a Pong or a Close reply went out)
    /// ended the transport, so no later call would show it: it is kept and
    /// reported after the events before it, as a read's would be.
    fn flush_for_reader(&mut self, cx: &mut Context<'_>) {
        if let Poll::Ready(Err(error)) = self.poll_output(cx, Side::Read, 0) {
            if self.core.eof {
                self.driver.pending_error.get_or_insert(Error::Io(error));
            }
        }
    }

    /// Hands buffered bytes to the engine until one event gives a step
    /// (see `Driver::process`). `None` when the buffer is used up.
    fn process<'d>(
        &mut self,
        now: Instant,
        decide: &mut dyn FnMut(&Request<'_>) -> Decision<'d>,
    ) -> Result<Option<Step>, Error> {
        self.driver.process(&mut self.core, now, decide)
    }

    /// Reads more bytes from the transport into the buffer. A transport
    /// error ends the connection: after the closing handshake a reset is
    /// its end, not an error; before it, the error is reported once the
    /// events read before it are out, and the stream then ends.
    fn poll_fill(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Result<(), Error>> {
        if self.core.eof {
            return Poll::Ready(Err(Error::Io(ErrorKind::UnexpectedEof.into())));
        }
        loop {
            let spare = self.core.input.spare_growing()?;
            let mut read = ReadBuf::new(spare);
            match Pin::new(&mut self.stream).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {
                    let n = read.filled().len();
                    self.core.filled(n, now);
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    if !self.core.transport_ended(is_disconnect(&e), now) {
                        self.driver.pending_error.get_or_insert(Error::Io(e));
                    }
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }

    /// Writes queued output until at most `target` bytes remain; with
    /// `target` 0, also flushes the transport and shuts its write side when
    /// the engine says so.
    pub(super) fn poll_output(
        &mut self,
        cx: &mut Context<'_>,
        side: Side,
        target: usize,
    ) -> Poll<stdio::Result<()>> {
        // Nothing to write or flush, the usual case for a reader: no loop.
        if self.write_side == WriteSide::Open && !self.needs_flush && !self.core.conn.has_transmit()
        {
            return Poll::Ready(Ok(()));
        }
        // Registered only once the transport is actually polled.
        let mut waker: Option<Waker> = None;
        let mut progressed = false;
        let result = loop {
            match self.write_side {
                WriteSide::Shut => break Poll::Ready(Ok(())),
                WriteSide::ShuttingDown => {
                    let stream = &mut self.stream;
                    let shut = own_waker_first(&mut waker, &self.wakers, side, cx, |cx| {
                        Pin::new(&mut *stream).poll_shutdown(cx)
                    });
                    match shut {
                        Poll::Pending => break Poll::Pending,
                        // The connection is over either way: a failed FIN
                        // leaves nothing more to do.
                        Poll::Ready(_) => {
                            self.write_side = WriteSide::Shut;
                            self.needs_flush = false;
                            self.wakers.wake_reader();
                            continue;
                        }
                    }
                }
                WriteSide::Open => {}
            }
            if target > 0 && self.core.conn.buffered_output() <= target {
                break Poll::Ready(Ok(()));
            }
            match self.core.conn.poll_transmit() {
                Some(Transmit::Bytes(bytes)) => {
                    let stream = &mut self.stream;
                    let polled = own_waker_first(&mut waker, &self.wakers, side, cx, |cx| {
                        Pin::new(&mut *stream).poll_write(cx, bytes)
                    });
                    match polled {
                        Poll::Pending => break Poll::Pending,
                        Poll::Ready(Ok(0)) => break Poll::Ready(Err(ErrorKind::WriteZero.into())),
                        Poll::Ready(Ok(n)) => {
                            self.core.conn.transmitted(n);
                            self.needs_flush = true;
                            progressed = true;
                        }
                        Poll::Ready(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                        Poll::Ready(Err(e)) => break self.write_failed(e),
                    }
                }
                // `poll_shutdown` flushes first (tokio's contract).
                Some(Transmit::Shutdown) => self.write_side = WriteSide::ShuttingDown,
                // `write_external` never leaves a payload owed.
                Some(Transmit::External(_)) => {
                    break Poll::Ready(Err(stdio::Error::other(UsageError::ExternalPending)));
                }
                None => {
                    if self.needs_flush {
                        let stream = &mut self.stream;
                        let flushed = own_waker_first(&mut waker, &self.wakers, side, cx, |cx| {
                            Pin::new(&mut *stream).poll_flush(cx)
                        });
                        match flushed {
                            Poll::Pending => break Poll::Pending,
                            Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                            Poll::Ready(Ok(())) => self.needs_flush = false,
                        }
                    }
                    break Poll::Ready(Ok(()));
                }
            }
        };
        if progressed {
            self.wakers.wake_other(side);
        }
        if waker.is_some() && result.is_ready() {
            self.wakers.clear(side);
        }
        result
    }

    /// A write failed: the transport is finished with. After the closing
    /// handshake a reset or broken pipe is the connection's end (the peer
    /// closed first, as it may), not an error.
    fn write_failed(&mut self, error: stdio::Error) -> Poll<stdio::Result<()>> {
        let now = self.now();
        let clean = self.core.transport_ended(is_disconnect(&error), now);
        self.write_side = WriteSide::Shut;
        self.needs_flush = false;
        self.wakers.wake_reader();
        Poll::Ready(if clean { Ok(()) } else { Err(error) })
    }

    /// Ready when the Sink's held message is in the engine and at most
    /// `high_water` bytes are queued, writing meanwhile.
    pub(super) fn poll_room(
        &mut self,
        cx: &mut Context<'_>,
        high_water: usize,
    ) -> Poll<Result<(), Error>> {
        loop {
            self.queue_unsent()?;
            if self.unsent.is_none() && self.core.conn.buffered_output() <= high_water {
                return Poll::Ready(Ok(()));
            }
            // A held message waits for the whole output to go.
            let target = if self.unsent.is_some() { 0 } else { high_water };
            ready!(self.poll_output(cx, Side::Write, target))?;
        }
    }

    /// Moves the held message into the engine if it fits now.
    fn queue_unsent(&mut self) -> Result<(), Error> {
        if let Some(message) = self.unsent.take() {
            match queue_message(&mut self.core.conn, &message) {
                Ok(()) => self.after_queue(&message),
                // It fits once the output drains.
                Err(UsageError::OutputFull) if self.core.conn.buffered_output() > 0 => {
                    self.unsent = Some(message);
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Queues `message` in the engine, or holds it until it fits (after
    /// `poll_room`, only a message larger than the free space is held).
    pub(super) fn start_send(&mut self, message: Message) -> Result<(), Error> {
        match queue_message(&mut self.core.conn, &message) {
            Ok(()) => {
                self.after_queue(&message);
                Ok(())
            }
            Err(UsageError::OutputFull)
                if self.unsent.is_none() && self.core.conn.buffered_output() > 0 =>
            {
                self.unsent = Some(message);
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A Close changes how the reader ends: wake it to look.
    fn after_queue(&self, message: &Message) {
        if matches!(message, Message::Close(_)) {
            self.wakers.wake_reader();
        }
    }

    pub(super) fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.core.conn.close(code, reason)?;
        self.wakers.wake_reader();
        Ok(())
    }

    /// Queues one frame from borrowed bytes, waiting for room as a send
    /// does; such bytes cannot be held, so a frame that does not fit waits
    /// for the output to drain. A server's large payload is written straight
    /// away instead (`write_external`). `whole` is a whole message (a `str`
    /// for text, sent without another UTF-8 pass), else a fragment of
    /// `kind`.
    pub(super) fn poll_queue(
        &mut self,
        cx: &mut Context<'_>,
        whole: Option<Payload<'_>>,
        kind: MessageKind,
        payload: &[u8],
        fin: bool,
        compression: Compression,
    ) -> Poll<Result<(), Error>> {
        loop {
            let high_water = self.high_water;
            ready!(self.poll_room(cx, high_water))?;
            let queued = match whole {
                Some(message) => self.core.send_message(message),
                None => self.core.send_fragment(kind, payload, fin, compression),
            };
            match queued {
                Ok(Queued::External) => return Poll::Ready(self.write_external(cx, payload)),
                Ok(Queued::Copied) => return Poll::Ready(Ok(())),
                Err(UsageError::OutputFull) if self.core.conn.buffered_output() > 0 => {
                    ready!(self.poll_output(cx, Side::Write, 0))?;
                }
                Err(error) => return Poll::Ready(Err(error.into())),
            }
        }
    }

    /// Queues a prepared message once there is room. With `feed` a small
    /// frame is copied into the engine, where the next flush writes it with
    /// whatever else is queued (a burst in one write, not one per message);
    /// otherwise, and for a large frame whose copy would cost more than the
    /// write it saves, it is written from the message itself as far as the
    /// transport takes it now (the rest is copied in, as for any external
    /// payload).
    pub(super) fn poll_prepared(
        &mut self,
        cx: &mut Context<'_>,
        message: &PreparedMessage,
        feed: bool,
    ) -> Poll<Result<(), Error>> {
        let high_water = self.high_water;
        ready!(self.poll_room(cx, high_water))?;
        let owed = if feed {
            self.core.feed_prepared(message)?
        } else {
            Some(self.core.conn.send_prepared(message)?)
        };
        match owed {
            Some(frame) => Poll::Ready(self.write_external(cx, frame)),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Writes the header `queue_external` queued and `payload` after it
    /// (with what was queued before) in vectored writes, as far as the
    /// transport takes them now, so the payload is not copied. What it does
    /// not take is copied into the engine before this returns: no payload is
    /// owed once a poll ends, because the send may be cancelled at its next
    /// await and the read half writes through the same engine.
    fn write_external(&mut self, cx: &mut Context<'_>, payload: &[u8]) -> Result<(), Error> {
        let mut waker: Option<Waker> = None;
        let mut progressed = false;
        let result = loop {
            let Some([queued, rest]) = self.core.external_parts(payload) else {
                break Ok(());
            };
            let waker = waker.get_or_insert_with(|| self.wakers.register(Side::Write, cx.waker()));
            let mut wcx = Context::from_waker(waker);
            let parts = [IoSlice::new(queued), IoSlice::new(rest)];
            match Pin::new(&mut self.stream).poll_write_vectored(&mut wcx, &parts) {
                Poll::Pending => break Ok(()),
                Poll::Ready(Ok(0)) => break Err(ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    self.core.conn.transmitted(n);
                    self.needs_flush = true;
                    progressed = true;
                }
                Poll::Ready(Err(e)) if e.kind() == ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => break Err(e),
            }
        };
        self.core.buffer_owed(payload)?;
        if progressed {
            self.wakers.wake_other(Side::Write);
        }
        // The flush that follows registers again if it has to wait.
        if waker.is_some() {
            self.wakers.clear(Side::Write);
        }
        result.map_err(Error::Io)
    }

    /// Writes everything, the held message included.
    pub(super) fn poll_flush_all(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_room(cx, usize::MAX))?;
        self.poll_output(cx, Side::Write, 0).map_err(Error::Io)
    }

    /// `Sink::poll_close`: everything queued, then a Close with 1000 unless
    /// one was sent, all written.
    pub(super) fn poll_close_normal(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        ready!(self.poll_room(cx, usize::MAX))?;
        if self.core.conn.close_sent().is_none() {
            match self.close(CloseCode::NORMAL, "") {
                // Already over: nothing to start.
                Ok(()) | Err(Error::Usage(UsageError::NotOpen)) => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        self.poll_output(cx, Side::Write, 0).map_err(Error::Io)
    }
}

/// A data message that a server sends external (see
/// `Core::sends_external`): its payload, borrowed.
pub(super) fn external_payload<'m>(core: &HeapCore, message: &'m Message) -> Option<Payload<'m>> {
    let payload = match message {
        Message::Text(text) => Payload::Text(text),
        Message::Binary(bytes) => Payload::Binary(bytes),
        _ => return None,
    };
    core.sends_external(payload.len(), Compression::Auto)
        .then_some(payload)
}

/// The engine command for a message.
fn queue_message(conn: &mut Connection, message: &Message) -> Result<(), UsageError> {
    match message {
        Message::Text(text) => conn.send_text(text),
        Message::Binary(bytes) => conn.send_binary(bytes),
        Message::Ping(payload) => conn.ping(payload),
        Message::Pong(payload) => conn.pong(payload),
        Message::Close(Some(frame)) => conn.close(frame.code, &frame.reason),
        Message::Close(None) => conn.close(CloseCode::NO_STATUS, ""),
    }
}
