//! Amounts in Chinese capitals (大写金额) as receipts and bills print them,
//! e.g. ¥123.45 → 壹佰贰拾叁元肆角伍分. Pure.

use rust_decimal::{Decimal, RoundingStrategy, prelude::ToPrimitive};

const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
const PLACES: [&str; 4] = ["", "拾", "佰", "仟"];
const GROUPS: [&str; 4] = ["", "万", "亿", "万亿"];

/// One group of four digits (1–9999), without its group unit: zeros inside
/// read as one 零, trailing zeros are silent (1005 → 壹仟零伍, 10 → 壹拾).
fn group(n: u64) -> String {
    let mut out = String::new();
    let mut zero = false;
    for place in (0..4).rev() {
        let d = (n / 10u64.pow(place as u32) % 10) as usize;
        if d == 0 {
            zero = !out.is_empty();
        } else {
            if zero {
                out.push('零');
                zero = false;
            }
            out.push(DIGITS[d]);
            out.push_str(PLACES[place]);
        }
    }
    out
}

/// The whole yuan in capitals: groups of four digits by 万 and 亿, a 零 for
/// every run of zeros between digits (100010000 → 壹亿零壹万).
fn whole(n: u64) -> String {
    let mut groups = Vec::new();
    let mut rest = n;
    while rest > 0 {
        groups.push(rest % 10_000);
        rest /= 10_000;
    }
    let mut out = String::new();
    let mut zero = false;
    for (i, &g) in groups.iter().enumerate().rev() {
        if g == 0 {
            zero = !out.is_empty();
            continue;
        }
        if zero || (!out.is_empty() && g < 1000) {
            out.push('零');
        }
        zero = false;
        out.push_str(&group(g));
        out.push_str(GROUPS[i.min(GROUPS.len() - 1)]);
    }
    out
}

/// An amount of money in capitals, rounded half away from zero to the fen:
/// 壹佰贰拾叁元肆角伍分, 壹仟零伍元整, 壹拾元零伍分, 伍角, 零元整, 负…
/// for a negative amount. None beyond 万亿 (no bill or payment comes near).
pub fn capitals(amount: Decimal) -> Option<String> {
    let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let fen_total = (rounded.abs() * Decimal::ONE_HUNDRED).to_u64()?;
    if fen_total >= 10_000_000_000_000_000 {
        return None;
    }
    let (yuan, jiao, fen) = (fen_total / 100, (fen_total / 10 % 10) as usize, (fen_total % 10) as usize);
    let mut out = String::new();
    if rounded.is_sign_negative() && fen_total > 0 {
        out.push('负');
    }
    if yuan > 0 {
        out.push_str(&whole(yuan));
        out.push('元');
    }
    match (jiao, fen) {
        (0, 0) if yuan == 0 => out.push_str("零元整"),
        (0, 0) => out.push('整'),
        (0, f) => {
            if yuan > 0 {
                out.push('零');
            }
            out.push(DIGITS[f]);
            out.push('分');
        }
        (j, f) => {
            out.push(DIGITS[j]);
            out.push('角');
            if f > 0 {
                out.push(DIGITS[f]);
                out.push('分');
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(s: &str) -> String {
        capitals(s.parse().unwrap()).unwrap()
    }

    #[test]
    fn amounts_read_as_on_a_cheque() {
        assert_eq!(cap("123.45"), "壹佰贰拾叁元肆角伍分");
        assert_eq!(cap("1005"), "壹仟零伍元整");
        assert_eq!(cap("1000.05"), "壹仟元零伍分");
        assert_eq!(cap("10"), "壹拾元整");
        assert_eq!(cap("10.50"), "壹拾元伍角");
        assert_eq!(cap("0.5"), "伍角");
        assert_eq!(cap("0.05"), "伍分");
        assert_eq!(cap("0"), "零元整");
        assert_eq!(cap("135.50"), "壹佰叁拾伍元伍角");
        assert_eq!(cap("64.5"), "陆拾肆元伍角");
    }

    #[test]
    fn groups_of_ten_thousand_keep_their_zeros() {
        assert_eq!(cap("100000"), "壹拾万元整");
        assert_eq!(cap("10001"), "壹万零壹元整");
        assert_eq!(cap("10010"), "壹万零壹拾元整");
        assert_eq!(cap("1010101"), "壹佰零壹万零壹佰零壹元整");
        assert_eq!(cap("100010000"), "壹亿零壹万元整");
        assert_eq!(cap("100000001"), "壹亿零壹元整");
        assert_eq!(cap("999999999.99"), "玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分");
        assert_eq!(cap("120000000000"), "壹仟贰佰亿元整");
        assert_eq!(cap("1234567.8"), "壹佰贰拾叁万肆仟伍佰陆拾柒元捌角");
    }

    #[test]
    fn rounding_and_signs() {
        assert_eq!(cap("0.005"), "壹分");
        assert_eq!(cap("2.994"), "贰元玖角玖分");
        assert_eq!(cap("-12.30"), "负壹拾贰元叁角");
        assert_eq!(cap("-0.001"), "零元整");
    }
}
