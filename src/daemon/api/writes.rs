//! The write endpoints: each is an [`Edit`] of one resource's YAML, which
//! the [writer](super::writer) makes a signed commit on the watched
//! branch, judged and applied like any other.

use super::edit::add_target;
use super::error::ApiError;
use super::writer::{write_call, Edit, FileEdit, Wait};
use super::{ApiState, Caller};
use crate::spec::{Catalog, SourceFile};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use std::sync::Arc;

/// `POST /v1/pools/{name}/targets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    pub address: String,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// The address goes into the YAML as a quoted scalar: no line breaks or
/// other control characters, whatever the validation would say.
fn check_address(address: &str) -> Result<(), ApiError> {
    if address.is_empty() || address.len() > 255 || address.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "`address` is host:port, 1 to 255 characters without control characters".into(),
        ));
    }
    Ok(())
}

/// The index in `files` of pool `name`'s file, and the line its document starts on.
fn pool_file(files: &[SourceFile], before: &Catalog, name: &str) -> Result<(usize, u32), ApiError> {
    let pool = before.pools.get(name).ok_or_else(|| ApiError::NotFound {
        kind: "pool",
        name: name.to_owned(),
        hidden: None,
    })?;
    let file = &pool.origin.file;
    let index = files
        .iter()
        .position(|f| f.path.as_str() == &**file)
        .ok_or_else(|| {
            ApiError::Repository(format!("pool/{name}'s file {file} is not in the tree"))
        })?;
    Ok((index, pool.origin.pos.line))
}

/// Registers a target in a pool.
pub struct AddTarget {
    pub pool: String,
    pub target: NewTarget,
}

impl Edit for AddTarget {
    fn summary(&self) -> String {
        format!("Register {} in pool/{}", self.target.address, self.pool)
    }

    fn edit(&self, files: &[SourceFile], before: &Catalog) -> Result<FileEdit, ApiError> {
        let (index, line) = pool_file(files, before, &self.pool)?;
        let text = add_target(
            &files[index].text,
            &files[index].path,
            line,
            &self.target.address,
            self.target.weight,
        )?;
        Ok(FileEdit { index, text })
    }

    fn unchanged(&self) -> ApiError {
        ApiError::Invalid(format!(
            "pool/{} already has target {}",
            self.pool, self.target.address
        ))
    }
}

pub(super) async fn add_target_call(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(wait): Query<Wait>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = async {
        let target: NewTarget =
            serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        check_address(&target.address)?;
        let edit = Arc::new(AddTarget { pool: name, target });
        write_call(&api, caller, edit, &wait, &headers, &body).await
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::api::writer::commit_edit;
    use crate::daemon::trusted::TrustedView;
    use crate::source::{ApiSigner, CommitId, GitSource};
    use crate::spec;
    use crate::spec::api_commit::RequestId;
    use crate::spec::material::api_token::ApiToken;
    use std::process::Command;

    fn git(dir: &std::path::Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.test"])
            .args(["-c", "commit.gpgsign=false"])
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn commit(dir: &std::path::Path, file: &str, text: &str) -> CommitId {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", file]);
        CommitId::parse(&git(dir, &["rev-parse", "HEAD"])).unwrap()
    }

    const POOL: &str = "kind: Pool
name: web
# comments stay
spec:
  targets:
    - {address: '10.0.0.1:80', weight: 1}
";

    /// A repository with a policy whose `bot` has tokens `adder` (may
    /// register targets) and `weights` (may not), and the caller for one.
    struct Estate {
        dir: tempfile::TempDir,
        adder: Caller,
        weights: Caller,
        signer: ApiSigner,
    }

    fn estate() -> Estate {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        let adder = ApiToken::generate(|b| b.fill(1));
        let weights = ApiToken::generate(|b| b.fill(2));
        let entry = |name: &str, t: &ApiToken, scope: &str| {
            format!(
                "{{name: {name}, id: {}, hash: '{}', expires: 2099-01-01, scopes: [{scope}]}}",
                t.id(),
                t.stored_hash()
            )
        };
        let policy = format!(
            "kind: Role
name: oncall
spec: {{rules: [{{actions: [pool.targets.update, pool.weights.update], resources: ['pool/*']}}]}}
---
kind: User
name: alice
spec: {{emails: [alice@example.test]}}
---
kind: ServiceAccount
name: bot
spec:
  owner: alice
  roles: [oncall]
  tokens: [{}, {}]
",
            entry("adder", &adder, "pool.targets.update"),
            entry("weights", &weights, "pool.weights.update"),
        );
        commit(dir.path(), "access.yaml", &policy);
        let trusted = commit(dir.path(), "pools/web.yaml", POOL);
        let files = GitSource::open(dir.path(), "main")
            .unwrap()
            .files_at(trusted)
            .unwrap();
        let catalog = Arc::new(
            spec::load(&files, &spec::Options::at(1_800_000_000))
                .unwrap()
                .catalog,
        );
        let view = Arc::new(TrustedView {
            commit: trusted,
            catalog: catalog.clone(),
        });
        let caller = |t: &ApiToken| Caller {
            token: crate::identity::authenticate(&catalog, t.expose(), 1_800_000_000).unwrap(),
            view: view.clone(),
        };
        let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[9; 32]));
        Estate {
            adder: caller(&adder),
            weights: caller(&weights),
            signer: ApiSigner::new(key).unwrap(),
            dir,
        }
    }

    fn add(e: &Estate, caller: &Caller, address: &str) -> Result<CommitId, ApiError> {
        add_racing(e, caller, address, &mut || {})
    }

    fn add_racing(
        e: &Estate,
        caller: &Caller,
        address: &str,
        before_swap: &mut dyn FnMut(),
    ) -> Result<CommitId, ApiError> {
        let edit = AddTarget {
            pool: "web".into(),
            target: NewTarget {
                address: address.into(),
                weight: 2,
            },
        };
        let request = RequestId::parse("req-1").unwrap();
        commit_edit(
            e.dir.path(),
            "main",
            caller,
            &edit,
            &request,
            &e.signer,
            1_800_000_000,
            before_swap,
        )
    }

    #[test]
    fn a_push_that_wins_the_race_is_kept_and_the_edit_made_again_on_it() {
        let e = estate();
        let mut pushes = 0;
        let mut last = None;
        let made = add_racing(&e, &e.adder, "10.0.0.7:8080", &mut || {
            if pushes < 2 {
                pushes += 1;
                last = Some(commit(
                    e.dir.path(),
                    &format!("notes/{pushes}.yaml"),
                    "# a person's push\n",
                ));
            }
        })
        .unwrap();
        let source = GitSource::open(e.dir.path(), "main").unwrap();
        assert_eq!(source.head().unwrap(), made);
        assert_eq!(source.commit(made).unwrap().parents, [last.unwrap()]);
        let files = source.files_at(made).unwrap();
        assert!(
            files.iter().any(|f| f.path == "notes/2.yaml"),
            "no lost update"
        );
        assert!(files
            .iter()
            .any(|f| f.path == "pools/web.yaml" && f.text.contains("10.0.0.7:8080")));
    }

    #[test]
    fn a_branch_that_keeps_moving_is_a_conflict_after_the_retries() {
        let e = estate();
        let mut n = 0;
        let answer = add_racing(&e, &e.adder, "10.0.0.7:8080", &mut || {
            n += 1;
            commit(e.dir.path(), &format!("notes/{n}.yaml"), "# push\n");
        });
        assert!(matches!(answer, Err(ApiError::Conflict(4))), "{answer:?}");
        assert_eq!(n, 4);
        let source = GitSource::open(e.dir.path(), "main").unwrap();
        let head = source.head().unwrap();
        assert!(!source
            .files_at(head)
            .unwrap()
            .iter()
            .any(|f| f.text.contains("10.0.0.7:8080")));
    }

    #[test]
    fn the_edit_is_made_on_the_branch_head_keeping_what_others_pushed() {
        let e = estate();
        // A person's push after the trusted commit, to the same file.
        let pushed = commit(
            e.dir.path(),
            "pools/web.yaml",
            &POOL.replace("# comments stay", "# comments stay\nlabels: {team: web}"),
        );
        let made = add(&e, &e.adder, "10.0.0.7:8080").unwrap();
        let source = GitSource::open(e.dir.path(), "main").unwrap();
        assert_eq!(source.head().unwrap(), made);
        assert_eq!(source.commit(made).unwrap().parents, [pushed]);
        let files = source.files_at(made).unwrap();
        let pool = files.iter().find(|f| f.path == "pools/web.yaml").unwrap();
        assert_eq!(
            pool.text,
            POOL.replace("# comments stay", "# comments stay\nlabels: {team: web}")
                + "    - {address: '10.0.0.7:8080', weight: 2}\n"
        );
    }

    #[test]
    fn a_refused_or_invalid_edit_commits_nothing() {
        let e = estate();
        let source = GitSource::open(e.dir.path(), "main").unwrap();
        let head = source.head().unwrap();
        match add(&e, &e.weights, "10.0.0.7:8080") {
            Err(ApiError::Forbidden(denied)) => {
                assert!(
                    denied.to_string().contains("pool.targets.update"),
                    "{denied}"
                );
            }
            other => panic!("{other:?}"),
        }
        match add(&e, &e.adder, "not an address") {
            Err(ApiError::Invalid(why)) => assert!(why.contains("pools/web.yaml:"), "{why}"),
            other => panic!("{other:?}"),
        }
        match add(&e, &e.adder, "10.0.0.1:80") {
            Err(ApiError::Invalid(_)) => {}
            other => panic!("a target it already has: {other:?}"),
        }
        assert_eq!(source.head().unwrap(), head);
    }
}
