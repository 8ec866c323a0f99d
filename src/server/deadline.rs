//! A write deadline on a connection: a client that stops reading is dropped.
//!
//! When a client does not read, its socket's send buffer fills and every write waits.
//! Left alone, the connection, its response (a file being streamed, with its slot) and the
//! buffered bytes are held as long as the client likes. [`WriteDeadline`] fails a write
//! that has made no progress for the deadline, which ends the connection. A slow reader
//! that keeps taking bytes is never cut: the clock restarts with each byte written.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// `inner` whose writes fail once they have been blocked for longer than the deadline.
#[derive(Debug)]
pub(super) struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    /// Armed while a write waits; reset by every write that goes through.
    timer: Pin<Box<Sleep>>,
    waiting: bool,
}

impl<S> WriteDeadline<S> {
    /// Wraps `inner`; a write blocked for `limit` fails with `TimedOut`.
    pub(super) fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            waiting: false,
        }
    }

    /// Passes `poll` (a write, flush or shutdown of the inner stream) through, keeping the
    /// clock: progress disarms it, a first wait arms it, an expired wait is an error.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut S, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll(&mut self.inner, cx) {
            Poll::Ready(result) => {
                self.waiting = false;
                Poll::Ready(result)
            }
            Poll::Pending => {
                if !self.waiting {
                    self.waiting = true;
                    self.timer.as_mut().reset(Instant::now() + self.limit);
                }
                // Registers this task with the timer too, so it wakes when time is up.
                if self.timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client stopped reading",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .watch(cx, |inner, cx| Pin::new(inner).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().watch(cx, |inner, cx| {
            Pin::new(inner).poll_write_vectored(cx, bufs)
        })
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .watch(cx, |inner, cx| Pin::new(inner).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .watch(cx, |inner, cx| Pin::new(inner).poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that takes one write every `every` (none if `None`), like a socket whose
    /// reader drains it at that pace.
    struct Peer {
        every: Option<Duration>,
        next: Pin<Box<Sleep>>,
    }

    impl Peer {
        fn new(every: Option<Duration>) -> Self {
            let first = every.unwrap_or(Duration::ZERO);
            Self {
                every,
                next: Box::pin(tokio::time::sleep(first)),
            }
        }
    }

    impl AsyncWrite for Peer {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let Some(every) = self.every else {
                return Poll::Pending; // never reads, never wakes us
            };
            if self.next.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.next.as_mut().reset(Instant::now() + every);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    async fn write(stream: &mut WriteDeadline<Peer>) -> io::Result<usize> {
        std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, &[1; 64])).await
    }

    #[test]
    fn a_write_blocked_past_the_deadline_fails_and_progress_resets_the_clock() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let limit = Duration::from_millis(100);
            // A peer that never reads: the write fails once the deadline passes.
            let mut stuck = WriteDeadline::new(Peer::new(None), limit);
            let started = Instant::now();
            let error = write(&mut stuck).await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::TimedOut);
            assert!(started.elapsed() >= limit);

            // A peer that takes a write every 60 ms: each wait is under the deadline, so
            // 500 ms of writing never fails although it is far longer than 100 ms.
            let mut slow = WriteDeadline::new(Peer::new(Some(Duration::from_millis(60))), limit);
            let started = Instant::now();
            let mut writes = 0;
            while started.elapsed() < Duration::from_millis(500) {
                write(&mut slow)
                    .await
                    .expect("a peer that keeps taking is never cut");
                writes += 1;
            }
            assert!(writes >= 5, "{writes}");
        });
    }
}
