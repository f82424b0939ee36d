//! The strict request check of the moto tests: every request lbops sends
//! to ELBv2, EC2 or ACM is checked against the constraints of the
//! published service models (pattern, length, range, enum, required
//! members, list and map sizes), as real AWS checks it and moto does not.
//!
//! The constraints are not written here: `scripts/aws-model-constraints.py`
//! extracts them from botocore's models into
//! `tests/fixtures/aws-model-constraints.json` (pinned botocore version
//! inside), for exactly the operations lbops calls. A request for any
//! other operation is itself a violation: add the operation to the script.
//!
//! Requests are checked as they go on the wire (after serialization): the
//! Query protocols (ELBv2's `query`, EC2's `ec2`: form-encoded
//! `Action=…&Member.N=…`) are read back into the shapes, JSON 1.1 (ACM,
//! `X-Amz-Target`) is walked as sent. [`StrictModel`] does it as an SDK
//! interceptor; the daemon tests run it in a proxy before moto.
//!
//! For local debugging only: `LBOPS_AWS_STRICT=off` turns it off,
//! `LBOPS_AWS_STRICT=warn` prints each violation and lets the request go
//! (to see every violation of a run at once). It is on by default.
//!
//! Shared with the library's unit tests (`#[path]`), so it uses nothing
//! of lbops.
#![allow(dead_code)] // each test crate uses its own part of this

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

/// The generated constraints, checked in.
const FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/aws-model-constraints.json"
));

/// The environment variable that turns the check off (`off`) or into
/// warnings (`warn`), for local debugging only; it is on by default.
pub const SWITCH: &str = "LBOPS_AWS_STRICT";

/// What the check does with a violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Fails the test (the default).
    Fail,
    /// Prints it to stderr and lets the request go.
    Warn,
    Off,
}

/// Values longer than this are shortened in messages.
const SHOWN: usize = 160;

/// One way a request breaks the model: which operation, where in the
/// input, the value sent and the constraint it breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub operation: String,
    /// Member path in the model's names: `Tags[0].Value`.
    pub path: String,
    /// The value as sent (shortened; `(sensitive, N bytes)` for secrets).
    pub value: String,
    pub constraint: String,
}

/// The path of a violation about the request as a whole: an operation
/// the fixture does not have, or a body that cannot be read.
const WHOLE_REQUEST: &str = "(request)";

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = if self.path == WHOLE_REQUEST {
            "the strict check cannot judge it"
        } else {
            "real AWS refuses this request; moto does not"
        };
        write!(
            f,
            "{}: {} = {} breaks {} ({why})",
            self.operation, self.path, self.value, self.constraint
        )
    }
}

/// Every violation of one request, one per line.
pub fn report(violations: &[Violation]) -> String {
    let lines: Vec<String> = violations.iter().map(ToString::to_string).collect();
    format!(
        "strict AWS request check ({}): the request breaks the service model:\n  {}",
        model().botocore,
        lines.join("\n  ")
    )
}

#[derive(Deserialize)]
struct Fixture {
    botocore: String,
    services: BTreeMap<String, Service>,
}

#[derive(Deserialize)]
struct Service {
    protocol: Protocol,
    api_version: String,
    target_prefix: Option<String>,
    /// Operation → its input shape.
    operations: BTreeMap<String, Option<String>>,
    shapes: BTreeMap<String, Shape>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Protocol {
    Query,
    Ec2,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Type {
    Structure,
    List,
    Map,
    String,
    Integer,
    Long,
    Boolean,
    Blob,
    Timestamp,
    Double,
    Float,
}

#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "type")]
    kind: Type,
    min: Option<i64>,
    max: Option<i64>,
    pattern: Option<String>,
    #[serde(rename = "enum", default)]
    values: Vec<String>,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    members: BTreeMap<String, Member>,
    /// A list's member shape.
    member: Option<String>,
    /// The Query segment before a list's or map's index (`member`,
    /// `entry`), none when flattened.
    item: Option<String>,
    key: Option<String>,
    value: Option<String>,
    key_wire: Option<String>,
    value_wire: Option<String>,
}

#[derive(Deserialize)]
struct Member {
    shape: String,
    wire: String,
}

/// The constraints, loaded once, with every pattern compiled.
struct Model {
    botocore: String,
    services: BTreeMap<String, Service>,
    patterns: BTreeMap<String, regex::Regex>,
}

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let fixture: Fixture = serde_json::from_str(FIXTURE)
            .expect("tests/fixtures/aws-model-constraints.json reads (regenerate it with scripts/aws-model-constraints.py)");
        let mut patterns = BTreeMap::new();
        for service in fixture.services.values() {
            for (name, shape) in &service.shapes {
                if let Some(pattern) = &shape.pattern {
                    // AWS checks a pattern against the whole value, anchored
                    // or not in the model: ACM answers a tag value with `;`
                    // "failed to satisfy constraint: Member must satisfy
                    // regular expression pattern: [\p{L}\p{Z}\p{N}_.:\/=+\-@]*".
                    let whole = format!("^(?:{})$", ecma_to_rust(pattern));
                    let regex = regex::Regex::new(&whole).unwrap_or_else(|e| {
                        panic!("the model pattern of {name} ({pattern}) has no Rust form yet: {e}")
                    });
                    patterns.insert(pattern.clone(), regex);
                }
            }
        }
        Model {
            botocore: format!("botocore {}", fixture.botocore),
            services: fixture.services,
            patterns,
        }
    })
}

/// A model pattern (ECMA 262, as Smithy's `@pattern` says) in Rust's
/// `regex` syntax. Both take `\p{L}`, `\uFFFF` and the usual classes; in
/// ECMA 262 `\w`, `\d` and `\s` are ASCII, in Rust Unicode, so they are
/// spelled out. Lookarounds and backreferences (which `regex` lacks) do
/// not appear in the operations lbops calls: `Regex::new` would refuse
/// them, naming the shape, when one does.
fn ecma_to_rust(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let ascii = match next {
                    'w' => Some("0-9A-Za-z_"),
                    'd' => Some("0-9"),
                    's' => Some(" \\t\\n\\r\\x0B\\x0C"),
                    _ => None,
                };
                match (ascii, in_class) {
                    (Some(set), true) => out.push_str(set),
                    (Some(set), false) => {
                        out.push('[');
                        out.push_str(set);
                        out.push(']');
                    }
                    (None, _) => {
                        out.push('\\');
                        out.push(next);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// What `LBOPS_AWS_STRICT` asks for: [`Mode::Fail`] unless `off` or `warn`.
pub fn mode() -> Mode {
    match std::env::var(SWITCH).as_deref() {
        Ok("off") => Mode::Off,
        Ok("warn") => Mode::Warn,
        _ => Mode::Fail,
    }
}

/// A request as it goes on the wire: its `X-Amz-Target` header (JSON
/// protocols) and body.
pub struct WireRequest<'a> {
    pub target: Option<&'a str>,
    pub body: &'a [u8],
}

/// Checks one request: the operation's name, or every violation.
pub fn check(request: &WireRequest<'_>) -> Result<String, Vec<Violation>> {
    let model = model();
    let unknown = |operation: &str, what: String| {
        vec![Violation {
            operation: operation.to_owned(),
            path: WHOLE_REQUEST.to_owned(),
            value: what,
            constraint: "an operation in tests/fixtures/aws-model-constraints.json (add it to scripts/aws-model-constraints.py)".to_owned(),
        }]
    };
    let (service, operation, input) = if let Some(target) = request.target {
        let Some((prefix, operation)) = target.split_once('.') else {
            return Err(unknown(target, format!("X-Amz-Target {target:?}")));
        };
        let Some(service) = model
            .services
            .values()
            .find(|s| s.target_prefix.as_deref() == Some(prefix))
        else {
            return Err(unknown(operation, format!("X-Amz-Target {target:?}")));
        };
        let input: Value = match serde_json::from_slice(request.body) {
            Ok(v) => v,
            Err(e) => return Err(unknown(operation, format!("a body that is not JSON ({e})"))),
        };
        (service, operation.to_owned(), Input::Json(input))
    } else {
        let mut form: BTreeMap<String, String> = form_urlencoded(request.body);
        let operation = form.remove("Action").unwrap_or_default();
        let version = form.remove("Version").unwrap_or_default();
        let Some(service) = model.services.values().find(|s| {
            s.protocol != Protocol::Json
                && s.api_version == version
                && s.operations.contains_key(&operation)
        }) else {
            return Err(unknown(
                &operation,
                format!("Action={operation} Version={version}"),
            ));
        };
        (service, operation, Input::Form(form))
    };
    let Some(shape) = service.operations.get(&operation) else {
        return Err(unknown(&operation, format!("operation {operation}")));
    };
    let mut checker = Checker {
        model,
        service,
        operation: operation.clone(),
        violations: Vec::new(),
    };
    if let Some(shape) = shape {
        let value = match input {
            Input::Json(v) => v,
            Input::Form(mut form) => {
                let value = checker
                    .read_form(shape, "", &mut form)
                    .unwrap_or(Value::Object(Default::default()));
                for (key, value) in form {
                    checker.violation(&key, &value, false, "a member of the model (not one)");
                }
                value
            }
        };
        checker.walk(shape, &value, "", false);
    }
    if checker.violations.is_empty() {
        Ok(operation)
    } else {
        Err(checker.violations)
    }
}

enum Input {
    Json(Value),
    Form(BTreeMap<String, String>),
}

struct Checker<'m> {
    model: &'m Model,
    service: &'m Service,
    operation: String,
    violations: Vec<Violation>,
}

impl<'m> Checker<'m> {
    fn shape(&self, name: &str) -> &'m Shape {
        let service: &'m Service = self.service;
        service
            .shapes
            .get(name)
            .unwrap_or_else(|| panic!("shape {name} missing from the fixture: regenerate it"))
    }

    fn violation(&mut self, path: &str, value: &str, sensitive: bool, constraint: &str) {
        let value = if sensitive {
            format!("(sensitive, {} bytes)", value.len())
        } else if value.chars().count() > SHOWN {
            let head: String = value.chars().take(SHOWN).collect();
            format!("{head:?}… ({} chars)", value.chars().count())
        } else {
            format!("{value:?}")
        };
        self.violations.push(Violation {
            operation: self.operation.clone(),
            path: if path.is_empty() {
                "(input)".to_owned()
            } else {
                path.to_owned()
            },
            value,
            constraint: constraint.to_owned(),
        });
    }

    /// A Query input read back into a JSON value by its shape, taking
    /// the keys it uses out of `form`; `None` when nothing of it was sent.
    fn read_form(
        &self,
        shape: &str,
        prefix: &str,
        form: &mut BTreeMap<String, String>,
    ) -> Option<Value> {
        let s = self.shape(shape);
        let join = |a: &str, b: &str| {
            if a.is_empty() {
                b.to_owned()
            } else {
                format!("{a}.{b}")
            }
        };
        match s.kind {
            Type::Structure => {
                let mut object = serde_json::Map::new();
                for (name, member) in &s.members {
                    if let Some(v) =
                        self.read_form(&member.shape, &join(prefix, &member.wire), form)
                    {
                        object.insert(name.clone(), v);
                    }
                }
                (prefix.is_empty() || !object.is_empty()).then_some(Value::Object(object))
            }
            Type::List | Type::Map => {
                // An empty list or map goes as `Name=`.
                let empty = form.get(prefix).is_some_and(String::is_empty);
                if empty {
                    form.remove(prefix);
                }
                let base = match &s.item {
                    Some(item) => join(prefix, item),
                    None => prefix.to_owned(),
                };
                let mut items = Vec::new();
                let mut entries = serde_json::Map::new();
                for i in 1.. {
                    let at = format!("{base}.{i}");
                    let sent = form
                        .keys()
                        .any(|k| k == &at || k.starts_with(&format!("{at}.")));
                    if !sent {
                        break;
                    }
                    if s.kind == Type::List {
                        let member = s.member.as_deref().expect("a list has a member");
                        items.push(self.read_form(member, &at, form).unwrap_or(Value::Null));
                    } else {
                        let key_wire = s.key_wire.as_deref().unwrap_or("key");
                        let value_wire = s.value_wire.as_deref().unwrap_or("value");
                        let key = form.remove(&format!("{at}.{key_wire}")).unwrap_or_default();
                        let value_shape = s.value.as_deref().expect("a map has a value");
                        let value = self
                            .read_form(value_shape, &format!("{at}.{value_wire}"), form)
                            .unwrap_or(Value::Null);
                        entries.insert(key, value);
                    }
                }
                if s.kind == Type::Map {
                    (empty || !entries.is_empty()).then_some(Value::Object(entries))
                } else {
                    (empty || !items.is_empty()).then_some(Value::Array(items))
                }
            }
            _ => form.remove(prefix).map(Value::String),
        }
    }

    fn walk(&mut self, shape: &str, value: &Value, path: &str, sensitive: bool) {
        let model = self.model;
        let s = self.shape(shape);
        let sensitive = sensitive || s.sensitive;
        let text = match value {
            Value::String(v) => v.clone(),
            other => other.to_string(),
        };
        match (s.kind, value) {
            (Type::Structure, Value::Object(object)) => {
                for required in &s.required {
                    if !object.contains_key(required) {
                        let at = join_path(path, required);
                        self.violation(&at, "(missing)", false, "required");
                    }
                }
                for (name, v) in object {
                    let at = join_path(path, name);
                    match s.members.get(name) {
                        Some(member) => self.walk(&member.shape, v, &at, sensitive),
                        None => self.violation(
                            &at,
                            &v.to_string(),
                            sensitive,
                            "a member of the model (not one)",
                        ),
                    }
                }
            }
            (Type::List, Value::Array(items)) => {
                self.size(s, items.len(), path, "items");
                let member = s.member.as_deref().expect("a list has a member");
                for (i, item) in items.iter().enumerate() {
                    self.walk(member, item, &format!("{path}[{i}]"), sensitive);
                }
            }
            (Type::Map, Value::Object(entries)) => {
                self.size(s, entries.len(), path, "entries");
                let (key, val) = (
                    s.key.as_deref().expect("a key"),
                    s.value.as_deref().expect("a value"),
                );
                for (k, v) in entries {
                    let at = format!("{path}[{k:?}]");
                    self.walk(
                        key,
                        &Value::String(k.clone()),
                        &format!("{at}(key)"),
                        sensitive,
                    );
                    self.walk(val, v, &at, sensitive);
                }
            }
            (Type::String, Value::String(v)) => {
                self.length(s, v.chars().count(), path, v, sensitive, "characters");
                if !s.values.is_empty() && !s.values.contains(v) {
                    let constraint = format!("enum [{}]", s.values.join(", "));
                    self.violation(path, v, sensitive, &constraint);
                }
                if let Some(pattern) = &s.pattern {
                    if !model.patterns[pattern].is_match(v) {
                        self.violation(path, v, sensitive, &format!("pattern {pattern}"));
                    }
                }
            }
            (Type::Integer | Type::Long, _) => {
                let number = match value {
                    Value::Number(n) => n.as_i64(),
                    Value::String(v) => v.parse().ok(),
                    _ => None,
                };
                match number {
                    None => self.violation(path, &text, sensitive, "an integer"),
                    Some(n) => {
                        if s.min.is_some_and(|min| n < min) || s.max.is_some_and(|max| n > max) {
                            let constraint = format!("range {}", range(s.min, s.max));
                            self.violation(path, &text, sensitive, &constraint);
                        }
                    }
                }
            }
            (Type::Boolean, Value::Bool(_)) => {}
            (Type::Boolean, Value::String(v)) if v == "true" || v == "false" => {}
            (Type::Blob, Value::String(v)) => {
                use base64::Engine as _;
                match base64::engine::general_purpose::STANDARD.decode(v) {
                    Ok(bytes) => self.length(s, bytes.len(), path, v, sensitive, "bytes"),
                    Err(_) => self.violation(path, v, sensitive, "base64 (a blob)"),
                }
            }
            (Type::Timestamp | Type::Double | Type::Float, _) => {}
            (kind, _) => {
                let constraint = format!("a {kind:?}").to_lowercase();
                self.violation(path, &text, sensitive, &constraint);
            }
        }
    }

    fn size(&mut self, s: &Shape, n: usize, path: &str, what: &str) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        if s.min.is_some_and(|min| n < min) || s.max.is_some_and(|max| n > max) {
            let constraint = format!("{} {what}", range(s.min, s.max));
            self.violation(path, &format!("({n} {what})"), false, &constraint);
        }
    }

    fn length(
        &mut self,
        s: &Shape,
        n: usize,
        path: &str,
        value: &str,
        sensitive: bool,
        what: &str,
    ) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        if s.min.is_some_and(|min| n < min) || s.max.is_some_and(|max| n > max) {
            let constraint = format!("length {} {what} (it has {n})", range(s.min, s.max));
            self.violation(path, value, sensitive, &constraint);
        }
    }
}

fn join_path(path: &str, member: &str) -> String {
    if path.is_empty() {
        member.to_owned()
    } else {
        format!("{path}.{member}")
    }
}

/// `1..=5`, `1..`, `..=5`.
fn range(min: Option<i64>, max: Option<i64>) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("{min}..={max}"),
        (Some(min), None) => format!("{min}.."),
        (None, Some(max)) => format!("..={max}"),
        (None, None) => "..".to_owned(),
    }
}

/// `a=1&b=x%20y` as keys and values (`+` is a space).
fn form_urlencoded(body: &[u8]) -> BTreeMap<String, String> {
    fn decode(text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The check as an SDK interceptor, for every client lbops builds in a
/// test: a request that breaks the model panics the test, naming the
/// operation, member, value and constraint (after the request is
/// serialized, before anything is sent).
#[derive(Debug, Default)]
pub struct StrictModel;

impl StrictModel {
    #[must_use]
    pub fn shared() -> SharedInterceptor {
        SharedInterceptor::new(Self)
    }
}

impl Intercept for StrictModel {
    fn name(&self) -> &'static str {
        "strict-aws-model"
    }

    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mode = mode();
        if mode == Mode::Off {
            return Ok(());
        }
        let request = context.request();
        let Some(body) = request.body().bytes() else {
            panic!("strict AWS request check: a streaming body cannot be checked");
        };
        let wire = WireRequest {
            target: request.headers().get("x-amz-target"),
            body,
        };
        match check(&wire) {
            Err(violations) if mode == Mode::Fail => panic!("{}", report(&violations)),
            Err(violations) => eprintln!("{}", report(&violations)),
            Ok(_) => {}
        }
        Ok(())
    }
}
