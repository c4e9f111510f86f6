//! The wire format: a SOAP 1.1 envelope carrying a VIP Web Services
//! `Validate(TokenId, OTP)` call, and its `ValidateResponse`.
//!
//! **The schema is modelled, not copied from the vendor's WSDL.** It follows
//! the publicly documented call shape (VIP Web Services Developer's Guide,
//! "Validate": input fields `TokenId` and `OTP`) and the messages seen in
//! public client code for that service:
//!
//! ```xml
//! <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
//!                   xmlns:vip="http://www.verisign.com/2006/08/vipservice">
//!   <soapenv:Header/>
//!   <soapenv:Body>
//!     <vip:Validate Version="2.0" Id="9F86D081884C7D65">
//!       <vip:TokenId>SYMC26070843</vip:TokenId>
//!       <vip:OTP>123456</vip:OTP>
//!     </vip:Validate>
//!   </soapenv:Body>
//! </soapenv:Envelope>
//! ```
//!
//! ```xml
//! <Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>
//!   <ValidateResponse RequestId="9F86D081884C7D65" Version="2.0"
//!                     xmlns="http://www.verisign.com/2006/08/vipservice">
//!     <Status>
//!       <ReasonCode>49B5</ReasonCode>
//!       <StatusMessage>Failed with an invalid OTP</StatusMessage>
//!     </Status>
//!   </ValidateResponse>
//! </Body></Envelope>
//! ```
//!
//! The request's `Id` attribute is the request id; the response echoes it as
//! `RequestId` (the schema's `RequestAbstractType` / `ResponseAbstractType`).
//! `Status` holds `ReasonCode` (hexBinary, so compared case-insensitively),
//! an optional `StatusMessage` and an optional `ErrorDetail`.
//!
//! Every namespace, element name, attribute name, header value and reason
//! code lives in a constant below, so a deployment that meets a different
//! schema revision changes one line.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::{RemoteError, RemoteVerdict};

/// SOAP 1.1 envelope namespace.
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Namespace of the VIP credential (token) services, as used by working
/// public clients of `Validate`. Requests are sent in this namespace.
pub const VIP_NS: &str = "http://www.verisign.com/2006/08/vipservice";
/// Namespaces accepted on a response element. The second is the same schema
/// under Symantec's later host name (seen in generated client stubs).
pub const VIP_RESPONSE_NAMESPACES: &[&str] = &[
    VIP_NS,
    "https://schemas.vip.symantec.com/2006/08/vipservice",
];

/// `Content-Type` of the request (SOAP 1.1).
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";
/// `SOAPAction` header of a `Validate` request: the WSDL's
/// `<soap:operation soapAction=""/>` for `Validate`, quoted as SOAP 1.1
/// §6.1.1 asks ("An empty string ("") means that the intent of the SOAP
/// message is provided by the HTTP Request-URI").
///
/// Source: a client generated from the VIP WSDL by Apache Axis 1.4
/// WSDL2Java (`com.verisign.www._2006._08.vipservice.VipSoapBindingStub`,
/// public on GitHub; the search index that found it does not name its
/// repository), whose `validate` sets `_call.setSOAPActionURI("")`. The
/// public hand-written clients (\[KM\], \[PAM\] in [`reason`]) send no
/// `SOAPAction` at all, and \[KM\]'s test quotes a real answer to such a
/// request, so the service does not insist on the header; sending `""` is
/// what SOAP 1.1 asks of a client.
pub const SOAP_ACTION_VALIDATE: &str = "\"\"";
/// The protocol version sent in the `Version` attribute.
pub const PROTOCOL_VERSION: &str = "2.0";

/// Element and attribute names.
pub mod names {
    /// The request element.
    pub const VALIDATE: &str = "Validate";
    /// The response element.
    pub const VALIDATE_RESPONSE: &str = "ValidateResponse";
    /// The credential id element of the request.
    pub const TOKEN_ID: &str = "TokenId";
    /// The security code element of the request.
    pub const OTP: &str = "OTP";
    /// The status element of the response.
    pub const STATUS: &str = "Status";
    /// The reason code inside `Status`.
    pub const REASON_CODE: &str = "ReasonCode";
    /// The human-readable message inside `Status`.
    pub const STATUS_MESSAGE: &str = "StatusMessage";
    /// Optional detail inside `Status`.
    pub const ERROR_DETAIL: &str = "ErrorDetail";
    /// Protocol version attribute (request and response).
    pub const ATTR_VERSION: &str = "Version";
    /// Request id attribute of the request.
    pub const ATTR_ID: &str = "Id";
    /// Request id attribute of the response.
    pub const ATTR_REQUEST_ID: &str = "RequestId";
}

/// Reason codes of `Validate`, where each is published, and what
/// the adapter makes of it.
///
/// | code | the vendor's text | source | becomes |
/// |---|---|---|---|
/// | `0000` | "Success" | \[US\] (text), \[KM\], \[PAM\] (code) | [`RemoteVerdict::Valid`] |
/// | `49B5` | "Failed with an invalid OTP" | \[KM\], \[KB222352\] | [`RemoteVerdict::Invalid`] |
/// | `4923` | "The OTP you provided is within the Sync window, but outside the Look Ahead Window. This operation requires a second consecutive OTP" | \[CM\], \[KB222352\] | [`RemoteVerdict::Invalid`] |
/// | `4994` | not verified (\[PAM\] logs "Operation not allowed on locked token") | \[CM\] lists the code, \[PAM\] | [`RemoteVerdict::Locked`] |
/// | `4993` | "Operation not allowed on a disabled token" | \[CM\], \[PAM\] | [`RemoteVerdict::Disabled`] |
/// | `4997` | no public source found (\[PAM\] logs "Unsuccessful validation of Disabled token") | \[PAM\] | [`RemoteVerdict::Disabled`] |
/// | `4995` | no public source found (\[PAM\] logs "Operation not allowed on new token") | \[PAM\] | [`RemoteVerdict::Disabled`] |
/// | `4996` | no public source found (\[PAM\] logs "Operation not allowed on inactive token") | \[PAM\] | [`RemoteVerdict::Disabled`] |
/// | `4990` | "Bad Token State" ("Check the state of token in VIP Manager.") | \[CM\], \[PAM\] | [`RemoteVerdict::Disabled`] |
/// | `49F2` | no public source found (\[PAM\] logs "Token id … not found") | \[PAM\] | [`RemoteVerdict::UnknownCredential`] |
/// | `4E03` + "Credential ID not found" in message or detail | "Authorization failed" / "Credential ID not found" | \[KB442778\] | [`RemoteVerdict::UnknownCredential`] |
/// | `4E03` otherwise | "Authorization failed" (wrong RA certificate, account not authorised, credential of another account, credential not enabled) | \[KB442778\] | [`RemoteError::Refused`] |
/// | `4879` | "The service is temporarily unavailable" | \[CM\], \[PAM\] | [`RemoteError::Refused`] |
/// | `4E04` | "Unsupported service protocol version" | \[CM\] (sample response) | [`RemoteError::Refused`] |
/// | `4E00`, `4E01`, `4E02`, `4E0B`, `4E10`, `4E11` | not verified (\[PAM\]: malformed request, internal error, authentication failed, RA certificate revoked, URL does not support the operation, token revoked) | \[PAM\] | [`RemoteError::Refused`] |
/// | anything else | | | [`RemoteError::Refused`] |
///
/// A refusal carries the code and the vendor's `StatusMessage` and
/// `ErrorDetail`; the adapter logs it (`VIP Validate failed`) and returns it,
/// so an operator sees every code this table does not know.
///
/// Where the vendor's text is not verified, the code's meaning comes from a
/// public client that branches on it; the behaviour chosen is written next
/// to the constant.
///
/// Sources (read from stored public copies; none of their code is used):
///
/// * \[CM\] Broadcom TechDocs, VIP REST APIs, "Troubleshooting the Credential
///   Management APIs", table "Credential Management API error codes and
///   messages" (rows 4879, 4923, 4952, 4953, 4990, 4993, 4994; the copy read
///   breaks off at the 4994 row, so its text is not quoted here) and its
///   sample `DeactivateTokenResponse` (4e04):
///   <https://techdocs.broadcom.com/us/en/symantec-security-software/identity-security/vip/cloud/vip-web-services-and-apis-v127046027-d2278e2328/VIP-REST-APIs/troubleshooting-the-vip-rest-apis-v134448714-d2297e3842/vip-rest-api-troubleshooting-the-credential-management-apis.html>
/// * \[VR\] Broadcom TechDocs, VIP Web Services Developer's Guide, Validate,
///   "Validation response": `ReasonCode` (hexBinary, required; "If a
///   validation request is unsuccessful, the ReasonCode provides the
///   reason") and `StatusMessage` (required):
///   <https://techdocs.broadcom.com/us/en/symantec-security-software/identity-security/vip/cloud/vip-web-services-and-apis-v127046027-d2278e2328/VIP-Web-Services-Developer-s-Guide/vip-service-credential-management-apis-v109775592-d2389e608/validating-credentials-v109779389-d2389e1771/validate-v109779399-d2389e1786/validation-response-v109779426-d2389e1918.html>
/// * \[KB222352\] Broadcom knowledge article 222352, "Symantec VIP error
///   4923": the user must enter 2 consecutive security codes; outside the
///   manual sync window the service "returns error invalid OTP 49b5":
///   <https://knowledge.broadcom.com/external/article/222352/symantec-vip-error-4923-the-otp-you-prov.html>
/// * \[KB442778\] Broadcom knowledge article 442778, "Symantec VIP error
///   4E03, Authorization failed" and its on-screen messages:
///   <https://knowledge.broadcom.com/external/article/442778/symantec-vip-error-4e03-authorization-fa.html>
/// * \[US\] Broadcom TechDocs, VIP User Services Developer's Guide, "Status
///   codes and messages" (0000 "Success.", 6004, 6009):
///   <https://techdocs.broadcom.com/us/en/symantec-security-software/identity-security/vip/cloud/vip-web-services-and-apis-v127046027-d2278e2328/VIP-User-Services-Developer-s-Guide/status-codes-and-messages-id-16420-d2386e12445.html>
/// * \[KM\] Symantec's Go client, github.com/Symantec/keymaster,
///   `lib/vip/vip.go` ("0000" is success, any other code is not) and
///   `lib/vip/vip_test.go` (a `ValidateResponse` with 49B5 "Failed with an
///   invalid OTP", quoted as "actual working values for the validate api").
/// * \[PAM\] A PAM module for `Validate`, github.com/namedotcom-zz/PAM_VIP,
///   `pam_vip.c`: branches on 0000, 4879, 4990, 4993, 4994, 4995, 4996,
///   4997, 49b5, 49f2, 4e00, 4e01, 4e02, 4e03, 4e04, 4e0b, 4e10, 4e11 and
///   logs each in its own words (quoted above as such, not as the
///   vendor's).
///
/// `6004` ("Credential ID is not valid.") and `6009` ("Authentication
/// failed.") belong to the User Services API \[US\] and cannot come back
/// from `Validate`; they are kept apart in [`user_services`] and, should
/// they ever arrive here, are refusals like any other unknown code.
pub mod reason {
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
}

/// Status codes of the VIP User Services API (not of `Validate`), for
/// reference; the adapter does not read them. Source: \[US\] in
/// [`reason`].
pub mod user_services {
    /// "Authentication failed." (\[US\]: "The security code that was
    /// provided is invalid."; its detail is `49B5`).
    pub const AUTHENTICATION_FAILED: &str = "6009";
    /// "Credential ID is not valid." (\[US\]: "The credential ID cannot be
    /// found.").
    pub const CREDENTIAL_ID_NOT_VALID: &str = "6004";
}

/// Deepest element nesting accepted in a response (a SOAP answer has ~5).
const MAX_DEPTH: usize = 32;

/// Builds the `Validate` envelope. Text and attribute values are escaped.
pub(crate) fn validate_request(request_id: &str, token_id: &str, otp: &str) -> String {
    let mut w = Writer::new(Vec::new());
    // Writing into a Vec<u8> cannot fail.
    let written: std::io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.create_element("soapenv:Envelope")
            .with_attribute(("xmlns:soapenv", SOAP_ENV_NS))
            .with_attribute(("xmlns:vip", VIP_NS))
            .write_inner_content(|w| {
                w.create_element("soapenv:Header").write_empty()?;
                w.create_element("soapenv:Body").write_inner_content(|w| {
                    w.create_element(format!("vip:{}", names::VALIDATE))
                        .with_attribute((names::ATTR_VERSION, PROTOCOL_VERSION))
                        .with_attribute((names::ATTR_ID, request_id))
                        .write_inner_content(|w| {
                            w.create_element(format!("vip:{}", names::TOKEN_ID))
                                .write_text_content(BytesText::new(token_id))?;
                            w.create_element(format!("vip:{}", names::OTP))
                                .write_text_content(BytesText::new(otp))?;
                            Ok(())
                        })?;
                    Ok(())
                })?;
                Ok(())
            })?;
        Ok(())
    })();
    debug_assert!(written.is_ok());
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

/// The `Status` of a `ValidateResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidateStatus {
    pub request_id: Option<String>,
    /// Upper-cased (the schema type is hexBinary).
    pub reason_code: String,
    pub status_message: Option<String>,
    pub error_detail: Option<String>,
}

/// What a SOAP response body holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SoapAnswer {
    Validate(ValidateStatus),
    Fault { code: String, message: String },
}

/// Parses a response envelope. The error is a short operator-facing reason.
pub(crate) fn parse_validate_response(xml: &str) -> Result<SoapAnswer, String> {
    let envelope = parse_tree(xml)?;
    let payload = body_payload(&envelope)?;
    if payload.is(SOAP_ENV_NS, "Fault") {
        // SOAP 1.1 §4.4: faultcode and faultstring are unqualified children.
        let code = payload.child_text("faultcode").unwrap_or_default();
        let message = payload.child_text("faultstring").unwrap_or_default();
        return Ok(SoapAnswer::Fault { code, message });
    }
    if payload.name != names::VALIDATE_RESPONSE {
        return Err(format!(
            "expected {} in the SOAP body, found {}",
            names::VALIDATE_RESPONSE,
            payload.name
        ));
    }
    if !payload.in_any(VIP_RESPONSE_NAMESPACES) {
        return Err(format!(
            "{} is in namespace {:?}, expected one of {:?}",
            names::VALIDATE_RESPONSE,
            payload.ns.as_deref().unwrap_or(""),
            VIP_RESPONSE_NAMESPACES
        ));
    }
    let status = payload
        .child(names::STATUS)
        .ok_or_else(|| format!("{} has no {}", names::VALIDATE_RESPONSE, names::STATUS))?;
    let reason_code = status
        .child_text(names::REASON_CODE)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| format!("{} has no {}", names::STATUS, names::REASON_CODE))?;
    if reason_code.len() > 16 || !reason_code.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{} {:?} is not a hexadecimal code",
            names::REASON_CODE,
            reason_code
        ));
    }
    Ok(SoapAnswer::Validate(ValidateStatus {
        request_id: payload.attr(names::ATTR_REQUEST_ID).map(str::to_owned),
        reason_code: reason_code.to_ascii_uppercase(),
        status_message: status.child_text(names::STATUS_MESSAGE),
        error_detail: status.child_text(names::ERROR_DETAIL),
    }))
}

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

/// A parsed `Validate` request (used by the fake).
#[cfg_attr(not(feature = "fake"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidateCall {
    pub request_id: Option<String>,
    pub version: Option<String>,
    pub token_id: String,
    pub otp: String,
}

/// Parses a `Validate` request envelope (used by the fake).
#[cfg_attr(not(feature = "fake"), allow(dead_code))]
pub(crate) fn parse_validate_request(xml: &str) -> Result<ValidateCall, String> {
    let envelope = parse_tree(xml)?;
    let payload = body_payload(&envelope)?;
    if payload.name != names::VALIDATE || payload.ns.as_deref() != Some(VIP_NS) {
        return Err(format!(
            "expected {{{VIP_NS}}}{} in the SOAP body, found {{{}}}{}",
            names::VALIDATE,
            payload.ns.as_deref().unwrap_or(""),
            payload.name
        ));
    }
    let field = |name: &str| {
        payload
            .children
            .iter()
            .find(|c| c.is(VIP_NS, name))
            .map(|c| c.text.trim().to_owned())
            .ok_or_else(|| format!("{} has no {{{VIP_NS}}}{name}", names::VALIDATE))
    };
    Ok(ValidateCall {
        request_id: payload.attr(names::ATTR_ID).map(str::to_owned),
        version: payload.attr(names::ATTR_VERSION).map(str::to_owned),
        token_id: field(names::TOKEN_ID)?,
        otp: field(names::OTP)?,
    })
}

/// Builds a `ValidateResponse` envelope (used by the fake).
#[cfg_attr(not(feature = "fake"), allow(dead_code))]
pub(crate) fn validate_response(
    request_id: Option<&str>,
    reason_code: &str,
    status_message: &str,
    error_detail: Option<&str>,
) -> String {
    let mut w = Writer::new(Vec::new());
    let written: std::io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.create_element("S:Envelope")
            .with_attribute(("xmlns:S", SOAP_ENV_NS))
            .write_inner_content(|w| {
                w.create_element("S:Body").write_inner_content(|w| {
                    let mut response = w
                        .create_element(names::VALIDATE_RESPONSE)
                        .with_attribute(("xmlns", VIP_NS))
                        .with_attribute((names::ATTR_VERSION, PROTOCOL_VERSION));
                    if let Some(id) = request_id {
                        response = response.with_attribute((names::ATTR_REQUEST_ID, id));
                    }
                    response.write_inner_content(|w| {
                        w.create_element(names::STATUS).write_inner_content(|w| {
                            w.create_element(names::REASON_CODE)
                                .write_text_content(BytesText::new(reason_code))?;
                            w.create_element(names::STATUS_MESSAGE)
                                .write_text_content(BytesText::new(status_message))?;
                            if let Some(detail) = error_detail {
                                w.create_element(names::ERROR_DETAIL)
                                    .write_text_content(BytesText::new(detail))?;
                            }
                            Ok(())
                        })?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
                Ok(())
            })?;
        Ok(())
    })();
    debug_assert!(written.is_ok());
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

/// Builds a SOAP 1.1 fault envelope (used by the fake).
#[cfg_attr(not(feature = "fake"), allow(dead_code))]
pub(crate) fn fault(code: &str, message: &str) -> String {
    let mut w = Writer::new(Vec::new());
    let written: std::io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.create_element("S:Envelope")
            .with_attribute(("xmlns:S", SOAP_ENV_NS))
            .write_inner_content(|w| {
                w.create_element("S:Body").write_inner_content(|w| {
                    w.create_element("S:Fault").write_inner_content(|w| {
                        w.create_element("faultcode")
                            .write_text_content(BytesText::new(code))?;
                        w.create_element("faultstring")
                            .write_text_content(BytesText::new(message))?;
                        Ok(())
                    })?;
                    Ok(())
                })?;
                Ok(())
            })?;
        Ok(())
    })();
    debug_assert!(written.is_ok());
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

/// A namespace-resolved XML element.
#[derive(Debug, Default)]
struct Element {
    ns: Option<String>,
    name: String,
    /// Unqualified attributes by local name (namespace declarations dropped).
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns.as_deref() == Some(ns)
    }

    fn in_any(&self, namespaces: &[&str]) -> bool {
        self.ns
            .as_deref()
            .is_some_and(|ns| namespaces.contains(&ns))
    }

    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A child by local name, in this element's namespace or none.
    fn child(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name == name && (c.ns == self.ns || c.ns.is_none()))
    }

    fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.trim().to_owned())
    }
}

/// `Envelope/Body/*[1]`, checking the SOAP 1.1 namespace.
fn body_payload(envelope: &Element) -> Result<&Element, String> {
    if !envelope.is(SOAP_ENV_NS, "Envelope") {
        return Err(format!(
            "the root element is {{{}}}{}, not a SOAP 1.1 Envelope",
            envelope.ns.as_deref().unwrap_or(""),
            envelope.name
        ));
    }
    let body = envelope
        .children
        .iter()
        .find(|c| c.is(SOAP_ENV_NS, "Body"))
        .ok_or("the SOAP Envelope has no Body")?;
    body.children
        .first()
        .ok_or_else(|| "the SOAP Body is empty".to_owned())
}

/// Parses a whole document into a tree. Refuses a DOCTYPE (no entity games).
fn parse_tree(xml: &str) -> Result<Element, String> {
    let xml = xml.strip_prefix('\u{FEFF}').unwrap_or(xml);
    let mut reader = NsReader::from_str(xml);
    let at = |reader: &NsReader<&[u8]>, e: &dyn std::fmt::Display| {
        format!("{e} (at byte {})", reader.error_position())
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let resolved = match reader.read_resolved_event() {
            Ok((ns, event)) => Ok((resolve(ns, &event)?, event)),
            Err(e) => Err(e),
        };
        let (ns, event) = resolved.map_err(|e| at(&reader, &e))?;

        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err("there is content after the root element".into());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err("elements are nested too deeply".into());
                }
                let mut element = Element {
                    ns,
                    name: s.local_name().into_inner().to_owned(),
                    ..Element::default()
                };
                for a in s.attributes() {
                    let a = a.map_err(|e| at(&reader, &e))?;
                    if a.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| at(&reader, &e))?;
                    element
                        .attrs
                        .push((a.key.local_name().into_inner().to_owned(), value.into()));
                }
                if matches!(event, Event::Empty(_)) {
                    close(element, &mut stack, &mut root);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let element = stack.pop().ok_or("unexpected end tag")?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(t) => push_text(&mut stack, t.xml10_content()),
            Event::CData(c) => push_text(&mut stack, c.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| at(&reader, &e))? {
                    Some(ch) => ch.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| format!("unknown entity &{};", &*r))?
                        .to_owned(),
                };
                push_text(&mut stack, Cow::Owned(resolved));
            }
            Event::DocType(_) => return Err("a DOCTYPE is not allowed".into()),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("the document ends inside an element".into());
    }
    root.ok_or_else(|| "there is no root element".into())
}

/// The element's namespace, owned; an undeclared prefix on an element is an error.
fn resolve(ns: ResolveResult<'_>, event: &Event<'_>) -> Result<Option<String>, String> {
    match ns {
        ResolveResult::Bound(ns) => Ok(Some(ns.0.to_owned())),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) if matches!(event, Event::Start(_) | Event::Empty(_)) => {
            Err(format!("undeclared namespace prefix {prefix:?}"))
        }
        ResolveResult::Unknown(_) => Ok(None),
    }
}

fn push_text(stack: &mut [Element], text: Cow<'_, str>) {
    if let Some(top) = stack.last_mut() {
        top.text.push_str(&text);
    }
}

fn close(element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of a real `ValidateResponse` quoted in public client code.
    const SAMPLE_INVALID: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/">
    <Body>
        <ValidateResponse RequestId="CDCE1500" Version="2.0" xmlns="http://www.verisign.com/2006/08/vipservice">
            <Status>
                <ReasonCode>49B5</ReasonCode>
                <StatusMessage>Failed with an invalid OTP</StatusMessage>
            </Status>
        </ValidateResponse>
    </Body>
</Envelope>"#;

    fn status(code: &str, message: Option<&str>, detail: Option<&str>) -> ValidateStatus {
        ValidateStatus {
            request_id: None,
            reason_code: code.to_owned(),
            status_message: message.map(str::to_owned),
            error_detail: detail.map(str::to_owned),
        }
    }

    #[test]
    fn request_round_trips_and_escapes() {
        let xml = validate_request("ABCD", "SYMC<&>\"1", "12&34");
        assert!(xml.contains("SYMC&lt;&amp;&gt;"), "{xml}");
        assert!(xml.contains(r#"xmlns:vip="http://www.verisign.com/2006/08/vipservice""#));
        let call = parse_validate_request(&xml).unwrap();
        assert_eq!(call.token_id, "SYMC<&>\"1");
        assert_eq!(call.otp, "12&34");
        assert_eq!(call.request_id.as_deref(), Some("ABCD"));
        assert_eq!(call.version.as_deref(), Some(PROTOCOL_VERSION));
    }

    #[test]
    fn parses_the_public_sample() {
        let answer = parse_validate_response(SAMPLE_INVALID).unwrap();
        let SoapAnswer::Validate(s) = answer else {
            panic!("not a ValidateResponse: {answer:?}")
        };
        assert_eq!(s.request_id.as_deref(), Some("CDCE1500"));
        assert_eq!(s.reason_code, "49B5");
        assert_eq!(classify(&s), Ok(RemoteVerdict::Invalid));
    }

    #[test]
    fn fake_response_round_trips() {
        let xml = validate_response(Some("R1"), "0000", "Success", Some("x<y"));
        let SoapAnswer::Validate(s) = parse_validate_response(&xml).unwrap() else {
            panic!()
        };
        assert_eq!(s.request_id.as_deref(), Some("R1"));
        assert_eq!(s.error_detail.as_deref(), Some("x<y"));
        assert_eq!(classify(&s), Ok(RemoteVerdict::Valid));
    }

    #[test]
    fn accepts_the_symantec_namespace_and_prefixes() {
        let xml = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
            <v:ValidateResponse xmlns:v="https://schemas.vip.symantec.com/2006/08/vipservice" RequestId="1" Version="2.0">
            <v:Status><v:ReasonCode>4993</v:ReasonCode></v:Status></v:ValidateResponse></soap:Body></soap:Envelope>"#;
        let SoapAnswer::Validate(s) = parse_validate_response(xml).unwrap() else {
            panic!()
        };
        assert_eq!(classify(&s), Ok(RemoteVerdict::Disabled));
    }

    #[test]
    fn parses_a_fault() {
        let xml = fault("S:Client", "bad request");
        assert_eq!(
            parse_validate_response(&xml).unwrap(),
            SoapAnswer::Fault {
                code: "S:Client".into(),
                message: "bad request".into()
            }
        );
    }

    #[test]
    fn rejects_what_is_not_a_validate_response() {
        for (xml, why) in [
            ("not xml at all", "root"),
            ("<a><b></a>", "ill-formed"),
            ("<Envelope/>", "not a SOAP 1.1 Envelope"),
            (
                r#"<!DOCTYPE x [<!ENTITY a "b">]><x/>"#,
                "DOCTYPE is not allowed",
            ),
            (
                r#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body/></S:Envelope>"#,
                "Body is empty",
            ),
            (
                r#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><ValidateResponse xmlns="urn:other"><Status><ReasonCode>0000</ReasonCode></Status></ValidateResponse></S:Body></S:Envelope>"#,
                "namespace",
            ),
            (
                r#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><ValidateResponse xmlns="http://www.verisign.com/2006/08/vipservice"><Status/></ValidateResponse></S:Body></S:Envelope>"#,
                "has no ReasonCode",
            ),
            (
                r#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><ValidateResponse xmlns="http://www.verisign.com/2006/08/vipservice"><Status><ReasonCode>ok!</ReasonCode></Status></ValidateResponse></S:Body></S:Envelope>"#,
                "not a hexadecimal code",
            ),
        ] {
            let err = parse_validate_response(xml).unwrap_err();
            assert!(
                err.to_lowercase().contains(&why.to_lowercase()),
                "{xml}: {err}"
            );
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

    #[test]
    fn reason_codes_are_case_insensitive() {
        let xml = validate_response(
            None,
            "4e03",
            "Authorization failed",
            Some("Credential ID not found"),
        );
        let SoapAnswer::Validate(s) = parse_validate_response(&xml).unwrap() else {
            panic!()
        };
        assert_eq!(s.reason_code, "4E03");
        assert_eq!(classify(&s), Ok(RemoteVerdict::UnknownCredential));
    }
}
