//! Page-at-a-time lists into lean types.
//!
//! Cluster-wide reads must not grow with cluster size: each page is decoded
//! straight into a small struct that keeps only the fields a command needs,
//! handed to the caller, and dropped; the next page is already being fetched
//! meanwhile, so a list costs about what fetching its pages costs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The default page size, kubectl's own.
pub const PAGE_SIZE: u32 = 500;

/// What to list: `path` is the collection URL, such as `/api/v1/pods` or
/// `/apis/apps/v1/namespaces/web/deployments`.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub path: String,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    page_size: Option<u32>,
    /// Ask for the server's table of each page instead of its objects.
    table: bool,
}

impl ListQuery {
    pub fn new(path: impl Into<String>) -> Self {
        ListQuery {
            path: path.into(),
            ..Default::default()
        }
    }

    pub fn labels(mut self, selector: Option<&str>) -> Self {
        self.label_selector = selector.map(str::to_string);
        self
    }

    /// Items per page; the API default when `None`.
    pub fn page_size(mut self, size: Option<u32>) -> Self {
        self.page_size = size;
        self
    }

    pub fn fields(mut self, selector: Option<&str>) -> Self {
        self.field_selector = selector.map(str::to_string);
        self
    }

    /// Asks for each page as the server's table instead of its objects.
    pub(super) fn table(mut self) -> Self {
        self.table = true;
        self
    }

    fn url(&self, continue_token: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("limit", &self.page_size.unwrap_or(PAGE_SIZE).to_string());
        if self.table {
            query.append_pair("includeObject", "None");
        }
        if let Some(l) = &self.label_selector {
            query.append_pair("labelSelector", l);
        }
        if let Some(f) = &self.field_selector {
            query.append_pair("fieldSelector", f);
        }
        if let Some(c) = continue_token {
            query.append_pair("continue", c);
        }
        format!("{}?{}", self.path, query.finish())
    }
}

/// Asks for a list as the server's table (`as=Table`, the rows `kubectl get`
/// prints) without the objects; a server that cannot make tables answers
/// with the objects. See `super::table`.
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json";

/// One step of a paged list, as the caller sees it.
pub enum Page<T> {
    Items(Vec<T>),
    /// The continue token expired (410) and the list starts over: the caller
    /// must forget what it gathered so far.
    Restarted,
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct ListStats {
    pub requests: u64,
    pub items: u64,
}

#[derive(Deserialize)]
struct LeanList<T> {
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

/// Lists every page of `query`, handing each one to `on_page`.
///
/// Fetching and decoding overlap: a task fetches the pages, reading only the
/// continue token at the head of each before asking for the next, while this
/// task decodes the page before. The channel between them holds one page, so
/// at most three pages are in memory however large the cluster is: one being
/// decoded, one waiting, one being fetched.
pub async fn for_each_page<T, F>(
    client: &kube::Client,
    query: &ListQuery,
    on_page: F,
) -> Result<ListStats, kube::Error>
where
    T: DeserializeOwned,
    F: FnMut(Page<T>),
{
    Listing::start(client, query).for_each(on_page).await
}

/// A list whose first pages are already being fetched while the caller does
/// something else (lists another resource it needs first, say): the fetcher
/// runs at most two pages ahead of [`Listing::for_each`], so starting early
/// costs no more memory than listing later.
pub struct Listing<T> {
    bodies: Bodies,
    _items: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Listing<T> {
    /// Starts fetching `query`'s pages. Dropping the listing stops it.
    pub fn start(client: &kube::Client, query: &ListQuery) -> Self {
        Listing {
            bodies: Bodies::start(client, query),
            _items: std::marker::PhantomData,
        }
    }

    /// Decodes each page and hands it to `on_page`, as [`for_each_page`].
    pub async fn for_each<F>(self, mut on_page: F) -> Result<ListStats, kube::Error>
    where
        F: FnMut(Page<T>),
    {
        self.bodies
            .decode::<LeanList<T>, _>(|page| match page {
                Some(list) => on_page(Page::Items(list.items)),
                None => on_page(Page::Restarted),
            })
            .await
    }
}

/// A decoded page of a list, however its items are named.
pub(super) trait ListBody {
    fn len(&self) -> usize;
}

impl<T> ListBody for LeanList<T> {
    fn len(&self) -> usize {
        self.items.len()
    }
}

/// The pipeline: a fetching task hands each page's raw body over a channel
/// of one. A page the server fails or a connection cuts is asked again by
/// the client's retry layer (see `super::retry`), like every other request;
/// only an expired continue token (410) is handled here, by listing again
/// from the start.
pub(super) struct Bodies {
    path: String,
    rx: tokio::sync::mpsc::Receiver<Fetched>,
    requests: Arc<AtomicU64>,
    started: Instant,
    _fetcher: AbortOnDrop,
}

impl Bodies {
    pub(super) fn start(client: &kube::Client, query: &ListQuery) -> Self {
        let requests = Arc::new(AtomicU64::new(0));
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let fetcher = tokio::spawn(fetch_pages(
            client.clone(),
            query.clone(),
            tx,
            requests.clone(),
        ));
        Bodies {
            path: query.path.clone(),
            rx,
            requests,
            started: Instant::now(),
            _fetcher: AbortOnDrop(fetcher),
        }
    }

    /// Decodes each page whole as `B` and hands it on; `None` says the list
    /// started over.
    async fn decode<B, F>(self, on_page: F) -> Result<ListStats, kube::Error>
    where
        B: ListBody + DeserializeOwned,
        F: FnMut(Option<B>),
    {
        self.decode_with(|body| serde_json::from_str(body), on_page)
            .await
    }

    /// Decodes each page with `parse` and hands it on; `None` says the list
    /// started over.
    pub(super) async fn decode_with<B, P, F>(
        mut self,
        parse: P,
        mut on_page: F,
    ) -> Result<ListStats, kube::Error>
    where
        B: ListBody,
        P: Fn(&str) -> Result<B, serde_json::Error>,
        F: FnMut(Option<B>),
    {
        let mut stats = ListStats::default();
        // Where the time went, for `-v`: decoding and handling pages here,
        // or waiting for the server.
        let mut busy = Duration::ZERO;
        let mut pages = 0u64;
        while let Some(fetched) = self.rx.recv().await {
            let began = Instant::now();
            match fetched {
                Fetched::Page { body, last } => {
                    let page = parse(&body).map_err(kube::Error::SerdeError)?;
                    drop(body);
                    stats.items += page.len() as u64;
                    pages += 1;
                    on_page(Some(page));
                    busy += began.elapsed();
                    if last {
                        stats.requests = self.requests.load(Ordering::Relaxed);
                        tracing::info!(
                            target: "oncall::http",
                            "listed {}: {} items in {pages} page{} and {} ms, {} ms of it decoding",
                            self.path,
                            stats.items,
                            if pages == 1 { "" } else { "s" },
                            self.started.elapsed().as_millis(),
                            busy.as_millis(),
                        );
                        return Ok(stats);
                    }
                }
                Fetched::Restarted => {
                    stats.items = 0;
                    on_page(None);
                }
                Fetched::Failed(e) => return Err(e),
            }
        }
        // The fetcher ends only after the last page or a failure, both sent.
        Err(kube::Error::Service(
            "the page fetcher stopped before the last page".into(),
        ))
    }
}

/// What the fetching task hands to the decoding one.
enum Fetched {
    /// A page's raw body, and whether it is the last.
    Page {
        body: String,
        last: bool,
    },
    Restarted,
    Failed(kube::Error),
}

/// Fetches pages until the last one, a failure, or until the receiver is
/// gone.
async fn fetch_pages(
    client: kube::Client,
    query: ListQuery,
    tx: tokio::sync::mpsc::Sender<Fetched>,
    requests: Arc<AtomicU64>,
) {
    let mut token: Option<String> = None;
    let mut restarts = 0;
    loop {
        let mut request = http::Request::get(query.url(token.as_deref()));
        if query.table {
            request = request.header(http::header::ACCEPT, TABLE);
        }
        let request = match request.body(Vec::new()) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Fetched::Failed(kube::Error::HttpError(e))).await;
                return;
            }
        };
        requests.fetch_add(1, Ordering::Relaxed);
        let fetched =
            client
                .request_text(request)
                .await
                .and_then(|body| match continue_token(&body) {
                    Ok(next) => Ok((body, next)),
                    Err(e) => Err(kube::Error::SerdeError(e)),
                });
        let (body, next) = match fetched {
            Ok(page) => page,
            // etcd compacted the revision the list was reading at: its
            // continue token cannot be honoured, so the list starts over.
            Err(kube::Error::Api(status))
                if status.code == 410 && token.is_some() && restarts < 3 =>
            {
                restarts += 1;
                token = None;
                if tx.send(Fetched::Restarted).await.is_err() {
                    return;
                }
                continue;
            }
            Err(e) => {
                let _ = tx.send(Fetched::Failed(e)).await;
                return;
            }
        };
        let last = next.is_none();
        if tx.send(Fetched::Page { body, last }).await.is_err() || last {
            return;
        }
        token = next;
    }
}

/// Stops the fetching task when the list ends early, fails or is dropped
/// (Ctrl-C), so no request outlives the list it belongs to.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads `metadata.continue` from the head of a list's JSON body without
/// decoding its items: the API server writes `metadata` before `items`, so
/// this reads a few hundred bytes of a page of megabytes. An empty token
/// means the last page. Public for the benchmark's floor client.
pub fn continue_token(body: &str) -> Result<Option<String>, serde_json::Error> {
    let mut found: Option<Option<String>> = None;
    let mut de = serde_json::Deserializer::from_str(body);
    let read = serde::Deserializer::deserialize_map(&mut de, HeadVisitor { found: &mut found });
    match (read, found) {
        // The visitor stops the parse once it has the token; the error that
        // stop raises is expected.
        (_, Some(token)) => Ok(token.filter(|t| !t.is_empty())),
        (Ok(()), None) => Ok(None),
        (Err(e), None) => Err(e),
    }
}

struct HeadVisitor<'a> {
    found: &'a mut Option<Option<String>>,
}

impl<'de> serde::de::Visitor<'de> for HeadVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "metadata" {
                let meta: ListMeta = map.next_value()?;
                *self.found = Some(meta.continue_token);
                return Err(serde::de::Error::custom("stop after the list metadata"));
            }
            map.next_value::<serde::de::IgnoredAny>()?;
        }
        Ok(())
    }
}

/// Convenience for small lists: collects every item.
pub async fn collect<T: DeserializeOwned>(
    client: &kube::Client,
    query: &ListQuery,
) -> Result<(Vec<T>, ListStats), kube::Error> {
    let mut all = Vec::new();
    let stats = for_each_page(client, query, |page| match page {
        Page::Items(items) => all.extend(items),
        Page::Restarted => all.clear(),
    })
    .await?;
    Ok((all, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encodes_selectors_and_token() {
        let q = ListQuery::new("/api/v1/pods")
            .labels(Some("app in (a,b)"))
            .fields(Some("spec.nodeName=n1"));
        assert_eq!(
            q.url(Some("abc=")),
            "/api/v1/pods?limit=500&labelSelector=app+in+%28a%2Cb%29&fieldSelector=spec.nodeName%3Dn1&continue=abc%3D"
        );
    }

    #[test]
    fn continue_token_is_read_from_the_head_only() {
        // The items are not valid JSON: the head reader must not look at them.
        let body = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7","continue":"abc","remainingItemCount":3},"items":[{"bad"#;
        assert_eq!(continue_token(body).unwrap().as_deref(), Some("abc"));
    }

    #[test]
    fn continue_token_absent_or_empty_means_the_last_page() {
        let empty = r#"{"kind":"PodList","metadata":{"continue":""},"items":[]}"#;
        assert_eq!(continue_token(empty).unwrap(), None);
        let none = r#"{"kind":"PodList","items":[{"a":1}],"metadata":{}}"#;
        assert_eq!(continue_token(none).unwrap(), None);
        let late = r#"{"items":[{"a":"}"}],"metadata":{"continue":"x"}}"#;
        assert_eq!(continue_token(late).unwrap().as_deref(), Some("x"));
        assert!(continue_token(r#"{"metadata":{"continue":"#).is_err());
    }
}
