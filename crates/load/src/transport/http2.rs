//! HTTP/2 transport over hyper: h2c with prior knowledge for `http://`
//! targets, TLS with ALPN `h2` for `https://`. One stream in flight per
//! connection, so `-c N` means N concurrent requests as for HTTP/1.1.

use super::http1::RequestSpec;
use super::stream::{connect_stream, tls_for, Stream};
use super::{Connection, Driver, OpError, Response};
use crate::target::Target;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use scalewall_model::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

/// Opens HTTP/2 connections.
pub struct Http2Driver {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    template: Arc<RequestTemplate>,
}

/// The parts of a request reused on every call.
struct RequestTemplate {
    method: Method,
    uri: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Http2Driver {
    /// A driver sending `spec` to `target` at `addr`.
    pub fn new(
        target: &Target,
        addr: SocketAddr,
        spec: &RequestSpec,
        tls_config: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Self, OpError> {
        let invalid = |what: String| OpError::new(ErrorKind::Protocol, what);
        let method = Method::from_bytes(spec.method.as_bytes())
            .map_err(|_| invalid(format!("invalid HTTP method '{}'", spec.method)))?;
        let uri: Uri = target
            .display
            .parse()
            .map_err(|e| invalid(format!("invalid URL {}: {e}", target.display)))?;
        let mut headers = Vec::with_capacity(spec.headers.len());
        for (name, value) in &spec.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("invalid header name '{name}'")))?;
            if name == http::header::HOST || name == http::header::CONNECTION {
                continue; // HTTP/2 carries the authority in :authority and forbids Connection
            }
            let value = HeaderValue::from_str(value)
                .map_err(|_| invalid(format!("invalid value for header '{name}'")))?;
            headers.push((name, value));
        }
        let tls = tls_for(target, tls_config)?;
        Ok(Http2Driver {
            addr,
            tls,
            template: Arc::new(RequestTemplate {
                method,
                uri,
                headers,
                body: spec.body.clone(),
            }),
        })
    }
}

/// One HTTP/2 connection.
pub struct Http2Conn {
    sender: http2::SendRequest<Full<Bytes>>,
    template: Arc<RequestTemplate>,
}

fn classify(err: &hyper::Error) -> OpError {
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_parse() || err.is_user() {
        ErrorKind::Protocol
    } else if err.is_closed() || err.is_canceled() || err.is_incomplete_message() {
        ErrorKind::Reset
    } else {
        // h2 stream resets and GOAWAY surface here
        ErrorKind::Reset
    };
    let mut message = err.to_string();
    if let Some(source) = std::error::Error::source(err) {
        message = format!("{message}: {source}");
    }
    OpError::new(kind, message)
}

impl Driver for Http2Driver {
    type Conn = Http2Conn;

    fn protocol(&self) -> &'static str {
        "http2"
    }

    async fn connect(&self) -> Result<Http2Conn, OpError> {
        let stream = connect_stream(self.addr, self.tls.as_ref()).await?;
        if matches!(stream, Stream::Tls(_)) && stream.alpn() != Some(b"h2") {
            return Err(OpError::new(
                ErrorKind::Tls,
                format!(
                    "{} did not agree to HTTP/2 in the TLS handshake (ALPN)",
                    self.addr
                ),
            ));
        }
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| {
                let mut err = classify(&e);
                err.message = format!("HTTP/2 handshake with {}: {}", self.addr, err.message);
                err
            })?;
        // The connection task ends when the sender is dropped or the peer closes.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Http2Conn {
            sender,
            template: self.template.clone(),
        })
    }
}

impl Connection for Http2Conn {
    async fn call(&mut self) -> Result<Response, OpError> {
        let t = &self.template;
        let mut request = Request::builder()
            .method(t.method.clone())
            .uri(t.uri.clone());
        if let Some(headers) = request.headers_mut() {
            for (name, value) in &t.headers {
                headers.append(name.clone(), value.clone());
            }
        }
        let request = request
            .body(Full::new(t.body.clone()))
            .map_err(|e| OpError::new(ErrorKind::Protocol, e.to_string()))?;
        self.sender.ready().await.map_err(|e| classify(&e))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| classify(&e))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut bytes = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| classify(&e))?;
            if let Some(data) = frame.data_ref() {
                bytes += data.len() as u64;
            }
        }
        Ok(Response {
            status,
            bytes,
            keep_alive: !self.sender.is_closed(),
        })
    }
}
