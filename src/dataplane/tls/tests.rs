use super::*;
use crate::spec::{load, Options, SourceFile};
use rcgen::{CertificateParams, KeyPair};

const ALL_CIPHERS: [Cipher; 9] = [
    Cipher::TLS13_AES_128_GCM_SHA256,
    Cipher::TLS13_AES_256_GCM_SHA384,
    Cipher::TLS13_CHACHA20_POLY1305_SHA256,
    Cipher::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    Cipher::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    Cipher::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    Cipher::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    Cipher::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    Cipher::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// A self-signed leaf for `sans`: chain PEM and key PEM.
fn self_signed(sans: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap();
    (params.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

/// A config with one `https` listener (`web/https`, port 8443) whose policy
/// is the YAML flow mapping `tls`, and one Certificate per `(name, chain)`;
/// every key is a file that does not exist until a test sets it.
fn config(tls: &str, certificates: &[(&str, &str)]) -> DataplaneConfig {
    let mut yaml = format!(
        "kind: Pool\nname: web\nspec:\n  targets: [{{address: '127.0.0.1:9'}}]\n---\n\
         kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - {{name: https, protocol: https, port: 8443, tls: {tls}, \
         default_action: {{forward: {{pools: [{{pool: web}}]}}}}}}\n"
    );
    let mut files = Vec::new();
    for (name, chain) in certificates {
        yaml.push_str(&format!(
            "---\nkind: Certificate\nname: {name}\nspec:\n  chain_file: {name}.pem\n  \
             private_key: {{file: /nonexistent/{name}.key}}\n"
        ));
        files.push(SourceFile::new(format!("{name}.pem"), *chain));
    }
    files.push(SourceFile::new("repo.yaml", yaml));
    let catalog = load(&files, &Options::at(1_800_000_000))
        .unwrap_or_else(|e| panic!("invalid test repository: {:#?}", e.diagnostics))
        .catalog;
    DataplaneConfig::from_catalog(&catalog, 1)
}

fn set_key(config: &mut DataplaneConfig, certificate: &str, key: KeyRef) {
    config.certificates.get_mut(certificate).unwrap().key = key;
}

fn policy(config: &mut DataplaneConfig) -> &mut TlsPolicy {
    &mut config.load_balancers.get_mut("web").unwrap().spec.listeners[0]
        .tls
        .as_mut()
        .unwrap()
        .value
}

/// Writes `text` as `<dir>/<name>` and returns a key reference to it.
fn key_file(dir: &tempfile::TempDir, name: &str, text: &str) -> KeyRef {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    KeyRef::File(path.to_str().unwrap().to_owned())
}

fn build_error(config: &DataplaneConfig) -> String {
    TlsConfigs::build(config)
        .expect_err("the config is refused")
        .to_string()
}

#[test]
fn every_cipher_maps_to_the_rustls_suite_of_its_name() {
    let mut seen = Vec::new();
    for cipher in ALL_CIPHERS {
        let suite = suite(cipher);
        assert_eq!(format!("{:?}", suite.suite()), format!("{cipher:?}"));
        assert_eq!(
            suite.version() == &TLS13,
            cipher.is_tls13(),
            "{cipher:?} is of the version its name says"
        );
        seen.push(suite);
    }
    assert_eq!(
        seen.len(),
        ring_provider::ALL_CIPHER_SUITES.len(),
        "one lbops name per suite the ring provider has"
    );
    assert!(ring_provider::ALL_CIPHER_SUITES
        .iter()
        .all(|s| seen.contains(s)));
}

#[test]
fn an_empty_cipher_list_allows_all_nine_and_a_list_allows_only_itself() {
    let (chain, _) = self_signed(&["a.example.test"]);
    let mut config = config("{certificates: [a]}", &[("a", &chain)]);
    assert_eq!(allowed_suites(policy(&mut config)).len(), 9);
    policy(&mut config).ciphers = vec![
        Cipher::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        Cipher::TLS13_AES_256_GCM_SHA384,
        Cipher::TLS13_AES_256_GCM_SHA384,
    ];
    let allowed: Vec<String> = allowed_suites(policy(&mut config))
        .iter()
        .map(|s| format!("{:?}", s.suite()))
        .collect();
    assert_eq!(
        allowed,
        [
            "TLS13_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        ]
    );
}

#[test]
fn wildcards_cover_exactly_one_label() {
    assert!(name_matches("*.example.test", "www.example.test"));
    assert!(!name_matches("*.example.test", "example.test"));
    assert!(!name_matches("*.example.test", "a.b.example.test"));
    assert!(!name_matches("*.example.test", ".example.test"));
    assert!(!name_matches("*.example.test", "wwwexample.test"));
    assert!(name_matches("api.example.test", "api.example.test"));
    assert!(!name_matches("api.example.test", "www.example.test"));
}

#[test]
fn sni_prefers_an_exact_name_then_a_wildcard_then_the_first_certificate() {
    let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let first = names(&["first.example.test"]);
    let wildcard = names(&["*.example.test"]);
    let exact = names(&["api.example.test"]);
    let certificates = [first.as_slice(), wildcard.as_slice(), exact.as_slice()];
    assert_eq!(choose(&certificates, Some("api.example.test")), 2);
    assert_eq!(choose(&certificates, Some("API.Example.Test.")), 2);
    assert_eq!(choose(&certificates, Some("first.example.test")), 0);
    assert_eq!(choose(&certificates, Some("www.example.test")), 1);
    assert_eq!(choose(&certificates, Some("other.test")), 0);
    assert_eq!(choose(&certificates, None), 0);
}

#[test]
fn key_files_and_variables_load_and_sans_are_read_from_the_leaf() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, key) = self_signed(&["a.example.test", "*.B.example.test"]);
    let mut config = config("{certificates: [a]}", &[("a", &chain)]);
    set_key(&mut config, "a", key_file(&dir, "a.key", &key));
    let built = TlsConfigs::build(&config).unwrap();
    let loaded = load_certificate(&config.certificates["a"]).unwrap();
    assert_eq!(loaded.names, ["a.example.test", "*.b.example.test"]);
    let server = built.by_balancer["web"][&8443].clone();
    assert_eq!(
        server.alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    // The config's Debug names the certificate's SANs and no key material.
    let debug = format!("{server:?}");
    assert!(debug.contains("a.example.test"), "{debug}");
    assert!(!debug.contains("PRIVATE"), "{debug}");

    // The environment is read, never written, here: PATH is not a PEM key.
    set_key(&mut config, "a", KeyRef::Env("PATH".to_owned()));
    let err = build_error(&config);
    assert!(
        err.ends_with("private key variable `PATH`: no PEM block of the expected type (a private key: `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`; a chain: `CERTIFICATE`)"),
        "{err}"
    );
}

#[test]
fn keys_that_cannot_be_loaded_are_named_and_never_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, key) = self_signed(&["a.example.test"]);
    let (_, other_key) = self_signed(&["b.example.test"]);
    let mut config = config("{certificates: [a]}", &[("a", &chain)]);
    let prefix = "listener `web/https`: certificate `a`: ";

    let cases = [
        (
            KeyRef::Provider("arn:aws:acm:eu-west-1:1:certificate/x".to_owned()),
            "private key `arn:aws:acm:eu-west-1:1:certificate/x` in the provider's store cannot be read by the embedded data plane: reference the key with `file` or `env` for listeners it serves".to_owned(),
        ),
        (
            KeyRef::File("keys/a.key".to_owned()),
            "private key file `keys/a.key` is not an absolute path".to_owned(),
        ),
        (
            KeyRef::Env("LBOPS_TLS_TEST_SURELY_UNSET_VARIABLE".to_owned()),
            "private key variable `LBOPS_TLS_TEST_SURELY_UNSET_VARIABLE` is not set".to_owned(),
        ),
        (
            key_file(&dir, "other.key", &other_key),
            format!(
                "private key file `{}` does not belong to the chain's leaf certificate",
                dir.path().join("other.key").display()
            ),
        ),
        (
            key_file(&dir, "chain.key", &chain),
            format!(
                "private key file `{}`: no PEM block of the expected type (a private key: `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`; a chain: `CERTIFICATE`)",
                dir.path().join("chain.key").display()
            ),
        ),
    ];
    for (key_ref, expected) in cases {
        set_key(&mut config, "a", key_ref);
        assert_eq!(build_error(&config), format!("{prefix}{expected}"));
    }

    // A key whose base64 is broken: the message quotes none of it.
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let broken = key.replace(&body[..20], "!!!!not*base64!!!!!!");
    set_key(&mut config, "a", key_file(&dir, "broken.key", &broken));
    let err = build_error(&config);
    assert!(
        err.ends_with("a PEM block's base64 does not decode"),
        "{err}"
    );
    assert!(!err.contains(&body[20..40]), "{err}");

    let huge = "A".repeat(usize::try_from(MAX_KEY_BYTES).unwrap() + 1);
    set_key(&mut config, "a", key_file(&dir, "huge.key", &huge));
    assert!(build_error(&config).contains("is larger than 1048576 bytes"));

    set_key(&mut config, "a", key_file(&dir, "a.key", &key));
    assert!(TlsConfigs::build(&config).is_ok());
}

#[test]
fn a_policy_no_suite_can_serve_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, key) = self_signed(&["a.example.test"]);
    let mut config = config("{certificates: [a]}", &[("a", &chain)]);
    set_key(&mut config, "a", key_file(&dir, "a.key", &key));

    // An ECDSA key (rcgen's default) with only RSA suites of TLS 1.2.
    policy(&mut config).ciphers = vec![Cipher::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];
    let err = build_error(&config);
    assert!(
        err.starts_with("listener `web/https`: certificate `a` has an ECDSA key, which none of the allowed cipher suites can use"),
        "{err}"
    );

    // `validate` refuses this pairing; a hand-written config file can hold it.
    policy(&mut config).ciphers = vec![Cipher::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
    policy(&mut config).min_version = TlsVersion::Tls13;
    assert!(build_error(&config).contains("none of the allowed cipher suites can use"));

    policy(&mut config).ciphers = vec![Cipher::TLS13_CHACHA20_POLY1305_SHA256];
    assert!(TlsConfigs::build(&config).is_ok());
}

#[test]
fn resumption_false_keeps_no_sessions_and_sends_no_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, key) = self_signed(&["a.example.test"]);
    let mut config = config("{certificates: [a]}", &[("a", &chain)]);
    set_key(&mut config, "a", key_file(&dir, "a.key", &key));
    let server = |config: &DataplaneConfig| {
        TlsConfigs::build(config).unwrap().by_balancer["web"][&8443].clone()
    };

    // The default is rustls' own: a session cache, two TLS 1.3 tickets
    // (stateful: ids into that cache), and no stateless ticketer.
    assert!(policy(&mut config).resumption);
    let resuming = server(&config);
    assert!(resuming.session_storage.can_cache());
    assert!(resuming
        .session_storage
        .put(b"id".to_vec(), b"session".to_vec()));
    assert_eq!(resuming.send_tls13_tickets, 2);
    assert!(!resuming.ticketer.enabled());

    policy(&mut config).resumption = false;
    let full = server(&config);
    assert!(!full.session_storage.can_cache());
    assert!(!full
        .session_storage
        .put(b"id".to_vec(), b"session".to_vec()));
    assert_eq!(full.session_storage.get(b"id"), None);
    assert_eq!(full.send_tls13_tickets, 0);
    assert!(!full.ticketer.enabled());
}

#[test]
fn only_listeners_that_terminate_tls_load_certificates() {
    let (chain, _) = self_signed(&["a.example.test"]);
    let mut config = config("{certificates: [a]}", &[("a", &chain)]);
    set_key(&mut config, "a", KeyRef::Provider("arn:x".to_owned()));
    let listener = &mut config.load_balancers.get_mut("web").unwrap().spec.listeners[0];
    listener.protocol.value = Protocol::Http;
    listener.tls = None;
    let built = TlsConfigs::build(&config).expect("the provider key is never read");
    assert!(built.by_balancer.is_empty());

    let mut config = config_missing_certificate();
    assert_eq!(
        build_error(&config),
        "listener `web/https`: certificate `gone` is not in the config"
    );
    policy(&mut config).certificates.clear();
    assert_eq!(
        build_error(&config),
        "listener `web/https`: its `tls` policy lists no certificate"
    );
}

fn config_missing_certificate() -> DataplaneConfig {
    let (chain, _) = self_signed(&["a.example.test"]);
    let mut config = config("{certificates: [a]}", &[("a", &chain)]);
    config.certificates.clear();
    policy(&mut config).certificates[0].value = "gone".parse().unwrap();
    config
}
