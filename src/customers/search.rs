//! What a search box entry means. Counter staff type an account number, any
//! part of a phone, account, meter, ID-card or credit code number, part of a
//! name or an address, or a name's pinyin initials into one box; this decides
//! which of those to look up, and how the found customers are sorted and paged.

use pinyin::ToPinyin;

/// A search finds at most this many customers; beyond it the page says "more
/// than 100" and asks for a narrower search (never a full count on a big
/// archive: each lookup stops after this many and one more).
pub const CAP: usize = 100;

/// The lookups one query asks for; each is run and the results merged.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SearchPlan {
    /// Account numbers starting with these digits: every number typed (with
    /// fewer than four digits, shorter than any code key, the only lookup).
    pub account_prefix: Option<String>,
    /// Any part (four characters or more) of an account number, a phone (the
    /// customer's or a contact's), an ID-card or credit code, a meter serial:
    /// upper-cased, without spaces and hyphens.
    pub code: Option<String>,
    pub name: Option<NameQuery>,
    /// The start of a name's pinyin initials (`hzrf`), lower-case.
    pub initials: Option<String>,
    /// Part of the address, two characters or more.
    pub address: Option<AddressQuery>,
}

impl SearchPlan {
    /// Only number lookups: one hit is the customer asked for (the page goes
    /// straight to it); a name or an address fragment may be a first letter
    /// of many.
    pub fn is_exact(&self) -> bool {
        self.name.is_none() && self.initials.is_none() && self.address.is_none()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum NameQuery {
    /// One character: names containing it, anywhere.
    Char(String),
    /// Two or more: names containing it.
    Contains(Fragment),
}

/// An infix search through character-pair keys. The index is walked by one
/// pair of the query (`driver`, the last one: given names, brand words and
/// house numbers come last and are rarer than surnames and city names), and
/// each hit is checked against the whole `pattern`.
#[derive(Debug, PartialEq, Eq)]
pub struct Fragment {
    pub driver: String,
    pub pattern: String,
}

/// How many characters of an address each of its search keys holds: from
/// each character, the next this many (`gridcrm_address_suffixes`, migration
/// 0066).
pub const ADDRESS_KEY_CHARS: usize = 12;

/// Part of an address, as its keys compare it (`gridcrm_address_text`:
/// lower-case, without white space, full-width forms as ASCII). A part of up
/// to [`ADDRESS_KEY_CHARS`] characters is the start of some key of every
/// address holding it, so the range of keys starting with it is the answer.
/// A longer part is looked up by its last characters (house and room numbers
/// come last, and are the rarest) and checked against the whole address.
#[derive(Debug, PartialEq, Eq)]
pub struct AddressQuery {
    pub key: String,
    /// `%part%` for `LIKE` on the compared address, when the key is only the
    /// part's end.
    pub whole: Option<String>,
}

impl AddressQuery {
    /// Two characters or more (one would match nearly every address).
    fn new(q: &str) -> Option<Self> {
        let text: Vec<char> = q.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect();
        if text.len() < 2 {
            return None;
        }
        let start = text.len().saturating_sub(ADDRESS_KEY_CHARS);
        let whole = (start > 0).then(|| format!("%{}%", like_escape(&text.iter().collect::<String>())));
        Some(AddressQuery { key: text[start..].iter().collect(), whole })
    }
}

pub fn plan(query: &str) -> SearchPlan {
    let q = normalize(query);
    let q = q.trim();
    let mut plan = SearchPlan::default();
    if q.is_empty() {
        return plan;
    }
    let compact: String = q.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let compact = compact.strip_prefix("+86").filter(|rest| !rest.is_empty()).unwrap_or(&compact);
    if !compact.is_empty() && compact.bytes().all(|b| b.is_ascii_digit()) {
        // An account number's start goes straight to the customers' own
        // index, so a customer is found by it even before its search keys
        // are written (a bulk import writes them after it commits).
        plan.account_prefix = Some(compact.to_owned());
        if compact.len() >= 4 {
            plan.code = Some(compact.to_owned());
        }
        return plan;
    }
    let ascii_letters = compact.bytes().all(|b| b.is_ascii_alphabetic());
    if compact.len() >= 4 && compact.bytes().all(|b| b.is_ascii_alphanumeric()) && !ascii_letters {
        plan.code = Some(compact.to_ascii_uppercase());
        return plan;
    }
    plan.name = Some(name_query(q));
    if ascii_letters && !compact.is_empty() {
        plan.initials = Some(compact.to_ascii_lowercase());
    } else {
        plan.address = AddressQuery::new(q);
    }
    plan
}

/// Full-width letters, digits and signs (typed with a Chinese input method)
/// as their ASCII forms, the ideographic space as a space.
fn normalize(query: &str) -> String {
    query
        .chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{ff01}'..='\u{ff5e}' => char::from_u32(c as u32 - 0xfee0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

fn name_query(q: &str) -> NameQuery {
    match fragment(q) {
        Some(fragment) => NameQuery::Contains(fragment),
        None => NameQuery::Char(q.to_lowercase()),
    }
}

/// Two characters or more: the last pair without a space drives the lookup.
fn fragment(q: &str) -> Option<Fragment> {
    let chars: Vec<char> = q.to_lowercase().chars().collect();
    let driver = chars.windows(2).rev().find(|w| !w.iter().any(|c| c.is_whitespace()))?.iter().collect();
    Some(Fragment { driver, pattern: format!("%{}%", like_escape(q)) })
}

/// The pinyin initials of a name as the search keeps them: a Chinese
/// character's first letter, ASCII letters and digits as they are
/// (lower-cased), everything else left out. `杭州瑞丰电力` -> `hzrfdl`.
pub fn initials(name: &str) -> String {
    let mut out = String::new();
    for (c, py) in name.chars().zip(name.to_pinyin()) {
        match py {
            Some(py) => out.push_str(py.first_letter()),
            None if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            None => {}
        }
    }
    out
}

/// A text's sort key in pinyin order (how Chinese lists are alphabetised):
/// each Chinese character's pinyin, then the character (so that homophones
/// stay apart and in a fixed order); other characters lower-cased.
pub fn pinyin_key(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for (c, py) in text.chars().zip(text.to_pinyin()) {
        match py {
            Some(py) => {
                out.push_str(py.plain());
                out.push(c);
            }
            None => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// The columns a result list sorts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    #[default]
    Account,
    Name,
    Class,
    Address,
    Status,
}

impl SortBy {
    pub const ALL: [SortBy; 5] = [SortBy::Account, SortBy::Name, SortBy::Class, SortBy::Address, SortBy::Status];

    /// The `sort` parameter's value; an unknown one sorts by account number.
    pub fn parse(raw: &str) -> Self {
        Self::ALL.into_iter().find(|s| s.as_str() == raw).unwrap_or_default()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortBy::Account => "account",
            SortBy::Name => "name",
            SortBy::Class => "class",
            SortBy::Address => "address",
            SortBy::Status => "status",
        }
    }
}

/// Sorts found customers by a column (names and addresses in pinyin order),
/// ties by account number; `desc` reverses the column's order.
pub fn sort(rows: &mut [crate::customers::db::CustomerSummary], by: SortBy, desc: bool) {
    use std::cmp::Ordering;
    let column = |a: &crate::customers::db::CustomerSummary, b: &crate::customers::db::CustomerSummary| -> Ordering {
        match by {
            SortBy::Account => Ordering::Equal,
            SortBy::Name => pinyin_key(&a.name).cmp(&pinyin_key(&b.name)),
            SortBy::Class => a.class_code.cmp(&b.class_code),
            SortBy::Address => pinyin_key(&a.address).cmp(&pinyin_key(&b.address)),
            SortBy::Status => a.status.cmp(&b.status),
        }
    };
    rows.sort_by(|a, b| {
        let by_account = a.account_no.cmp(&b.account_no);
        let order = column(a, b).then(by_account);
        if desc { order.reverse() } else { order }
    });
}

/// Where a page of found customers stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pages {
    /// 1-based, clamped to the pages there are.
    pub page: usize,
    pub pages: usize,
    /// Customers found (at most [`CAP`]).
    pub total: usize,
    /// More than [`CAP`] match: `total` is only the first ones found.
    pub more: bool,
}

impl Pages {
    pub fn new(total: usize, more: bool, page: usize, size: usize) -> Self {
        let pages = total.div_ceil(size).max(1);
        Self { page: page.clamp(1, pages), pages, total, more }
    }

    /// The index range of this page's rows.
    pub fn range(&self, size: usize) -> std::ops::Range<usize> {
        let start = (self.page - 1) * size;
        start.min(self.total)..(start + size).min(self.total)
    }

    pub fn prev(&self) -> Option<usize> {
        (self.page > 1).then(|| self.page - 1)
    }

    pub fn next(&self) -> Option<usize> {
        (self.page < self.pages).then(|| self.page + 1)
    }
}

/// The smallest string above every string that starts with `prefix`, in code
/// point (and so UTF-8 byte, `COLLATE "C"`) order: `prefix <= s < bound`
/// holds exactly for the strings starting with `prefix`. Searches are ranges
/// because row-level security lets indexes use only leakproof comparisons,
/// and LIKE is not one.
pub fn prefix_upper_bound(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value, skipping the surrogate gap.
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    // Only reachable for an empty prefix or one of char::MAX: everything is above.
    char::MAX.to_string()
}

/// Escapes LIKE's wildcards so that a typed `%` or `_` matches itself.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(driver: &str, pattern: &str) -> Fragment {
        Fragment { driver: driver.into(), pattern: pattern.into() }
    }

    #[test]
    fn four_digits_or_more_are_any_part_of_a_code() {
        let p = plan("13800138000");
        assert_eq!(p.code.as_deref(), Some("13800138000"));
        assert_eq!(p.account_prefix.as_deref(), Some("13800138000"), "and the start of an account number");
        assert_eq!((p.name, p.initials, p.address), (None, None, None));
        assert_eq!(plan("8000").code.as_deref(), Some("8000"), "the last four digits of a phone");
        assert_eq!(plan("0571-8800 1234").code.as_deref(), Some("057188001234"), "spaces and hyphens are dropped");
        assert_eq!(plan("+86 138 0013 8000").code.as_deref(), Some("13800138000"));
        assert_eq!(plan("１３８０").code.as_deref(), Some("1380"), "full-width digits");
        assert!(plan("1380").is_exact());
    }

    #[test]
    fn a_short_number_is_an_account_prefix_only() {
        let p = plan("010");
        assert_eq!(p.account_prefix.as_deref(), Some("010"));
        assert_eq!(p.code, None);
        assert_eq!(p.name, None);
    }

    #[test]
    fn letters_and_digits_are_a_serial_or_an_identity_code() {
        assert_eq!(plan("zj-3300").code.as_deref(), Some("ZJ3300"));
        assert_eq!(plan("33010219900101123x").code.as_deref(), Some("33010219900101123X"), "an ID card");
        assert_eq!(plan("91330100MA2H0Q1X3B").code.as_deref(), Some("91330100MA2H0Q1X3B"), "a credit code");
        assert_eq!(plan("zj-3300").name, None);
    }

    #[test]
    fn chinese_is_a_name_by_character_pairs_or_an_address_part() {
        let p = plan(" 建国 ");
        assert_eq!(p.name, Some(NameQuery::Contains(contains("建国", "%建国%"))));
        assert_eq!(p.address, Some(AddressQuery { key: "建国".into(), whole: None }));
        assert_eq!(p.initials, None);
        assert!(!p.is_exact());
        assert_eq!(plan("王建国").name, Some(NameQuery::Contains(contains("建国", "%王建国%"))));
    }

    #[test]
    fn an_address_part_is_compared_as_its_keys_are_written() {
        let key = |q: &str| plan(q).address.map(|a| a.key);
        assert_eq!(key("文三路 88号").as_deref(), Some("文三路88号"), "white space is left out");
        assert_eq!(key("Ａ座１７０２室").as_deref(), Some("a座1702室"), "full-width forms, lower-case");
        assert_eq!(key("15栋3单元1702室").as_deref(), Some("15栋3单元1702室"));
        assert_eq!(plan("15栋3单元1702室").address.unwrap().whole, None, "up to 12 characters, the keys answer alone");
        // Longer: looked up by its last 12 characters, checked against all of it.
        let long = plan("西湖区文三路88号15栋3单元1702室").address.unwrap();
        assert_eq!(long.key, "号15栋3单元1702室");
        assert_eq!(long.key.chars().count(), ADDRESS_KEY_CHARS);
        assert_eq!(long.whole.as_deref(), Some("%西湖区文三路88号15栋3单元1702室%"));
        assert_eq!(plan("100%_路").address.unwrap().key, "100%_路", "a range needs no escaping");
        assert_eq!(
            plan("一二三四五六七八九十百千%").address.unwrap().whole.as_deref(),
            Some("%一二三四五六七八九十百千\\%%")
        );
    }

    #[test]
    fn one_character_is_found_anywhere_in_a_name() {
        let p = plan("丰");
        assert_eq!(p.name, Some(NameQuery::Char("丰".into())));
        assert_eq!(p.address, None, "one character of an address would match everyone");
        assert_eq!(plan("%").name, Some(NameQuery::Char("%".into())), "an equality needs no escaping");
        assert_eq!(plan("W").name, Some(NameQuery::Char("w".into())), "keys are lower-case");
    }

    #[test]
    fn latin_letters_are_a_name_and_pinyin_initials() {
        let p = plan("hzrf");
        assert_eq!(p.initials.as_deref(), Some("hzrf"));
        assert_eq!(p.name, Some(NameQuery::Contains(contains("rf", "%hzrf%"))));
        assert_eq!(p.code, None, "letters only are not a serial");
        let p = plan("Wang Li");
        assert_eq!(p.name, Some(NameQuery::Contains(contains("li", "%Wang Li%"))));
        assert_eq!(p.initials.as_deref(), Some("wangli"));
        assert_eq!(plan("ＨＺ").initials.as_deref(), Some("hz"), "full-width letters");
    }

    #[test]
    fn initials_of_chinese_and_mixed_names() {
        assert_eq!(initials("杭州瑞丰电力设备有限公司"), "hzrfdlsbyxgs");
        assert_eq!(initials("王建国"), "wjg");
        assert_eq!(initials("ABC科技（杭州）3号店"), "abckjhz3hd");
        assert_eq!(initials("·"), "");
    }

    #[test]
    fn names_sort_in_pinyin_order() {
        let mut names = vec!["张三", "阿里", "王五", "Bob", "李四"];
        names.sort_by_key(|n| pinyin_key(n));
        assert_eq!(names, ["阿里", "Bob", "李四", "王五", "张三"]);
    }

    fn row(account: &str, name: &str) -> crate::customers::db::CustomerSummary {
        crate::customers::db::CustomerSummary {
            id: uuid::Uuid::nil(),
            account_no: account.into(),
            name: name.into(),
            class_code: "residential".into(),
            address: String::new(),
            phone: None,
            status: "active".into(),
        }
    }

    #[test]
    fn sorting_by_a_column_breaks_ties_by_account() {
        let mut rows = vec![row("03", "王五"), row("01", "张三"), row("02", "王五")];
        sort(&mut rows, SortBy::Name, false);
        let accounts: Vec<&str> = rows.iter().map(|r| r.account_no.as_str()).collect();
        assert_eq!(accounts, ["02", "03", "01"]);
        sort(&mut rows, SortBy::Name, true);
        let accounts: Vec<&str> = rows.iter().map(|r| r.account_no.as_str()).collect();
        assert_eq!(accounts, ["01", "03", "02"]);
        sort(&mut rows, SortBy::parse("nonsense"), false);
        assert_eq!(rows[0].account_no, "01");
        assert_eq!(SortBy::parse("address"), SortBy::Address);
    }

    #[test]
    fn pages_clamp_and_link() {
        let p = Pages::new(45, false, 3, 20);
        assert_eq!((p.page, p.pages, p.prev(), p.next()), (3, 3, Some(2), None));
        assert_eq!(p.range(20), 40..45);
        let p = Pages::new(0, false, 9, 20);
        assert_eq!((p.page, p.pages, p.range(20), p.prev(), p.next()), (1, 1, 0..0, None, None));
        let p = Pages::new(100, true, 1, 20);
        assert_eq!((p.next(), p.more), (Some(2), true));
    }

    #[test]
    fn prefix_bounds_enclose_exactly_the_prefixed_strings() {
        assert_eq!(prefix_upper_bound("0100"), "0101");
        assert_eq!(prefix_upper_bound("0109"), "010:");
        assert_eq!(
            prefix_upper_bound("王"),
            "王".chars().map(|c| char::from_u32(c as u32 + 1).unwrap()).collect::<String>()
        );
        let bound = prefix_upper_bound("3300");
        for s in ["3300", "33000000001", "3300ZZZ"] {
            assert!(s >= "3300" && s < bound.as_str(), "{s}");
        }
        for s in ["3301", "330", "3299ZZ"] {
            assert!(!(s >= "3300" && s < bound.as_str()), "{s}");
        }
        assert_eq!(prefix_upper_bound("a\u{d7ff}"), "a\u{e000}", "skips the surrogates");
    }

    #[test]
    fn wildcards_are_literal() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(plan(""), SearchPlan::default());
    }
}
