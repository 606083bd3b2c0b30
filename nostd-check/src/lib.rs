//! A `#![no_std]` user of hybi. It must build; see Cargo.toml for why that
//! proves the core never links std.
#![no_std]

extern crate alloc;

use hybi::{ClientRequest, Config, Connection, Entropy, Event, Instant};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// A device RNG stand-in (a real device would read its hardware RNG).
pub struct DeviceRng(pub u32);

impl Entropy for DeviceRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            // xorshift32: only here to have something to call.
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            *b = self.0 as u8;
        }
    }
}

/// Uses the engine in both roles so its code is compiled in, not only its
/// signatures.
pub fn exercise(input: &mut [u8]) -> usize {
    let mut events = 0;
    let mut server = Connection::server(Config::default(), hybi::Instant::ZERO);
    let out = server.handle_input(input, Instant::ZERO);
    if let Some(Event::Request(_)) = out.event {
        events += 1;
    }
    if let Ok(request) = ClientRequest::new("ws://device.local/feed") {
        if let Ok(mut client) = Connection::client(Config::default(), request, DeviceRng(7), hybi::Instant::ZERO) {
            if client.poll_transmit().is_some() {
                events += 1;
            }
        }
    }
    let mut frame = [0x81, 0x02, b'h', b'i'];
    hybi::mask::apply_mask(&mut frame[2..], [1, 2, 3, 4], 0);
    events + hybi::accept_key(b"dGhlIHNhbXBsZSBub25jZQ==").as_bytes().len()
}
