//! A `#![no_std]` user of hybi with no allocator at all. It must build (and
//! link, as a cdylib); see Cargo.toml for why that proves the engine needs
//! neither std nor a heap.
#![no_std]

use hybi::handshake::BorrowedRequest;
use hybi::storage::{Fixed, FixedBuffers};
use hybi::{Accept, CloseCode, Config, Connection, Entropy, Event, Instant, MessageKind, Transmit};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// A device RNG stand-in (a real device reads its hardware RNG; RFC 6455
/// §10.3 wants masking keys an attacker cannot predict).
pub struct DeviceRng(pub u32);

impl Entropy for DeviceRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            *b = self.0 as u8;
        }
    }
}

/// The transport a device provides: here two function pointers, so the
/// measured code is hybi's and not a network stack's.
pub struct Transport {
    /// Reads into the buffer; 0 at end of input.
    pub read: extern "C" fn(*mut u8, usize) -> usize,
    /// Writes the bytes; returns how many were taken.
    pub write: extern "C" fn(*const u8, usize) -> usize,
    /// A monotonic clock in microseconds.
    pub now_us: extern "C" fn() -> u64,
}

impl Transport {
    fn read(&self, buf: &mut [u8]) -> usize {
        (self.read)(buf.as_mut_ptr(), buf.len()).min(buf.len())
    }

    fn flush<S: hybi::storage::Storage>(&self, conn: &mut Connection<S>) {
        while let Some(Transmit::Bytes(bytes)) = conn.poll_transmit() {
            let n = (self.write)(bytes.as_ptr(), bytes.len()).min(bytes.len());
            if n == 0 {
                return;
            }
            conn.transmitted(n);
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros((self.now_us)())
    }
}

/// A minimal echo server: accepts any upgrade, echoes every data chunk,
/// answers pings and closes (the engine does those), until the end.
pub fn echo_server(transport: &Transport) -> u32 {
    let mut output = [0u8; 2048];
    let mut handshake = [0u8; 1024];
    let mut input = [0u8; 1024];
    let mut echo = [0u8; 1024];
    let buffers = FixedBuffers { output: &mut output, handshake: &mut handshake };
    let mut conn: Connection<Fixed<'_>> =
        Connection::server_in(Config::default(), buffers, transport.now());
    let mut messages = 0;
    loop {
        let n = transport.read(&mut input);
        let now = transport.now();
        if n == 0 {
            conn.handle_eof(now);
        }
        let mut pos = 0;
        loop {
            let step = conn.handle_input(&mut input[pos..n], now);
            pos += step.consumed;
            let reply = match step.event {
                None => break,
                Some(Event::Request(_)) => None,
                Some(Event::Data(data)) => {
                    let len = data.payload.len().min(echo.len());
                    echo[..len].copy_from_slice(&data.payload[..len]);
                    Some((data.kind, len, data.fin))
                }
                Some(Event::Closed(_)) => {
                    transport.flush(&mut conn);
                    return messages;
                }
                Some(_) => None,
            };
            if matches!(conn.state(), hybi::State::Handshaking) {
                let _ = conn.accept(Accept::new());
            }
            if let Some((kind, len, fin)) = reply {
                messages += u32::from(fin);
                let _ = conn.send(kind, &echo[..len], fin);
            }
        }
        transport.flush(&mut conn);
    }
}

/// A minimal client: connects, sends one text message, waits for the
/// answer, closes.
pub fn hello_client(transport: &Transport) -> u32 {
    let mut output = [0u8; 1024];
    let mut handshake = [0u8; 1024];
    let mut input = [0u8; 1024];
    let mut rng = DeviceRng(0x2545_f491);
    let buffers = FixedBuffers { output: &mut output, handshake: &mut handshake };
    let Ok(request) = BorrowedRequest::new("ws://device.local/feed") else {
        return 0;
    };
    let Ok(mut conn) =
        Connection::client_in(Config::default(), request, &mut rng, buffers, transport.now())
    else {
        return 0;
    };
    let mut received = 0;
    loop {
        transport.flush(&mut conn);
        let n = transport.read(&mut input);
        let now = transport.now();
        if n == 0 {
            conn.handle_eof(now);
        }
        let mut pos = 0;
        loop {
            let step = conn.handle_input(&mut input[pos..n], now);
            pos += step.consumed;
            match step.event {
                None => break,
                Some(Event::Accepted(_)) => {
                    let _ = conn.send(MessageKind::Text, b"hello", true);
                }
                Some(Event::Data(data)) if data.fin => {
                    received += 1;
                    let _ = conn.close(CloseCode::NORMAL, "");
                }
                Some(Event::Closed(_)) => return received,
                Some(_) => {}
            }
        }
    }
}

/// The server, exported for size.sh (`--features server`).
#[cfg(feature = "server")]
#[no_mangle]
pub extern "C" fn hybi_echo_server(transport: &Transport) -> u32 {
    echo_server(transport)
}

/// The client, exported for size.sh (`--features client`).
#[cfg(feature = "client")]
#[no_mangle]
pub extern "C" fn hybi_hello_client(transport: &Transport) -> u32 {
    hello_client(transport)
}

/// The heap engine under no_std (`--features alloc`), compiled in too.
#[cfg(feature = "alloc")]
pub fn heap_server(now: Instant) -> Connection {
    Connection::server(Config::default(), now)
}

/// With `alloc`, the final artifact needs a global allocator; a real device
/// brings its own. This one refuses every request: the build is the check.
#[cfg(feature = "alloc")]
mod refusing_allocator {
    use core::alloc::{GlobalAlloc, Layout};

    struct Refuse;

    // SAFETY: returning null is how an allocator reports failure; dealloc
    // is never given a pointer this allocator handed out.
    unsafe impl GlobalAlloc for Refuse {
        unsafe fn alloc(&self, _: Layout) -> *mut u8 {
            core::ptr::null_mut()
        }
        unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
    }

    #[global_allocator]
    static ALLOCATOR: Refuse = Refuse;
}
