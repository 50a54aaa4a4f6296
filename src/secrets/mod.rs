//! Secrets: which workloads use one (`secret consumers`), and rotating its
//! values then restarting exactly the workloads that need it
//! (`secret rotate`, and the runbook's `rotate_secret`).
//!
//! Values never leave this module except into the Secret itself: plans,
//! outcomes and JSON carry a short fingerprint of each value instead.
//! Nothing here prints.

pub(crate) mod consumers;
pub(crate) mod managed;
pub(crate) mod rotate;
pub(crate) mod values;

pub(crate) use consumers::Consumer;

/// The first 8 hex digits of the value's SHA-256: enough to tell values
/// apart in a plan (and to compare with `sha256sum`), never the value.
pub(crate) fn fingerprint(value: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, value);
    digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_are_the_start_of_sha256() {
        // sha256("hello") = 2cf24dba5fb0a30e...
        assert_eq!(super::fingerprint(b"hello"), "2cf24dba");
    }
}
