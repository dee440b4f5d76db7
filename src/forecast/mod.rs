//! Load forecasting (负荷预测): reading a load series, forecasting it by
//! seasonal-naive baselines and double seasonal Holt–Winters, and measuring
//! each method's accuracy on held-out history by rolling origin. Pure code:
//! no database and no HTTP, so the command line and later the pages share it.

pub mod api;
pub mod backtest;
pub mod dayahead;
pub mod db;
pub mod energy;
pub mod holt_winters;
pub mod methods;
mod nelder_mead;
pub mod series;

pub use backtest::{Backtest, BacktestError, Plan, Score};
pub use methods::{Forecaster, standard_methods};
pub use series::{Interval, Series, SeriesError, read_csv};
