//! Supply points (计量点) and meters (电能表): the part of the archive the
//! counter creates and changes — points on a customer, meters installed on
//! them, exchanges, and the history of each change.

pub mod db;
pub mod model;
pub mod verification;
