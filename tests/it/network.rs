//! Self-hosted runners reach Port through what their network requires: an HTTP proxy named by
//! `HTTP_PROXY`/`HTTPS_PROXY` (and bypassed for the hosts in `NO_PROXY`), and TLS interception
//! or private endpoints whose certificates chain to a company CA given by `SSL_CERT_FILE`.
//! A small relaying proxy and a TLS front with a CA made at test time stand in for them.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;

use port_stand_in::StandIn;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

use crate::support::{lines, read_head, Step, TcpServer};

/// A host that never resolves (RFC 6761): reaching Port at it proves the proxy carried the
/// request.
const UNRESOLVABLE: &str = "port.invalid";

/// A forwarding proxy on 127.0.0.1: relays plain requests (absolute-form, as clients send them
/// to an HTTP proxy) to `plain`, and tunnels `CONNECT` to `tunnel`, whatever host the client
/// names. It records the first line of every connection.
struct Proxy {
    server: TcpServer,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start(plain: SocketAddr, tunnel: Option<SocketAddr>) -> Proxy {
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let record = seen.clone();
        let server = TcpServer::start(move |client| {
            let _ = Proxy::serve(client, plain, tunnel, &record);
        });
        Proxy { server, seen }
    }

    fn serve(
        mut client: TcpStream,
        plain: SocketAddr,
        tunnel: Option<SocketAddr>,
        record: &Mutex<Vec<String>>,
    ) -> std::io::Result<()> {
        // Read the request head (the first request's, for a plain connection).
        let head = read_head(&mut client)?;
        if !head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&head);
        let first = text.lines().next().unwrap_or_default().to_string();
        record.lock().unwrap().push(first.clone());
        let upstream = if first.starts_with("CONNECT ") {
            let Some(target) = tunnel else {
                client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")?;
                return Ok(());
            };
            let upstream = TcpStream::connect(target)?;
            client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
            let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            (&upstream).write_all(&head[end..])?;
            upstream
        } else {
            let upstream = TcpStream::connect(plain)?;
            (&upstream).write_all(&head)?;
            upstream
        };
        relay(client, upstream)
    }

    /// `http://127.0.0.1:PORT`.
    fn url(&self) -> String {
        self.server.url()
    }

    /// The first line of each connection the proxy was asked to carry.
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// Copies bytes both ways until either side closes.
fn relay(a: TcpStream, b: TcpStream) -> std::io::Result<()> {
    let (mut a_read, mut b_write) = (a.try_clone()?, b.try_clone()?);
    let forward = thread::spawn(move || {
        let _ = std::io::copy(&mut a_read, &mut b_write);
        let _ = b_write.shutdown(Shutdown::Write);
    });
    let (mut b_read, mut a_write) = (b, a);
    let _ = std::io::copy(&mut b_read, &mut a_write);
    let _ = a_write.shutdown(Shutdown::Write);
    let _ = forward.join();
    Ok(())
}

/// A test CA and a TLS front on 127.0.0.1 whose certificate (for `localhost`, 127.0.0.1 and
/// [`UNRESOLVABLE`]) it signed; the front relays the decrypted bytes to the stand-in.
struct TlsFront {
    addr: SocketAddr,
    /// The CA certificate, PEM, in a temporary directory.
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
    /// Serves the front; dropping it stops the front.
    _runtime: tokio::runtime::Runtime,
}

impl TlsFront {
    fn start(backend: SocketAddr) -> TlsFront {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "port-action test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();

        let key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            UNRESOLVABLE.to_string(),
        ])
        .unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf_cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_io()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to relay.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        TlsFront {
            addr,
            ca_file,
            _dir: dir,
            _runtime: runtime,
        }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }
}

/// The stand-in's address.
fn addr_of(port: &StandIn) -> SocketAddr {
    port.url()
        .trim_start_matches("http://")
        .parse()
        .expect("the stand-in listens on ip:port")
}

/// A GET of entity `payments`: one token request and one read.
fn get_payments(base_url: &str) -> Step {
    Step::with_base_url(base_url)
        .event(None)
        .input("operation", "GET")
        .input("blueprint", "service")
        .input("identifier", "payments")
        .input("requestTimeout", "3s")
        .input("timeout", "8s")
}

fn stand_in_with_entity() -> StandIn {
    let port = StandIn::start();
    port.add_entity(
        "service",
        serde_json::json!({"identifier": "payments", "title": "Payments"}),
    );
    port
}

const EXPECTED: [&str; 2] = [
    "POST /v1/auth/access_token",
    "GET /v1/blueprints/service/entities/payments",
];

#[test]
fn http_proxy_carries_every_request_to_a_host_only_the_proxy_can_reach() {
    let port = stand_in_with_entity();
    let proxy = Proxy::start(addr_of(&port), None);
    let out = get_payments(&format!("http://{UNRESOLVABLE}:80"))
        .env("HTTP_PROXY", &proxy.url())
        .run();
    out.assert_success();
    assert_eq!(out.output("identifier"), Some("payments"));
    assert_eq!(lines(&port), EXPECTED);
    let seen = proxy.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|l| l.starts_with(&format!("POST http://{UNRESOLVABLE}/"))
                || l.starts_with(&format!("GET http://{UNRESOLVABLE}/"))),
        "absolute-form requests for the Port host: {seen:?}"
    );
    assert!(port.spec_violations().is_empty());
}

#[test]
fn lower_case_http_proxy_is_honoured_too() {
    let port = stand_in_with_entity();
    let proxy = Proxy::start(addr_of(&port), None);
    get_payments(&format!("http://{UNRESOLVABLE}"))
        .env("http_proxy", &proxy.url())
        .run()
        .assert_success();
    assert_eq!(lines(&port), EXPECTED);
    assert!(!proxy.seen().is_empty());
}

#[test]
fn no_proxy_covering_the_port_host_goes_direct() {
    let port = stand_in_with_entity();
    let proxy = Proxy::start(addr_of(&port), None);
    get_payments(&port.url())
        .env("HTTP_PROXY", &proxy.url())
        .env("HTTPS_PROXY", &proxy.url())
        .env("NO_PROXY", "localhost,127.0.0.1")
        .run()
        .assert_success();
    assert_eq!(lines(&port), EXPECTED);
    assert_eq!(proxy.seen(), Vec::<String>::new(), "the proxy saw nothing");
}

#[test]
fn https_proxy_tunnels_with_connect_to_a_host_only_the_proxy_can_reach() {
    let port = stand_in_with_entity();
    let front = TlsFront::start(addr_of(&port));
    let proxy = Proxy::start(addr_of(&port), Some(front.addr));
    let out = get_payments(&format!("https://{UNRESOLVABLE}"))
        .env("HTTPS_PROXY", &proxy.url())
        .env("SSL_CERT_FILE", front.ca_file.to_str().unwrap())
        .run();
    out.assert_success();
    assert_eq!(lines(&port), EXPECTED);
    let seen = proxy.seen();
    assert!(
        !seen.is_empty()
            && seen
                .iter()
                .all(|l| l.starts_with(&format!("CONNECT {UNRESOLVABLE}:443 "))),
        "{seen:?}"
    );
}

#[test]
fn a_certificate_from_an_unknown_ca_fails_with_one_clear_tls_error() {
    let port = stand_in_with_entity();
    let front = TlsFront::start(addr_of(&port));
    let base = format!("https://127.0.0.1:{}", front.port());
    let out = get_payments(&base).run();
    out.assert_failure(&format!(
        "cannot reach Port: POST {base}/v1/auth/access_token"
    ));
    assert!(
        !out.stdout.contains("trying again"),
        "another attempt meets the same certificate: {}",
        out.stdout
    );
    let error = out.errors()[0];
    assert!(
        error.contains("certificate")
            && error.contains("UnknownIssuer")
            && error.contains("SSL_CERT_FILE"),
        "names the certificate problem: {error}"
    );
    assert!(
        lines(&port).is_empty(),
        "nothing reached Port through an untrusted TLS connection"
    );
}

#[test]
fn ssl_cert_file_makes_a_company_ca_trusted() {
    let port = stand_in_with_entity();
    let front = TlsFront::start(addr_of(&port));
    for host in ["127.0.0.1", "localhost"] {
        port.clear_requests();
        let out = get_payments(&format!("https://{host}:{}", front.port()))
            .env("SSL_CERT_FILE", front.ca_file.to_str().unwrap())
            .run();
        out.assert_success();
        assert_eq!(out.output("identifier"), Some("payments"), "{host}");
        assert_eq!(lines(&port), EXPECTED, "{host}");
    }
}
