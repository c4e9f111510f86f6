//! Reason codes of `Validate`, where each is published, and what
//! the adapter makes of it.
//!
//! | code | the vendor's text | source | becomes |
//! |---|---|---|---|
//! | `0000` | "Success" | \[US\] (text), \[KM\], \[PAM\] (code) | [`RemoteVerdict::Valid`] |
//! | `49B5` | "Failed with an invalid OTP" | \[KM\], \[KB222352\] | [`RemoteVerdict::Invalid`] |
//! | `4923` | "The OTP you provided is within the Sync window, but outside the Look Ahead Window. This operation requires a second consecutive OTP" | \[CM\], \[KB222352\] | [`RemoteVerdict::Invalid`] |
//! | `4994` | not verified (\[PAM\] logs "Operation not allowed on locked token") | \[CM\] lists the code, \[PAM\] | [`RemoteVerdict::Locked`] |
//! | `4993` | "Operation not allowed on a disabled token" | \[CM\], \[PAM\] | [`RemoteVerdict::Disabled`] |
//! | `4997` | no public source found (\[PAM\] logs "Unsuccessful validation of Disabled token") | \[PAM\] | [`RemoteVerdict::Disabled`] |
//! | `4995` | no public source found (\[PAM\] logs "Operation not allowed on new token") | \[PAM\] | [`RemoteVerdict::Disabled`] |
//! | `4996` | no public source found (\[PAM\] logs "Operation not allowed on inactive token") | \[PAM\] | [`RemoteVerdict::Disabled`] |
//! | `4990` | "Bad Token State" ("Check the state of token in VIP Manager.") | \[CM\], \[PAM\] | [`RemoteVerdict::Disabled`] |
//! | `49F2` | no public source found (\[PAM\] logs "Token id … not found") | \[PAM\] | [`RemoteVerdict::UnknownCredential`] |
//! | `4E03` + "Credential ID not found" in message or detail | "Authorization failed" / "Credential ID not found" | \[KB442778\] | [`RemoteVerdict::UnknownCredential`] |
//! | `4E03` otherwise | "Authorization failed" (wrong RA certificate, account not authorised, credential of another account, credential not enabled) | \[KB442778\] | [`RemoteError::Refused`] |
//! | `4879` | "The service is temporarily unavailable" | \[CM\], \[PAM\] | [`RemoteError::Refused`] |
//! | `4E04` | "Unsupported service protocol version" | \[CM\] (sample response) | [`RemoteError::Refused`] |
//! | `4E00`, `4E01`, `4E02`, `4E0B`, `4E10`, `4E11` | not verified (\[PAM\]: malformed request, internal error, authentication failed, RA certificate revoked, URL does not support the operation, token revoked) | \[PAM\] | [`RemoteError::Refused`] |
//! | anything else | | | [`RemoteError::Refused`] |
//!
//! A refusal carries the code and the vendor's `StatusMessage` and
//! `ErrorDetail`; the adapter logs it (`VIP Validate failed`) and returns it,
//! so an operator sees every code this table does not know.
//!
//! Where the vendor's text is not verified, the code's meaning comes from a
//! public client that branches on it; the behaviour chosen is written next
//! to the constant.
//!
//! Sources (read from stored public copies; none of their code is used):
//!
//! * \[CM\] Broadcom TechDocs, VIP REST APIs, "Troubleshooting the Credential
//!   Management APIs", table "Credential Management API error codes and
//!   messages" (rows 4879, 4923, 4952, 4953, 4990, 4993, 4994; the copy read
//!   breaks off at the 4994 row, so its text is not quoted here) and its
//!   sample `DeactivateTokenResponse` (4e04):
//!   <https://techdocs.broadcom.com/us/en/symantec-security-software/identity-security/vip/cloud/vip-web-services-and-apis-v127046027-d2278e2328/VIP-REST-APIs/troubleshooting-the-vip-rest-apis-v134448714-d2297e3842/vip-rest-api-troubleshooting-the-credential-management-apis.html>
//! * \[VR\] Broadcom TechDocs, VIP Web Services Developer's Guide, Validate,
//!   "Validation response": `ReasonCode` (hexBinary, required; "If a
//!   validation request is unsuccessful, the ReasonCode provides the
//!   reason") and `StatusMessage` (required):
//!   <https://techdocs.broadcom.com/us/en/symantec-security-software/identity-security/vip/cloud/vip-web-services-and-apis-v127046027-d2278e2328/VIP-Web-Services-Developer-s-Guide/vip-service-credential-management-apis-v109775592-d2389e608/validating-credentials-v109779389-d2389e1771/validate-v109779399-d2389e1786/validation-response-v109779426-d2389e1918.html>
//! * \[KB222352\] Broadcom knowledge article 222352, "Symantec VIP error
//!   4923": the user must enter 2 consecutive security codes; outside the
//!   manual sync window the service "returns error invalid OTP 49b5":
//!   <https://knowledge.broadcom.com/external/article/222352/symantec-vip-error-4923-the-otp-you-prov.html>
//! * \[KB442778\] Broadcom knowledge article 442778, "Symantec VIP error
//!   4E03, Authorization failed" and its on-screen messages:
//!   <https://knowledge.broadcom.com/external/article/442778/symantec-vip-error-4e03-authorization-fa.html>
//! * \[US\] Broadcom TechDocs, VIP User Services Developer's Guide, "Status
//!   codes and messages" (0000 "Success.", 6004, 6009):
//!   <https://techdocs.broadcom.com/us/en/symantec-security-software/identity-security/vip/cloud/vip-web-services-and-apis-v127046027-d2278e2328/VIP-User-Services-Developer-s-Guide/status-codes-and-messages-id-16420-d2386e12445.html>
//! * \[KM\] Symantec's Go client, github.com/Symantec/keymaster,
//!   `lib/vip/vip.go` ("0000" is success, any other code is not) and
//!   `lib/vip/vip_test.go` (a `ValidateResponse` with 49B5 "Failed with an
//!   invalid OTP", quoted as "actual working values for the validate api").
//! * \[PAM\] A PAM module for `Validate`, github.com/namedotcom-zz/PAM_VIP,
//!   `pam_vip.c`: branches on 0000, 4879, 4990, 4993, 4994, 4995, 4996,
//!   4997, 49b5, 49f2, 4e00, 4e01, 4e02, 4e03, 4e04, 4e0b, 4e10, 4e11 and
//!   logs each in its own words (quoted above as such, not as the
//!   vendor's).
//!
//! `6004` ("Credential ID is not valid.") and `6009` ("Authentication
//! failed.") belong to the User Services API \[US\] and cannot come back
//! from `Validate`; they are kept apart in [`user_services`] and, should
//! they ever arrive here, are refusals like any other unknown code.
//!
//! [`RemoteVerdict::Valid`]: crate::RemoteVerdict::Valid
//! [`RemoteVerdict::Invalid`]: crate::RemoteVerdict::Invalid
//! [`RemoteVerdict::Locked`]: crate::RemoteVerdict::Locked
//! [`RemoteVerdict::Disabled`]: crate::RemoteVerdict::Disabled
//! [`RemoteVerdict::UnknownCredential`]: crate::RemoteVerdict::UnknownCredential
//! [`RemoteError::Refused`]: crate::RemoteError::Refused
//! [`user_services`]: super::user_services

/// `0000` "Success" (\[US\]: "0000 | Success."); \[KM\] and \[PAM\]
/// treat it, and only it, as a validated code.
pub const SUCCESS: &str = "0000";
/// `49B5` "Failed with an invalid OTP" (\[KM\] `vip_test.go`, a real
/// `ValidateResponse`). \[KB222352\]: also the answer for a code outside
/// the manual sync window. A wrong or replayed code.
pub const INVALID_OTP: &str = "49B5";
/// `4923` "The OTP you provided is within the Sync window, but outside
/// the Look Ahead Window. This operation requires a second consecutive
/// OTP" (\[CM\], \[KB222352\]). `Validate` carries one code, so this is a
/// failed attempt: the user tries again with the next code.
pub const NEEDS_NEXT_OTP: &str = "4923";
/// `4994`, listed by \[CM\] (its row's text is not in the copy read);
/// \[PAM\] logs it as "Operation not allowed on locked token". The
/// credential is locked after too many failures; an administrator
/// unlocks it.
pub const LOCKED: &str = "4994";
/// `4990` "Bad Token State" (\[CM\]: "Check the state of token in VIP
/// Manager."). Not usable until an administrator acts.
pub const BAD_TOKEN_STATE: &str = "4990";
/// `4993` "Operation not allowed on a disabled token" (\[CM\]).
pub const DISABLED: &str = "4993";
/// `4995`: no public source for the vendor's text; \[PAM\] logs
/// "Operation not allowed on new token". Behaviour chosen: not usable
/// (a new credential is not yet enabled).
pub const NEW_TOKEN: &str = "4995";
/// `4996`: no public source for the vendor's text; \[PAM\] logs
/// "Operation not allowed on inactive token". Behaviour chosen: not
/// usable.
pub const INACTIVE_TOKEN: &str = "4996";
/// `4997`: no public source for the vendor's text; \[PAM\] logs
/// "Unsuccessful validation of Disabled token". Behaviour chosen: not
/// usable. (\[VR\]'s request page: "For disabled or expired credentials,
/// you must send a temporary security code instead of an OTP.")
pub const VALIDATION_OF_DISABLED: &str = "4997";
/// `49F2`: no public source for the vendor's text; \[PAM\] logs "Token
/// id … not found". Behaviour chosen: unknown credential.
pub const TOKEN_NOT_FOUND: &str = "49F2";
/// `4E03` "Authorization failed" (\[KB442778\]): an unknown credential,
/// or an account, certificate or credential-state problem; the message
/// tells them apart.
pub const AUTHORIZATION_FAILED: &str = "4E03";
/// The message of [`AUTHORIZATION_FAILED`] that means an unknown
/// credential (\[KB442778\]: "This credential ID is not in the VIP
/// service database.").
pub const CREDENTIAL_NOT_FOUND_MESSAGE: &str = "Credential ID not found";
/// `4879` "The service is temporarily unavailable" (\[CM\]: "Try the
/// operation later."). Not a verdict: a refusal.
pub const SERVICE_UNAVAILABLE: &str = "4879";
/// `4E04` "Unsupported service protocol version" (\[CM\]'s sample
/// response). Not a verdict: a refusal.
pub const UNSUPPORTED_VERSION: &str = "4E04";
