//! A stand-in payment gateway that speaks the scheme of [`super::gateway`]:
//! its hosted page checks the request's signature and shows the order with a
//! Pay and a Cancel button; Pay posts the signed callback to the order's
//! notify URL, then sends the browser back. For the tests and the demo
//! (`gridcrm demo` mounts it at `/fake-pay`); a real deployment configures a
//! real gateway instead.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    Form, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};

use super::gateway;

/// Where it answers: `{PATH}` is the hosted page.
pub const PATH: &str = "/fake-pay/hosted";

#[derive(Clone)]
struct Merchant {
    id: String,
    secret: String,
}

pub fn router(merchant: &str, secret: &str) -> Router {
    let state = Arc::new(Merchant { id: merchant.to_owned(), secret: secret.to_owned() });
    Router::new().route(PATH, get(hosted_page).post(decide)).with_state(state)
}

/// Whether a request is signed by the merchant this gateway knows.
fn from_merchant(m: &Merchant, params: &BTreeMap<String, String>) -> bool {
    gateway::verify(m.secret.as_bytes(), params) && params.get("merchant") == Some(&m.id)
}

fn bad_signature() -> Response {
    (StatusCode::BAD_REQUEST, "bad signature").into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

async fn hosted_page(State(m): State<Arc<Merchant>>, Query(params): Query<BTreeMap<String, String>>) -> Response {
    if !from_merchant(&m, &params) {
        return bad_signature();
    }
    let hidden: String = params
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v)))
        .collect();
    let amount = escape(params.get("amount").map(String::as_str).unwrap_or_default());
    let subject = escape(params.get("subject").map(String::as_str).unwrap_or_default());
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Fake Pay</title></head>\
         <body><main><h1>Fake Pay (test gateway)</h1><p>Account {subject}</p><p id=\"amount\">¥{amount}</p>\
         <form method=\"post\" action=\"{PATH}\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"pay\" id=\"pay\">Pay ¥{amount}</button> \
         <button type=\"submit\" name=\"decision\" value=\"cancel\" id=\"cancel\">Cancel</button></form></main></body></html>"
    ))
    .into_response()
}

/// Pays (the callback first, as a gateway does, then the browser goes
/// back) or cancels (the browser goes back, no callback).
async fn decide(State(m): State<Arc<Merchant>>, Form(mut params): Form<BTreeMap<String, String>>) -> Response {
    let decision = params.remove("decision").unwrap_or_default();
    if !from_merchant(&m, &params) {
        return bad_signature();
    }
    let return_url = params.get("return_url").cloned().unwrap_or_default();
    if decision == "pay" {
        let mut callback: BTreeMap<String, String> = BTreeMap::new();
        for key in ["merchant", "order", "amount"] {
            callback.insert(key.to_owned(), params.get(key).cloned().unwrap_or_default());
        }
        callback.insert("txn".into(), format!("FAKE-{}", uuid::Uuid::now_v7().simple()));
        callback.insert("status".into(), "paid".into());
        let signature = gateway::sign(m.secret.as_bytes(), &callback);
        callback.insert("sign".into(), signature);
        let notify = params.get("notify_url").cloned().unwrap_or_default();
        let answer = reqwest::Client::new().post(&notify).form(&callback).send().await;
        let ok = match answer {
            Ok(r) => r.text().await.is_ok_and(|body| body == "success"),
            Err(_) => false,
        };
        if !ok {
            return (StatusCode::BAD_GATEWAY, "the merchant did not accept the payment callback").into_response();
        }
    }
    Redirect::to(&return_url).into_response()
}
