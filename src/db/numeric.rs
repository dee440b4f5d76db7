//! PostgreSQL's rounding of a float8, done in Rust.
//!
//! `round(x::numeric, places)::float8` costs PostgreSQL 15 two conversions
//! through text a value (float8 to numeric prints `%.15g`; numeric to
//! float8 parses the numeric's text). Over a million customers' ratios that
//! was 4 s of a credit rating's inputs query. [`round_as_postgres`] gives
//! the same float8, bit for bit, for the cost of a multiplication on all
//! but the values within a hair of a half.

use rust_decimal::{Decimal, RoundingStrategy};

/// `round(x::numeric, places)::float8` as PostgreSQL computes it: `x` to 15
/// significant digits (what `float8_numeric` prints), rounded half away from
/// zero at `places` decimals, read back as the nearest float8.
pub fn round_as_postgres(x: f64, places: u32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(places as i32);
    let scaled = x * scale;
    if scaled.abs() < 1e15 {
        // The 15-digit decimal lies within 5e-15 of x (relative), the product
        // within an ulp: unless a half lies that close, both round to the
        // same integer n, and n / 10^places is the float8 nearest the decimal
        // n·10^-places (both exact, the division correctly rounded).
        let fraction = (scaled - scaled.trunc()).abs();
        if (fraction - 0.5).abs() > scaled.abs() * 1e-13 + 1e-9 {
            // + 0.0: numeric has no negative zero.
            return scaled.round() / scale + 0.0;
        }
    }
    as_decimal_text(x, places)
}

/// The long way, exactly as PostgreSQL goes: through decimal digits.
fn as_decimal_text(x: f64, places: u32) -> f64 {
    // `{:.14e}` rounds to 15 significant digits, ties to even, as glibc's
    // `%.15g` does (the tests compare with the server).
    let digits = format!("{x:.14e}");
    match Decimal::from_scientific(&digits) {
        Ok(d) => d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero).to_string().parse::<f64>(),
        // Beyond Decimal's 28 digits the 15 digits end above the rounding place.
        Err(_) => digits.parse::<f64>(),
    }
    .map_or(x, |v| v + 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_away_from_zero_at_the_place() {
        assert_eq!(round_as_postgres(0.1234565, 6), 0.123457);
        assert_eq!(round_as_postgres(-0.1234565, 6), -0.123457);
        assert_eq!(round_as_postgres(0.1234564999, 6), 0.123456);
        assert_eq!(round_as_postgres(1.0 / 3.0, 6), 0.333333);
        assert_eq!(round_as_postgres(2.675, 2), 2.68, "2.675 is 2.67499999… in binary, 2.675 in 15 digits");
        assert_eq!(round_as_postgres(123456.7890125, 6), 123456.789013);
    }

    #[test]
    fn rounds_the_fifteen_digit_decimal_not_the_binary_value() {
        // 0.1000518798828125 is exact in binary (6557/65536); 15 digits give
        // 0.100051879882812 (a tie, to even), so no half at the 7th place.
        assert_eq!(round_as_postgres(0.1000518798828125, 6), 0.100052);
        // 1.0000005 in binary is a little below; its 15 digits are the half.
        assert_eq!(round_as_postgres(1.0000005, 6), 1.000001);
    }

    #[test]
    fn no_negative_zero_and_no_change_to_what_cannot_round() {
        assert!(round_as_postgres(-1e-9, 6).is_sign_positive());
        assert_eq!(round_as_postgres(2.5e-7, 6), 0.0);
        assert_eq!(round_as_postgres(5e-7, 6), 1e-6);
        assert_eq!(round_as_postgres(1e20, 2), 1e20);
        assert!(round_as_postgres(f64::NAN, 6).is_nan());
    }
}
