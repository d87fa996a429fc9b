//! `time_intervals`: when a route is muted or active (times of day,
//! weekdays, days of month, months, years, location).

use chrono::{DateTime, Datelike, Local, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Deserializer};

/// One time interval; every set field must match (an unset field matches all).
#[derive(Clone, Debug, Default)]
pub struct TimeInterval {
    /// Minute ranges within a day, `[start, end)`.
    pub times: Vec<(u32, u32)>,
    /// Weekday ranges, 0 = Sunday.
    pub weekdays: Vec<(i32, i32)>,
    /// Day-of-month ranges; negative counts from the month's end.
    pub days_of_month: Vec<(i32, i32)>,
    pub months: Vec<(i32, i32)>,
    pub years: Vec<(i32, i32)>,
    /// True for `location: Local`; otherwise UTC.
    pub local: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    times: Vec<RawTime>,
    #[serde(default)]
    weekdays: Vec<String>,
    #[serde(default)]
    days_of_month: Vec<String>,
    #[serde(default)]
    months: Vec<String>,
    #[serde(default)]
    years: Vec<String>,
    #[serde(default)]
    location: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTime {
    start_time: String,
    end_time: String,
}

const WEEKDAYS: [&str; 7] = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn minutes(s: &str) -> Result<u32, String> {
    let (h, m) = s.split_once(':').ok_or_else(|| format!("couldn't parse timestamp {s:?}, invalid format"))?;
    let h: u32 = h.parse().map_err(|_| format!("couldn't parse timestamp {s:?}"))?;
    let m: u32 = m.parse().map_err(|_| format!("couldn't parse timestamp {s:?}"))?;
    if m > 59 || h > 24 || (h == 24 && m != 0) {
        return Err(format!("timestamp {s:?} out of range"));
    }
    Ok(h * 60 + m)
}

fn range(s: &str, parse: impl Fn(&str) -> Result<i32, String>) -> Result<(i32, i32), String> {
    match s.split_once(':') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            Ok((a, b))
        }
        None => {
            let a = parse(s)?;
            Ok((a, a))
        }
    }
}

fn named<'a>(names: &'a [&'a str], base: i32) -> impl Fn(&str) -> Result<i32, String> + 'a {
    move |s: &str| {
        let l = s.trim().to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == l) {
            return Ok(i as i32 + base);
        }
        match l.parse::<i32>() {
            Ok(n) if base == 1 && (1..=names.len() as i32).contains(&n) => Ok(n),
            _ => Err(format!("{s:?} is not a valid name")),
        }
    }
}

impl<'de> Deserialize<'de> for TimeInterval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Raw::deserialize(d)?;
        fn e<E: serde::de::Error>(m: impl std::fmt::Display) -> E {
            E::custom(m)
        }
        let mut ti = TimeInterval::default();
        for t in &raw.times {
            let (a, b) = (minutes(&t.start_time).map_err(e)?, minutes(&t.end_time).map_err(e)?);
            if a >= b {
                return Err(e("start time cannot be equal or greater than end time"));
            }
            ti.times.push((a, b));
        }
        for w in &raw.weekdays {
            let r = range(w, named(&WEEKDAYS, 0)).map_err(e)?;
            if r.0 > r.1 {
                return Err(e(format!("start day cannot be before end day in {w:?}")));
            }
            ti.weekdays.push(r);
        }
        for dm in &raw.days_of_month {
            let r =
                range(dm, |s| s.trim().parse::<i32>().map_err(|_| format!("invalid day of month {s:?}"))).map_err(e)?;
            if r.0 == 0 || r.1 == 0 || r.0.abs() > 31 || r.1.abs() > 31 {
                return Err(e(format!("days of month {dm:?} out of range")));
            }
            ti.days_of_month.push(r);
        }
        for m in &raw.months {
            let r = range(m, named(&MONTHS, 1)).map_err(e)?;
            if r.0 > r.1 {
                return Err(e(format!("end month cannot be before start month in {m:?}")));
            }
            ti.months.push(r);
        }
        for y in &raw.years {
            let r = range(y, |s| s.trim().parse::<i32>().map_err(|_| format!("invalid year {s:?}"))).map_err(e)?;
            if r.0 > r.1 {
                return Err(e(format!("end year cannot be before start year in {y:?}")));
            }
            ti.years.push(r);
        }
        match raw.location.as_deref() {
            None | Some("UTC") | Some("") => {}
            Some("Local") => ti.local = true,
            // Sightline ships no time zone database; say so instead of guessing.
            Some(other) => return Err(e(format!("location {other:?} is not supported (use UTC or Local)"))),
        }
        Ok(ti)
    }
}

impl TimeInterval {
    /// Whether `t` lies in this interval.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        if self.local {
            let l = t.with_timezone(&Local);
            self.contains_parts(
                l.hour() * 60 + l.minute(),
                l.weekday().num_days_from_sunday() as i32,
                l.day(),
                l.month(),
                l.year(),
            )
        } else {
            self.contains_parts(
                t.hour() * 60 + t.minute(),
                t.weekday().num_days_from_sunday() as i32,
                t.day(),
                t.month(),
                t.year(),
            )
        }
    }

    fn contains_parts(&self, minute: u32, weekday: i32, day: u32, month: u32, year: i32) -> bool {
        if !self.times.is_empty() && !self.times.iter().any(|(a, b)| minute >= *a && minute < *b) {
            return false;
        }
        if !self.weekdays.is_empty() && !self.weekdays.iter().any(|(a, b)| (*a..=*b).contains(&weekday)) {
            return false;
        }
        if !self.days_of_month.is_empty() {
            let dim = days_in_month(year, month) as i32;
            let abs = |d: i32| if d < 0 { dim + d + 1 } else { d };
            if !self.days_of_month.iter().any(|(a, b)| (abs(*a)..=abs(*b)).contains(&(day as i32))) {
                return false;
            }
        }
        if !self.months.is_empty() && !self.months.iter().any(|(a, b)| (*a..=*b).contains(&(month as i32))) {
            return false;
        }
        if !self.years.is_empty() && !self.years.iter().any(|(a, b)| (*a..=*b).contains(&year)) {
            return false;
        }
        true
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    match (NaiveDate::from_ymd_opt(ny, nm, 1), NaiveDate::from_ymd_opt(year, month, 1)) {
        (Some(a), Some(b)) => (a - b).num_days() as u32,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn business_hours() {
        let ti: TimeInterval = serde_yaml_ng::from_str(
            "times: [{start_time: '09:00', end_time: '17:00'}]\nweekdays: ['monday:friday']\ndays_of_month: ['-7:-1']\n",
        )
        .unwrap();
        // 2026-11-27 is a Friday in the last week of November.
        assert!(ti.contains(Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()));
        assert!(!ti.contains(Utc.with_ymd_and_hms(2026, 11, 27, 17, 0, 0).unwrap()));
        assert!(!ti.contains(Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap()));
        assert!(!ti.contains(Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()));
    }

    #[test]
    fn rejects_bad() {
        assert!(serde_yaml_ng::from_str::<TimeInterval>("weekdays: [funday]").is_err());
        assert!(serde_yaml_ng::from_str::<TimeInterval>("times: [{start_time: '10:00', end_time: '09:00'}]").is_err());
        assert!(serde_yaml_ng::from_str::<TimeInterval>("months: ['december:january']").is_err());
    }
}
