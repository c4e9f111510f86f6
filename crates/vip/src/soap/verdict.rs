//! The verdict of a `ValidateResponse`: its reason code (and, for `4E03`,
//! its message) mapped to a [`RemoteVerdict`] or a [`RemoteError`], as the
//! table in [`reason`] has it.

use super::{ValidateStatus, reason};
use crate::{RemoteError, RemoteVerdict};

/// Maps a reason code to a verdict or an error (table and sources in
/// [`reason`]).
pub(crate) fn classify(status: &ValidateStatus) -> Result<RemoteVerdict, RemoteError> {
    let code = status.reason_code.as_str();
    let says_not_found = || {
        let needle = reason::CREDENTIAL_NOT_FOUND_MESSAGE.to_ascii_lowercase();
        [&status.status_message, &status.error_detail]
            .into_iter()
            .flatten()
            .any(|m| m.to_ascii_lowercase().contains(&needle))
    };
    match code {
        // [US] "Success."; [KM], [PAM]: the only success.
        reason::SUCCESS => Ok(RemoteVerdict::Valid),
        // [KM] "Failed with an invalid OTP"; [CM], [KB222352] 4923 "requires
        // a second consecutive OTP": a failed attempt either way.
        reason::INVALID_OTP | reason::NEEDS_NEXT_OTP => Ok(RemoteVerdict::Invalid),
        // [CM] lists 4994; [PAM] "Operation not allowed on locked token".
        reason::LOCKED => Ok(RemoteVerdict::Locked),
        // [CM] 4993 "Operation not allowed on a disabled token", 4990 "Bad
        // Token State"; [PAM] 4995 new, 4996 inactive, 4997 validation of a
        // disabled token (vendor text unpublished): not usable.
        reason::DISABLED
        | reason::VALIDATION_OF_DISABLED
        | reason::BAD_TOKEN_STATE
        | reason::NEW_TOKEN
        | reason::INACTIVE_TOKEN => Ok(RemoteVerdict::Disabled),
        // [PAM] "Token id … not found" (vendor text unpublished).
        reason::TOKEN_NOT_FOUND => Ok(RemoteVerdict::UnknownCredential),
        // [KB442778] 4E03 "Authorization failed" / "Credential ID not found".
        reason::AUTHORIZATION_FAILED if says_not_found() => Ok(RemoteVerdict::UnknownCredential),
        // 4879 [CM] "The service is temporarily unavailable", 4E04 [CM]
        // "Unsupported service protocol version", 4E03 otherwise [KB442778],
        // the 4E0x codes [PAM] handles, User Services' 6004/6009 [US], and
        // every code nobody published: not a verdict on the security code.
        // The code and the vendor's text travel in the error, which the
        // adapter logs.
        _ => Err(RemoteError::Refused {
            code: code.to_owned(),
            message: status_text(status),
        }),
    }
}

/// "StatusMessage: ErrorDetail", whichever are present.
fn status_text(status: &ValidateStatus) -> String {
    let parts: Vec<&str> = [&status.status_message, &status.error_detail]
        .into_iter()
        .flatten()
        .map(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        "no status message".to_owned()
    } else {
        parts.join(": ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: &str, message: Option<&str>, detail: Option<&str>) -> ValidateStatus {
        ValidateStatus {
            request_id: None,
            reason_code: code.to_owned(),
            status_message: message.map(str::to_owned),
            error_detail: detail.map(str::to_owned),
        }
    }

    #[test]
    fn classifies_reason_codes() {
        use RemoteVerdict::*;
        for (code, message, detail, want) in [
            ("0000", Some("Success"), None, Valid),
            ("49B5", Some("Failed with an invalid OTP"), None, Invalid),
            ("4923", None, None, Invalid),
            ("4994", None, None, Locked),
            ("4990", Some("Bad Token State"), None, Disabled),
            (
                "4993",
                Some("Operation not allowed on a disabled token"),
                None,
                Disabled,
            ),
            ("4995", None, None, Disabled),
            ("4996", None, None, Disabled),
            ("4997", None, None, Disabled),
            ("49F2", None, None, UnknownCredential),
            ("49f2", None, None, UnknownCredential),
            (
                "4E03",
                Some("Authorization failed"),
                Some("Credential ID not found"),
                UnknownCredential,
            ),
            (
                "4E03",
                Some("Credential ID not found"),
                None,
                UnknownCredential,
            ),
        ] {
            let mut s = status(code, message, detail);
            // The parser upper-cases the code (hexBinary).
            s.reason_code = s.reason_code.to_ascii_uppercase();
            assert_eq!(classify(&s), Ok(want), "{code}");
        }
        assert_eq!(
            classify(&status(
                "4E03",
                Some("Authorization failed"),
                Some("Account not found")
            )),
            Err(RemoteError::Refused {
                code: "4E03".into(),
                message: "Authorization failed: Account not found".into()
            })
        );
        // Known codes that are no verdict on the security code, User
        // Services' codes (not answers of `Validate`) and unknown codes.
        for code in [
            "4879", "4E00", "4E01", "4E02", "4E04", "4E0B", "4E10", "4E11", "6004", "6009", "4ABC",
            "FFFF",
        ] {
            assert_eq!(
                classify(&status(code, Some("said the vendor"), None)),
                Err(RemoteError::Refused {
                    code: code.into(),
                    message: "said the vendor".into()
                }),
                "{code}"
            );
        }
        assert_eq!(
            classify(&status("4ABC", None, None)),
            Err(RemoteError::Refused {
                code: "4ABC".into(),
                message: "no status message".into()
            })
        );
    }
}
