//! Delivery receipts from the gateway.
//!
//! ```text
//! POST /api/v1/notices/{id}/receipts
//! X-Gridcrm-Timestamp: <unix seconds>
//! X-Gridcrm-Signature: <hex HMAC-SHA256(gateway_secret, timestamp + "." + raw body)>
//! {"status": "delivered" | "failed", "error": "..."}      → 200 {notice_id, status}
//! ```
//!
//! The gateway has no API key and no tenant: the request is judged by its
//! signature alone (the scheme of `channels::gateway`), checked before
//! anything else (401 when missing, wrong or older than five minutes).
//! Then the notice's tenant is found (migration 0028's
//! `gridcrm_notice_tenant`), and the receipt is recorded in that tenant's
//! transaction: `delivered` marks a sent notice delivered; `failed` fails it
//! and queues it on the customer's next channel. An unknown id is 404; a
//! notice never sent is 409. Repeating a receipt changes nothing.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    notices::{
        channels::gateway::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER},
        delivery::{self, Receipt},
    },
    web::{
        AppState, api_json,
        error::{AppError, FieldErrors, unfit_body},
    },
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receipt))
}

/// What the gateway learned of a notice it took.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeReceipt {
    /// `delivered` or `failed`.
    #[schema(value_type = String, example = "delivered")]
    pub status: String,
    /// Why it failed (for `failed`), at most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReceiptRecorded {
    pub notice_id: Uuid,
    /// The notice's status now: `delivered` or `failed`.
    pub status: String,
}

/// Checks a receipt's fields: the status and the error's length.
pub fn check(receipt: &NoticeReceipt) -> Result<(bool, String), FieldErrors> {
    let mut errors = FieldErrors::default();
    let delivered = match receipt.status.as_str() {
        "delivered" => true,
        "failed" => false,
        _ => {
            errors.add("status", "unknown_code");
            false
        }
    };
    let error = receipt.error.clone().unwrap_or_default();
    if error.chars().count() > 500 {
        errors.add("error", "too_long");
    }
    errors.finish((delivered, error.trim().to_owned()))
}

/// A gateway's delivery receipt for a notice. Not called with an API key:
/// the request is signed with the gateway secret (`X-Gridcrm-Timestamp`:
/// unix seconds; `X-Gridcrm-Signature`: lower-case hex of
/// HMAC-SHA256(secret, timestamp + "." + raw body)); a missing, wrong or
/// stale (more than five minutes off) signature is 401. `delivered` marks
/// the notice delivered; `failed` fails it and queues it on the customer's
/// next channel. Repeats change nothing. 404: no such notice; 409: the
/// notice was never sent.
#[utoipa::path(post, path = "/api/v1/notices/{id}/receipts", tag = "notices",
    params(("id" = Uuid, Path, description = "notice id (the gateway received it as notice_id)"),
           ("X-Gridcrm-Timestamp" = String, Header, description = "unix time in seconds"),
           ("X-Gridcrm-Signature" = String, Header, description = "hex HMAC-SHA256 of timestamp.body")),
    request_body = NoticeReceipt,
    responses((status = 200, body = ReceiptRecorded),
              (status = 401, description = "the signature is missing, wrong or stale"),
              (status = 404), (status = 409, description = "the notice was never sent")))]
async fn receipt(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ReceiptRecorded>, AppError> {
    let secret = state.config.gateway_secret.as_ref().ok_or(AppError::Unauthenticated)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let now = chrono::Utc::now().timestamp();
    gateway::verify(secret.expose().as_bytes(), &header(TIMESTAMP_HEADER), &header(SIGNATURE_HEADER), &body, now)
        .map_err(|_| AppError::Unauthenticated)?;
    let document: serde_json::Value =
        serde_json::from_slice(&body).map_err(|err| AppError::BadRequest(format!("malformed JSON: {err}")))?;
    let receipt: NoticeReceipt = match api_json::from_document(document) {
        Ok(r) => r,
        Err(api_json::Unfit::Text(errors)) => return Err(AppError::Invalid(errors)),
        Err(api_json::Unfit::Shape(err)) => return Err(unfit_body(err, "wrong_type")),
    };
    let (delivered, error) = check(&receipt)?;
    let tenant = delivery::notice_tenant(&state.db, id).await?.ok_or(AppError::NotFound)?;
    let mut tx = crate::db::begin_tenant(&state.db, tenant, None).await?;
    let outcome = delivery::record_receipt(&mut tx, id, delivered, &error).await?;
    tx.commit().await?;
    match outcome {
        Receipt::Recorded(status) => Ok(Json(ReceiptRecorded { notice_id: id, status })),
        Receipt::NotSent(status) => {
            Err(AppError::Http(StatusCode::CONFLICT, format!("the notice is {status}, not sent")))
        }
        Receipt::NotFound => Err(AppError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_says_delivered_or_failed() {
        let r =
            |status: &str, error: Option<&str>| NoticeReceipt { status: status.into(), error: error.map(Into::into) };
        assert_eq!(check(&r("delivered", None)).unwrap(), (true, String::new()));
        assert_eq!(check(&r("failed", Some(" number unreachable "))).unwrap(), (false, "number unreachable".into()));
        assert!(check(&r("read", None)).is_err());
        assert!(check(&r("failed", Some(&"x".repeat(501)))).is_err());
    }
}
