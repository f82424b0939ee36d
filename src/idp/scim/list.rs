//! Queries over a resource type (RFC 7644 §3.4.2): a filter, a page
//! (`startIndex` from 1, `count`), and the attributes to show, answered
//! as a ListResponse.

use super::error::ScimError;
use super::filter::Filter;
use super::render::{self, Projection};
use super::schema::LIST_RESPONSE;
use super::store::{Kind, Resource, Store};
use serde_json::{json, Value};

/// Resources per page when the client names no count.
pub const DEFAULT_COUNT: usize = 100;
/// The most resources one page holds (`filter.maxResults`).
pub const MAX_COUNT: usize = 200;

/// A query, read and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: usize,
    pub count: usize,
    pub projection: Projection,
}

/// The query's parameters as given (by URL or by a `.search` body).
#[derive(Clone, Copy, Debug, Default)]
pub struct Params<'a> {
    pub filter: Option<&'a str>,
    pub start_index: Option<&'a str>,
    pub count: Option<&'a str>,
    pub attributes: Option<&'a str>,
    pub excluded_attributes: Option<&'a str>,
}

impl Query {
    pub fn parse(params: Params<'_>, kind: Kind) -> Result<Query, ScimError> {
        let number = |name: &str, text: Option<&str>| -> Result<Option<i64>, ScimError> {
            text.map(|t| {
                t.trim().parse::<i64>().map_err(|_| {
                    ScimError::InvalidValue(format!("`{name}` is a whole number, e.g. {name}=1"))
                })
            })
            .transpose()
        };
        // RFC 7644 §3.4.2.4: below 1 means 1; a negative count means 0.
        let start_index = number("startIndex", params.start_index)?
            .map_or(1, |n| usize::try_from(n.max(1)).unwrap_or(1));
        let count = number("count", params.count)?.map_or(DEFAULT_COUNT, |n| {
            usize::try_from(n.max(0)).unwrap_or(0).min(MAX_COUNT)
        });
        let filter = params
            .filter
            .filter(|f| !f.trim().is_empty())
            .map(|f| Filter::parse(f, kind.schema()))
            .transpose()?;
        Ok(Query {
            filter,
            start_index,
            count,
            projection: Projection::parse(params.attributes, params.excluded_attributes, kind)?,
        })
    }
}

/// The ListResponse of `query` over `kind`.
#[must_use]
pub fn list(store: &Store, kind: Kind, query: &Query, base: &str) -> Value {
    let matching = matching(store, kind, query);
    page(store, &[(kind, matching, query)], query, base)
}

/// The ListResponse of a search across both resource types (`POST
/// /.search`, RFC 7644 §3.4.3): Users, then Groups. A filter naming an
/// attribute one type lacks matches none of that type; one that neither
/// type can read is refused.
pub fn list_all(store: &Store, params: Params<'_>, base: &str) -> Result<Value, ScimError> {
    let users = Query::parse(params, Kind::User);
    let groups = Query::parse(params, Kind::Group);
    let (first, queries) = match (&users, &groups) {
        (Err(e), Err(_)) => return Err(e.clone()),
        (Ok(u), Ok(g)) => (u, vec![(Kind::User, u), (Kind::Group, g)]),
        (Ok(u), Err(_)) => (u, vec![(Kind::User, u)]),
        (Err(_), Ok(g)) => (g, vec![(Kind::Group, g)]),
    };
    let parts: Vec<(Kind, Vec<&Resource>, &Query)> = queries
        .into_iter()
        .map(|(kind, query)| (kind, matching(store, kind, query), query))
        .collect();
    Ok(page(store, &parts, first, base))
}

/// One page of the resources of `parts`, in order, each shown as its
/// type's query asks.
fn page(
    store: &Store,
    parts: &[(Kind, Vec<&Resource>, &Query)],
    query: &Query,
    base: &str,
) -> Value {
    let total: usize = parts.iter().map(|(_, matching, _)| matching.len()).sum();
    let page: Vec<Value> = parts
        .iter()
        .flat_map(|(kind, matching, query)| matching.iter().map(move |r| (*kind, *r, *query)))
        .skip(query.start_index - 1)
        .take(query.count)
        .map(|(kind, r, query)| {
            let mut value = render::resource(store, kind, r, base);
            query.projection.apply(&mut value);
            value
        })
        .collect();
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "startIndex": query.start_index,
        "itemsPerPage": page.len(),
        "Resources": page,
    })
}

/// The resources of `kind` that pass the query's filter.
fn matching<'a>(store: &'a Store, kind: Kind, query: &Query) -> Vec<&'a Resource> {
    match &query.filter {
        // A userName is unique: look it up instead of reading every User.
        Some(filter) if kind == Kind::User && filter.naming(kind.schema()).is_some() => {
            let name = filter.naming(kind.schema()).unwrap_or_default();
            store
                .user_named(name)
                .filter(|r| filter.matches(&r.id, &r.attrs))
                .into_iter()
                .collect()
        }
        Some(filter) => store
            .all(kind)
            .values()
            .filter(|r| filter.matches(&r.id, &r.attrs))
            .collect(),
        None => store.all(kind).values().collect(),
    }
}
