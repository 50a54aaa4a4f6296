//! Page-at-a-time lists into lean types.
//!
//! Cluster-wide reads must not grow with cluster size: each page is decoded
//! straight into a small struct that keeps only the fields a command needs,
//! handed to the caller, and dropped before the next page is fetched.

use serde::Deserialize;

use super::errors::is_transient;
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
    pub page_size: Option<u32>,
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

    pub fn fields(mut self, selector: Option<&str>) -> Self {
        self.field_selector = selector.map(str::to_string);
        self
    }

    fn url(&self, continue_token: Option<&str>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("limit", &self.page_size.unwrap_or(PAGE_SIZE).to_string());
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
    #[serde(default)]
    metadata: ListMeta,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_token: Option<String>,
}

/// Lists every page of `query`, handing each one to `on_page`.
pub async fn for_each_page<T, F>(
    client: &kube::Client,
    query: &ListQuery,
    mut on_page: F,
) -> Result<ListStats, kube::Error>
where
    T: DeserializeOwned,
    F: FnMut(Page<T>),
{
    let mut stats = ListStats::default();
    let mut token: Option<String> = None;
    let mut restarts = 0;
    let mut failures = 0u32;
    loop {
        let request = http::Request::get(query.url(token.as_deref()))
            .body(Vec::new())
            .map_err(kube::Error::HttpError)?;
        stats.requests += 1;
        let page: LeanList<T> = match client.request(request).await {
            Ok(page) => {
                failures = 0;
                page
            }
            // A flaky API server or a dropped connection costs one page, not
            // the whole list: ask for the same page again after a pause.
            Err(e) if is_transient(&e) && failures < PAGE_RETRIES => {
                failures += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(failures)))
                    .await;
                continue;
            }
            Err(kube::Error::Api(status))
                if status.code == 410 && token.is_some() && restarts < 3 =>
            {
                restarts += 1;
                token = None;
                stats.items = 0;
                on_page(Page::Restarted);
                continue;
            }
            Err(e) => return Err(e),
        };
        stats.items += page.items.len() as u64;
        on_page(Page::Items(page.items));
        match page.metadata.continue_token.filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next),
            None => return Ok(stats),
        }
    }
}

/// How often one page is asked for again after a transient failure.
const PAGE_RETRIES: u32 = 4;

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
}
