//! The gRPC listener's connections over TLS, for tonic's
//! `serve_with_incoming`: handshakes run concurrently, each bounded in time,
//! and only finished ones reach the server.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use super::watch::ServerTls;
use crate::transport::rest_serve::next_connection;

/// Handshakes finished but not yet taken by the server.
const READY_QUEUE: usize = 64;

/// A TLS connection the gRPC server reads requests from.
pub struct TlsConnection {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
}

/// What tonic may ask about a [`TlsConnection`].
#[derive(Debug, Clone)]
pub struct TlsConnectInfo {
    /// The client's address.
    pub remote_addr: Option<std::net::SocketAddr>,
}

impl Connected for TlsConnection {
    type ConnectInfo = TlsConnectInfo;

    fn connect_info(&self) -> TlsConnectInfo {
        TlsConnectInfo {
            remote_addr: self.stream.get_ref().0.peer_addr().ok(),
        }
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    /// No: HTTP/2 then gathers each write into one buffer, which becomes
    /// one TLS record instead of one record per frame part.
    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Accepts TCP connections on `listener` and yields them once their TLS
/// handshake (at most `handshake_timeout`) has succeeded; failed handshakes
/// are logged at debug level and dropped. Accepting stops when the server
/// drops the stream.
pub fn tls_incoming(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    handshake_timeout: Duration,
) -> ReceiverStream<io::Result<TlsConnection>> {
    let (ready, stream) = mpsc::channel(READY_QUEUE);
    tokio::spawn(async move {
        loop {
            let socket = tokio::select! {
                () = ready.closed() => break,
                socket = next_connection(&listener, "gRPC") => socket,
            };
            let (tls, ready) = (tls.clone(), ready.clone());
            tokio::spawn(async move {
                if let Some(stream) = tls.handshake(socket, handshake_timeout).await {
                    let _ = ready.send(Ok(TlsConnection { stream })).await;
                }
            });
        }
    });
    ReceiverStream::new(stream)
}
