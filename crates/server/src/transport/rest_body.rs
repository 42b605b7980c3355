//! A response body sent as a list of buffers of known total length: the
//! JSON header of a binary-extension answer and each output's own buffer go
//! to the socket as they are, without being copied into one.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Buffers sent one after another; the exact length makes the answer carry
/// `Content-Length`.
#[derive(Debug, Default)]
pub struct ChunkedBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl ChunkedBody {
    /// A body of these buffers, in order (empty ones are skipped).
    pub fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        ChunkedBody { chunks, remaining }
    }
}

impl Body for ChunkedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(this.chunks.pop_front().map(|chunk| {
            this.remaining -= chunk.len() as u64;
            Ok(Frame::data(chunk))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sends_every_chunk_in_order_with_an_exact_length() {
        let body = ChunkedBody::new([
            Bytes::from_static(b"{}"),
            Bytes::new(),
            Bytes::from_static(b"abc"),
        ]);
        assert_eq!(body.size_hint().exact(), Some(5));
        let collected = axum::body::to_bytes(axum::body::Body::new(body), 100)
            .await
            .unwrap();
        assert_eq!(collected.as_ref(), b"{}abc");
    }
}
