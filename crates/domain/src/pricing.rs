//! Prices and promo codes (SPEC §4). Money is an integer number of minor
//! units (cents) with a currency code; percentages round half to even.

use crate::clock::Timestamp;
use crate::error::ParseError;
use crate::method::Method;

/// An ISO 4217 currency code such as `USD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim().to_ascii_uppercase();
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(s))
        } else {
            Err(ParseError::new(
                "currency",
                "A currency is a three-letter code such as USD or EUR.",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A monthly price in minor units.
pub fn parse_amount(input: i64) -> Result<i64, ParseError> {
    if (0..=100_000_000).contains(&input) {
        Ok(input)
    } else {
        Err(ParseError::new(
            "amount",
            "The amount is a whole number of cents from 0 to 100000000.",
        ))
    }
}

/// `amount × numerator / denominator`, rounded half to even (banker's
/// rounding), the one rounding rule of Gatehouse's money.
pub fn mul_div_half_even(amount: i64, numerator: i64, denominator: i64) -> i64 {
    assert!(denominator > 0);
    let product = i128::from(amount) * i128::from(numerator);
    let d = i128::from(denominator);
    let q = product.div_euclid(d);
    let r = product.rem_euclid(d);
    let rounded = match (2 * r).cmp(&d) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    };
    rounded as i64
}

/// A promo code: trimmed and upper-cased, 3–32 letters, digits, `-`, `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromoCode(String);

impl PromoCode {
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim().to_ascii_uppercase();
        let ok = (3..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s))
        } else {
            Err(ParseError::new(
                "promo_code",
                "A promo code is 3 to 32 letters, digits, '-' or '_'.",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How much a promo takes off each month it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// 1–100 percent of the monthly price.
    Percent(i64),
    /// A fixed amount in minor units, never more than the price.
    Amount(i64),
}

impl Discount {
    pub fn parse(kind: &str, value: i64) -> Result<Self, ParseError> {
        match kind {
            "percent" if (1..=100).contains(&value) => Ok(Discount::Percent(value)),
            "percent" => Err(ParseError::new(
                "percent_off",
                "A percentage is from 1 to 100.",
            )),
            "amount" if value > 0 => Ok(Discount::Amount(value)),
            "amount" => Err(ParseError::new(
                "amount_off",
                "The amount off is a positive number of cents.",
            )),
            _ => Err(ParseError::new(
                "kind",
                "A discount is a percentage or an amount.",
            )),
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Discount::Percent(_) => "percent",
            Discount::Amount(_) => "amount",
        }
    }

    pub fn value(self) -> i64 {
        match self {
            Discount::Percent(v) | Discount::Amount(v) => v,
        }
    }

    /// The discount on a monthly `price`: never negative, never above it.
    pub fn off(self, price: i64) -> i64 {
        match self {
            Discount::Percent(p) => mul_div_half_even(price, p, 100),
            Discount::Amount(a) => a.min(price),
        }
        .clamp(0, price.max(0))
    }
}

/// A promo code's terms and usage, as the rules need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promo {
    pub code: String,
    pub discount: Discount,
    /// Billing months the discount applies to; `None` = for ever.
    pub months: Option<i64>,
    pub max_redemptions: Option<i64>,
    pub redemptions: i64,
    pub valid_from: Option<Timestamp>,
    /// The first moment the code no longer applies.
    pub valid_until: Option<Timestamp>,
    pub method: Option<Method>,
}

/// Why a promo code cannot be used; each says so plainly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromoRejection {
    #[error("There is no promo code {0}.")]
    Unknown(String),
    #[error("Promo code {0} is not valid yet.")]
    NotYetValid(String),
    #[error("Promo code {0} has expired.")]
    Expired(String),
    #[error("Promo code {0} has been used up.")]
    UsedUp(String),
    #[error("Promo code {code} is only for {method}.")]
    NotForMethod { code: String, method: &'static str },
}

impl Promo {
    /// Whether the code may be applied to an order of `method` at `now`.
    pub fn check(&self, method: Method, now: Timestamp) -> Result<(), PromoRejection> {
        let code = self.code.clone();
        if self.valid_from.is_some_and(|f| now < f) {
            return Err(PromoRejection::NotYetValid(code));
        }
        if self.valid_until.is_some_and(|u| now >= u) {
            return Err(PromoRejection::Expired(code));
        }
        if self.max_redemptions.is_some_and(|m| self.redemptions >= m) {
            return Err(PromoRejection::UsedUp(code));
        }
        if let Some(m) = self.method
            && m != method
        {
            return Err(PromoRejection::NotForMethod {
                code,
                method: m.label(),
            });
        }
        Ok(())
    }

    /// People's description: "50 % off for 3 months".
    pub fn describe(&self, currency: &str) -> String {
        let what = match self.discount {
            Discount::Percent(p) => format!("{p} % off"),
            Discount::Amount(a) => format!("{} off", format_money(a, currency)),
        };
        match self.months {
            Some(1) => format!("{what} for the first month"),
            Some(n) => format!("{what} for {n} months"),
            None => format!("{what} for as long as the subscription lasts"),
        }
    }
}

/// The monthly fee of an order before and after a promo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    pub monthly_fee: i64,
    pub discount: i64,
    pub total: i64,
}

pub fn quote(monthly_fee: i64, discount: Option<Discount>) -> Quote {
    let off = discount.map_or(0, |d| d.off(monthly_fee));
    Quote {
        monthly_fee,
        discount: off,
        total: monthly_fee - off,
    }
}

/// `12.34 USD` from 1234 minor units (two decimals).
pub fn format_money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", m / 100, m % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn promo() -> Promo {
        Promo {
            code: "WELCOME50".into(),
            discount: Discount::Percent(50),
            months: Some(3),
            max_redemptions: Some(2),
            redemptions: 0,
            valid_from: Some(Timestamp(1_000)),
            valid_until: Some(Timestamp(2_000)),
            method: Some(Method::SymantecVip),
        }
    }

    #[test]
    fn half_even_rounding() {
        assert_eq!(mul_div_half_even(250, 50, 100), 125);
        assert_eq!(mul_div_half_even(1, 50, 100), 0); // 0.5 → 0
        assert_eq!(mul_div_half_even(3, 50, 100), 2); // 1.5 → 2
        assert_eq!(mul_div_half_even(5, 50, 100), 2); // 2.5 → 2
        assert_eq!(mul_div_half_even(333, 1, 3), 111);
    }

    #[test]
    fn promo_rules_say_why() {
        let p = promo();
        assert!(p.check(Method::SymantecVip, Timestamp(1_500)).is_ok());
        assert_eq!(
            p.check(Method::SymantecVip, Timestamp(999)),
            Err(PromoRejection::NotYetValid("WELCOME50".into()))
        );
        assert_eq!(
            p.check(Method::SymantecVip, Timestamp(2_000)),
            Err(PromoRejection::Expired("WELCOME50".into()))
        );
        assert!(matches!(
            p.check(Method::PhoneFactor, Timestamp(1_500)),
            Err(PromoRejection::NotForMethod { .. })
        ));
        let used = Promo {
            redemptions: 2,
            ..p
        };
        assert_eq!(
            used.check(Method::SymantecVip, Timestamp(1_500)),
            Err(PromoRejection::UsedUp("WELCOME50".into()))
        );
        assert_eq!(promo().describe("USD"), "50 % off for 3 months");
    }

    #[test]
    fn quotes() {
        assert_eq!(
            quote(500, Some(Discount::Percent(50))),
            Quote {
                monthly_fee: 500,
                discount: 250,
                total: 250
            }
        );
        assert_eq!(quote(500, Some(Discount::Amount(800))).total, 0);
        assert_eq!(quote(500, None).total, 500);
        assert_eq!(format_money(250, "USD"), "2.50 USD");
        assert_eq!(
            PromoCode::parse(" welcome50 ").unwrap().as_str(),
            "WELCOME50"
        );
        assert!(PromoCode::parse("no way").is_err());
        assert!(Currency::parse("usd").is_ok());
        assert!(Currency::parse("US").is_err());
    }

    proptest! {
        #[test]
        fn discounts_stay_within_the_price(price in 0i64..10_000_000, pct in 1i64..=100, amt in 1i64..20_000_000) {
            for d in [Discount::Percent(pct), Discount::Amount(amt)] {
                let q = quote(price, Some(d));
                prop_assert!(q.discount >= 0 && q.discount <= price);
                prop_assert_eq!(q.total + q.discount, price);
            }
        }
    }
}
