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

pub mod reason;
mod tree;
mod verdict;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use self::tree::{body_payload, parse_tree};
pub(crate) use self::verdict::classify;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RemoteVerdict;

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
