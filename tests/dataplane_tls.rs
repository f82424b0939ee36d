//! TLS termination by the embedded data plane, on real loopback sockets:
//! a test CA and leaf certificates made with rcgen at test time, keys in a
//! temporary directory, and a rustls client that trusts only that CA.

mod common;

use bytes::Bytes;
use common::{wait_for_line, Backend, ChildProcess, Ports};
use http_body_util::{BodyExt, Empty};
use hyper::{Request, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use lbops::dataplane::config::DataplaneConfig;
use lbops::dataplane::{ApplyError, Dataplane};
use lbops::spec::{load, Options, SourceFile};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::ring::{self as ring_provider, cipher_suite};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::version::{TLS12, TLS13};
use rustls::{
    ClientConfig, DigitallySignedStruct, HandshakeKind, ProtocolVersion, RootCertStore,
    SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

// ---------------------------------------------------------------------------
// Test PKI

/// A leaf certificate and where its key was written.
struct Leaf {
    pem: String,
    der: CertificateDer<'static>,
    key_pem: String,
    key_path: PathBuf,
}

/// A test CA, the leaves it signed, and the directory holding their keys
/// (removed on drop).
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
    leaves: BTreeMap<&'static str, Leaf>,
}

impl Pki {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "lbops test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self {
            ca,
            dir: tempfile::tempdir().unwrap(),
            leaves: BTreeMap::new(),
        }
    }

    /// Signs a leaf for `sans` (its subject CN is the first) and writes its
    /// key to `<dir>/<name>.key`.
    fn leaf(&mut self, name: &'static str, sans: &[&str]) -> &Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, sans[0].to_owned());
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let key_path = self.dir.path().join(format!("{name}.key"));
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        self.leaves.insert(
            name,
            Leaf {
                pem: cert.pem(),
                der: cert.der().clone(),
                key_pem: key.serialize_pem(),
                key_path,
            },
        );
        &self.leaves[name]
    }

    fn roots(&self) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        Arc::new(roots)
    }

    /// The `Certificate` documents for every leaf, keys by absolute path.
    fn certificate_docs(&self) -> String {
        self.leaves
            .iter()
            .map(|(name, leaf)| {
                format!(
                    "---\nkind: Certificate\nname: {name}\nspec:\n  chain_file: {name}.pem\n  \
                     private_key: {{file: '{}'}}\n",
                    leaf.key_path.display()
                )
            })
            .collect()
    }

    /// Loads `yaml` plus the certificate documents and chain files.
    fn config(&self, yaml: &str, version: u64) -> DataplaneConfig {
        let mut files = vec![SourceFile::new(
            "repo.yaml",
            format!("{yaml}{}", self.certificate_docs()),
        )];
        for (name, leaf) in &self.leaves {
            files.push(SourceFile::new(format!("{name}.pem"), leaf.pem.clone()));
        }
        let catalog = load(&files, &Options::at(1_800_000_000))
            .unwrap_or_else(|e| panic!("invalid test repository: {:#?}", e.diagnostics))
            .catalog;
        DataplaneConfig::from_catalog(&catalog, version)
    }
}

/// The DNS subjectAltNames of a certificate, to say which one a client saw.
fn dns_names(der: &CertificateDer<'_>) -> Vec<String> {
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64_lines(der.as_ref())
    );
    lbops::spec::material::parse_chain(&pem)
        .unwrap()
        .leaf()
        .dns_names
        .clone()
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    text.as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// Client

/// Verifies with webpki against the test CA, and remembers the leaf the
/// server presented even when verification fails (so a test can see which
/// certificate SNI picked for a name the certificate does not cover).
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Option<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap() = Some(end_entity.clone().into_owned());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

static ONLY_TLS12: [&SupportedProtocolVersion; 1] = [&TLS12];
static ONLY_TLS13: [&SupportedProtocolVersion; 1] = [&TLS13];

/// What a test client offers.
struct Offer {
    versions: &'static [&'static SupportedProtocolVersion],
    /// Empty: every suite of the ring provider.
    suites: Vec<SupportedCipherSuite>,
    alpn: Vec<&'static [u8]>,
    sni: bool,
}

impl Default for Offer {
    fn default() -> Self {
        Self {
            versions: rustls::ALL_VERSIONS,
            suites: Vec::new(),
            alpn: vec![b"http/1.1"],
            sni: true,
        }
    }
}

/// A finished (or failed) handshake and the leaf the server presented.
struct Handshake {
    result: std::io::Result<TlsStream<TcpStream>>,
    seen: Option<CertificateDer<'static>>,
}

impl Handshake {
    fn stream(self) -> TlsStream<TcpStream> {
        self.result.expect("the TLS handshake succeeds")
    }

    fn seen_names(&self) -> Vec<String> {
        dns_names(self.seen.as_ref().expect("the server sent a certificate"))
    }
}

async fn handshake(pki: &Pki, port: u16, server_name: &str, offer: Offer) -> Handshake {
    let (config, recording) = client(pki, offer);
    connect(config, &recording, port, server_name).await
}

/// A client config trusting the test CA and offering `offer`, with rustls'
/// default session cache (so a second connection with it tries to resume),
/// and the verifier that records the leaf each full handshake saw.
fn client(pki: &Pki, offer: Offer) -> (Arc<ClientConfig>, Arc<Recording>) {
    let mut provider = ring_provider::default_provider();
    if !offer.suites.is_empty() {
        provider.cipher_suites = offer.suites;
    }
    let provider = Arc::new(provider);
    let recording = Arc::new(Recording {
        inner: WebPkiServerVerifier::builder_with_provider(pki.roots(), provider.clone())
            .build()
            .unwrap(),
        seen: Mutex::new(None),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(offer.versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(recording.clone())
        .with_no_client_auth();
    config.alpn_protocols = offer.alpn.iter().map(|p| p.to_vec()).collect();
    config.enable_sni = offer.sni;
    (Arc::new(config), recording)
}

async fn connect(
    config: Arc<ClientConfig>,
    recording: &Recording,
    port: u16,
    server_name: &str,
) -> Handshake {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .expect("the handshake ends in time");
    let seen = recording.seen.lock().unwrap().clone();
    Handshake { result, seen }
}

/// One GET over an established TLS stream, HTTP/2 when ALPN chose `h2`;
/// returns the HTTP version, status and body.
async fn get(stream: TlsStream<TcpStream>, host: &str, path: &str) -> (Version, u16, String) {
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
    let io = TokioIo::new(stream);
    let (response, connection) = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        let connection = tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = Request::get(format!("https://{host}{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        (sender.send_request(request).await, connection)
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        let connection = tokio::spawn(async move {
            let _ = conn.await;
        });
        let request = Request::get(path)
            .header("host", host)
            .body(Empty::<Bytes>::new())
            .unwrap();
        (sender.send_request(request).await, connection)
    };
    let response = response.expect("a response");
    let version = response.version();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    connection.abort();
    let _ = connection.await;
    // What TLS decides is the scheme and host; the forwarded-for and
    // request id the backend also echoes are checked elsewhere.
    let body = String::from_utf8_lossy(&body);
    let body = body.split(" xff=").next().unwrap_or_default().to_owned();
    (version, status, body)
}

// ---------------------------------------------------------------------------
// Backends

/// A pool `web` in front of `backend` and a balancer `web` with one
/// listener given as a YAML flow mapping.
fn web_repo(backend: SocketAddr, listener: &str) -> String {
    format!(
        "kind: Pool\nname: web\nspec:\n  targets: [{{address: '{backend}'}}]\n---\n\
         kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - {listener}\n"
    )
}

fn https_listener(port: u16, tls: &str) -> String {
    format!(
        "{{name: https, protocol: https, port: {port}, tls: {tls}, \
         default_action: {{forward: {{pools: [{{pool: web}}]}}}}}}"
    )
}

/// A PKI with `alpha` (alpha.example.test) and `beta` (*.beta.example.test
/// and beta.example.test).
fn two_site_pki() -> Pki {
    let mut pki = Pki::new();
    pki.leaf("alpha", &["alpha.example.test"]);
    pki.leaf("beta", &["*.beta.example.test", "beta.example.test"]);
    pki
}

/// A backend behind an `https` listener with the given TLS policy, served
/// by a data plane at config version 1 with the two-site PKI. Keep
/// `backend` bound (as `_backend` if unused): dropping it stops the backend.
struct HttpsSite {
    backend: Backend,
    pki: Pki,
    port: u16,
    /// Holds `port`: keep it bound (as `_ports`) for the whole test.
    ports: Ports,
    dataplane: Dataplane,
}

impl HttpsSite {
    async fn start(tls: &str) -> Self {
        let ports = Ports::default();
        let backend = Backend::start("site").await;
        let pki = two_site_pki();
        let port = ports.hold();
        let dataplane = Dataplane::new();
        let repo = web_repo(backend.address, &https_listener(port, tls));
        dataplane.apply(pki.config(&repo, 1)).await.unwrap();
        Self {
            backend,
            pki,
            port,
            ports,
            dataplane,
        }
    }
}

// ---------------------------------------------------------------------------
// Tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_requests_reach_the_backend_marked_https() {
    let HttpsSite {
        backend: _backend,
        pki,
        port,
        ports: _ports,
        dataplane,
    } = HttpsSite::start("{certificates: [alpha]}").await;

    let stream = handshake(&pki, port, "alpha.example.test", Offer::default())
        .await
        .stream();
    assert_eq!(
        stream.get_ref().1.alpn_protocol(),
        Some(b"http/1.1".as_slice())
    );
    let (version, status, body) = get(stream, "alpha.example.test", "/hello").await;
    assert_eq!((version, status), (Version::HTTP_11, 200));
    assert_eq!(body, "site /hello proto=https host=alpha.example.test");

    // Plain HTTP to a TLS port gets no answer.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nhost: alpha.example.test\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply).await;
    assert!(
        !String::from_utf8_lossy(&reply).contains("HTTP/1.1"),
        "no HTTP answer over plain TCP: {reply:?}"
    );
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_the_certificate_and_falls_back_to_the_first() {
    let HttpsSite {
        backend: _backend,
        pki,
        port,
        ports: _ports,
        dataplane,
    } = HttpsSite::start("{certificates: [alpha, beta]}").await;
    let alpha = &pki.leaves["alpha"];
    let beta = &pki.leaves["beta"];

    let exact = handshake(&pki, port, "alpha.example.test", Offer::default()).await;
    assert_eq!(exact.seen_names(), ["alpha.example.test"]);
    assert_eq!(exact.seen.as_ref(), Some(&alpha.der));
    let (_, status, body) = get(exact.stream(), "alpha.example.test", "/").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "site / proto=https host=alpha.example.test")
    );

    for name in [
        "www.beta.example.test",
        "WWW.Beta.Example.Test",
        "beta.example.test",
    ] {
        let picked = handshake(&pki, port, name, Offer::default()).await;
        assert_eq!(picked.seen.as_ref(), Some(&beta.der), "{name}");
        assert_eq!(
            picked.seen_names(),
            ["*.beta.example.test", "beta.example.test"]
        );
        picked.stream();
    }

    // A wildcard covers one label only; an unknown name and no SNI at all
    // get the policy's first certificate, which the client then rejects.
    for (name, sni) in [
        ("a.b.beta.example.test", true),
        ("other.example.test", true),
        ("www.beta.example.test", false),
    ] {
        let fallback = handshake(
            &pki,
            port,
            name,
            Offer {
                sni,
                ..Offer::default()
            },
        )
        .await;
        assert_eq!(fallback.seen.as_ref(), Some(&alpha.der), "{name} sni={sni}");
        let err = fallback
            .result
            .expect_err("the name is not covered")
            .to_string();
        assert!(err.contains("certificate"), "{err}");
    }
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_h2_is_negotiated_and_served_over_http2() {
    let HttpsSite {
        backend: _backend,
        pki,
        port,
        ports: _ports,
        dataplane,
    } = HttpsSite::start("{certificates: [alpha, beta]}").await;

    let offer = Offer {
        alpn: vec![b"h2", b"http/1.1"],
        ..Offer::default()
    };
    let stream = handshake(&pki, port, "api.beta.example.test", offer)
        .await
        .stream();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(b"h2".as_slice()));
    let (version, status, body) = get(stream, "api.beta.example.test", "/v2").await;
    assert_eq!((version, status), (Version::HTTP_2, 200));
    assert_eq!(body, "site /v2 proto=https host=api.beta.example.test");

    // A client that offers no ALPN at all still gets HTTP/1.1.
    let stream = handshake(
        &pki,
        port,
        "alpha.example.test",
        Offer {
            alpn: Vec::new(),
            ..Offer::default()
        },
    )
    .await
    .stream();
    assert_eq!(stream.get_ref().1.alpn_protocol(), None);
    let (version, status, _) = get(stream, "alpha.example.test", "/").await;
    assert_eq!((version, status), (Version::HTTP_11, 200));
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_version_1_3_refuses_tls_1_2_clients() {
    let ports = Ports::default();
    let backend = Backend::start("site").await;
    let pki = two_site_pki();
    let (strict, lenient) = (ports.hold(), ports.hold());
    let repo = format!(
        "{}\x20   - {}\n",
        web_repo(
            backend.address,
            &https_listener(strict, "{certificates: [alpha], min_version: '1.3'}")
        ),
        https_listener(lenient, "{certificates: [alpha]}").replace("name: https", "name: lenient"),
    );
    let dataplane = Dataplane::new();
    dataplane.apply(pki.config(&repo, 1)).await.unwrap();
    let tls12_only = || Offer {
        versions: &ONLY_TLS12,
        ..Offer::default()
    };

    let refused = handshake(&pki, strict, "alpha.example.test", tls12_only()).await;
    let err = refused.result.expect_err("TLS 1.2 is below the minimum");
    assert!(
        err.to_string().to_lowercase().contains("version"),
        "the client is told why: {err}"
    );

    let modern = handshake(
        &pki,
        strict,
        "alpha.example.test",
        Offer {
            versions: &ONLY_TLS13,
            ..Offer::default()
        },
    )
    .await
    .stream();
    assert_eq!(
        modern.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    let (_, status, _) = get(modern, "alpha.example.test", "/").await;
    assert_eq!(status, 200);

    // The default minimum, 1.2, takes the same client.
    let old = handshake(&pki, lenient, "alpha.example.test", tls12_only())
        .await
        .stream();
    assert_eq!(
        old.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    let (_, status, body) = get(old, "alpha.example.test", "/").await;
    assert_eq!(status, 200, "{body}");
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumption_false_makes_every_handshake_a_full_one() {
    let ports = Ports::default();
    let backend = Backend::start("site").await;
    let pki = two_site_pki();
    let (resuming, full) = (ports.hold(), ports.hold());
    let repo = format!(
        "{}\x20   - {}\n",
        web_repo(
            backend.address,
            &https_listener(resuming, "{certificates: [alpha]}")
        ),
        https_listener(full, "{certificates: [alpha], resumption: false}")
            .replace("name: https", "name: full"),
    );
    let dataplane = Dataplane::new();
    dataplane.apply(pki.config(&repo, 1)).await.unwrap();

    for versions in [&ONLY_TLS13[..], &ONLY_TLS12[..]] {
        for (port, second) in [
            (resuming, HandshakeKind::Resumed),
            (full, HandshakeKind::Full),
        ] {
            let case = format!("port {port}, {:?}", versions[0].version);
            // One client config, so one session cache, for both connections.
            let (config, recording) = client(
                &pki,
                Offer {
                    versions,
                    ..Offer::default()
                },
            );
            let first = connect(config.clone(), &recording, port, "alpha.example.test")
                .await
                .stream();
            assert_eq!(
                first.get_ref().1.handshake_kind(),
                Some(HandshakeKind::Full),
                "{case}"
            );
            // TLS 1.3 tickets come after the handshake: the client takes
            // them in while it reads the response.
            let (_, status, _) = get(first, "alpha.example.test", "/").await;
            assert_eq!(status, 200, "{case}");

            let again = connect(config, &recording, port, "alpha.example.test")
                .await
                .stream();
            assert_eq!(again.get_ref().1.handshake_kind(), Some(second), "{case}");
            let (_, status, _) = get(again, "alpha.example.test", "/").await;
            assert_eq!(status, 200, "{case}");
        }
    }
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cipher_list_restricts_the_suites() {
    let HttpsSite {
        backend: _backend,
        pki,
        port,
        ports: _ports,
        dataplane,
    } = HttpsSite::start(
        "{certificates: [alpha], ciphers: [TLS13_AES_256_GCM_SHA384, \
             TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]}",
    )
    .await;
    let offer = |versions: &'static [&'static SupportedProtocolVersion], suite| Offer {
        versions,
        suites: vec![suite],
        ..Offer::default()
    };

    for (versions, suite) in [
        (&ONLY_TLS13[..], cipher_suite::TLS13_AES_128_GCM_SHA256),
        (
            &ONLY_TLS13[..],
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            &ONLY_TLS12[..],
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
    ] {
        let refused = handshake(&pki, port, "alpha.example.test", offer(versions, suite)).await;
        let err = refused
            .result
            .expect_err("the only suite offered is not allowed");
        assert!(
            err.to_string().to_lowercase().contains("handshake"),
            "{:?}: {err}",
            suite.suite()
        );
    }

    for (versions, suite) in [
        (&ONLY_TLS13[..], cipher_suite::TLS13_AES_256_GCM_SHA384),
        (
            &ONLY_TLS12[..],
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ] {
        let stream = handshake(&pki, port, "alpha.example.test", offer(versions, suite))
            .await
            .stream();
        assert_eq!(
            stream.get_ref().1.negotiated_cipher_suite(),
            Some(suite),
            "{:?}",
            suite.suite()
        );
        let (_, status, _) = get(stream, "alpha.example.test", "/").await;
        assert_eq!(status, 200);
    }
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listeners_terminate_and_forward_bytes() {
    let ports = Ports::default();
    let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend_address = backend.local_addr().unwrap();
    let backend_task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = backend.accept().await {
            let mut buf = [0u8; 64];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            let _ = stream
                .write_all(format!("db:{}", String::from_utf8_lossy(&buf[..n])).as_bytes())
                .await;
        }
    });
    let pki = two_site_pki();
    let port = ports.hold();
    let repo = format!(
        "kind: Pool\nname: db\nspec:\n  targets: [{{address: '{backend_address}'}}]\n---\n\
         kind: LoadBalancer\nname: db\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - {{name: pg, protocol: tls, port: {port}, tls: {{certificates: [beta]}}, \
         default_action: {{forward: {{pools: [{{pool: db}}]}}}}}}\n"
    );
    let dataplane = Dataplane::new();
    dataplane.apply(pki.config(&repo, 1)).await.unwrap();

    let mut stream = handshake(
        &pki,
        port,
        "db.beta.example.test",
        Offer {
            alpn: Vec::new(),
            ..Offer::default()
        },
    )
    .await
    .stream();
    stream.write_all(b"hello").await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert_eq!(
        reply, "db:hello",
        "decrypted, forwarded, and the answer encrypted back"
    );
    dataplane.shutdown().await;
    backend_task.abort();
    let _ = backend_task.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_cannot_be_loaded_rejects_the_config() {
    let HttpsSite {
        backend,
        mut pki,
        port,
        ports,
        dataplane,
    } = HttpsSite::start("{certificates: [alpha, beta]}").await;

    // Version 2 moves the listener, and beta's key is gone.
    let missing = pki.dir.path().join("no-such.key");
    pki.leaves.get_mut("beta").unwrap().key_path = missing.clone();
    let new_port = ports.hold();
    let moved = web_repo(
        backend.address,
        &https_listener(new_port, "{certificates: [alpha, beta]}"),
    );
    let err = dataplane
        .apply(pki.config(&moved, 2))
        .await
        .expect_err("a key that cannot be read");
    assert!(matches!(err, ApplyError::Tls(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("cannot terminate TLS: listener `web/https`: certificate `beta`: "),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "cannot read private key file `{}`",
            missing.display()
        )),
        "{message}"
    );

    // A key file that holds something else is refused without quoting it.
    let garbage = pki.dir.path().join("garbage.key");
    std::fs::write(&garbage, "not a key: s3cr3t-material\n").unwrap();
    pki.leaves.get_mut("beta").unwrap().key_path = garbage;
    let err = dataplane
        .apply(pki.config(&moved, 3))
        .await
        .expect_err("no PEM key in the file");
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
    assert!(!format!("{err:?}").contains("s3cr3t"), "{err:?}");

    // Nothing changed: same version, same socket, still serving.
    assert_eq!(dataplane.snapshot().config.version, 1);
    assert_eq!(
        dataplane.bound().await,
        [SocketAddr::from(([127, 0, 0, 1], port))]
    );
    let stream = handshake(&pki, port, "www.beta.example.test", Offer::default())
        .await
        .stream();
    let (_, status, body) = get(stream, "www.beta.example.test", "/").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "site / proto=https host=www.beta.example.test")
    );
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_certificate_applies_to_new_connections_and_open_ones_keep_going() {
    let HttpsSite {
        backend,
        mut pki,
        port,
        ports: _ports,
        dataplane,
    } = HttpsSite::start("{certificates: [alpha]}").await;
    let old = pki.leaves["alpha"].der.clone();
    let open = handshake(&pki, port, "alpha.example.test", Offer::default())
        .await
        .stream();
    let io = TokioIo::new(open);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    let connection = tokio::spawn(async move {
        let _ = conn.await;
    });

    // Renewed: a new key and certificate for the same name.
    pki.leaf("alpha", &["alpha.example.test"]);
    let repo = web_repo(
        backend.address,
        &https_listener(port, "{certificates: [alpha]}"),
    );
    dataplane.apply(pki.config(&repo, 2)).await.unwrap();
    let renewed = handshake(&pki, port, "alpha.example.test", Offer::default()).await;
    assert_eq!(renewed.seen.as_ref(), Some(&pki.leaves["alpha"].der));
    assert_ne!(renewed.seen.as_ref(), Some(&old));
    let (_, status, _) = get(renewed.stream(), "alpha.example.test", "/").await;
    assert_eq!(status, 200);

    let request = Request::get("/still")
        .header("host", "alpha.example.test")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.starts_with("site /still proto=https host=alpha.example.test "),
        "{body}"
    );
    connection.abort();
    let _ = connection.await;
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_process_reads_a_key_from_its_environment() {
    use lbops::spec::kinds::certificate::KeyRef;
    let ports = Ports::default();
    let backend = Backend::start("solo").await;
    let pki = two_site_pki();
    let port = ports.hold();
    let repo = web_repo(
        backend.address,
        &https_listener(port, "{certificates: [alpha]}"),
    );
    let mut config = pki.config(&repo, 1);
    config.certificates.get_mut("alpha").unwrap().key = KeyRef::Env("LBOPS_TEST_ALPHA_KEY".into());
    let file = pki.dir.path().join("dataplane.json");
    std::fs::write(&file, config.to_json()).unwrap();
    let (process, mut stderr) = ChildProcess::lbops(|c| {
        c.args(["dataplane", "--config"])
            .arg(&file)
            .env("LBOPS_TEST_ALPHA_KEY", &pki.leaves["alpha"].key_pem)
    });
    assert_eq!(
        wait_for_line(&mut stderr, "lbops dataplane:"),
        format!("lbops dataplane: listening on 127.0.0.1:{port}")
    );
    let stream = handshake(&pki, port, "alpha.example.test", Offer::default())
        .await
        .stream();
    let (_, status, body) = get(stream, "alpha.example.test", "/env").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "solo /env proto=https host=alpha.example.test")
    );
    drop(process);
}
