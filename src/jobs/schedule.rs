//! When a CronJob runs next: its schedule read as the cronjob controller
//! reads it (five fields or an `@hourly`-style macro), in its `timeZone`.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The first scheduled time after `after`. Without a `timeZone` the
/// controller uses its own zone, which is UTC on every managed cluster.
pub(crate) fn next_run(
    schedule: &str,
    time_zone: Option<&str>,
    after: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    let (schedule, zone) = split_zone(schedule, time_zone);
    let cron = parse(schedule)?;
    let next = match zone {
        None => cron
            .find_next_occurrence(&after, false)
            .map_err(|e| format!("schedule `{schedule}`: {e}"))?,
        Some(name) => {
            let tz: Tz = name
                .parse()
                .map_err(|_| format!("`{name}` is not a time zone the IANA database knows"))?;
            cron.find_next_occurrence(&after.with_timezone(&tz), false)
                .map_err(|e| format!("schedule `{schedule}`: {e}"))?
                .with_timezone(&Utc)
        }
    };
    Ok(next)
}

/// The older `CRON_TZ=Zone` / `TZ=Zone` prefix still works in schedules
/// stored before the API refused it; `timeZone` wins over it.
fn split_zone<'a>(schedule: &'a str, time_zone: Option<&'a str>) -> (&'a str, Option<&'a str>) {
    let schedule = schedule.trim();
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = schedule.strip_prefix(prefix)
            && let Some((zone, rest)) = rest.split_once(char::is_whitespace)
        {
            return (rest.trim(), time_zone.or(Some(zone)));
        }
    }
    (schedule, time_zone)
}

fn parse(schedule: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(schedule)
        .map_err(|e| format!("cannot read the schedule `{schedule}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn next_run_follows_the_schedule_in_its_zone() {
        let now = at("2026-12-01T20:30:00Z");
        assert_eq!(
            next_run("0 3 * * *", None, now).unwrap(),
            at("2026-12-02T03:00:00Z")
        );
        assert_eq!(
            next_run("*/15 * * * *", None, now).unwrap(),
            at("2026-12-01T20:45:00Z")
        );
        assert_eq!(
            next_run("@hourly", None, now).unwrap(),
            at("2026-12-01T21:00:00Z")
        );
        // 03:00 in Tokyo is 18:00 UTC the day before.
        assert_eq!(
            next_run("0 3 * * *", Some("Asia/Tokyo"), now).unwrap(),
            at("2026-12-02T18:00:00Z")
        );
        assert_eq!(
            next_run("CRON_TZ=Asia/Tokyo 0 3 * * *", None, now).unwrap(),
            at("2026-12-02T18:00:00Z")
        );
        // Day of month or day of week, as Vixie cron and the controller read it.
        assert_eq!(
            next_run("0 0 13 * 5", None, now).unwrap(),
            at("2026-12-04T00:00:00Z")
        );
        assert!(next_run("0 3 * * *", Some("Mars/Olympus"), now).is_err());
        assert!(next_run("every day", None, now).is_err());
    }
}
