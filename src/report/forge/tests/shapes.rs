//! Each forge's published request shape, as the stand-ins enforce it.
//! Written from the API documentation, not from the sinks' code.

use hyper::HeaderMap;
use serde_json::{Map, Value};

/// The token the tests configure; the stand-ins accept only this one.
pub const TOKEN: &str = "tok-3f9a5c-secret-value";
/// The Atlassian account an API token belongs to (Bitbucket, Basic auth).
pub const EMAIL: &str = "ops@acme.test";
pub const OWNER_REPO: &str = "acme/lb-config";
/// GitLab's project, with a subgroup, as the config names it …
pub const GITLAB_PROJECT: &str = "acme/net/lb-config";
/// … and as its URL-encoded id.
const GITLAB_ID: &str = "acme%2Fnet%2Flb-config";

/// <https://docs.github.com/en/rest/commits/statuses#create-a-commit-status>
pub fn github(method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    post_json(method, headers)?;
    header(headers, "authorization", &format!("Bearer {TOKEN}"))?;
    header(headers, "accept", "application/vnd.github+json")?;
    header(headers, "x-github-api-version", "2022-11-28")?;
    present(headers, "user-agent")?; // GitHub refuses requests without one
    sha_between(path, &format!("/repos/{OWNER_REPO}/statuses/"), "")?;
    let body = object(body, &["state", "context"], &["target_url", "description"])?;
    one_of(&body, "state", &["error", "failure", "pending", "success"])?;
    text(&body, "context", 255)?;
    text_if_there(&body, "description", 140)?;
    url_if_there(&body, "target_url")?;
    Ok(Value::Object(body))
}

/// <https://docs.gitlab.com/api/commits/#set-the-pipeline-status-of-a-commit>
pub fn gitlab(method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    post_json(method, headers)?;
    header(headers, "private-token", TOKEN)?;
    absent(headers, "authorization")?;
    sha_between(path, &format!("/api/v4/projects/{GITLAB_ID}/statuses/"), "")?;
    let body = object(
        body,
        &["state"],
        &[
            "ref",
            "name",
            "context",
            "target_url",
            "description",
            "coverage",
            "pipeline_id",
        ],
    )?;
    one_of(
        &body,
        "state",
        &["pending", "running", "success", "failed", "canceled"],
    )?;
    text(&body, "name", 255)?; // optional in the API ("default"); lbops always names it
    text_if_there(&body, "description", 255)?;
    url_if_there(&body, "target_url")?;
    Ok(Value::Object(body))
}

/// <https://gitea.com/api/swagger#/repository/repoCreateStatus> (Forgejo:
/// <https://codeberg.org/api/swagger#/repository/repoCreateStatus>)
pub fn gitea(method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, String> {
    post_json(method, headers)?;
    header(headers, "authorization", &format!("token {TOKEN}"))?;
    sha_between(path, &format!("/api/v1/repos/{OWNER_REPO}/statuses/"), "")?;
    let body = object(body, &["state", "context"], &["target_url", "description"])?;
    one_of(
        &body,
        "state",
        &["pending", "success", "error", "failure", "warning"],
    )?;
    text(&body, "context", 255)?;
    text_if_there(&body, "description", 255)?;
    url_if_there(&body, "target_url")?;
    Ok(Value::Object(body))
}

/// <https://developer.atlassian.com/cloud/bitbucket/rest/api-group-commit-statuses/#api-repositories-workspace-repo-slug-commit-commit-statuses-build-post>
pub fn bitbucket(
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, String> {
    post_json(method, headers)?;
    // An access token as Bearer, or an Atlassian API token as Basic with
    // the account's email.
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"))
    };
    header(headers, "authorization", &format!("Bearer {TOKEN}"))
        .or_else(|_| header(headers, "authorization", &format!("Basic {basic}")))?;
    sha_between(
        path,
        &format!("/2.0/repositories/{OWNER_REPO}/commit/"),
        "/statuses/build",
    )?;
    let body = object(
        body,
        &["key", "state", "url"],
        &["name", "description", "refname"],
    )?;
    one_of(
        &body,
        "state",
        &["INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"],
    )?;
    let key = text(&body, "key", 40)?;
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
    {
        return Err(format!(
            "key `{key}` has characters outside [A-Za-z0-9_.-/]"
        ));
    }
    text(&body, "url", 2048)?;
    url_if_there(&body, "url")?;
    text_if_there(&body, "name", 255)?;
    text_if_there(&body, "description", 140)?;
    Ok(Value::Object(body))
}

fn post_json(method: &str, headers: &HeaderMap) -> Result<(), String> {
    if method != "POST" {
        return Err(format!("method {method}, not POST"));
    }
    let content_type = value(headers, "content-type").unwrap_or_default();
    if !content_type.starts_with("application/json") {
        return Err(format!(
            "content-type `{content_type}`, not application/json"
        ));
    }
    Ok(())
}

fn value(headers: &HeaderMap, name: &str) -> Option<String> {
    Some(headers.get(name)?.to_str().ok()?.to_owned())
}

fn header(headers: &HeaderMap, name: &str, expected: &str) -> Result<(), String> {
    match value(headers, name) {
        Some(v) if v == expected => Ok(()),
        // Never echo what came: it may be a token.
        Some(_) => Err(format!(
            "header {name} is not `{}`",
            expected.replace(TOKEN, "<TOKEN>")
        )),
        None => Err(format!("no {name} header")),
    }
}

fn present(headers: &HeaderMap, name: &str) -> Result<(), String> {
    value(headers, name)
        .map(|_| ())
        .ok_or(format!("no {name} header"))
}

fn absent(headers: &HeaderMap, name: &str) -> Result<(), String> {
    match headers.contains_key(name) {
        true => Err(format!("unexpected {name} header")),
        false => Ok(()),
    }
}

/// `path` is `prefix` + a 40-hex sha + `suffix`.
fn sha_between(path: &str, prefix: &str, suffix: &str) -> Result<(), String> {
    let sha = path
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .ok_or(format!("path is not {prefix}{{sha}}{suffix}"))?;
    match sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()) {
        true => Ok(()),
        false => Err(format!("`{sha}` is not a 40-hex sha")),
    }
}

fn object(body: &[u8], required: &[&str], optional: &[&str]) -> Result<Map<String, Value>, String> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return Err("body is not a JSON object".into());
    };
    for field in fields.keys() {
        if !required.contains(&field.as_str()) && !optional.contains(&field.as_str()) {
            return Err(format!("unknown field `{field}`"));
        }
    }
    for field in required {
        if !fields.contains_key(*field) {
            return Err(format!("no `{field}` field"));
        }
    }
    Ok(fields)
}

fn one_of(body: &Map<String, Value>, field: &str, allowed: &[&str]) -> Result<(), String> {
    match body.get(field).and_then(Value::as_str) {
        Some(v) if allowed.contains(&v) => Ok(()),
        other => Err(format!("{field} {other:?} is not one of {allowed:?}")),
    }
}

fn text<'a>(body: &'a Map<String, Value>, field: &str, max: usize) -> Result<&'a str, String> {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(s),
        Some(Value::String(s)) => Err(format!("{field} is empty or over {max} characters: {s:?}")),
        _ => Err(format!("{field} is missing or not a string")),
    }
}

fn text_if_there(body: &Map<String, Value>, field: &str, max: usize) -> Result<(), String> {
    match body.contains_key(field) {
        true => text(body, field, max).map(|_| ()),
        false => Ok(()),
    }
}

fn url_if_there(body: &Map<String, Value>, field: &str) -> Result<(), String> {
    match body.get(field).and_then(Value::as_str) {
        Some(url) if !url.starts_with("https://") && !url.starts_with("http://") => {
            Err(format!("{field} `{url}` is not an http(s) URL"))
        }
        Some(_) => Ok(()),
        None if body.contains_key(field) => Err(format!("{field} is not a string")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_static(k),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    /// The stand-ins are only worth what they refuse.
    #[test]
    fn the_shapes_refuse_what_the_apis_would_not_take() {
        let json = ("content-type", "application/json".to_owned());
        let github_headers = |auth: String| {
            headers(&[
                json.clone(),
                ("authorization", auth),
                ("accept", "application/vnd.github+json".into()),
                ("x-github-api-version", "2022-11-28".into()),
                ("user-agent", "lbops".into()),
            ])
        };
        let path = format!("/repos/{OWNER_REPO}/statuses/{SHA}");
        let good = br#"{"state":"success","context":"lbops/validate","description":"ok"}"#;
        let ok = github_headers(format!("Bearer {TOKEN}"));
        assert!(github("POST", &path, &ok, good).is_ok());
        let refused: [(&str, &str, HeaderMap, &[u8]); 8] = [
            ("PUT", &path, ok.clone(), good),
            ("POST", &path, github_headers("Bearer other".into()), good),
            (
                "POST",
                &path,
                github_headers(format!("token {TOKEN}")),
                good,
            ),
            (
                "POST",
                "/repos/acme/lb-config/statuses/abc",
                ok.clone(),
                good,
            ),
            (
                "POST",
                &path,
                ok.clone(),
                br#"{"state":"failed","context":"c"}"#,
            ),
            ("POST", &path, ok.clone(), br#"{"state":"success"}"#),
            (
                "POST",
                &path,
                ok.clone(),
                br#"{"state":"success","context":"c","name":"x"}"#,
            ),
            (
                "POST",
                &path,
                headers(&[("authorization", format!("Bearer {TOKEN}"))]),
                good,
            ),
        ];
        for (method, path, headers, body) in refused {
            let verdict = github(method, path, &headers, body);
            assert!(
                verdict.is_err(),
                "{method} {path} {}",
                String::from_utf8_lossy(body)
            );
            assert!(!verdict.unwrap_err().contains(TOKEN));
        }
        let long = format!(
            r#"{{"state":"success","context":"c","description":"{}"}}"#,
            "x".repeat(141)
        );
        assert!(github("POST", &path, &ok, long.as_bytes()).is_err());

        let gitlab_path = format!("/api/v4/projects/{GITLAB_ID}/statuses/{SHA}");
        let private = headers(&[json.clone(), ("private-token", TOKEN.into())]);
        let body = br#"{"state":"failed","name":"lbops/apply"}"#;
        assert!(gitlab("POST", &gitlab_path, &private, body).is_ok());
        assert!(gitlab(
            "POST",
            &gitlab_path,
            &private,
            br#"{"state":"failure","name":"n"}"#
        )
        .is_err());
        let unencoded = format!("/api/v4/projects/{GITLAB_PROJECT}/statuses/{SHA}");
        assert!(gitlab("POST", &unencoded, &private, body).is_err());

        let gitea_path = format!("/api/v1/repos/{OWNER_REPO}/statuses/{SHA}");
        let token = headers(&[json.clone(), ("authorization", format!("token {TOKEN}"))]);
        assert!(gitea(
            "POST",
            &gitea_path,
            &token,
            br#"{"state":"warning","context":"c"}"#
        )
        .is_ok());
        assert!(gitea(
            "POST",
            &gitea_path,
            &ok,
            br#"{"state":"warning","context":"c"}"#
        )
        .is_err());

        let bb_path = format!("/2.0/repositories/{OWNER_REPO}/commit/{SHA}/statuses/build");
        let bearer = headers(&[json, ("authorization", format!("Bearer {TOKEN}"))]);
        let bb = |body: &str| bitbucket("POST", &bb_path, &bearer, body.as_bytes());
        assert!(bb(r#"{"key":"lbops/apply","state":"FAILED","url":"https://x"}"#).is_ok());
        assert!(bb(r#"{"key":"lbops/apply","state":"FAILED"}"#).is_err());
        assert!(bb(r#"{"key":"lbops apply","state":"FAILED","url":"https://x"}"#).is_err());
        assert!(bb(&format!(
            r#"{{"key":"{}","state":"FAILED","url":"https://x"}}"#,
            "k".repeat(41)
        ))
        .is_err());
        assert!(bb(r#"{"key":"k","state":"failure","url":"https://x"}"#).is_err());
    }
}
