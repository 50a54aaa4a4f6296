//! Ages and durations as kubectl prints them (`45s`, `4m30s`, `130m`,
//! `4h10m`, `3d5h`), from one function so every table agrees.

use chrono::{DateTime, Utc};

/// kubectl's short, human duration (its `HumanDuration`): exact at first,
/// coarser as it grows.
pub(crate) fn human(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_rest(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        return with_rest(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        return with_rest(hours / 24, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        return with_rest(hours / 24 / 365, "y", (hours / 24) % 365, "d");
    }
    format!("{}y", hours / 24 / 365)
}

fn with_rest(big: i64, big_unit: &str, rest: i64, rest_unit: &str) -> String {
    if rest == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit}{rest}{rest_unit}")
    }
}

/// The age of something created at `since`, or `<unknown>`.
pub(crate) fn since(since: Option<DateTime<Utc>>) -> String {
    match since {
        Some(t) => human(Utc::now() - t),
        None => "<unknown>".into(),
    }
}

/// A duration given in seconds.
pub(crate) fn seconds(secs: i64) -> String {
    human(chrono::Duration::seconds(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_kubectl_prints_them() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (270, "4m30s"),
            (600, "10m"),
            (130 * 60, "130m"),
            (4 * 3600 + 10 * 60, "4h10m"),
            (5 * 3600, "5h"),
            (30 * 3600, "30h"),
            (3 * 86_400 + 5 * 3600, "3d5h"),
            (30 * 86_400, "30d"),
            (3 * 365 * 86_400 + 86_400, "3y1d"),
            (10 * 365 * 86_400, "10y"),
        ];
        for (secs, want) in cases {
            assert_eq!(seconds(secs), want, "{secs}s");
        }
        assert_eq!(seconds(-1), "0s");
        assert_eq!(seconds(-5), "<invalid>");
    }
}
