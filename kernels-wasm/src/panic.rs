//! Panic handling for a no_std wasm module: the message is formatted into a static buffer, then the
//! instance traps (`unreachable`). The TypeScript loader reads the buffer (`panic_message_offset`,
//! `panic_message_len`) when a kernel call throws `WebAssembly.RuntimeError`, and rethrows with it.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicU32, Ordering};

const CAP: usize = 1024;
static mut MESSAGE: [u8; CAP] = [0; CAP];
static LEN: AtomicU32 = AtomicU32::new(0);

struct Sink {
    len: usize,
}

impl Write for Sink {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len < CAP {
                // SAFETY: the index is bounded by CAP. Two threads panicking at once may interleave
                // bytes; the message is diagnostic only.
                unsafe { MESSAGE[self.len] = b };
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// Byte offset of the message buffer.
pub fn message_offset() -> u32 {
    // SAFETY: only the address is taken.
    unsafe { core::ptr::addr_of!(MESSAGE) as usize as u32 }
}

/// Length in bytes of the last message.
pub fn message_len() -> u32 {
    LEN.load(Ordering::SeqCst)
}

/// Forgets the last message (the loader clears it after reporting, so a later non-panic trap is not
/// reported with a stale message).
pub fn clear() {
    LEN.store(0, Ordering::SeqCst);
}

#[panic_handler]
fn on_panic(info: &PanicInfo) -> ! {
    let mut sink = Sink { len: 0 };
    let _ = write!(sink, "{info}");
    LEN.store(sink.len as u32, Ordering::SeqCst);
    core::arch::wasm32::unreachable()
}
