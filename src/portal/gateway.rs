//! The payment gateway scheme (docs/portal-payments.md): a hosted payment
//! page the customer's browser is sent to, and a signed callback from the
//! gateway to the server when the money has arrived. It is the common shape
//! of the Chinese payment services' web payments (a merchant id, sorted
//! `key=value` pairs, an HMAC over them), so an adapter for a real service
//! only translates names. Pure: no I/O.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// The parameters' canonical form: every parameter but `sign` with a
/// non-empty value, sorted by name, as `name=value` joined by `&` (values as
/// sent, not URL-encoded).
pub fn canonical(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Lower-case hex of HMAC-SHA256(secret, canonical(params)).
pub fn sign(secret: &[u8], params: &BTreeMap<String, String>) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(canonical(params).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `params` carry a right `sign` (compared in constant time).
pub fn verify(secret: &[u8], params: &BTreeMap<String, String>) -> bool {
    let Some(presented) = params.get("sign").and_then(|s| hex::decode(s).ok()) else { return false };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(canonical(params).as_bytes());
    mac.verify_slice(&presented).is_ok()
}

/// Where a gateway is and who we are to it.
pub struct Gateway<'a> {
    /// The hosted payment page.
    pub url: &'a str,
    pub merchant: &'a str,
    pub secret: &'a [u8],
}

/// What the hosted page is asked to take.
pub struct Order<'a> {
    pub id: Uuid,
    pub amount: Decimal,
    /// What the customer's statement shows (the account number).
    pub subject: &'a str,
    /// Where the gateway posts the result (server to server).
    pub notify_url: &'a str,
    /// Where the customer's browser comes back to.
    pub return_url: &'a str,
}

/// The signed parameters of the hosted page.
pub fn pay_params(g: &Gateway<'_>, o: &Order<'_>) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = [
        ("merchant", g.merchant.to_owned()),
        ("order", o.id.simple().to_string()),
        ("amount", format!("{:.2}", o.amount)),
        ("currency", "CNY".to_owned()),
        ("subject", o.subject.to_owned()),
        ("notify_url", o.notify_url.to_owned()),
        ("return_url", o.return_url.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let signature = sign(g.secret, &p);
    p.insert("sign".to_owned(), signature);
    p
}

/// The hosted page's address with the signed parameters as its query.
pub fn pay_url(g: &Gateway<'_>, o: &Order<'_>) -> String {
    let query = serde_html_form::to_string(pay_params(g, o)).expect("string pairs encode");
    let joiner = if g.url.contains('?') { '&' } else { '?' };
    format!("{}{joiner}{query}", g.url)
}

/// A callback the gateway's signature vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paid {
    pub order: Uuid,
    pub amount: Decimal,
    /// The gateway's own transaction id: the payment's reference, booked once.
    pub txn: String,
}

/// Why a callback is refused (the gateway is told, and tries again later
/// only where that could help).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("the signature does not match")]
    Signature,
    #[error("the callback is for another merchant")]
    Merchant,
    #[error("a field is missing or malformed: order, amount, txn or status")]
    Malformed,
    #[error("the payment did not succeed")]
    NotPaid,
}

/// Reads a callback: signature first, then the fields.
pub fn read_callback(g: &Gateway<'_>, params: &BTreeMap<String, String>) -> Result<Paid, CallbackError> {
    if !verify(g.secret, params) {
        return Err(CallbackError::Signature);
    }
    if params.get("merchant").map(String::as_str) != Some(g.merchant) {
        return Err(CallbackError::Merchant);
    }
    let field = |name: &str| params.get(name).map(String::as_str).ok_or(CallbackError::Malformed);
    let order = Uuid::try_parse(field("order")?).map_err(|_| CallbackError::Malformed)?;
    let amount: Decimal = field("amount")?.parse().map_err(|_| CallbackError::Malformed)?;
    let txn = field("txn")?;
    if txn.is_empty() || txn.len() > 64 || !txn.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CallbackError::Malformed);
    }
    if field("status")? != "paid" {
        return Err(CallbackError::NotPaid);
    }
    Ok(Paid { order, amount, txn: txn.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Gateway<'static> = Gateway { url: "https://pay.example.com/hosted", merchant: "M001", secret: b"s3cret" };

    fn order() -> Order<'static> {
        Order {
            id: Uuid::parse_str("0191c0de-0000-7000-8000-000000000001").unwrap(),
            amount: Decimal::new(12345, 2),
            subject: "0100000001",
            notify_url: "https://crm.example.com/portal/pay/hz/callback",
            return_url: "https://crm.example.com/portal/payments/x",
        }
    }

    #[test]
    fn the_canonical_form_sorts_skips_the_signature_and_empty_values() {
        let p: BTreeMap<String, String> = [("b", "2"), ("a", "1"), ("sign", "x"), ("c", "")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(canonical(&p), "a=1&b=2");
    }

    #[test]
    fn the_hosted_page_gets_signed_parameters_and_a_tampered_one_fails() {
        let mut p = pay_params(&G, &order());
        assert_eq!(p["amount"], "123.45");
        assert_eq!(p["order"], "0191c0de000070008000000000000001");
        assert!(verify(G.secret, &p));
        assert!(!verify(b"other", &p));
        p.insert("amount".into(), "1.00".into());
        assert!(!verify(G.secret, &p));
        let url = pay_url(&G, &order());
        assert!(url.starts_with("https://pay.example.com/hosted?amount=123.45&"), "{url}");
        assert!(url.contains("notify_url=https%3A%2F%2Fcrm.example.com"));
    }

    #[test]
    fn a_callback_is_read_only_when_signed_for_us_and_paid() {
        let mut p: BTreeMap<String, String> = [
            ("merchant", "M001"),
            ("order", "0191c0de000070008000000000000001"),
            ("amount", "123.45"),
            ("txn", "T20261203-0001"),
            ("status", "paid"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let signed = |p: &BTreeMap<String, String>| {
            let mut p = p.clone();
            p.insert("sign".into(), sign(G.secret, &p));
            p
        };
        let paid = read_callback(&G, &signed(&p)).unwrap();
        assert_eq!(
            (paid.order, paid.amount, paid.txn.as_str()),
            (order().id, Decimal::new(12345, 2), "T20261203-0001")
        );
        assert_eq!(read_callback(&G, &p), Err(CallbackError::Signature));
        let mut forged = signed(&p);
        forged.insert("amount".into(), "999.00".into());
        assert_eq!(read_callback(&G, &forged), Err(CallbackError::Signature));
        p.insert("status".into(), "failed".into());
        assert_eq!(read_callback(&G, &signed(&p)), Err(CallbackError::NotPaid));
        p.insert("status".into(), "paid".into());
        p.insert("merchant".into(), "M002".into());
        assert_eq!(read_callback(&G, &signed(&p)), Err(CallbackError::Merchant));
        p.insert("merchant".into(), "M001".into());
        p.insert("order".into(), "nope".into());
        assert_eq!(read_callback(&G, &signed(&p)), Err(CallbackError::Malformed));
    }
}
