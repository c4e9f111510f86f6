//! PhoneFactor's rules (SPEC §3.2): phone numbers, modes, challenges, the
//! abuse limits on sending, and what a key press or a reply means.

use crate::clock::Timestamp;
use crate::error::ParseError;
use phonenumber::{Mode as Format, PhoneNumber, Type};

/// How a user confirms a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The portal calls; # approves, 0# reports fraud.
    Call,
    /// A 6-digit code by text message, typed into the portal.
    Sms,
    /// A push to the paired app, approved with number matching.
    App,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Call, Mode::Sms, Mode::App];

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "call" | "phone" | "phone_call" | "voice" => Ok(Mode::Call),
            "sms" | "text" | "text_message" => Ok(Mode::Sms),
            "app" | "mobile_app" | "push" => Ok(Mode::App),
            _ => Err(ParseError::new(
                "mode",
                "Choose Phone call (call), Text message (sms) or Mobile app (app).",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Call => "call",
            Mode::Sms => "sms",
            Mode::App => "app",
        }
    }

    /// The seed's labels.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Call => "Phone call",
            Mode::Sms => "Text message",
            Mode::App => "Mobile app",
        }
    }
}

/// A phone number we are willing to call or text: valid, stored as E.164.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

/// Number types that can never be a user's own phone, or that cost the
/// provider money to reach (toll fraud / SMS pumping, DOMAIN.md).
fn refused_kind(t: Type) -> Option<&'static str> {
    match t {
        Type::PremiumRate => Some("premium-rate numbers"),
        Type::SharedCost => Some("shared-cost numbers"),
        Type::TollFree => Some("toll-free numbers"),
        Type::Pager => Some("pagers"),
        Type::Uan => Some("company switchboard (UAN) numbers"),
        Type::Voicemail => Some("voicemail access numbers"),
        Type::Emergency | Type::ShortCode | Type::Carrier => Some("short codes"),
        _ => None,
    }
}

impl Phone {
    /// Parses what a person typed: `+1 415 555 0123`, `(415) 555-0123` with
    /// `region` (ISO 3166 alpha-2, e.g. `US`) for numbers without `+`.
    /// `blocked_regions` lists countries the provider does not deliver to.
    pub fn parse(
        input: &str,
        region: Option<&str>,
        blocked_regions: &[String],
    ) -> Result<Self, ParseError> {
        let raw = input.trim();
        if raw.is_empty() {
            return Err(ParseError::new(
                "phone",
                "Enter your phone number, e.g. +1 415 555 0123.",
            ));
        }
        if raw.len() > 40 {
            return Err(ParseError::new(
                "phone",
                "That is too long for a phone number.",
            ));
        }
        let region_id = match region.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => Some(
                r.to_ascii_uppercase()
                    .parse::<phonenumber::country::Id>()
                    .map_err(|_| {
                        ParseError::new("country", format!("Unknown country code {r}."))
                    })?,
            ),
            None => None,
        };
        if !raw.starts_with('+') && region_id.is_none() {
            return Err(ParseError::new(
                "phone",
                "Start the number with + and the country code (e.g. +44 20 7946 0000), or choose the country.",
            ));
        }
        let number: PhoneNumber = phonenumber::parse(region_id, raw).map_err(|_| {
            ParseError::new("phone", "That is not a phone number. Enter it as +country code and number, e.g. +1 415 555 0123.")
        })?;
        let e164 = number.format().mode(Format::E164).to_string();
        // ITU-T E.164 §6.2.1: at most 15 digits, country code included.
        // libphonenumber allows longer national numbers for some countries
        // (up to 15 national digits for Germany), which no gateway can dial.
        if e164.len() > 1 + 15 {
            return Err(ParseError::new(
                "phone",
                format!(
                    "{e164} has more than the 15 digits an international number can have. Check the digits and the country code."
                ),
            ));
        }
        // What is kept is the E.164 string, so it must read back as the same
        // number: libphonenumber strips a national prefix from some inputs
        // and not others ("+ 00708337…" with China chosen became
        // +78337942201, which reads back as +7 337942201).
        let reads_back = || {
            phonenumber::parse(None, &e164)
                .is_ok_and(|again| again.format().mode(Format::E164).to_string() == e164)
        };
        if (!phonenumber::is_valid(&number) && !fictional_nanp(&e164)) || !reads_back() {
            return Err(ParseError::new(
                "phone",
                format!(
                    "{e164} is not a valid phone number for its country. Check the digits and the country code."
                ),
            ));
        }
        let kind = number.number_type(&phonenumber::metadata::DATABASE);
        if let Some(what) = refused_kind(kind) {
            return Err(ParseError::new(
                "phone",
                format!(
                    "We cannot use {what} for sign-in confirmation. Enter your own mobile or landline number."
                ),
            ));
        }
        // Blocked by calling code: libphonenumber cannot always tell the
        // countries that share one apart (+44: GB, GG, IM, JE), and a
        // provider that does not pay for one of them pays for none.
        let code = number.code().value();
        if let Some(b) = blocked_regions.iter().find(|b| {
            phonenumber::metadata::DATABASE
                .by_id(b.trim().to_ascii_uppercase().as_str())
                .is_some_and(|m| m.country_code() == code)
        }) {
            return Err(ParseError::new(
                "phone",
                format!(
                    "We do not call or text numbers in {} (+{code}). Enter a number in another country, or choose Mobile app.",
                    b.to_ascii_uppercase()
                ),
            ));
        }
        Ok(Phone(e164))
    }

    /// Trusts an E.164 string read back from storage.
    pub fn from_stored(e164: &str) -> Self {
        Phone(e164.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `+1 ••• ••• 0123`: enough for the owner to recognise it.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks an E.164 number but for its last four digits.
pub fn mask(e164: &str) -> String {
    let digits: Vec<char> = e164.chars().filter(char::is_ascii_digit).collect();
    if digits.len() <= 4 {
        return e164.to_owned();
    }
    let tail: String = digits[digits.len() - 4..].iter().collect();
    format!("+{}••••{tail}", digits[0])
}

/// North American 555-0100…0199 numbers are reserved for fiction and demos;
/// libphonenumber calls them invalid, but they are what the virtual phone
/// and documentation use, and no real phone has them.
fn fictional_nanp(e164: &str) -> bool {
    let d = e164.strip_prefix("+1").unwrap_or("");
    d.len() == 10 && &d[3..6] == "555" && &d[6..8] == "01"
}

/// Whether a number is one of the reserved fictional ones (allowed only for
/// the virtual phone).
pub fn is_fictional(e164: &str) -> bool {
    fictional_nanp(e164)
}

/// Where a user's PhoneFactor stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneFactorStatus {
    /// Ordered; the user activates it at their next sign-in.
    AwaitingActivation,
    /// Sign-ins are confirmed by phone.
    Active,
    /// Turned off by the user or an administrator; may be activated again.
    Deactivated,
}

impl PhoneFactorStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneFactorStatus::AwaitingActivation => "awaiting_activation",
            PhoneFactorStatus::Active => "active",
            PhoneFactorStatus::Deactivated => "deactivated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "awaiting_activation" => Some(PhoneFactorStatus::AwaitingActivation),
            "active" => Some(PhoneFactorStatus::Active),
            "deactivated" => Some(PhoneFactorStatus::Deactivated),
            _ => None,
        }
    }
}

/// What a challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Activation,
    SignIn,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Activation => "activation",
            Purpose::SignIn => "sign_in",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "activation" => Some(Purpose::Activation),
            "sign_in" => Some(Purpose::SignIn),
            _ => None,
        }
    }
}

/// Where a challenge stands. Only `Pending` (and `Pairing` for the app's
/// first step) can change; every other state is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeStatus {
    /// App activation: waiting for the app to pair.
    Pairing,
    Pending,
    Approved,
    Denied,
    Fraud,
    Expired,
    /// Approved and consumed by the sign-in or activation it belonged to.
    Used,
}

impl ChallengeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeStatus::Pairing => "pairing",
            ChallengeStatus::Pending => "pending",
            ChallengeStatus::Approved => "approved",
            ChallengeStatus::Denied => "denied",
            ChallengeStatus::Fraud => "fraud",
            ChallengeStatus::Expired => "expired",
            ChallengeStatus::Used => "used",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pairing" => ChallengeStatus::Pairing,
            "pending" => ChallengeStatus::Pending,
            "approved" => ChallengeStatus::Approved,
            "denied" => ChallengeStatus::Denied,
            "fraud" => ChallengeStatus::Fraud,
            "expired" => ChallengeStatus::Expired,
            "used" => ChallengeStatus::Used,
            _ => return None,
        })
    }

    /// The status as seen at `now`: an open challenge past its expiry is
    /// expired whatever the row says.
    pub fn at(self, expires_at: Timestamp, now: Timestamp) -> Self {
        match self {
            ChallengeStatus::Pending | ChallengeStatus::Pairing if now >= expires_at => {
                ChallengeStatus::Expired
            }
            s => s,
        }
    }

    pub fn is_open(self) -> bool {
        matches!(self, ChallengeStatus::Pending | ChallengeStatus::Pairing)
    }
}

/// What someone did on a call's keypad: the one reading of the keys, for
/// the virtual phone's keypad and for a gateway's call alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPress {
    /// `#` alone: approve.
    Approve,
    /// `0#` (or `0` followed by silence): "I did not start this" — report
    /// fraud (DOMAIN.md §2).
    Fraud,
    /// Anything else, including nothing at all: neither approve nor report.
    Other,
}

/// `#` approves; `0#` reports fraud. The keys are read as pressed, `#`
/// included: the call's Gather collects `#` as a digit (see
/// `gatehouse_delivery::twilio::twiml`). An empty answer never approves —
/// a gateway that ends input on `#` and drops it cannot tell `#` from a
/// timeout.
pub fn classify_keys(digits: &str) -> KeyPress {
    match digits.trim() {
        "#" => KeyPress::Approve,
        "0#" | "0" => KeyPress::Fraud,
        _ => KeyPress::Other,
    }
}

/// Whether an inbound text is a fraud report (`FRAUD`, any case, alone).
pub fn is_fraud_reply(body: &str) -> bool {
    let t = body.trim().trim_end_matches(['.', '!']);
    t.eq_ignore_ascii_case("fraud")
}

/// What the app answers to a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppDecision {
    Approve,
    Deny,
    Fraud,
}

impl AppDecision {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "approve" => Ok(AppDecision::Approve),
            "deny" => Ok(AppDecision::Deny),
            "fraud" => Ok(AppDecision::Fraud),
            _ => Err(ParseError::new(
                "decision",
                "Answer approve, deny or fraud.",
            )),
        }
    }
}

/// A two-digit number for number matching (10–99, so it is always two
/// digits and never looks like a code).
pub fn number_match() -> u32 {
    10 + crate::secret::random_below(90) as u32
}

/// Limits on texts and calls (SPEC §3.2: SMS pumping and toll fraud).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    pub per_user_15_minutes: i64,
    pub per_user_day: i64,
    pub per_number_day: i64,
    pub per_account_day: i64,
}

impl Default for SendLimits {
    fn default() -> Self {
        Self {
            per_user_15_minutes: 5,
            per_user_day: 20,
            per_number_day: 20,
            per_account_day: 500,
        }
    }
}

/// One of the windows a send is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitWindow {
    User15Minutes,
    UserDay,
    NumberDay,
    AccountDay,
}

impl LimitWindow {
    pub const ALL: [LimitWindow; 4] = [
        LimitWindow::User15Minutes,
        LimitWindow::UserDay,
        LimitWindow::NumberDay,
        LimitWindow::AccountDay,
    ];

    pub fn seconds(self) -> i64 {
        match self {
            LimitWindow::User15Minutes => 15 * 60,
            _ => 24 * 60 * 60,
        }
    }

    /// The counter's key for this window.
    pub fn key(self, user: i64, phone: &str, account: i64) -> String {
        match self {
            LimitWindow::User15Minutes => format!("pf-send-15m:user:{user}"),
            LimitWindow::UserDay => format!("pf-send-day:user:{user}"),
            LimitWindow::NumberDay => format!("pf-send-day:number:{phone}"),
            LimitWindow::AccountDay => format!("pf-send-day:account:{account}"),
        }
    }

    pub fn limit(self, l: &SendLimits) -> i64 {
        match self {
            LimitWindow::User15Minutes => l.per_user_15_minutes,
            LimitWindow::UserDay => l.per_user_day,
            LimitWindow::NumberDay => l.per_number_day,
            LimitWindow::AccountDay => l.per_account_day,
        }
    }

    fn what(self) -> &'static str {
        match self {
            LimitWindow::User15Minutes => "texts and calls in 15 minutes",
            LimitWindow::UserDay => "texts and calls today",
            LimitWindow::NumberDay => "texts and calls to this number today",
            LimitWindow::AccountDay => "texts and calls for your organisation today",
        }
    }

    /// The refusal for a send over this window's limit, with the seconds
    /// until the window ends.
    pub fn refusal(
        self,
        limits: &SendLimits,
        window_start: Timestamp,
        now: Timestamp,
    ) -> (String, i64) {
        let wait =
            ((window_start.plus_seconds(self.seconds()).millis() - now.millis()) / 1000).max(1);
        let human = if wait >= 3600 {
            format!("{} hours", (wait + 3599) / 3600)
        } else {
            format!("{} minutes", (wait + 59) / 60)
        };
        (
            format!(
                "Too many {} (at most {}). Try again in {human}.",
                self.what(),
                self.limit(limits)
            ),
            wait,
        )
    }
}

/// Defaults for PhoneFactor's timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneFactorPolicy {
    pub sms_code_minutes: i64,
    pub call_minutes: i64,
    pub app_minutes: i64,
    pub pairing_minutes: i64,
    pub fraud_block_days: i64,
    pub bypass_default_minutes: i64,
    pub bypass_max_minutes: i64,
    pub code_attempts: i64,
}

impl Default for PhoneFactorPolicy {
    fn default() -> Self {
        Self {
            sms_code_minutes: 5,
            call_minutes: 3,
            app_minutes: 3,
            pairing_minutes: 15,
            fraud_block_days: 90,
            bypass_default_minutes: 5,
            bypass_max_minutes: 24 * 60,
            code_attempts: 5,
        }
    }
}

impl PhoneFactorPolicy {
    /// How long a challenge in `mode` stays open.
    pub fn lifetime_minutes(&self, mode: Mode) -> i64 {
        match mode {
            Mode::Sms => self.sms_code_minutes,
            Mode::Call => self.call_minutes,
            Mode::App => self.app_minutes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_to_e164() {
        let p = Phone::parse("+1 415 555 0123", None, &[]).unwrap();
        assert_eq!(p.as_str(), "+14155550123");
        assert_eq!(
            Phone::parse("(415) 555-0188", Some("us"), &[])
                .unwrap()
                .as_str(),
            "+14155550188"
        );
        assert_eq!(
            Phone::parse("+44 7911 123456", None, &[]).unwrap().as_str(),
            "+447911123456"
        );
        assert_eq!(
            Phone::parse("+49 151 23456789", None, &[])
                .unwrap()
                .as_str(),
            "+4915123456789"
        );
        assert_eq!(p.masked(), "+1••••0123");
    }

    #[test]
    fn bad_premium_and_blocked_numbers_are_refused_with_reasons() {
        assert_eq!(Phone::parse("", None, &[]).unwrap_err().field, "phone");
        assert!(
            Phone::parse("415 555 0123", None, &[])
                .unwrap_err()
                .message
                .contains("country")
        );
        assert!(
            Phone::parse("+1 212 000 0000", None, &[])
                .unwrap_err()
                .message
                .contains("not a valid")
        );
        // UK premium rate (09xx) and US toll free.
        assert!(
            Phone::parse("+44 909 879 0000", None, &[])
                .unwrap_err()
                .message
                .contains("premium-rate")
        );
        assert!(
            Phone::parse("+1 800 555 1234", None, &[])
                .unwrap_err()
                .message
                .contains("toll-free")
        );
        assert!(
            Phone::parse("+44 7911 123456", None, &["GB".into()])
                .unwrap_err()
                .message
                .contains("GB")
        );
        assert!(Phone::parse("12", Some("ZZ"), &[]).unwrap_err().field == "country");
    }

    /// Found by the `phone` fuzz target: libphonenumber takes this for a
    /// valid German number, 17 digits with the country code.
    #[test]
    fn numbers_longer_than_e164_allows_are_refused() {
        let e = Phone::parse("861 1261 120707)36", Some("DE"), &[]).unwrap_err();
        assert_eq!(e.field, "phone");
        assert!(e.message.contains("15 digits"), "{}", e.message);
        assert!(Phone::parse("+49861126112070736", None, &[]).is_err());
        // Fifteen digits are fine.
        assert_eq!(
            Phone::parse("+49 30 12345678901", None, &[]).map(|p| p.as_str().len()),
            Ok(16)
        );
    }

    /// Found by the `phone` fuzz target: an international prefix dialled
    /// from China, then +7 and a national number whose first digit Russia
    /// strips as its trunk prefix when the E.164 form is read again.
    #[test]
    fn numbers_that_do_not_read_back_as_themselves_are_refused() {
        let e = Phone::parse("+ 00708337z422-01", Some("CN"), &[]).unwrap_err();
        assert_eq!(e.field, "phone");
        assert!(
            e.message.starts_with("+78337942201 is not a valid"),
            "{}",
            e.message
        );
        // What is accepted reads back as itself.
        for (input, region) in [
            ("+1 415 555 0123", None),
            ("(415) 555-0188", Some("US")),
            ("8 (912) 345-67-89", Some("RU")),
            ("030 901820", Some("DE")),
        ] {
            let p = Phone::parse(input, region, &[]).unwrap();
            assert_eq!(Phone::parse(p.as_str(), None, &[]), Ok(p));
        }
    }

    #[test]
    fn keypad_and_replies() {
        assert_eq!(classify_keys("#"), KeyPress::Approve);
        assert_eq!(classify_keys("0#"), KeyPress::Fraud);
        assert_eq!(classify_keys("0"), KeyPress::Fraud);
        assert_eq!(classify_keys("5#"), KeyPress::Other);
        assert_eq!(classify_keys(""), KeyPress::Other);
        assert_eq!(classify_keys("##"), KeyPress::Other);
        assert_eq!(classify_keys("#0"), KeyPress::Other);
        assert!(is_fraud_reply(" fraud "));
        assert!(is_fraud_reply("FRAUD."));
        assert!(!is_fraud_reply("not fraud"));
    }

    #[test]
    fn open_challenges_expire() {
        let t = Timestamp(1000);
        assert_eq!(
            ChallengeStatus::Pending.at(t, Timestamp(999)),
            ChallengeStatus::Pending
        );
        assert_eq!(ChallengeStatus::Pending.at(t, t), ChallengeStatus::Expired);
        assert_eq!(
            ChallengeStatus::Approved.at(t, t),
            ChallengeStatus::Approved
        );
        for _ in 0..200 {
            let n = number_match();
            assert!((10..=99).contains(&n));
        }
    }

    #[test]
    fn limit_refusals_say_when_to_retry() {
        let l = SendLimits::default();
        let start = Timestamp(0);
        let (msg, wait) = LimitWindow::User15Minutes.refusal(&l, start, start.plus_seconds(60));
        assert_eq!(wait, 14 * 60);
        assert!(msg.contains("Try again in 14 minutes"), "{msg}");
        let (msg, _) = LimitWindow::UserDay.refusal(&l, start, start.plus_seconds(60));
        assert!(msg.contains("hours"), "{msg}");
    }
}
