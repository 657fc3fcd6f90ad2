//! HTTPS targets: HTTP/1.1 and HTTP/2 over TLS with ALPN, against the demo
//! handler behind a self-signed certificate made for the test.

mod common;

use common::{f, json, scalewall};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use scalewall_demo::{serve_connection, DemoConfig, DemoState};
use std::net::SocketAddr;
use std::sync::Arc;

/// Serves the demo handler over TLS (ALPN h2 and http/1.1) on a background thread.
fn tls_demo() -> SocketAddr {
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert = CertificateDer::from(certified.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let state = DemoState::new(DemoConfig::default()).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let state = state.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        serve_connection(tls, state).await;
                    }
                });
            }
        });
    });
    addr
}

#[test]
fn https_http1_and_http2_with_alpn() {
    let addr = tls_demo();
    let url = format!("https://localhost:{}/", addr.port());
    for (extra, protocol) in [(None, "http1"), (Some("--http2"), "http2")] {
        let mut args = vec![
            "bench",
            &url,
            "--insecure",
            "-c",
            "4",
            "-n",
            "200",
            "-o",
            "json",
        ];
        args.extend(extra);
        let out = scalewall(&args);
        assert!(
            out.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v = json(&out);
        assert_eq!(v["protocol"], protocol);
        assert_eq!(f(&v, "/status_codes/200") as u64, 200, "{protocol}");
    }
}

#[test]
fn an_untrusted_certificate_is_refused_unless_insecure() {
    let addr = tls_demo();
    let url = format!("https://localhost:{}/", addr.port());
    let out = scalewall(&["bench", &url, "-n", "5"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to") && err.contains("certificate"),
        "{err}"
    );
}

#[test]
fn https_health_checks_verify_the_certificate_unless_insecure() {
    let addr = tls_demo();
    let url = format!("https://localhost:{}/health", addr.port());
    // The exit code is the worst reading's: 5 for a check that is down.
    let probe = |extra: &[&str], code: i32| {
        let mut args = vec!["probe", "--health", &url, "--interval", "50ms", "--no-gpu"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-o", "json"]);
        let out = scalewall(&args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json(&out)
    };
    let refused = probe(&[], 5);
    assert_eq!(refused["health"][0]["status"], "down", "{refused:#}");
    let detail = refused["health"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("TLS: ") && detail.contains("certificate"),
        "{detail}"
    );
    let accepted = probe(&["--insecure"], 0);
    assert_eq!(accepted["health"][0]["status"], "healthy", "{accepted:#}");
    assert_eq!(f(&accepted, "/health/0/http_status"), 200.0);
    assert!(f(&accepted, "/health/0/latency_ms") > 0.0);
}
