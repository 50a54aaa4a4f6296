//! Fault injection: a bad API server on demand, deterministic for a seed.

use std::time::Duration;

use crate::util::Rng;

/// What faults to inject. `Default` injects none.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// Fraction of requests answered 500/503.
    pub error_5xx: f64,
    /// Fraction of requests answered 429 with Retry-After.
    pub throttle_429: f64,
    /// The Retry-After seconds sent with injected 429s.
    pub retry_after: u64,
    /// Added to every request.
    pub latency: Duration,
    /// Fraction of responses cut off half-way (the connection is dropped).
    pub drop: f64,
    /// Watches end with a 410 Gone ERROR event after this long.
    pub watch_expiry: Option<Duration>,
    /// Fraction of writes (PUT/PATCH) answered 409 Conflict.
    pub conflict: f64,
    /// The next this-many list requests that carry a `continue` token find
    /// the store compacted since the token was issued: 410 Expired.
    pub expire_continue: u32,
    /// Every request is answered 401 (the credentials have expired).
    pub unauthorized: bool,
    /// RBAC refusals: requests matching a `(verb, resource)` rule get 403
    /// (`*` matches any verb or resource; `pods/eviction` a subresource).
    pub forbid: Vec<(String, String)>,
    /// Seed of the fault dice.
    pub seed: u64,
}

impl Default for FaultSpec {
    fn default() -> Self {
        Self {
            error_5xx: 0.0,
            throttle_429: 0.0,
            retry_after: 1,
            latency: Duration::ZERO,
            drop: 0.0,
            watch_expiry: None,
            conflict: 0.0,
            expire_continue: 0,
            unauthorized: false,
            forbid: Vec::new(),
            seed: 1,
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|i| s.split_at(i))
        .unwrap_or((s, "s"));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (expected e.g. 20ms, 2s, 1m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("invalid duration unit in {s:?} (use ms, s or m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn parse_rate(key: &str, v: &str) -> Result<f64, String> {
    let r: f64 = v
        .parse()
        .map_err(|_| format!("{key}: expected a rate between 0 and 1, got {v:?}"))?;
    if !(0.0..=1.0).contains(&r) {
        return Err(format!("{key}: rate {r} is outside 0..1"));
    }
    Ok(r)
}

impl FaultSpec {
    /// Parse `5xx=0.1,429=0.05,retry-after=1,latency=20ms,drop=0.02,watch-expiry=30s,conflict=0.1,expire-continue=1,seed=42`.
    pub fn parse(s: &str) -> Result<FaultSpec, String> {
        let mut f = FaultSpec::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("fault {part:?} needs a value (key=value)"))?;
            let (k, v) = (k.trim(), v.trim());
            match k {
                "5xx" => f.error_5xx = parse_rate(k, v)?,
                "429" => f.throttle_429 = parse_rate(k, v)?,
                "retry-after" => {
                    f.retry_after = v
                        .parse()
                        .map_err(|_| format!("retry-after: expected whole seconds, got {v:?}"))?
                }
                "latency" => f.latency = parse_duration(v)?,
                "drop" => f.drop = parse_rate(k, v)?,
                "watch-expiry" => f.watch_expiry = Some(parse_duration(v)?),
                "conflict" => f.conflict = parse_rate(k, v)?,
                "auth" => {
                    f.unauthorized = match v {
                        "expired" => true,
                        "ok" => false,
                        _ => return Err(format!("auth: expected `expired` or `ok`, got {v:?}")),
                    }
                }
                "forbid" => {
                    for rule in v.split('|').filter(|r| !r.is_empty()) {
                        let (verb, resource) = rule.split_once(':').ok_or_else(|| {
                            format!(
                                "forbid: rule {rule:?} must be VERB:RESOURCE (e.g. patch:nodes)"
                            )
                        })?;
                        f.forbid.push((verb.to_string(), resource.to_string()));
                    }
                }
                "expire-continue" => {
                    f.expire_continue = v.parse().map_err(|_| {
                        format!("expire-continue: expected a number of tokens, got {v:?}")
                    })?
                }
                "seed" => {
                    f.seed = v
                        .parse()
                        .map_err(|_| format!("seed: expected a number, got {v:?}"))?
                }
                other => {
                    return Err(format!(
                        "unknown fault {other:?} (known: 5xx, 429, retry-after, latency, drop, watch-expiry, conflict, expire-continue, auth, forbid, seed)"
                    ));
                }
            }
        }
        Ok(f)
    }

    pub fn is_none(&self) -> bool {
        *self
            == FaultSpec {
                seed: self.seed,
                ..FaultSpec::default()
            }
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Serve,
    Error5xx(u16),
    Throttle,
    Conflict,
    Drop,
}

/// The fault spec with its dice.
pub(crate) struct FaultState {
    pub spec: FaultSpec,
    rng: Rng,
}

impl FaultState {
    pub(crate) fn new(spec: FaultSpec) -> Self {
        let rng = Rng::new(spec.seed);
        Self { spec, rng }
    }

    /// Whether the continue token of this list request is to find the store
    /// compacted (an etcd compaction landing between two pages).
    pub(crate) fn take_continue_expiry(&mut self) -> bool {
        let expire = self.spec.expire_continue > 0;
        self.spec.expire_continue = self.spec.expire_continue.saturating_sub(1);
        expire
    }

    /// Roll the dice for one request. Watches are never dropped or failed
    /// here (watch expiry covers them), so a watch stays a watch.
    pub(crate) fn roll(&mut self, is_write: bool, is_watch: bool) -> Action {
        if self.spec.is_none() || is_watch {
            return Action::Serve;
        }
        let x = self.rng.next_f64();
        let mut acc = self.spec.error_5xx;
        if x < acc {
            return Action::Error5xx(if self.rng.below(2) == 0 { 500 } else { 503 });
        }
        acc += self.spec.throttle_429;
        if x < acc {
            return Action::Throttle;
        }
        acc += self.spec.drop;
        if x < acc {
            return Action::Drop;
        }
        if is_write && self.rng.next_f64() < self.spec.conflict {
            return Action::Conflict;
        }
        Action::Serve
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_spec() {
        let f = FaultSpec::parse(
            "5xx=0.1,429=0.05,retry-after=1,latency=20ms,drop=0.02,watch-expiry=30s,conflict=0.1,expire-continue=2,seed=42",
        )
        .unwrap();
        assert_eq!(f.expire_continue, 2);
        assert_eq!(f.error_5xx, 0.1);
        assert_eq!(f.throttle_429, 0.05);
        assert_eq!(f.latency, Duration::from_millis(20));
        assert_eq!(f.watch_expiry, Some(Duration::from_secs(30)));
        assert_eq!(f.seed, 42);
        assert!(FaultSpec::parse("").unwrap().is_none());
        let f = FaultSpec::parse("auth=expired,forbid=patch:nodes|create:pods/eviction").unwrap();
        assert!(f.unauthorized);
        assert_eq!(
            f.forbid,
            [
                ("patch".to_string(), "nodes".to_string()),
                ("create".to_string(), "pods/eviction".to_string())
            ]
        );
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(FaultSpec::parse("5xx=2").is_err());
        assert!(FaultSpec::parse("boom=1").is_err());
        assert!(FaultSpec::parse("latency=fast").is_err());
        assert!(FaultSpec::parse("5xx").is_err());
        assert!(FaultSpec::parse("forbid=nodes").is_err());
        assert!(FaultSpec::parse("auth=maybe").is_err());
    }

    #[test]
    fn dice_are_deterministic() {
        let spec = FaultSpec::parse("5xx=0.3,seed=7").unwrap();
        let mut a = FaultState::new(spec.clone());
        let mut b = FaultState::new(spec);
        let ra: Vec<_> = (0..50).map(|_| a.roll(false, false)).collect();
        let rb: Vec<_> = (0..50).map(|_| b.roll(false, false)).collect();
        assert_eq!(ra, rb);
        assert!(ra.iter().any(|x| *x != Action::Serve));
        assert!(ra.contains(&Action::Serve));
    }
}
