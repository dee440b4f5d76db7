//! The customer archive: customers, contacts, tags, supply points and meters,
//! search, and the reference lists that classify them.

pub mod api;
pub mod banner;
pub mod contracts;
pub mod contracts_api;
pub mod contracts_db;
pub mod contracts_pages;
pub mod db;
pub mod model;
pub mod page_db;
pub mod pages;
pub mod reference;
pub mod reference_api;
pub mod reference_db;
pub mod reference_pages;
pub mod reference_service;
pub mod search;
pub mod service;
