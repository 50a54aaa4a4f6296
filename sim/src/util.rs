//! Small helpers: timestamps, a deterministic PRNG, name suffixes, JSON paths.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

pub(crate) fn now() -> DateTime<Utc> {
    Utc::now()
}

/// RFC 3339 with whole seconds, the format Kubernetes uses for metav1.Time.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn now_ts() -> String {
    ts(now())
}

pub(crate) fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// SplitMix64: tiny, fast and deterministic for a given seed, which is all
/// fault injection and the generator need.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub(crate) fn from_time() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Self(t ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform float in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    /// The alphabet the API server uses for generateName suffixes (no vowels,
    /// no confusable digits).
    pub(crate) fn suffix(&mut self, len: usize) -> String {
        const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| ALPHA[self.below(ALPHA.len() as u64) as usize] as char)
            .collect()
    }
    pub(crate) fn uid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            (a >> 32) as u32,
            (a >> 16) as u16,
            (a & 0xfff) as u16,
            ((b >> 48) as u16 & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
    pub(crate) fn hex(&mut self, len: usize) -> String {
        let mut s = String::new();
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(len);
        s
    }
}

/// A process-wide PRNG for names and uids (not part of any deterministic
/// contract, so a mutex-guarded time-seeded one is fine).
pub(crate) fn global_rng<T>(f: impl FnOnce(&mut Rng) -> T) -> T {
    static RNG: std::sync::LazyLock<parking_lot::Mutex<Rng>> =
        std::sync::LazyLock::new(|| parking_lot::Mutex::new(Rng::from_time()));
    f(&mut RNG.lock())
}

pub(crate) fn new_uid() -> String {
    global_rng(|r| r.uid())
}

/// `value.a.b.c` as a string, or "".
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(n) => cur = n,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

pub(crate) fn i64_at(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_i64()
}

/// Mutable access to `v.a.b` creating objects on the way.
pub(crate) fn obj_mut<'a>(
    v: &'a mut Value,
    path: &[&str],
) -> &'a mut serde_json::Map<String, Value> {
    let mut cur = v;
    for p in path {
        if !cur.is_object() {
            *cur = Value::Object(Default::default());
        }
        cur = cur
            .as_object_mut()
            .expect("object")
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Default::default());
    }
    cur.as_object_mut().expect("object")
}

/// Kubernetes "intstr": either an int or a percentage of `total`.
/// Surge rounds up and unavailability rounds down, as the deployment controller does.
pub(crate) fn int_or_percent(v: Option<&Value>, total: i64, default: &str, round_up: bool) -> i64 {
    let s = match v {
        Some(Value::Number(n)) => return n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.clone(),
        _ => default.to_string(),
    };
    if let Some(p) = s.strip_suffix('%') {
        let p: f64 = p.parse().unwrap_or(0.0);
        let x = p * total as f64 / 100.0;
        if round_up {
            x.ceil() as i64
        } else {
            x.floor() as i64
        }
    } else {
        s.parse().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        assert_eq!(a.next_u64(), b.next_u64());
        assert_eq!(a.suffix(5).len(), 5);
        assert_eq!(a.uid().len(), 36);
    }

    #[test]
    fn intstr() {
        let v = serde_json::json!("25%");
        assert_eq!(int_or_percent(Some(&v), 3, "", true), 1);
        assert_eq!(int_or_percent(Some(&v), 3, "", false), 0);
        assert_eq!(int_or_percent(None, 10, "25%", false), 2);
        assert_eq!(
            int_or_percent(Some(&serde_json::json!(2)), 10, "", false),
            2
        );
    }
}
