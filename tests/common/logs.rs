//! What lbops logs while a test runs it in-process, captured per thread.
//!
//! tracing asks once per callsite whether any subscriber is interested,
//! and caches the answer for the whole process. The thread that first
//! reaches a callsite asks its own default subscriber. Tests used to
//! capture with a thread-local subscriber (`set_default`), so when a
//! parallel test's thread, which had none, reached a callsite first,
//! `never` was cached and the capturing test's line was never even built
//! (`tests/webhook.rs` lost its refusal lines in 2 of 30 runs).
//! `rebuild_interest_cache()` after installing would not help: a
//! callsite first reached after it is cached by the other thread again.
//!
//! So a test binary has one global subscriber, installed by the first
//! capture, that answers "sometimes" for every callsite (ask me on each
//! event) and writes each event into the capture open on the thread that
//! emits it, if any. A capture sees what its thread logs: the test's own
//! code and, in a `current_thread` runtime, every task it spawns.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, Once};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_subscriber::layer::{Context, Filter, Layer, SubscriberExt};

/// Where a capture's lines go.
type Buffer = Arc<Mutex<Vec<u8>>>;

thread_local! {
    /// The capture open on this thread: its buffer and level.
    static OPEN: RefCell<Option<(Buffer, Level)>> = const { RefCell::new(None) };
}

/// The lines this thread logs at `level` or above until the capture is
/// dropped, formatted as the daemon's text log formats them.
pub fn capture(level: Level) -> Capture {
    install();
    let buffer = Arc::new(Mutex::new(Vec::new()));
    OPEN.with(|open| {
        let earlier = open.borrow_mut().replace((buffer.clone(), level));
        assert!(earlier.is_none(), "one log capture per thread at a time");
    });
    Capture {
        buffer,
        _this_thread: PhantomData,
    }
}

/// An open capture; see [`capture`]. It stays on the thread it captures.
pub struct Capture {
    buffer: Buffer,
    _this_thread: PhantomData<*const ()>,
}

impl Capture {
    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        OPEN.with(|open| open.borrow_mut().take());
    }
}

fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| ThisThread)
            .with_filter(CapturingThread);
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("nothing else in the tests sets a global subscriber");
        // Between the subscriber's registration and its becoming the
        // global default, another thread may have reached a callsite and
        // cached `never`; ask every callsite again now it is in place.
        tracing::callsite::rebuild_interest_cache();
    });
}

/// Lets through what the emitting thread's open capture wants, deciding
/// on every event: the answer depends on the thread, so it is never
/// cached per callsite.
struct CapturingThread;

impl<S> Filter<S> for CapturingThread {
    fn enabled(&self, metadata: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        OPEN.with(|open| {
            open.borrow()
                .as_ref()
                .is_some_and(|(_, level)| metadata.level() <= level)
        })
    }

    fn callsite_enabled(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }
}

/// Writes a formatted event into the emitting thread's open capture.
struct ThisThread;

impl std::io::Write for ThisThread {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        OPEN.with(|open| {
            if let Some((buffer, _)) = open.borrow().as_ref() {
                buffer.lock().unwrap().extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
