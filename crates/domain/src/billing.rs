//! The monthly fee (SPEC §4): billing periods and the charge of one
//! subscription in one period. Pure: the store supplies subscriptions, the
//! services write statements.
//!
//! # The charge rules
//!
//! - **Periods** are calendar months in UTC, written `YYYY-MM`. Timestamps
//!   (Unix milliseconds) become UTC calendar days.
//! - **Days.** A subscription is charged for each day it is active in the
//!   month: the day it was ordered counts, the day it was removed does not
//!   (so one ordered and removed on the same day costs nothing).
//! - **Price.** The monthly price recorded on the order, so a later price
//!   change affects new orders only.
//! - **Proration.** `gross = price × days / days_in_month` and
//!   `discount = monthly_discount × days / days_in_month`, each rounded to a
//!   whole minor unit **half to even** (banker's rounding, the one rounding
//!   rule, [`mul_div_half_even`]); `amount = gross − discount`. A whole
//!   month therefore costs exactly `price − monthly_discount`.
//! - **Promo discount.** `monthly_discount` is the promo's percentage of
//!   the price (rounded half to even) or its fixed amount, never more than
//!   the price, so no amount is ever negative. It applies in billing months
//!   `0 … N−1` counted from the month of the order (month 0, even if only
//!   partly used), or in every month when the promo has no limit.
//! - **Totals** are the sum of the lines per currency; rounding happens per
//!   line only.

use crate::clock::Timestamp;
use crate::error::ParseError;
use crate::pricing::{Discount, mul_div_half_even};
use jiff::civil::Date;
use std::collections::BTreeMap;
use std::fmt;

const DAY_MS: i64 = 86_400_000;

/// The UTC calendar day of a timestamp, as days since 1970-01-01.
pub fn epoch_day(t: Timestamp) -> i64 {
    t.0.div_euclid(DAY_MS)
}

/// A billing period: one calendar month (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i16,
    month: i8,
}

fn unix_epoch() -> Date {
    Date::constant(1970, 1, 1)
}

impl Period {
    /// Parses `YYYY-MM` (e.g. `2026-05`), years 1970–9998.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim();
        let shape = || {
            ParseError::new(
                "period",
                "Enter the period as YYYY-MM, for example 2026-05.",
            )
        };
        let (y, m) = s.split_once('-').ok_or_else(shape)?;
        if y.len() != 4
            || m.len() != 2
            || !y.bytes().all(|b| b.is_ascii_digit())
            || !m.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(shape());
        }
        let year: i16 = y.parse().map_err(|_| shape())?;
        let month: i8 = m.parse().map_err(|_| shape())?;
        if !(1..=12).contains(&month) {
            return Err(ParseError::new(
                "period",
                format!("There is no month {m}: the month is 01 to 12."),
            ));
        }
        if !(1970..=9998).contains(&year) {
            return Err(ParseError::new(
                "period",
                "The year must be between 1970 and 9998.",
            ));
        }
        Ok(Self { year, month })
    }

    /// The period a moment falls in.
    pub fn containing(t: Timestamp) -> Self {
        // Out-of-range timestamps (beyond jiff's ±9999 years) clamp to 1970.
        let date = jiff::Span::new()
            .try_days(epoch_day(t))
            .and_then(|span| unix_epoch().checked_add(span))
            .unwrap_or(unix_epoch());
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn year(self) -> i16 {
        self.year
    }

    pub fn month(self) -> i8 {
        self.month
    }

    fn first_date(self) -> Date {
        Date::new(self.year, self.month, 1).unwrap_or(unix_epoch())
    }

    /// 28 to 31 (leap years included).
    pub fn days(self) -> i64 {
        i64::from(self.first_date().days_in_month())
    }

    /// The first day, as days since 1970-01-01.
    pub fn first_day(self) -> i64 {
        self.first_date()
            .since(unix_epoch())
            .map_or(0, |s| i64::from(s.get_days()))
    }

    /// The first day after the period, as days since 1970-01-01.
    pub fn end_day(self) -> i64 {
        self.first_day() + self.days()
    }

    /// Midnight UTC at the start of the period.
    pub fn start(self) -> Timestamp {
        Timestamp(self.first_day() * DAY_MS)
    }

    /// Midnight UTC at the start of the next period.
    pub fn end(self) -> Timestamp {
        Timestamp(self.end_day() * DAY_MS)
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn prev(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// Whole months from `earlier` to `self` (0 for the same month).
    pub fn months_since(self, earlier: Period) -> i64 {
        (i64::from(self.year) * 12 + i64::from(self.month))
            - (i64::from(earlier.year) * 12 + i64::from(earlier.month))
    }

    /// Whether the period may be closed at `now`: only once it is over.
    pub fn check_closable(self, now: Timestamp) -> Result<(), ParseError> {
        let current = Period::containing(now);
        if self > current {
            Err(ParseError::new(
                "period",
                format!("{self} is in the future; a period can be closed only after it has ended."),
            ))
        } else if self == current {
            Err(ParseError::new(
                "period",
                format!(
                    "{self} is the current month and has not ended yet; it can be closed from {}-01 (UTC).",
                    self.next()
                ),
            ))
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// When a subscription was active: from `started_at` until `ended_at`
/// (still active when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

/// What the order fixed: its price and promo terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// The monthly price at order time, in minor units.
    pub monthly_price: i64,
    pub discount: Option<Discount>,
    /// Billing months the discount applies to; `None` = every month.
    pub discount_months: Option<i64>,
    /// When the order was placed; its month is billing month 0.
    pub ordered_at: Timestamp,
}

impl Terms {
    /// The discount taken off a whole month of `period` (0 outside the
    /// promo's months).
    pub fn monthly_discount(&self, period: Period) -> i64 {
        let index = period.months_since(Period::containing(self.ordered_at));
        let applies = index >= 0 && self.discount_months.is_none_or(|n| index < n);
        match self.discount {
            Some(d) if applies => d.off(self.monthly_price),
            _ => 0,
        }
    }
}

/// One subscription's charge in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Days charged.
    pub days: i64,
    /// Days of the period (the proration's denominator).
    pub days_in_month: i64,
    pub monthly_price: i64,
    /// `monthly_price × days / days_in_month`, rounded half to even.
    pub gross: i64,
    /// The promo's share for those days, rounded half to even.
    pub discount: i64,
    /// `gross − discount`; never negative.
    pub amount: i64,
}

/// The charge of a subscription in `period`, counting days up to and
/// including the day of `until` if given (the current month's charges so
/// far); `None` when no day of the period is charged.
pub fn charge(
    period: Period,
    span: Span,
    terms: &Terms,
    until: Option<Timestamp>,
) -> Option<Charge> {
    let mut end = period.end_day();
    if let Some(e) = span.ended_at {
        end = end.min(epoch_day(e));
    }
    if let Some(u) = until {
        end = end.min(epoch_day(u) + 1);
    }
    let start = period.first_day().max(epoch_day(span.started_at));
    let days = end - start;
    if days <= 0 {
        return None;
    }
    let dim = period.days();
    let price = terms.monthly_price.max(0);
    let gross = mul_div_half_even(price, days, dim);
    let discount = mul_div_half_even(terms.monthly_discount(period), days, dim);
    Some(Charge {
        days,
        days_in_month: dim,
        monthly_price: price,
        gross,
        discount,
        amount: gross - discount,
    })
}

/// Sums of amounts per currency, ordered by currency code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals(BTreeMap<String, i64>);

impl Totals {
    pub fn add(&mut self, currency: &str, amount: i64) {
        *self.0.entry(currency.to_owned()).or_default() += amount;
    }

    pub fn merge(&mut self, other: &Totals) {
        for (c, a) in &other.0 {
            self.add(c, *a);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(c, a)| (c.as_str(), *a))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `12.34 USD`, `12.34 USD + 5.00 EUR`, or `0.00` when there is nothing.
    pub fn display(&self) -> String {
        if self.0.is_empty() {
            return "0.00".into();
        }
        self.iter()
            .map(|(c, a)| crate::pricing::format_money(a, c))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// `12.34` from 1234 minor units: a machine-readable decimal for exports.
pub fn decimal(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02}", m / 100, m % 100)
}

/// One CSV record (RFC 4180): fields with commas, quotes or line breaks
/// are quoted, and text that a spreadsheet would run as a formula (`=`,
/// `+`, `-`, `@`, tab, CR at the start) is prefixed with `'`. Ends in CRLF.
pub fn csv_record<S: AsRef<str>>(fields: &[S]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let f = f.as_ref();
        let digits = f.strip_prefix('-').unwrap_or(f);
        let numeric = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && digits.bytes().filter(|b| *b == b'.').count() <= 1;
        let mut text = String::new();
        if !numeric && f.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            text.push('\'');
        }
        text.push_str(f);
        if text.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&text.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&text);
        }
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(y: i16, m: i8, d: i8) -> Timestamp {
        let p = Period { year: y, month: m };
        Timestamp((p.first_day() + i64::from(d) - 1) * DAY_MS)
    }

    fn terms(price: i64) -> Terms {
        Terms {
            monthly_price: price,
            discount: None,
            discount_months: None,
            ordered_at: at(2026, 1, 1),
        }
    }

    fn p(s: &str) -> Period {
        Period::parse(s).unwrap()
    }

    #[test]
    fn periods_parse_with_clear_errors() {
        assert_eq!(p("2026-05").to_string(), "2026-05");
        assert_eq!(p(" 2026-12 ").to_string(), "2026-12");
        for bad in [
            "2026-5",
            "26-05",
            "2026/05",
            "2026-05-01",
            "",
            "abcd-ef",
            "2026-+5",
        ] {
            let e = Period::parse(bad).unwrap_err();
            assert_eq!(e.field, "period");
            assert!(e.message.contains("YYYY-MM"), "{bad}: {}", e.message);
        }
        assert!(
            Period::parse("2026-13")
                .unwrap_err()
                .message
                .contains("01 to 12")
        );
        assert!(
            Period::parse("2026-00")
                .unwrap_err()
                .message
                .contains("01 to 12")
        );
        assert!(
            Period::parse("1969-12")
                .unwrap_err()
                .message
                .contains("1970")
        );
    }

    #[test]
    fn month_lengths_and_leap_years() {
        assert_eq!(p("2026-01").days(), 31);
        assert_eq!(p("2026-04").days(), 30);
        assert_eq!(p("2026-02").days(), 28);
        assert_eq!(p("2024-02").days(), 29);
        assert_eq!(p("2000-02").days(), 29);
        assert_eq!(p("2100-02").days(), 28);
        assert_eq!(p("1970-01").first_day(), 0);
        assert_eq!(p("1970-02").first_day(), 31);
        assert_eq!(p("2024-03").first_day() - p("2024-02").first_day(), 29);
        assert_eq!(p("2025-12").next(), p("2026-01"));
        assert_eq!(p("2026-01").prev(), p("2025-12"));
        assert_eq!(p("2027-02").months_since(p("2026-11")), 3);
    }

    #[test]
    fn timestamps_fall_in_utc_months() {
        // 2025-11-30T00:00:00Z and the last millisecond before December.
        let t = Timestamp(1_764_460_800_000);
        assert_eq!(Period::containing(t), p("2025-11"));
        assert_eq!(
            Period::containing(Timestamp(p("2025-12").start().0 - 1)),
            p("2025-11")
        );
        assert_eq!(Period::containing(p("2025-12").start()), p("2025-12"));
        assert_eq!(p("2025-11").end(), p("2025-12").start());
    }

    #[test]
    fn only_ended_periods_can_be_closed() {
        let now = at(2026, 6, 15);
        assert!(p("2026-05").check_closable(now).is_ok());
        assert!(p("2020-01").check_closable(now).is_ok());
        let current = p("2026-06").check_closable(now).unwrap_err();
        assert!(
            current.message.contains("current month"),
            "{}",
            current.message
        );
        assert!(
            current.message.contains("2026-07-01"),
            "{}",
            current.message
        );
        let future = p("2026-07").check_closable(now).unwrap_err();
        assert!(future.message.contains("future"), "{}", future.message);
        // The first moment of July closes June.
        assert!(p("2026-06").check_closable(at(2026, 7, 1)).is_ok());
    }

    #[test]
    fn order_day_counts_removal_day_does_not() {
        let june = p("2026-06");
        let span = Span {
            started_at: Timestamp(at(2026, 6, 10).0 + 23 * 3_600_000),
            ended_at: Some(Timestamp(at(2026, 6, 20).0 + 1)),
        };
        let c = charge(june, span, &terms(3000), None).unwrap();
        assert_eq!((c.days, c.days_in_month), (10, 30)); // 10th … 19th
        assert_eq!((c.gross, c.discount, c.amount), (1000, 0, 1000));
        let same_day = Span {
            started_at: at(2026, 6, 10),
            ended_at: Some(Timestamp(at(2026, 6, 10).0 + 3_600_000)),
        };
        assert_eq!(charge(june, same_day, &terms(3000), None), None);
    }

    #[test]
    fn spans_outside_the_period_cost_nothing() {
        let june = p("2026-06");
        let before = Span {
            started_at: at(2026, 5, 3),
            ended_at: Some(at(2026, 6, 1)),
        };
        assert_eq!(charge(june, before, &terms(500), None), None);
        let after = Span {
            started_at: at(2026, 7, 1),
            ended_at: None,
        };
        assert_eq!(charge(june, after, &terms(500), None), None);
        let across = Span {
            started_at: at(2026, 5, 3),
            ended_at: Some(at(2026, 7, 2)),
        };
        assert_eq!(charge(june, across, &terms(500), None).unwrap().amount, 500);
    }

    #[test]
    fn proration_rounds_half_to_even() {
        // 500 × 1/28 = 17.857 → 18; 500 × 14/28 = 250 exactly;
        // 300 × 5/30 = 50; 100 × 15/30 = 50; 1 × 15/30 = 0.5 → 0; 3 × 15/30 = 1.5 → 2.
        let feb = p("2026-02");
        let one = Span {
            started_at: at(2026, 2, 28),
            ended_at: None,
        };
        assert_eq!(charge(feb, one, &terms(500), None).unwrap().amount, 18);
        let half = Span {
            started_at: at(2026, 2, 15),
            ended_at: None,
        };
        assert_eq!(charge(feb, half, &terms(500), None).unwrap().amount, 250);
        let june_half = Span {
            started_at: at(2026, 6, 16),
            ended_at: None,
        };
        let june = p("2026-06");
        assert_eq!(charge(june, june_half, &terms(1), None).unwrap().amount, 0);
        assert_eq!(charge(june, june_half, &terms(3), None).unwrap().amount, 2);
        assert_eq!(charge(june, june_half, &terms(5), None).unwrap().amount, 2);
        // Leap February: 29 days.
        let leap = Span {
            started_at: at(2024, 2, 1),
            ended_at: None,
        };
        let c = charge(p("2024-02"), leap, &terms(2900), None).unwrap();
        assert_eq!((c.days, c.days_in_month, c.amount), (29, 29, 2900));
    }

    #[test]
    fn promo_months_count_from_the_order() {
        let ordered = at(2026, 1, 20);
        let t = Terms {
            monthly_price: 500,
            discount: Some(Discount::Percent(50)),
            discount_months: Some(2),
            ordered_at: ordered,
        };
        let span = Span {
            started_at: ordered,
            ended_at: None,
        };
        // January: 12 days of 31; gross 500 × 12/31 = 193.5 → 194 (even),
        // discount 250 × 12/31 = 96.77 → 97.
        let jan = charge(p("2026-01"), span, &t, None).unwrap();
        assert_eq!(
            (jan.days, jan.gross, jan.discount, jan.amount),
            (12, 194, 97, 97)
        );
        let feb = charge(p("2026-02"), span, &t, None).unwrap();
        assert_eq!((feb.gross, feb.discount, feb.amount), (500, 250, 250));
        let mar = charge(p("2026-03"), span, &t, None).unwrap();
        assert_eq!((mar.gross, mar.discount, mar.amount), (500, 0, 500));
        let forever = Terms {
            discount_months: None,
            discount: Some(Discount::Amount(800)),
            ..t
        };
        let dec = charge(p("2027-12"), span, &forever, None).unwrap();
        assert_eq!((dec.discount, dec.amount), (500, 0), "never below zero");
        let full = Terms {
            discount: Some(Discount::Percent(100)),
            ..t
        };
        assert_eq!(charge(p("2026-02"), span, &full, None).unwrap().amount, 0);
        assert_eq!(charge(p("2026-03"), span, &full, None).unwrap().amount, 500);
    }

    #[test]
    fn current_charges_count_up_to_today() {
        let june = p("2026-06");
        let span = Span {
            started_at: at(2026, 5, 1),
            ended_at: None,
        };
        let now = Timestamp(at(2026, 6, 10).0 + 5 * 3_600_000);
        let c = charge(june, span, &terms(3000), Some(now)).unwrap();
        assert_eq!((c.days, c.amount), (10, 1000));
        let ordered_today = Span {
            started_at: now,
            ended_at: None,
        };
        assert_eq!(
            charge(june, ordered_today, &terms(3000), Some(now))
                .unwrap()
                .days,
            1
        );
    }

    #[test]
    fn totals_and_csv() {
        let mut t = Totals::default();
        assert_eq!(t.display(), "0.00");
        t.add("USD", 1234);
        t.add("EUR", 500);
        t.add("USD", 1);
        assert_eq!(t.display(), "5.00 EUR + 12.35 USD");
        assert_eq!(decimal(5), "0.05");
        assert_eq!(decimal(123_456), "1234.56");
        assert_eq!(
            csv_record(&["a", "b,c", "say \"hi\"", "=SUM(A1)", "-3", "12.50"]),
            "a,\"b,c\",\"say \"\"hi\"\"\",'=SUM(A1),-3,12.50\r\n"
        );
        assert_eq!(
            csv_record(&["-inf", "+1", "@x", "-", "1.2.3"]),
            "'-inf,'+1,'@x,'-,1.2.3\r\n"
        );
    }

    fn arb_discount() -> impl Strategy<Value = Option<Discount>> {
        prop_oneof![
            Just(None),
            (1i64..=100).prop_map(|p| Some(Discount::Percent(p))),
            (1i64..2_000_000).prop_map(|a| Some(Discount::Amount(a))),
        ]
    }

    fn arb_period() -> impl Strategy<Value = Period> {
        (1990i16..2100, 1i8..=12).prop_map(|(year, month)| Period { year, month })
    }

    proptest! {
        #[test]
        fn a_whole_month_costs_the_price_minus_the_discount(
            period in arb_period(), price in 0i64..1_000_000, discount in arb_discount(),
            months in proptest::option::of(1i64..24), earlier in 0i64..40,
        ) {
            let mut ordered = period;
            for _ in 0..earlier { ordered = ordered.prev(); }
            let t = Terms { monthly_price: price, discount, discount_months: months, ordered_at: ordered.start() };
            let span = Span { started_at: ordered.start(), ended_at: None };
            let c = charge(period, span, &t, None).unwrap();
            let applies = months.is_none_or(|n| earlier < n);
            let off = if applies { discount.map_or(0, |d| d.off(price)) } else { 0 };
            prop_assert_eq!(c.days, period.days());
            prop_assert_eq!(c.gross, price);
            prop_assert_eq!(c.amount, price - off);
        }

        #[test]
        fn splitting_a_month_costs_the_same_within_rounding(
            period in arb_period(), price in 0i64..1_000_000, discount in arb_discount(),
            split in 1i64..31,
        ) {
            let split = split.min(period.days() - 1);
            let cut = Timestamp(period.start().0 + split * DAY_MS);
            // Same price, and the same promo terms in this month for both.
            let t = Terms { monthly_price: price, discount, discount_months: None, ordered_at: period.start() };
            let whole = charge(period, Span { started_at: period.start(), ended_at: None }, &t, None).unwrap();
            let a = charge(period, Span { started_at: period.start(), ended_at: Some(cut) }, &t, None).unwrap();
            let b = charge(period, Span { started_at: cut, ended_at: None }, &Terms { ordered_at: cut, ..t }, None).unwrap();
            prop_assert_eq!(a.days + b.days, whole.days);
            // Each line's gross and discount are within half a minor unit
            // of exact, so two lines are within 1 of the whole month each.
            prop_assert!((a.gross + b.gross - whole.gross).abs() <= 1);
            prop_assert!((a.discount + b.discount - whole.discount).abs() <= 1);
            prop_assert!((a.amount + b.amount - whole.amount).abs() <= 2);
        }

        #[test]
        fn no_line_is_negative(
            period in arb_period(), price in 0i64..100_000_000, discount in arb_discount(),
            months in proptest::option::of(0i64..24),
            start in -40i64..40, len in proptest::option::of(0i64..80), until in proptest::option::of(0i64..31),
        ) {
            let started_at = Timestamp(period.start().0 + start * DAY_MS + 1234);
            let span = Span { started_at, ended_at: len.map(|l| Timestamp(started_at.0 + l * DAY_MS)) };
            let t = Terms { monthly_price: price, discount, discount_months: months, ordered_at: started_at };
            let until = until.map(|d| Timestamp(period.start().0 + d * DAY_MS));
            if let Some(c) = charge(period, span, &t, until) {
                prop_assert!(c.days >= 1 && c.days <= c.days_in_month);
                prop_assert!(c.discount >= 0 && c.gross >= 0 && c.amount >= 0);
                prop_assert!(c.amount <= price && c.discount <= c.gross);
            }
        }
    }
}
