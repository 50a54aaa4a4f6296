//! Reading container image references: registry, repository, tag, digest
//! and the git SHA that a tag like `sha-3f2a…` or `v1.2-3f2a9c1` carries.
//!
//! Parsing and normalising is `oci-spec`'s distribution reference (the
//! rules of the reference implementation Docker and the kubelet use), so
//! `nginx:1` and `docker.io/library/nginx:1` are the same image.

use oci_spec::distribution::Reference;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ImageRef {
    /// The full, normalised reference: registry, repository, tag and digest
    /// (`nginx:1` is `docker.io/library/nginx:1`).
    pub reference: String,
    /// The registry host (and port); `docker.io` when none is written.
    pub registry: String,
    /// The repository within the registry (`library/nginx` for `nginx`).
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
    /// A git SHA (7 to 40 hex digits) found in the tag, if any.
    pub git_sha: Option<String>,
}

impl ImageRef {
    pub(crate) fn parse(image: &str) -> ImageRef {
        let Ok(r) = image.parse::<Reference>() else {
            // Not a valid reference (the kubelet will say so): keep it whole,
            // so it is shown as written and compares only with itself.
            return ImageRef {
                reference: image.to_string(),
                registry: String::new(),
                repository: image.to_string(),
                tag: None,
                digest: None,
                git_sha: None,
            };
        };
        let tag = r.tag().map(str::to_string);
        ImageRef {
            reference: r.whole(),
            registry: r.registry().to_string(),
            repository: r.repository().to_string(),
            git_sha: tag.as_deref().and_then(git_sha_in),
            tag,
            digest: r.digest().map(str::to_string),
        }
    }

    /// Registry and repository: where the image comes from.
    pub(crate) fn source(&self) -> String {
        if self.registry.is_empty() {
            self.repository.clone()
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// Registry, repository and the short version: what the plan shows
    /// when the source of an image changes.
    pub(crate) fn located(&self) -> String {
        let sep = if self.tag.is_none() && self.digest.is_some() {
            '@'
        } else {
            ':'
        };
        format!("{}{sep}{}", self.source(), self.version())
    }

    /// Whether both name the same image, however each is spelled.
    pub(crate) fn same_image(a: &str, b: &str) -> bool {
        a == b || ImageRef::parse(a).reference == ImageRef::parse(b).reference
    }

    /// The short form shown in plans: the tag (or digest) alone.
    pub(crate) fn version(&self) -> String {
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

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_registry_port_tag_and_sha() {
        let i = ImageRef::parse("registry.example.com:5000/app/web:sha-3f2a9c1d");
        assert_eq!(i.registry, "registry.example.com:5000");
        assert_eq!(i.repository, "app/web");
        assert_eq!(i.source(), "registry.example.com:5000/app/web");
        assert_eq!(i.tag.as_deref(), Some("sha-3f2a9c1d"));
        assert_eq!(i.git_sha.as_deref(), Some("3f2a9c1d"));
        let long = ImageRef::parse("r.io/web:sha-5f63e0a6c11d4df06682f4c5ab85e0457b1ce9ed");
        assert_eq!(long.version(), "sha-5f63e0a6c11d…");
    }

    #[test]
    fn parses_digest_and_untagged() {
        let i = ImageRef::parse(&format!("nginx@{DIGEST}"));
        assert_eq!(i.reference, format!("docker.io/library/nginx@{DIGEST}"));
        assert_eq!(i.digest.as_deref(), Some(DIGEST));
        assert_eq!(ImageRef::parse("nginx").version(), "latest");
    }

    #[test]
    fn docker_hub_short_names_are_the_full_ones() {
        assert!(ImageRef::same_image("nginx:1", "docker.io/library/nginx:1"));
        assert!(ImageRef::same_image(
            "nginx",
            "docker.io/library/nginx:latest"
        ));
        assert!(!ImageRef::same_image("nginx:1", "ghcr.io/library/nginx:1"));
        assert!(!ImageRef::same_image("nginx:1", "nginx:2"));
        let hub = ImageRef::parse("bitnami/redis:7");
        assert_eq!(hub.source(), "docker.io/bitnami/redis");
    }

    #[test]
    fn an_invalid_reference_is_kept_as_written() {
        let bad = ImageRef::parse("Registry/App:x");
        assert_eq!(bad.reference, "Registry/App:x");
        assert_eq!(bad.source(), "Registry/App:x");
        assert!(!ImageRef::same_image("Registry/App:x", "registry/app:x"));
    }

    #[test]
    fn dates_and_versions_are_not_shas() {
        assert_eq!(ImageRef::parse("app:20240101").git_sha, None);
        assert_eq!(ImageRef::parse("app:v1.2.3").git_sha, None);
    }
}
