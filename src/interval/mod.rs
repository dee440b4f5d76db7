//! Interval data (15/30-minute kW) from meter-reading systems: streamed in
//! over the API or loaded from a file, COPY-loaded, stored in monthly
//! partitions.

pub mod api;
pub mod days;
pub mod load;
pub mod model;
