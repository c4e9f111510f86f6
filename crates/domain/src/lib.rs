//! Gatehouse's domain: types and rules with no I/O.
//!
//! Everything that decides (who may do what, when a session or a lockout
//! ends, how an audit chain is hashed, what a valid username is) lives here
//! so that it can be tested without a database or a web server. Time comes in
//! through [`Clock`]; nothing in this crate reads the system clock except
//! [`SystemClock`].

pub mod account;
pub mod audit;
pub mod billing;
pub mod clock;
pub mod credential_id;
pub mod device;
pub mod error;
pub mod lockout;
pub mod method;
pub mod oath;
pub mod order;
pub mod outbox;
pub mod password;
pub mod phonefactor;
pub mod pricing;
pub mod pskc;
pub mod radius;
pub mod seal;
pub mod secret;
pub mod session;
pub mod text;
pub mod user;

pub use account::{AccountId, AccountName, AccountNumber};
pub use clock::{Clock, FixedClock, SystemClock, Timestamp};
pub use error::ParseError;
pub use method::Method;
pub use user::{DisplayName, Email, Role, UserId, UserStatus, Username};
