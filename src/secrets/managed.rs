//! Whether another tool owns a Secret and will overwrite a change made by
//! hand at its next sync.

use k8s_openapi::api::core::v1::Secret;

/// The tool that manages `secret`, in words ("External Secrets
/// (ExternalSecret `stripe`)", "Helm"), or `None` when nothing claims it.
pub(crate) fn manager(secret: &Secret) -> Option<String> {
    let meta = &secret.metadata;
    if let Some(owner) = meta.owner_references.iter().flatten().next() {
        let tool = match owner.kind.as_str() {
            "ExternalSecret" | "PushSecret" => "External Secrets",
            "SealedSecret" => "Sealed Secrets",
            "SopsSecret" => "the SOPS secrets operator",
            _ => "its owner",
        };
        return Some(format!("{tool} ({} `{}`)", owner.kind, owner.name));
    }
    let keys = meta
        .annotations
        .iter()
        .flatten()
        .chain(meta.labels.iter().flatten())
        .map(|(k, _)| k.as_str());
    for key in keys {
        if key.contains("external-secrets.io") {
            return Some(format!("External Secrets (`{key}`)"));
        }
        if key.contains("sealedsecrets.bitnami.com") {
            return Some(format!("Sealed Secrets (`{key}`)"));
        }
        if key.contains("sops") {
            return Some(format!("SOPS (`{key}`)"));
        }
    }
    let managed_by = meta
        .labels
        .as_ref()
        .and_then(|l| l.get("app.kubernetes.io/managed-by"))?;
    Some(format!(
        "{managed_by} (label `app.kubernetes.io/managed-by`)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(v: serde_json::Value) -> Secret {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn names_the_tool_that_will_overwrite_the_change() {
        let owned = secret(
            serde_json::json!({"metadata": {"name": "s", "ownerReferences": [
            {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "stripe", "uid": "u"}]}}),
        );
        assert_eq!(
            manager(&owned).unwrap(),
            "External Secrets (ExternalSecret `stripe`)"
        );
        let sealed = secret(serde_json::json!({"metadata": {"name": "s",
            "annotations": {"sealedsecrets.bitnami.com/managed": "true"}}}));
        assert!(manager(&sealed).unwrap().starts_with("Sealed Secrets"));
        let helm = secret(serde_json::json!({"metadata": {"name": "s",
            "labels": {"app.kubernetes.io/managed-by": "Helm"}}}));
        assert!(manager(&helm).unwrap().starts_with("Helm"));
        let sops = secret(serde_json::json!({"metadata": {"name": "s",
            "annotations": {"sops.example/encrypted": "yes"}}}));
        assert!(manager(&sops).unwrap().starts_with("SOPS"));
        assert!(manager(&secret(serde_json::json!({"metadata": {"name": "s"}}))).is_none());
    }
}
