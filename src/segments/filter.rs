//! A segment's definition, parsed, checked and compiled to SQL.
//!
//! The definition is a tree: a group `{"all": [..]}` (AND) or `{"any": [..]}`
//! (OR), nesting allowed, whose leaves are archive conditions
//! `{"field": "class", "op": "in", "value": ["large_industry"]}` or metric
//! conditions `{"metric": "energy_kwh", "agg": "sum", "months": 12, "op": "ge",
//! "value": "100000"}`. Every name is looked up in the match arms below and
//! every value becomes a bound parameter, so user text never becomes SQL.
//!
//! Under row-level security an index can only evaluate leakproof comparisons
//! (`=`, `<`, `>`, …) before the tenant policy, so `in` compiles to
//! `= ANY($n)`, tags to an `EXISTS` with `tag_code = ANY($n)`, and metrics to
//! an aggregate over `customer_metrics`: in one pass over the window for every
//! customer, or, beside an archive condition that narrows the customers
//! first, correlated by its primary key `(tenant_id, customer_id, month >=
//! $n)` (see `grouped`). Nothing uses `LIKE` or `@>`.
//!
//! Plans as the application role on 20,000 customers with 24 months of
//! metrics: tags are a hash semi-join; route and manager lookups run once and
//! join on the customers indexes (1 ms); a metric alone is one primary-key
//! probe per customer (1.5 s), and beside a selective archive condition only
//! for the customers that pass it (the planner tests the cheaper quals first).

use std::fmt;

use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Groups nest at most this deep (the root group is level 1).
pub const MAX_DEPTH: usize = 5;
/// At most this many conditions (leaves) in one definition.
pub const MAX_CONDITIONS: usize = 50;
/// At most this many values in one `in` list.
pub const MAX_VALUES: usize = 200;
/// Metric windows: the last 1 to 36 months.
pub const MAX_MONTHS: u32 = 36;

/// Archive fields, by the name a definition uses.
pub const FIELDS: [&str; 11] = [
    "class",
    "industry",
    "voltage",
    "tariff",
    "route",
    "capacity",
    "tags",
    "importance",
    "account_manager",
    "status",
    "tier",
];
/// The numeric columns of `customer_metrics` a condition may aggregate.
pub const METRICS: [&str; 14] = [
    "energy_kwh",
    "billed",
    "paid_on_time",
    "paid_late",
    "arrears",
    "arrears_days",
    "late_fees",
    "reversals",
    "complaints",
    "work_orders",
    "load_rate",
    "peak_share",
    "yoy_growth",
    "tenure_months",
];
pub const AGGREGATES: [&str; 5] = ["sum", "avg", "max", "min", "latest"];
pub const IMPORTANCE_GRADES: [&str; 4] = ["special", "first", "second", "temporary"];
pub const TIERS: [&str; 5] = ["vip", "high", "medium", "low", "negative"];
pub const STATUSES: [&str; 2] = ["active", "closed"];

/// What was wrong with a definition, and where (`all[2].field`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefinitionError {
    /// The JSON path of the offending part; empty for the whole definition.
    pub path: String,
    pub kind: ErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Not a group: an object with exactly one key, `all` or `any`.
    NotAGroup,
    /// `all`/`any` is not a list, or is empty.
    EmptyGroup,
    NotACondition,
    UnknownKey(String),
    UnknownField(String),
    UnknownMetric(String),
    UnknownAggregate(String),
    /// The operator does not exist or does not apply to the field.
    UnknownOperator(String),
    Missing(&'static str),
    /// The value does not fit the field and operator; the text says what was expected.
    BadValue(&'static str),
    /// A code that is not one of the allowed ones (importance, tier, status).
    UnknownCode(String),
    MonthsRange,
    TooDeep,
    TooManyConditions,
}

impl ErrorKind {
    /// The translation key of the message (`segments.err.<code>`).
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::NotAGroup => "not_a_group",
            ErrorKind::EmptyGroup => "empty_group",
            ErrorKind::NotACondition => "not_a_condition",
            ErrorKind::UnknownKey(_) => "unknown_key",
            ErrorKind::UnknownField(_) => "unknown_field",
            ErrorKind::UnknownMetric(_) => "unknown_metric",
            ErrorKind::UnknownAggregate(_) => "unknown_aggregate",
            ErrorKind::UnknownOperator(_) => "unknown_operator",
            ErrorKind::Missing(_) => "missing",
            ErrorKind::BadValue(_) => "bad_value",
            ErrorKind::UnknownCode(_) => "unknown_code",
            ErrorKind::MonthsRange => "months_range",
            ErrorKind::TooDeep => "too_deep",
            ErrorKind::TooManyConditions => "too_many",
        }
    }

    /// The detail filled into the message (the name that was wrong, what was expected).
    pub fn detail(&self) -> String {
        match self {
            ErrorKind::UnknownKey(s)
            | ErrorKind::UnknownField(s)
            | ErrorKind::UnknownMetric(s)
            | ErrorKind::UnknownAggregate(s)
            | ErrorKind::UnknownOperator(s)
            | ErrorKind::UnknownCode(s) => s.clone(),
            ErrorKind::Missing(s) | ErrorKind::BadValue(s) => (*s).to_owned(),
            ErrorKind::MonthsRange => format!("1–{MAX_MONTHS}"),
            ErrorKind::TooDeep => MAX_DEPTH.to_string(),
            ErrorKind::TooManyConditions => MAX_CONDITIONS.to_string(),
            ErrorKind::NotAGroup | ErrorKind::EmptyGroup | ErrorKind::NotACondition => String::new(),
        }
    }
}

impl DefinitionError {
    /// `path` in the form a person reads: the whole definition when empty.
    pub fn place(&self) -> &str {
        if self.path.is_empty() { "definition" } else { &self.path }
    }

    /// The message in the page's language: `all[2].field: unknown field "foo"`.
    pub fn message(&self, i: &crate::web::i18n::I18n) -> String {
        let text = i.t_with(&format!("segments.err.{}", self.kind.code()), &[("detail", &self.kind.detail())]);
        format!("{}: {text}", self.place())
    }
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            ErrorKind::NotAGroup => "expected a group: {\"all\": [..]} or {\"any\": [..]}".to_owned(),
            ErrorKind::EmptyGroup => "a group needs a non-empty list of conditions".to_owned(),
            ErrorKind::NotACondition => "expected a condition object".to_owned(),
            ErrorKind::UnknownKey(k) => format!("unknown key {k:?}"),
            ErrorKind::UnknownField(k) => format!("unknown field {k:?}"),
            ErrorKind::UnknownMetric(k) => format!("unknown metric {k:?}"),
            ErrorKind::UnknownAggregate(k) => format!("unknown aggregate {k:?}"),
            ErrorKind::UnknownOperator(k) => format!("unknown operator {k:?} for this field"),
            ErrorKind::Missing(k) => format!("missing {k}"),
            ErrorKind::BadValue(k) => format!("bad value: expected {k}"),
            ErrorKind::UnknownCode(k) => format!("unknown code {k:?}"),
            ErrorKind::MonthsRange => format!("months must be 1 to {MAX_MONTHS}"),
            ErrorKind::TooDeep => format!("groups nest at most {MAX_DEPTH} deep"),
            ErrorKind::TooManyConditions => format!("at most {MAX_CONDITIONS} conditions"),
        };
        write!(f, "{}: {what}", self.place())
    }
}

impl std::error::Error for DefinitionError {}

/// A checked definition.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Leaf(Condition),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeField {
    Class,
    Industry,
    Voltage,
    Tariff,
    Status,
    Importance,
}

impl CodeField {
    /// The whitelisted column; never user text.
    fn column(self) -> &'static str {
        match self {
            CodeField::Class => "c.class_code",
            CodeField::Industry => "c.industry_code",
            CodeField::Voltage => "c.voltage_code",
            CodeField::Tariff => "c.tariff_code",
            CodeField::Status => "c.status",
            CodeField::Importance => "c.importance",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Compare {
    fn sql(self) -> &'static str {
        match self {
            Compare::Eq => "=",
            Compare::Ne => "<>",
            Compare::Lt => "<",
            Compare::Le => "<=",
            Compare::Gt => ">",
            Compare::Ge => ">=",
        }
    }
}

/// A numeric test: one comparison or an inclusive range.
#[derive(Clone, Debug, PartialEq)]
pub enum NumberTest {
    Compare(Compare, Decimal),
    Between(Decimal, Decimal),
}

/// A test on a set of codes: membership (`in`, or `eq` with one value) or its negation.
#[derive(Clone, Debug, PartialEq)]
pub enum SetTest {
    In(Vec<String>),
    NotIn(Vec<String>),
    IsNull,
    NotNull,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Sum,
    Avg,
    Max,
    Min,
    Latest,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Code(CodeField, SetTest),
    Route(SetTest),
    Manager(SetTest),
    Tier(SetTest),
    Capacity(NumberTest),
    /// has / has_any: the customer carries one of the tags; has_none: none of them.
    Tags {
        any_of: Vec<String>,
        negate: bool,
    },
    Metric {
        column: &'static str,
        agg: Aggregate,
        months: u32,
        test: NumberTest,
    },
}

/// Parses and checks a definition.
pub fn parse(definition: &Value) -> Result<Node, DefinitionError> {
    let mut leaves = 0;
    parse_group(definition, String::new(), 1, &mut leaves)
}

fn err(path: &str, kind: ErrorKind) -> DefinitionError {
    DefinitionError { path: path.to_owned(), kind }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn parse_group(value: &Value, path: String, depth: usize, leaves: &mut usize) -> Result<Node, DefinitionError> {
    if depth > MAX_DEPTH {
        return Err(err(&path, ErrorKind::TooDeep));
    }
    let Some(object) = value.as_object().filter(|o| o.len() == 1) else {
        return Err(err(&path, ErrorKind::NotAGroup));
    };
    let (key, items) = object.iter().next().expect("one key");
    let all = match key.as_str() {
        "all" => true,
        "any" => false,
        _ => return Err(err(&path, ErrorKind::NotAGroup)),
    };
    let here = join(&path, key);
    let items = items.as_array().filter(|a| !a.is_empty()).ok_or_else(|| err(&here, ErrorKind::EmptyGroup))?;
    let mut nodes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{here}[{i}]");
        let is_group = item.as_object().is_some_and(|o| o.contains_key("all") || o.contains_key("any"));
        if is_group {
            nodes.push(parse_group(item, item_path, depth + 1, leaves)?);
        } else {
            *leaves += 1;
            if *leaves > MAX_CONDITIONS {
                return Err(err(&item_path, ErrorKind::TooManyConditions));
            }
            nodes.push(Node::Leaf(parse_condition(item, &item_path)?));
        }
    }
    Ok(if all { Node::All(nodes) } else { Node::Any(nodes) })
}

fn parse_condition(value: &Value, path: &str) -> Result<Condition, DefinitionError> {
    let object = value.as_object().ok_or_else(|| err(path, ErrorKind::NotACondition))?;
    if object.contains_key("metric") {
        return parse_metric(object, path);
    }
    for key in object.keys() {
        if !["field", "op", "value"].contains(&key.as_str()) {
            return Err(err(&join(path, key), ErrorKind::UnknownKey(key.clone())));
        }
    }
    let field_path = join(path, "field");
    let field = match object.get("field") {
        None => return Err(err(&field_path, ErrorKind::Missing("field"))),
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(err(&field_path, ErrorKind::UnknownField(other.to_string()))),
    };
    let op_path = join(path, "op");
    let op = match object.get("op") {
        None => return Err(err(&op_path, ErrorKind::Missing("op"))),
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(err(&op_path, ErrorKind::UnknownOperator(other.to_string()))),
    };
    let value_path = join(path, "value");
    let value = object.get("value").unwrap_or(&Value::Null);
    let code = |f| set_test(op, value, &op_path, &value_path, None, false).map(|t| Condition::Code(f, t));
    let graded = |allowed: &'static [&'static str], nullable: bool| {
        set_test(op, value, &op_path, &value_path, Some(allowed), nullable)
    };
    Ok(match field {
        "class" => code(CodeField::Class)?,
        "industry" => code(CodeField::Industry)?,
        "voltage" => code(CodeField::Voltage)?,
        "tariff" => code(CodeField::Tariff)?,
        "status" => Condition::Code(CodeField::Status, graded(&STATUSES, false)?),
        "importance" => Condition::Code(CodeField::Importance, graded(&IMPORTANCE_GRADES, true)?),
        "tier" => Condition::Tier(graded(&TIERS, false)?),
        "route" => Condition::Route(set_test(op, value, &op_path, &value_path, None, false)?),
        "account_manager" => Condition::Manager(set_test(op, value, &op_path, &value_path, None, true)?),
        "capacity" => Condition::Capacity(number_test(op, value, &op_path, &value_path)?),
        "tags" => match op {
            "has" => Condition::Tags { any_of: vec![one_text(value, &value_path)?], negate: false },
            "has_any" => Condition::Tags { any_of: text_list(value, &value_path)?, negate: false },
            "has_none" => Condition::Tags { any_of: text_list(value, &value_path)?, negate: true },
            _ => return Err(err(&op_path, ErrorKind::UnknownOperator(op.to_owned()))),
        },
        _ => return Err(err(&field_path, ErrorKind::UnknownField(field.to_owned()))),
    })
}

fn parse_metric(object: &Map<String, Value>, path: &str) -> Result<Condition, DefinitionError> {
    for key in object.keys() {
        if !["metric", "agg", "months", "op", "value"].contains(&key.as_str()) {
            return Err(err(&join(path, key), ErrorKind::UnknownKey(key.clone())));
        }
    }
    let metric_path = join(path, "metric");
    let name = object.get("metric").and_then(Value::as_str).unwrap_or_default();
    let column = METRICS.iter().find(|m| **m == name).copied().ok_or_else(|| {
        err(&metric_path, ErrorKind::UnknownMetric(object["metric"].to_string().trim_matches('"').to_owned()))
    })?;
    let agg_path = join(path, "agg");
    let agg = match object.get("agg") {
        None => return Err(err(&agg_path, ErrorKind::Missing("agg"))),
        Some(v) => match v.as_str() {
            Some("sum") => Aggregate::Sum,
            Some("avg") => Aggregate::Avg,
            Some("max") => Aggregate::Max,
            Some("min") => Aggregate::Min,
            Some("latest") => Aggregate::Latest,
            _ => return Err(err(&agg_path, ErrorKind::UnknownAggregate(v.to_string().trim_matches('"').to_owned()))),
        },
    };
    let months_path = join(path, "months");
    let months = match object.get("months") {
        None => return Err(err(&months_path, ErrorKind::Missing("months"))),
        Some(v) => v
            .as_u64()
            .filter(|m| (1..=u64::from(MAX_MONTHS)).contains(m))
            .ok_or_else(|| err(&months_path, ErrorKind::MonthsRange))? as u32,
    };
    let op = object.get("op").and_then(Value::as_str).unwrap_or_default();
    let value = object.get("value").unwrap_or(&Value::Null);
    let test = number_test(op, value, &join(path, "op"), &join(path, "value"))?;
    Ok(Condition::Metric { column, agg, months, test })
}

fn set_test(
    op: &str,
    value: &Value,
    op_path: &str,
    value_path: &str,
    allowed: Option<&'static [&'static str]>,
    nullable: bool,
) -> Result<SetTest, DefinitionError> {
    let check = |codes: Vec<String>| -> Result<Vec<String>, DefinitionError> {
        if let Some(allowed) = allowed
            && let Some(bad) = codes.iter().find(|c| !allowed.contains(&c.as_str()))
        {
            return Err(err(value_path, ErrorKind::UnknownCode(bad.clone())));
        }
        Ok(codes)
    };
    Ok(match op {
        "eq" => SetTest::In(check(vec![one_text(value, value_path)?])?),
        "ne" => SetTest::NotIn(check(vec![one_text(value, value_path)?])?),
        "in" => SetTest::In(check(text_list(value, value_path)?)?),
        "not_in" => SetTest::NotIn(check(text_list(value, value_path)?)?),
        "is_null" if nullable => SetTest::IsNull,
        "not_null" if nullable => SetTest::NotNull,
        _ => return Err(err(op_path, ErrorKind::UnknownOperator(op.to_owned()))),
    })
}

fn one_text(value: &Value, path: &str) -> Result<String, DefinitionError> {
    match value {
        Value::String(s) if is_plain_text(s) => Ok(s.trim().to_owned()),
        _ => Err(err(path, ErrorKind::BadValue("text"))),
    }
}

fn text_list(value: &Value, path: &str) -> Result<Vec<String>, DefinitionError> {
    let items = value
        .as_array()
        .filter(|a| !a.is_empty() && a.len() <= MAX_VALUES)
        .ok_or_else(|| err(path, ErrorKind::BadValue("list of texts")))?;
    items.iter().enumerate().map(|(i, v)| one_text(v, &format!("{path}[{i}]"))).collect()
}

/// Codes and usernames: 1–100 characters, no control characters.
fn is_plain_text(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.chars().count() <= 100 && !s.chars().any(char::is_control)
}

fn number_test(op: &str, value: &Value, op_path: &str, value_path: &str) -> Result<NumberTest, DefinitionError> {
    let compare = match op {
        "eq" => Compare::Eq,
        "ne" => Compare::Ne,
        "lt" => Compare::Lt,
        "le" => Compare::Le,
        "gt" => Compare::Gt,
        "ge" => Compare::Ge,
        "between" => {
            let pair = value
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or_else(|| err(value_path, ErrorKind::BadValue("two numbers [low, high]")))?;
            let low = number(&pair[0], &format!("{value_path}[0]"))?;
            let high = number(&pair[1], &format!("{value_path}[1]"))?;
            if low > high {
                return Err(err(value_path, ErrorKind::BadValue("low <= high")));
            }
            return Ok(NumberTest::Between(low, high));
        }
        _ => return Err(err(op_path, ErrorKind::UnknownOperator(op.to_owned()))),
    };
    Ok(NumberTest::Compare(compare, number(value, value_path)?))
}

/// A number as JSON number or text ("100000", "0.25"); exact, never a float.
fn number(value: &Value, path: &str) -> Result<Decimal, DefinitionError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return Err(err(path, ErrorKind::BadValue("number"))),
    };
    text.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
        .filter(|d| d.abs() < Decimal::from(10_i64.pow(15)))
        .ok_or_else(|| err(path, ErrorKind::BadValue("number")))
}

/// A bound parameter of a compiled definition.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Texts(Vec<String>),
    Number(Decimal),
    Date(NaiveDate),
}

/// A compiled definition has three parts. `sql` is the condition over
/// `customers c`; its placeholders are numbered from the caller's `first`.
/// Every table it reads besides `c` is filtered by the caller's tenant
/// placeholder, and the caller adds `c.tenant_id = <tenant>` to its WHERE:
/// a Citus cluster sends a statement to one shard only when every table in
/// it names the tenant, and on one server it costs nothing.
/// `from` is the FROM clause the condition needs. `params` holds the
/// placeholders' values in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Compiled {
    /// `customers c`, joined to `mx` (one row per customer with each metric
    /// condition's aggregate) when the metrics are aggregated in one pass.
    pub from: String,
    pub sql: String,
    pub params: Vec<Param>,
}

impl Compiled {
    /// Adds the parameters, in order, to a query's arguments.
    pub fn bind_into(&self, args: &mut sqlx::postgres::PgArguments) -> Result<(), sqlx::error::BoxDynError> {
        use sqlx::Arguments;
        for p in &self.params {
            match p {
                Param::Texts(v) => args.add(v.clone())?,
                Param::Number(d) => args.add(*d)?,
                Param::Date(d) => args.add(*d)?,
            }
        }
        Ok(())
    }
}

/// The first month of a window of the last `months` months ending with
/// `today`'s month (which counts, as far as it has gone).
pub fn window_start(today: NaiveDate, months: u32) -> NaiveDate {
    let first = today.with_day(1).expect("day 1");
    first.checked_sub_months(Months::new(months.saturating_sub(1))).unwrap_or(first)
}

/// Compiles a checked definition; placeholders start at `$first` (the
/// caller's own parameters come before, among them `tenant`, e.g. `$1`).
pub fn compile(node: &Node, today: NaiveDate, first: usize, tenant: &str) -> Compiled {
    let mut c = Compiler {
        params: Vec::new(),
        first,
        tenant: tenant.to_owned(),
        today,
        grouped: grouped(node),
        aggregates: Vec::new(),
    };
    let sql = c.node(node);
    let from = if c.aggregates.is_empty() {
        "customers c".to_owned()
    } else {
        let (columns, since): (Vec<String>, Vec<String>) = c.aggregates.iter().cloned().unzip();
        format!(
            "customers c LEFT JOIN (SELECT m.customer_id, {} FROM customer_metrics m \
             WHERE m.tenant_id = {tenant} AND m.month >= least({}) GROUP BY m.customer_id) mx ON mx.customer_id = c.id",
            columns.join(", "),
            since.join(", ")
        )
    };
    Compiled { from, sql, params: c.params }
}

/// Whether the metric conditions are aggregated in one pass over the window
/// (every customer's metrics read once, a hash aggregate: seconds at a
/// million customers) rather than per customer by the primary key (one probe
/// per customer tested: 1.5 s at 20,000, over a minute at a million). Per
/// customer pays only when an archive condition beside them at the root
/// narrows the customers first (the planner tests the cheaper quals first).
fn grouped(node: &Node) -> bool {
    fn has_metric(node: &Node) -> bool {
        match node {
            Node::All(items) | Node::Any(items) => items.iter().any(has_metric),
            Node::Leaf(c) => matches!(c, Condition::Metric { .. }),
        }
    }
    let narrowed = match node {
        Node::All(items) => items.iter().any(|n| matches!(n, Node::Leaf(c) if !matches!(c, Condition::Metric { .. }))),
        _ => false,
    };
    has_metric(node) && !narrowed
}

struct Compiler {
    params: Vec<Param>,
    first: usize,
    /// The caller's placeholder of the tenant.
    tenant: String,
    today: NaiveDate,
    grouped: bool,
    /// In the grouped form: each metric condition's aggregate column of `mx`
    /// and the start of its window.
    aggregates: Vec<(String, String)>,
}

impl Compiler {
    fn bind(&mut self, p: Param) -> String {
        let cast = match p {
            Param::Texts(_) => "text[]",
            Param::Number(_) => "numeric",
            Param::Date(_) => "date",
        };
        self.params.push(p);
        format!("${}::{cast}", self.first + self.params.len() - 1)
    }

    fn node(&mut self, node: &Node) -> String {
        match node {
            Node::All(items) => self.group(items, " AND "),
            Node::Any(items) => self.group(items, " OR "),
            Node::Leaf(c) => self.condition(c),
        }
    }

    fn group(&mut self, items: &[Node], joiner: &str) -> String {
        let parts: Vec<String> = items.iter().map(|n| self.node(n)).collect();
        format!("({})", parts.join(joiner))
    }

    /// `column = ANY($n)` (an index can use it under RLS), negated or null-tested.
    fn set(&mut self, column: &str, test: &SetTest) -> String {
        match test {
            SetTest::In(v) => format!("{column} = ANY({})", self.bind(Param::Texts(v.clone()))),
            // A customer without a value is not "in" the list, so it matches "not in".
            SetTest::NotIn(v) => {
                format!("({column} IS NULL OR NOT ({column} = ANY({})))", self.bind(Param::Texts(v.clone())))
            }
            SetTest::IsNull => format!("{column} IS NULL"),
            SetTest::NotNull => format!("{column} IS NOT NULL"),
        }
    }

    /// A code looked up to an id by a subquery: in the list, or not. The
    /// subquery is not correlated (it names the tenant), so it runs once and
    /// joins on the customers index.
    fn lookup(&mut self, column: &str, table: &str, key: &str, test: &SetTest) -> String {
        let subquery = format!("SELECT x.id FROM {table} x WHERE x.tenant_id = {} AND x.{key}", self.tenant);
        match test {
            SetTest::In(v) => {
                let p = self.bind(Param::Texts(v.clone()));
                format!("{column} IN ({subquery} = ANY({p}))")
            }
            SetTest::NotIn(v) => {
                let p = self.bind(Param::Texts(v.clone()));
                format!("({column} IS NULL OR {column} NOT IN ({subquery} = ANY({p})))")
            }
            SetTest::IsNull => format!("{column} IS NULL"),
            SetTest::NotNull => format!("{column} IS NOT NULL"),
        }
    }

    fn number(&mut self, expr: &str, test: &NumberTest) -> String {
        match test {
            NumberTest::Compare(op, v) => format!("{expr} {} {}", op.sql(), self.bind(Param::Number(*v))),
            NumberTest::Between(low, high) => {
                let low = self.bind(Param::Number(*low));
                let high = self.bind(Param::Number(*high));
                format!("{expr} BETWEEN {low} AND {high}")
            }
        }
    }

    fn condition(&mut self, c: &Condition) -> String {
        match c {
            Condition::Code(field, test) => self.set(field.column(), test),
            Condition::Route(test) => self.lookup("c.route_id", "reading_routes", "code", test),
            Condition::Manager(test) => self.lookup("c.account_manager_id", "users", "username", test),
            Condition::Tier(test) => {
                let inner = format!(
                    "SELECT 1 FROM customer_values v WHERE v.tenant_id = {} AND v.customer_id = c.id AND v.tier",
                    self.tenant
                );
                match test {
                    SetTest::In(v) => format!("EXISTS ({inner} = ANY({}))", self.bind(Param::Texts(v.clone()))),
                    SetTest::NotIn(v) => {
                        format!("NOT EXISTS ({inner} = ANY({}))", self.bind(Param::Texts(v.clone())))
                    }
                    // Not offered for tiers (every valued customer has one).
                    SetTest::IsNull | SetTest::NotNull => "false".to_owned(),
                }
            }
            Condition::Capacity(test) => self.number("c.capacity_kva", test),
            Condition::Tags { any_of, negate } => {
                let p = self.bind(Param::Texts(any_of.clone()));
                let exists = format!(
                    "EXISTS (SELECT 1 FROM customer_tags t WHERE t.tenant_id = {} AND t.customer_id = c.id AND t.tag_code = ANY({p}))",
                    self.tenant
                );
                if *negate { format!("NOT {exists}") } else { exists }
            }
            Condition::Metric { column, agg, months, test } if self.grouped => {
                let since = self.bind(Param::Date(window_start(self.today, *months)));
                let window = format!("FILTER (WHERE m.month >= {since})");
                let name = format!("a{}", self.aggregates.len());
                let column_sql = match agg {
                    Aggregate::Sum => format!("sum(m.{column}) {window}"),
                    Aggregate::Avg => format!("avg(m.{column}) {window}"),
                    Aggregate::Max => format!("max(m.{column}) {window}"),
                    Aggregate::Min => format!("min(m.{column}) {window}"),
                    // The value of the newest month: months are unique per
                    // customer, so the pair's maximum is decided by the month.
                    Aggregate::Latest => {
                        format!("(max(ARRAY[(m.month - DATE '2000-01-01')::numeric, m.{column}::numeric]) {window})[2]")
                    }
                };
                self.aggregates.push((format!("{column_sql} AS {name}"), since));
                let expr = match agg {
                    Aggregate::Sum => format!("coalesce(mx.{name}, 0)"),
                    _ => format!("mx.{name}"),
                };
                self.number(&expr, test)
            }
            Condition::Metric { column, agg, months, test } => {
                let since = self.bind(Param::Date(window_start(self.today, *months)));
                let from = format!(
                    "FROM customer_metrics m WHERE m.tenant_id = {} AND m.customer_id = c.id AND m.month >= {since}",
                    self.tenant
                );
                // A customer with no rows in the window has summed nothing (0);
                // the other aggregates have no value and match nothing.
                let expr = match agg {
                    Aggregate::Sum => format!("(SELECT coalesce(sum(m.{column}), 0) {from})"),
                    Aggregate::Avg => format!("(SELECT avg(m.{column}) {from})"),
                    Aggregate::Max => format!("(SELECT max(m.{column}) {from})"),
                    Aggregate::Min => format!("(SELECT min(m.{column}) {from})"),
                    Aggregate::Latest => format!("(SELECT m.{column} {from} ORDER BY m.month DESC LIMIT 1)"),
                };
                self.number(&expr, test)
            }
        }
    }
}

/// Parses and compiles in one step.
pub fn compile_definition(
    definition: &Value,
    today: NaiveDate,
    first: usize,
    tenant: &str,
) -> Result<Compiled, DefinitionError> {
    Ok(compile(&parse(definition)?, today, first, tenant))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 15).unwrap()
    }

    /// The caller's tenant placeholder, as the compiled text shows it.
    const TENANT: &str = "$t";

    fn compiled(definition: Value) -> Compiled {
        compile_definition(&definition, today(), 1, TENANT).unwrap_or_else(|e| panic!("{e}"))
    }

    fn refused(definition: Value) -> DefinitionError {
        compile_definition(&definition, today(), 1, TENANT).expect_err("should be refused")
    }

    fn texts(v: &[&str]) -> Param {
        Param::Texts(v.iter().map(|s| (*s).to_owned()).collect())
    }

    fn dec(s: &str) -> Param {
        Param::Number(s.parse().unwrap())
    }

    #[test]
    fn code_fields_compile_to_leakproof_comparisons() {
        let c = compiled(json!({"all": [{"field": "class", "op": "eq", "value": "large_industry"}]}));
        assert_eq!(c.sql, "(c.class_code = ANY($1::text[]))");
        assert_eq!(c.params, [texts(&["large_industry"])]);
        let c = compiled(json!({"all": [{"field": "industry", "op": "in", "value": ["C13", "C14"]}]}));
        assert_eq!(c.sql, "(c.industry_code = ANY($1::text[]))");
        assert_eq!(c.params, [texts(&["C13", "C14"])]);
        let c = compiled(json!({"all": [{"field": "voltage", "op": "ne", "value": "v220"}]}));
        assert_eq!(c.sql, "((c.voltage_code IS NULL OR NOT (c.voltage_code = ANY($1::text[]))))");
        let c = compiled(json!({"all": [{"field": "tariff", "op": "not_in", "value": ["a", "b"]}]}));
        assert!(c.sql.contains("NOT (c.tariff_code = ANY($1::text[]))"), "{}", c.sql);
        let c = compiled(json!({"all": [{"field": "status", "op": "eq", "value": "active"}]}));
        assert_eq!(c.sql, "(c.status = ANY($1::text[]))");
        // Nothing that row-level security would keep from an index.
        let every = compiled(json!({"any": [
            {"field": "class", "op": "not_in", "value": ["a"]}, {"field": "route", "op": "in", "value": ["R1"]},
            {"field": "tags", "op": "has_none", "value": ["t"]}, {"field": "tier", "op": "eq", "value": "vip"},
            {"field": "account_manager", "op": "in", "value": ["m"]}, {"field": "capacity", "op": "ge", "value": 1},
            {"metric": "arrears", "agg": "latest", "months": 3, "op": "gt", "value": 0}
        ]}));
        assert!(!every.sql.contains("LIKE") && !every.sql.contains("@>") && !every.sql.contains("<@"), "{}", every.sql);
    }

    #[test]
    fn importance_and_manager_take_null_tests_and_grades() {
        assert_eq!(compiled(json!({"all": [{"field": "importance", "op": "is_null"}]})).sql, "(c.importance IS NULL)");
        assert_eq!(
            compiled(json!({"all": [{"field": "importance", "op": "not_null"}]})).sql,
            "(c.importance IS NOT NULL)"
        );
        let c = compiled(json!({"all": [{"field": "importance", "op": "in", "value": ["special", "first"]}]}));
        assert_eq!(c.params, [texts(&["special", "first"])]);
        let e = refused(json!({"all": [{"field": "importance", "op": "eq", "value": "gold"}]}));
        assert_eq!(e.to_string(), "all[0].value: unknown code \"gold\"");
        assert_eq!(
            compiled(json!({"all": [{"field": "account_manager", "op": "is_null"}]})).sql,
            "(c.account_manager_id IS NULL)"
        );
        let c = compiled(json!({"all": [{"field": "account_manager", "op": "eq", "value": "manager"}]}));
        assert_eq!(
            c.sql,
            "(c.account_manager_id IN (SELECT x.id FROM users x WHERE x.tenant_id = $t AND x.username = ANY($1::text[])))"
        );
        // Null tests exist only where the archive allows no value.
        let e = refused(json!({"all": [{"field": "class", "op": "is_null"}]}));
        assert_eq!(e.path, "all[0].op");
        assert_eq!(e.kind, ErrorKind::UnknownOperator("is_null".into()));
    }

    #[test]
    fn route_codes_are_looked_up_and_tiers_read_customer_values() {
        let c = compiled(json!({"all": [{"field": "route", "op": "in", "value": ["R0001"]}]}));
        assert!(
            c.sql.starts_with("(c.route_id IN (SELECT x.id FROM reading_routes x WHERE x.tenant_id = $t"),
            "{}",
            c.sql
        );
        assert!(c.sql.contains("x.code = ANY($1::text[])"));
        let c = compiled(json!({"all": [{"field": "route", "op": "ne", "value": "R0001"}]}));
        assert!(c.sql.contains("c.route_id IS NULL OR c.route_id NOT IN"), "{}", c.sql);
        let c = compiled(json!({"all": [{"field": "tier", "op": "in", "value": ["vip", "high"]}]}));
        assert!(c.sql.starts_with("(EXISTS (SELECT 1 FROM customer_values v"), "{}", c.sql);
        let c = compiled(json!({"all": [{"field": "tier", "op": "ne", "value": "negative"}]}));
        assert!(c.sql.starts_with("(NOT EXISTS"), "{}", c.sql);
        assert_eq!(refused(json!({"all": [{"field": "tier", "op": "eq", "value": "gold"}]})).path, "all[0].value");
    }

    #[test]
    fn capacity_takes_every_comparison_and_ranges() {
        for (op, sql) in [("eq", "="), ("ne", "<>"), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")] {
            let c = compiled(json!({"all": [{"field": "capacity", "op": op, "value": "315"}]}));
            assert_eq!(c.sql, format!("(c.capacity_kva {sql} $1::numeric)"));
            assert_eq!(c.params, [dec("315")]);
        }
        let c = compiled(json!({"all": [{"field": "capacity", "op": "between", "value": [100, "1250.5"]}]}));
        assert_eq!(c.sql, "(c.capacity_kva BETWEEN $1::numeric AND $2::numeric)");
        assert_eq!(c.params, [dec("100"), dec("1250.5")]);
        assert_eq!(
            refused(json!({"all": [{"field": "capacity", "op": "between", "value": [5, 1]}]})).kind,
            ErrorKind::BadValue("low <= high")
        );
        assert_eq!(refused(json!({"all": [{"field": "capacity", "op": "ge", "value": "lots"}]})).path, "all[0].value");
        assert_eq!(refused(json!({"all": [{"field": "capacity", "op": "in", "value": [1]}]})).path, "all[0].op");
    }

    #[test]
    fn tags_are_exists_over_customer_tags() {
        let c = compiled(json!({"all": [{"field": "tags", "op": "has", "value": "vip"}]}));
        assert_eq!(
            c.sql,
            "(EXISTS (SELECT 1 FROM customer_tags t WHERE t.tenant_id = $t AND t.customer_id = c.id AND t.tag_code = ANY($1::text[])))"
        );
        let c = compiled(json!({"all": [{"field": "tags", "op": "has_any", "value": ["vip", "green"]}]}));
        assert_eq!(c.params, [texts(&["vip", "green"])]);
        let c = compiled(json!({"all": [{"field": "tags", "op": "has_none", "value": ["theft"]}]}));
        assert!(c.sql.starts_with("(NOT EXISTS (SELECT 1 FROM customer_tags"));
        assert_eq!(refused(json!({"all": [{"field": "tags", "op": "eq", "value": "x"}]})).path, "all[0].op");
        assert_eq!(refused(json!({"all": [{"field": "tags", "op": "has_any", "value": []}]})).path, "all[0].value");
    }

    #[test]
    fn metrics_alone_aggregate_in_one_pass_over_the_window() {
        let c = compiled(json!({"any": [
            {"metric": "energy_kwh", "agg": "sum", "months": 12, "op": "ge", "value": "100000"},
            {"metric": "arrears_days", "agg": "latest", "months": 3, "op": "gt", "value": 30},
            {"field": "class", "op": "eq", "value": "commercial"}
        ]}));
        assert_eq!(
            c.from,
            "customers c LEFT JOIN (SELECT m.customer_id, sum(m.energy_kwh) FILTER (WHERE m.month >= $1::date) AS a0, \
             (max(ARRAY[(m.month - DATE '2000-01-01')::numeric, m.arrears_days::numeric]) FILTER (WHERE m.month >= $3::date))[2] AS a1 \
             FROM customer_metrics m WHERE m.tenant_id = $t AND m.month >= least($1::date, $3::date) GROUP BY m.customer_id) mx ON mx.customer_id = c.id"
        );
        assert_eq!(
            c.sql,
            "(coalesce(mx.a0, 0) >= $2::numeric OR mx.a1 > $4::numeric OR c.class_code = ANY($5::text[]))"
        );
        let alone = compiled(json!({"all": [{"metric": "billed", "agg": "max", "months": 6, "op": "ge", "value": 1}]}));
        assert!(alone.from.contains("max(m.billed) FILTER") && alone.sql == "(mx.a0 >= $2::numeric)", "{alone:?}");
        let archive = compiled(json!({"all": [{"field": "class", "op": "eq", "value": "commercial"}]}));
        assert_eq!(archive.from, "customers c", "no metrics, no join");
    }

    #[test]
    fn metrics_beside_an_archive_condition_aggregate_by_the_primary_key() {
        let narrowed = |metric: Value| {
            compiled(json!({"all": [{"field": "class", "op": "eq", "value": "large_industry"}, metric]}))
        };
        let c = narrowed(json!({"metric": "energy_kwh", "agg": "sum", "months": 12, "op": "ge", "value": "100000"}));
        assert_eq!(c.from, "customers c");
        assert_eq!(
            c.sql,
            "(c.class_code = ANY($1::text[]) AND (SELECT coalesce(sum(m.energy_kwh), 0) FROM customer_metrics m WHERE m.tenant_id = $t AND m.customer_id = c.id AND m.month >= $2::date) >= $3::numeric)"
        );
        // Twelve months ending with November 2026: December 2025 onwards.
        assert_eq!(c.params[1..], [Param::Date(NaiveDate::from_ymd_opt(2025, 12, 1).unwrap()), dec("100000")]);
        for (agg, start) in [("avg", "(SELECT avg(m.arrears) "), ("max", "(SELECT max("), ("min", "(SELECT min(")] {
            let c = narrowed(json!({"metric": "arrears", "agg": agg, "months": 3, "op": "gt", "value": 0}));
            assert!(c.sql.contains(&format!(" AND {start}")), "{}", c.sql);
        }
        let c = narrowed(
            json!({"metric": "arrears_days", "agg": "latest", "months": 1, "op": "between", "value": [30, 90]}),
        );
        assert!(c.sql.contains("ORDER BY m.month DESC LIMIT 1) BETWEEN $3::numeric AND $4::numeric"), "{}", c.sql);
        assert_eq!(c.params[1], Param::Date(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()));
        assert_eq!(
            window_start(NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(), 36),
            NaiveDate::from_ymd_opt(2023, 4, 1).unwrap()
        );
    }

    #[test]
    fn metric_conditions_are_checked() {
        let base = |patch: Value| {
            let mut c = json!({"metric": "billed", "agg": "sum", "months": 6, "op": "ge", "value": "1"});
            for (k, v) in patch.as_object().unwrap() {
                c[k] = v.clone();
            }
            refused(json!({"any": [c]}))
        };
        assert_eq!(base(json!({"metric": "password"})).to_string(), "any[0].metric: unknown metric \"password\"");
        assert_eq!(base(json!({"agg": "median"})).path, "any[0].agg");
        assert_eq!(base(json!({"months": 0})).kind, ErrorKind::MonthsRange);
        assert_eq!(base(json!({"months": 37})).path, "any[0].months");
        assert_eq!(base(json!({"months": "12"})).path, "any[0].months");
        assert_eq!(base(json!({"op": "in"})).path, "any[0].op");
        assert_eq!(base(json!({"value": null})).path, "any[0].value");
        assert_eq!(base(json!({"extra": 1})).kind, ErrorKind::UnknownKey("extra".into()));
    }

    #[test]
    fn groups_nest_and_number_their_parameters_in_order() {
        let c = compiled(json!({"all": [
            {"field": "class", "op": "eq", "value": "large_industry"},
            {"any": [
                {"field": "capacity", "op": "ge", "value": 1000},
                {"field": "tags", "op": "has", "value": "vip"}
            ]}
        ]}));
        assert_eq!(
            c.sql,
            "(c.class_code = ANY($1::text[]) AND (c.capacity_kva >= $2::numeric OR EXISTS (SELECT 1 FROM customer_tags t WHERE t.tenant_id = $t AND t.customer_id = c.id AND t.tag_code = ANY($3::text[]))))"
        );
        assert_eq!(c.params.len(), 3);
        // The caller's own parameters come first.
        let c = compile_definition(&json!({"any": [{"field": "class", "op": "eq", "value": "x"}]}), today(), 3, TENANT)
            .unwrap();
        assert_eq!(c.sql, "(c.class_code = ANY($3::text[]))");
    }

    #[test]
    fn injection_in_values_stays_a_bound_parameter() {
        let evil = "x' OR 1=1 --";
        let c = compiled(json!({"all": [
            {"field": "class", "op": "eq", "value": evil},
            {"field": "account_manager", "op": "in", "value": [evil, "'); DROP TABLE customers; --"]},
            {"field": "tags", "op": "has", "value": evil}
        ]}));
        assert!(!c.sql.contains(evil) && !c.sql.contains("DROP") && !c.sql.contains('\''), "{}", c.sql);
        assert_eq!(c.params[0], texts(&[evil]));
        // Numbers must be numbers.
        let e = refused(json!({"all": [{"field": "capacity", "op": "ge", "value": "1; DROP TABLE customers"}]}));
        assert_eq!(e.path, "all[0].value");
    }

    #[test]
    fn injection_in_names_is_refused() {
        let e = refused(json!({"all": [{"field": "class; DROP TABLE customers", "op": "eq", "value": "x"}]}));
        assert_eq!(e.to_string(), "all[0].field: unknown field \"class; DROP TABLE customers\"");
        let e = refused(json!({"all": [{"field": "class", "op": "= 'x' OR 1=1 --", "value": "x"}]}));
        assert_eq!(e.path, "all[0].op");
        let e = refused(
            json!({"all": [{"metric": "energy_kwh) FROM users --", "agg": "sum", "months": 1, "op": "ge", "value": 1}]}),
        );
        assert_eq!(e.path, "all[0].metric");
        let e = refused(
            json!({"all": [{"metric": "energy_kwh", "agg": "sum(1)); --", "months": 1, "op": "ge", "value": 1}]}),
        );
        assert_eq!(e.path, "all[0].agg");
        let e = refused(json!({"all": [{"field": "class", "op": "eq", "value": "x", "sql": "1=1"}]}));
        assert_eq!(e.to_string(), "all[0].sql: unknown key \"sql\"");
    }

    #[test]
    fn unknown_fields_and_shapes_name_their_path() {
        let e = refused(json!({"all": [
            {"field": "class", "op": "eq", "value": "x"},
            {"any": [{"field": "industry", "op": "eq", "value": "y"}, {"field": "foo", "op": "eq", "value": 1}]}
        ]}));
        assert_eq!(e.to_string(), "all[1].any[1].field: unknown field \"foo\"");
        assert_eq!(refused(json!([])).to_string(), "definition: expected a group: {\"all\": [..]} or {\"any\": [..]}");
        assert_eq!(refused(json!({"both": []})).kind, ErrorKind::NotAGroup);
        assert_eq!(refused(json!({"all": [], "any": []})).kind, ErrorKind::NotAGroup);
        assert_eq!(refused(json!({"all": []})).to_string(), "all: a group needs a non-empty list of conditions");
        assert_eq!(refused(json!({"all": [42]})).kind, ErrorKind::NotACondition);
        assert_eq!(refused(json!({"all": [{"op": "eq", "value": "x"}]})).kind, ErrorKind::Missing("field"));
        assert_eq!(refused(json!({"all": [{"field": "class", "value": "x"}]})).path, "all[0].op");
        assert_eq!(refused(json!({"all": [{"field": "class", "op": "eq", "value": ""}]})).path, "all[0].value");
        assert_eq!(refused(json!({"all": [{"field": "class", "op": "eq", "value": 3}]})).path, "all[0].value");
        assert_eq!(
            refused(json!({"all": [{"field": "class", "op": "in", "value": ["a", 1]}]})).path,
            "all[0].value[1]"
        );
    }

    #[test]
    fn depth_and_size_are_limited() {
        let leaf = json!({"field": "class", "op": "eq", "value": "x"});
        let mut five = json!({"all": [leaf.clone()]});
        for _ in 1..MAX_DEPTH {
            five = json!({"any": [five]});
        }
        assert!(compile_definition(&five, today(), 1, TENANT).is_ok());
        let six = json!({"all": [five]});
        let e = refused(six);
        assert_eq!(e.kind, ErrorKind::TooDeep);
        assert_eq!(e.path, "all[0].any[0].any[0].any[0].any[0]", "the sixth group");
        let fifty = json!({"any": vec![leaf.clone(); MAX_CONDITIONS]});
        assert!(compile_definition(&fifty, today(), 1, TENANT).is_ok());
        let e = refused(json!({"any": vec![leaf; MAX_CONDITIONS + 1]}));
        assert_eq!(e.kind, ErrorKind::TooManyConditions);
        assert_eq!(e.path, "any[50]");
    }
}
