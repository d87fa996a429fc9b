//! UTC calendar arithmetic for the date functions (no time-zone database needed).

/// A UTC calendar date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    /// 0 = Sunday
    pub weekday: u32,
    /// 1..=366
    pub yday: u32,
}

pub(crate) fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub(crate) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Breaks a Unix time in whole seconds into UTC calendar fields.
pub(crate) fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = (days + 4).rem_euclid(7) as u32;
    let mut yday = day;
    for m in 1..month {
        yday += days_in_month(year, m);
    }
    Civil { year, month, day, hour: (sod / 3600) as u32, minute: ((sod % 3600) / 60) as u32, weekday, yday }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_leap_days() {
        let c = civil(0);
        assert_eq!((c.year, c.month, c.day, c.weekday, c.yday), (1970, 1, 1, 4, 1));
        // 2024-02-29T13:45:00Z
        let c = civil(1_709_214_300);
        assert_eq!((c.year, c.month, c.day, c.hour, c.minute, c.yday), (2024, 2, 29, 13, 45, 60));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        // Before the epoch: 1969-12-31T23:59:59Z is a Wednesday.
        let c = civil(-1);
        assert_eq!((c.year, c.month, c.day, c.hour, c.weekday), (1969, 12, 31, 23, 3));
    }
}
