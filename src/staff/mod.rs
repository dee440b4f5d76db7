//! Staff users, roles and permissions, passwords and API keys.

pub mod db;
pub mod model;
pub mod pages;
pub mod password;

pub use model::{Permission, Role};
