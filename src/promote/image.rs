//! Reading container image references: repository, tag, digest and the git
//! SHA that a tag like `sha-3f2a…` or `v1.2-3f2a9c1` carries.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRef {
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// A git SHA (7 to 40 hex digits) found in the tag, if any.
    pub git_sha: Option<String>,
}

impl ImageRef {
    pub fn parse(image: &str) -> ImageRef {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (image, None),
        };
        // A colon after the last slash separates the tag; one before it is a registry port.
        let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repository, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                rest[..last_slash + i].to_string(),
                Some(rest[last_slash + i + 1..].to_string()),
            ),
            None => (rest.to_string(), None),
        };
        let git_sha = tag.as_deref().and_then(git_sha_in);
        ImageRef {
            repository,
            tag,
            digest,
            git_sha,
        }
    }

    /// The short form shown in plans: the tag (or digest) alone.
    pub fn version(&self) -> String {
        match (&self.tag, &self.digest) {
            // A full 40-digit SHA makes plans unreadable; 12 digits stay unique.
            (Some(t), _) => match &self.git_sha {
                Some(sha) if sha.len() > 12 => t.replace(sha.as_str(), &format!("{}…", &sha[..12])),
                _ => t.clone(),
            },
            (None, Some(d)) => d.chars().take(19).collect(),
            (None, None) => "latest".into(),
        }
    }
}

/// The longest run of 7–40 hex digits in `tag` that contains a letter a–f
/// or is at least 12 long — so a date like `20240101` is not taken for a SHA.
fn git_sha_in(tag: &str) -> Option<String> {
    tag.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|run| (7..=40).contains(&run.len()))
        .filter(|run| run.len() >= 12 || run.chars().any(|c| c.is_ascii_alphabetic()))
        .max_by_key(|run| run.len())
        .map(|run| run.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_registry_port_tag_and_sha() {
        let i = ImageRef::parse("registry.example.com:5000/app/web:sha-3f2a9c1d");
        assert_eq!(i.repository, "registry.example.com:5000/app/web");
        assert_eq!(i.tag.as_deref(), Some("sha-3f2a9c1d"));
        assert_eq!(i.git_sha.as_deref(), Some("3f2a9c1d"));
        let long = ImageRef::parse("r/web:sha-5f63e0a6c11d4df06682f4c5ab85e0457b1ce9ed");
        assert_eq!(long.version(), "sha-5f63e0a6c11d…");
    }

    #[test]
    fn parses_digest_and_untagged() {
        let i = ImageRef::parse("nginx@sha256:abcdef0123456789");
        assert_eq!(i.repository, "nginx");
        assert_eq!(i.digest.as_deref(), Some("sha256:abcdef0123456789"));
        assert_eq!(ImageRef::parse("nginx").version(), "latest");
    }

    #[test]
    fn dates_and_versions_are_not_shas() {
        assert_eq!(ImageRef::parse("app:20240101").git_sha, None);
        assert_eq!(ImageRef::parse("app:v1.2.3").git_sha, None);
    }
}
