//! Echo endpoints of demo-server: WebSocket echo on `GET /ws` (every data
//! message comes back unchanged and is shown to the caller's `on_message`,
//! pings are answered, a close is returned)
//! and a raw TCP echo on its own listener (`--echo-listen`). Neither is
//! delayed or counted as a load request: they measure the client and the
//! transport, not an injected service time.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use scalewall_load::transport::ws::{self, opcode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers an upgrade request on `/ws` with 101 and echoes on the upgraded
/// connection, showing each unfragmented data message to `on_message`;
/// anything else gets 400.
pub fn websocket_upgrade<B: Default>(
    mut request: Request<Incoming>,
    on_message: impl Fn(&[u8]) + Send + 'static,
) -> Response<B> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let is_upgrade = header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let key = header("sec-websocket-key");
    let (true, Some(key)) = (is_upgrade, key) else {
        let mut response = Response::new(B::default());
        *response.status_mut() = StatusCode::BAD_REQUEST;
        return response;
    };
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let _ = echo_websocket(TokioIo::new(upgraded), on_message).await;
        }
    });
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(
        "upgrade",
        hyper::header::HeaderValue::from_static("websocket"),
    );
    headers.insert(
        "connection",
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(accept) = hyper::header::HeaderValue::from_str(&ws::accept_key(&key)) {
        headers.insert("sec-websocket-accept", accept);
    }
    response
}

/// Echoes WebSocket frames until the peer closes or sends garbage; each
/// unfragmented data message's payload is shown to `on_message` first.
pub async fn echo_websocket<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    on_message: impl Fn(&[u8]),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut filled = 0usize;
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = io.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut at = 0;
        out.clear();
        let mut closing = false;
        loop {
            let head = match ws::parse_head(&buf[at..filled]) {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(_) => return Ok(()),
            };
            let total = head.header_len + head.payload_len;
            if filled - at < total {
                if total > buf.len() {
                    buf.resize(total.next_power_of_two(), 0);
                }
                break;
            }
            let payload = &mut buf[at + head.header_len..at + total];
            if let Some(key) = head.mask {
                ws::apply_mask(payload, key);
            }
            match head.op {
                opcode::PING => ws::encode_frame(&mut out, opcode::PONG, payload, None),
                opcode::PONG => {}
                opcode::CLOSE => {
                    ws::encode_frame(&mut out, opcode::CLOSE, payload, None);
                    closing = true;
                }
                op => {
                    if head.fin && op != opcode::CONTINUATION {
                        on_message(payload);
                    }
                    // Fragments are echoed as fragments, so messages keep their shape.
                    let first = out.len();
                    ws::encode_frame(&mut out, op, payload, None);
                    if !head.fin {
                        out[first] &= 0x7F;
                    }
                }
            }
            at += total;
            if closing {
                break;
            }
        }
        if !out.is_empty() {
            io.write_all(&out).await?;
        }
        if closing {
            return io.shutdown().await;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
    }
}

/// Serves a raw TCP echo: every byte read is written back.
pub async fn serve_tcp_echo(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (mut stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let (mut reader, mut writer) = stream.split();
            let _ = tokio::io::copy(&mut reader, &mut writer).await;
        });
    }
}
