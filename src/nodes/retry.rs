//! Retrying the API calls that a flaky API server may fail for no reason of
//! ours: 5xx, 429 that is not a PodDisruptionBudget, dropped connections.
//! kube's own retry layer covers only 429/503/504 and only three times.

use std::future::Future;
use std::time::Duration;

/// How many times a transient failure is retried before it is reported.
const ATTEMPTS: u32 = 8;

/// Whether `err` is worth trying again: the server or the network hiccuped.
/// A disruption budget's refusal is an answer, not a hiccup.
pub fn is_transient(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) if is_pdb_refusal(status) => false,
        other => crate::cluster::is_transient(other),
    }
}

/// A 409 Conflict: the object changed between a read and a write.
pub fn is_conflict(err: &kube::Error) -> bool {
    crate::cluster::status_of(err).is_some_and(|s| s.code == 409)
}

/// Whether a 429 is the eviction API refusing because of a disruption budget
/// (as opposed to the server asking us to slow down).
pub fn is_pdb_refusal(status: &kube::core::Status) -> bool {
    status.code == 429
        && (status.message.contains("disruption budget")
            || status
                .details
                .as_ref()
                .is_some_and(|d| d.causes.iter().any(|c| c.reason == "DisruptionBudget")))
}

/// The wait before attempt `n` (0-based): 100 ms doubling, capped at 2 s.
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << n.min(5))).min(Duration::from_secs(2))
}

/// Runs `call` until it succeeds, fails for a reason that is not transient,
/// or has failed transiently `ATTEMPTS` times.
pub async fn retry<T, F, Fut>(mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if is_transient(&e) && attempt + 1 < ATTEMPTS => {
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> kube::core::Status {
        kube::core::Status::failure(message, "").with_code(code)
    }

    #[test]
    fn pdb_refusals_are_not_transient_but_throttling_is() {
        let pdb = status(
            429,
            "Cannot evict pod as it would violate the pod's disruption budget.",
        );
        assert!(is_pdb_refusal(&pdb));
        assert!(!is_transient(&kube::Error::Api(pdb.boxed())));
        let slow_down = status(429, "too many requests");
        assert!(is_transient(&kube::Error::Api(slow_down.boxed())));
        assert!(is_transient(&kube::Error::Api(status(500, "boom").boxed())));
        assert!(!is_transient(&kube::Error::Api(
            status(404, "gone").boxed()
        )));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(10), Duration::from_secs(2));
    }
}
