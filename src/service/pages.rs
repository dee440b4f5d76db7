//! What the contact and work-order pages share.

use std::future::Future;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use crate::web::{
    error::{AppError, FieldErrors},
    page::render,
};

/// After a change to an item: back to it with "saved", or the item again with
/// the reason a change was refused (the fields, or a conflict), rather than an
/// error page. `reshow` renders the item's page with errors or a notice.
pub async fn after_change<T, Fut>(
    result: Result<(), AppError>,
    item_path: &str,
    reshow: impl FnOnce(FieldErrors, Option<&'static str>) -> Fut,
) -> Result<Response, AppError>
where
    T: askama::Template,
    Fut: Future<Output = Result<T, AppError>>,
{
    match result {
        Ok(()) => Ok(Redirect::to(&format!("{item_path}?saved=true")).into_response()),
        Err(AppError::Invalid(errors)) => {
            let page = reshow(errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(AppError::Conflict(code)) => {
            let page = reshow(FieldErrors::default(), Some(code)).await?;
            Ok((StatusCode::CONFLICT, render(&page)?).into_response())
        }
        Err(other) => Err(other),
    }
}
