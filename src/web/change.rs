//! After a change a person makes on a page: the tenant transaction it runs in,
//! and where the browser goes next.

use std::future::Future;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};

use crate::web::{
    error::{AppError, FieldErrors},
    page::render,
};

/// Runs `work` in a transaction of the user's tenant and commits it; an
/// error rolls it back.
pub async fn in_tenant_tx(
    state: &crate::web::AppState,
    user: &crate::web::auth::CurrentUser,
    work: impl AsyncFnOnce(&mut sqlx::PgConnection) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let mut tx = user.tx(&state.db).await?;
    work(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

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
