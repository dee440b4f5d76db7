//! The wording of notices: a subject (email) and a body with `{placeholder}`
//! fields, per kind, channel and language. A tenant may replace any of the
//! built-in templates; a template is checked when it is saved, so a notice
//! never goes out with a field nobody fills. `{{` and `}}` write a brace.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Kind;

/// Fields every notice has.
pub const COMMON_FIELDS: [&str; 5] = ["customer_name", "account_no", "tenant_name", "date", "title"];

/// The fields a kind adds to [`COMMON_FIELDS`]; the code that creates a
/// notice of the kind fills each of them.
pub fn kind_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::BillIssued => &["bill_no", "period", "amount", "due_date"],
        Kind::PaymentDue | Kind::Overdue => &["bill_no", "period", "amount", "due_date"],
        Kind::LowBalance | Kind::DisconnectionOrdered | Kind::ReconnectionOrdered => &["balance", "days_left"],
        Kind::PlannedOutage => &["outage_ref", "outage_start", "outage_end", "outage_reason", "outage_change"],
        Kind::FaultReported | Kind::RepairProgress | Kind::PowerRestored | Kind::ExpansionStageChanged => &["link"],
        Kind::MeterVerificationDue => &["meter_serial", "verification_date"],
        Kind::ContractExpiry => &["contract_no", "expiry_date"],
        Kind::SafeUseAdvice | Kind::EnergySavingAdvice | Kind::DemandResponseRequest | Kind::DemandResponseResult => {
            &["message"]
        }
        Kind::PersonalBill => &["bill_no", "period", "amount", "due_date", "energy_kwh", "lines"],
        Kind::LoadAnomaly => &["meter_serial", "change_date", "change_pct", "before_kwh", "after_kwh"],
        Kind::PortalCode => &["code", "minutes"],
        Kind::AppointmentReminder => &["hall", "hall_address", "day", "time"],
    }
}

pub fn allowed(kind: Kind, field: &str) -> bool {
    COMMON_FIELDS.contains(&field) || kind_fields(kind).contains(&field)
}

/// What is wrong with a template, naming the field and, where there is one,
/// the placeholder.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{part}: {{{name}}} is not a field of this notice")]
    UnknownField { part: &'static str, name: String },
    #[error("{part}: a {{ at character {at} is not closed")]
    Unclosed { part: &'static str, at: usize },
    #[error("{part}: a }} at character {at} closes nothing (write }}}} for a brace)")]
    StrayClose { part: &'static str, at: usize },
    #[error("{part}: an empty {{}} at character {at}")]
    Empty { part: &'static str, at: usize },
    #[error("{part}: no value for {{{name}}}")]
    Missing { part: &'static str, name: String },
}

impl TemplateError {
    /// Which part of the template is wrong (`subject` or `body`).
    pub fn part(&self) -> &'static str {
        match self {
            TemplateError::UnknownField { part, .. }
            | TemplateError::Unclosed { part, .. }
            | TemplateError::StrayClose { part, .. }
            | TemplateError::Empty { part, .. }
            | TemplateError::Missing { part, .. } => part,
        }
    }
}

enum Piece<'a> {
    Text(&'a str),
    Field(&'a str),
}

/// Splits a template into text and fields; `at` counts characters from 1.
fn pieces<'a>(part: &'static str, text: &'a str) -> Result<Vec<Piece<'a>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut consumed = 0usize; // characters before `rest`
    while let Some(i) = rest.find(['{', '}']) {
        let at = consumed + rest[..i].chars().count() + 1;
        let brace = &rest[i..i + 1];
        let doubled = rest[i + 1..].starts_with(brace);
        if i > 0 {
            out.push(Piece::Text(&rest[..i]));
        }
        if doubled {
            out.push(Piece::Text(brace));
            consumed = at + 1;
            rest = &rest[i + 2..];
            continue;
        }
        if brace == "}" {
            return Err(TemplateError::StrayClose { part, at });
        }
        let Some(len) = rest[i + 1..].find(['}', '{']).filter(|&j| rest[i + 1 + j..].starts_with('}')) else {
            return Err(TemplateError::Unclosed { part, at });
        };
        let name = rest[i + 1..i + 1 + len].trim();
        if name.is_empty() {
            return Err(TemplateError::Empty { part, at });
        }
        out.push(Piece::Field(name));
        consumed = at + rest[i + 1..i + 1 + len].chars().count() + 1;
        rest = &rest[i + 2 + len..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Checks a subject and body for `kind`: braces balanced, every field known.
pub fn check(kind: Kind, subject: &str, body: &str) -> Result<(), TemplateError> {
    for (part, text) in [("subject", subject), ("body", body)] {
        for piece in pieces(part, text)? {
            if let Piece::Field(name) = piece
                && !allowed(kind, name)
            {
                return Err(TemplateError::UnknownField { part, name: name.to_string() });
            }
        }
    }
    Ok(())
}

fn fill(part: &'static str, text: &str, data: &Value) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len() + 32);
    for piece in pieces(part, text)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Field(name) => match data.get(name) {
                Some(Value::String(s)) => out.push_str(s),
                Some(Value::Null) | None => return Err(TemplateError::Missing { part, name: name.to_string() }),
                Some(other) => out.push_str(&other.to_string()),
            },
        }
    }
    Ok(out)
}

/// A notice as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

/// Fills `subject` and `body` from `data` (a JSON object of field values).
pub fn render(subject: &str, body: &str, data: &Value) -> Result<Rendered, TemplateError> {
    Ok(Rendered { subject: fill("subject", subject, data)?, body: fill("body", body, data)? })
}

/// The built-in (subject, body) of a kind in a language; every channel uses
/// it unless the tenant saved its own. Subjects matter to email only.
pub fn builtin(kind: Kind, lang: &str) -> (&'static str, &'static str) {
    let zh = lang != "en";
    match (kind, zh) {
        (Kind::BillIssued, true) => (
            "{period} 电费账单 {bill_no}",
            "尊敬的{customer_name}（户号 {account_no}）：您 {period} 的电费 {amount} 元已出账，请于 {due_date} 前缴纳。【{tenant_name}】",
        ),
        (Kind::BillIssued, false) => (
            "Your {period} electricity bill {bill_no}",
            "Dear {customer_name} (account {account_no}): your {period} bill of ¥{amount} is issued; please pay by {due_date}. — {tenant_name}",
        ),
        (Kind::PaymentDue, true) => (
            "电费将于 {due_date} 到期",
            "尊敬的{customer_name}（户号 {account_no}）：您 {period} 的电费 {amount} 元将于 {due_date} 到期，请按时缴纳。【{tenant_name}】",
        ),
        (Kind::PaymentDue, false) => (
            "Your bill is due on {due_date}",
            "Dear {customer_name} (account {account_no}): your {period} bill of ¥{amount} is due on {due_date}. — {tenant_name}",
        ),
        (Kind::Overdue, true) => (
            "电费已逾期",
            "尊敬的{customer_name}（户号 {account_no}）：您 {period} 的电费 {amount} 元已于 {due_date} 到期未缴，逾期将按规定收取违约金，请尽快缴纳。【{tenant_name}】",
        ),
        (Kind::Overdue, false) => (
            "Your bill is overdue",
            "Dear {customer_name} (account {account_no}): your {period} bill of ¥{amount} was due on {due_date} and is unpaid. Late fees accrue until it is paid. — {tenant_name}",
        ),
        (Kind::LowBalance, true) => (
            "预付费余额不足",
            "尊敬的{customer_name}（户号 {account_no}）：您的预付电费余额为 {balance} 元，预计可用 {days_left} 天，请及时充值，以免停电。【{tenant_name}】",
        ),
        (Kind::LowBalance, false) => (
            "Your prepaid balance is low",
            "Dear {customer_name} (account {account_no}): your prepaid balance is ¥{balance}, about {days_left} days of use. Please top up to avoid disconnection. — {tenant_name}",
        ),
        (Kind::DisconnectionOrdered, true) => (
            "停电通知：预付费余额已用尽",
            "尊敬的{customer_name}（户号 {account_no}）：您的预付电费余额 {balance} 元已用尽，供电将被暂停。缴费后将自动复电。【{tenant_name}】",
        ),
        (Kind::DisconnectionOrdered, false) => (
            "Supply suspended: prepaid balance used up",
            "Dear {customer_name} (account {account_no}): your prepaid balance (¥{balance}) is used up and your supply is being suspended. It is restored automatically once you pay. — {tenant_name}",
        ),
        (Kind::ReconnectionOrdered, true) => (
            "复电通知",
            "尊敬的{customer_name}（户号 {account_no}）：已收到您的缴费，余额 {balance} 元，供电正在恢复。【{tenant_name}】",
        ),
        (Kind::ReconnectionOrdered, false) => (
            "Your supply is being restored",
            "Dear {customer_name} (account {account_no}): we have your payment (balance ¥{balance}) and your supply is being restored. — {tenant_name}",
        ),
        (Kind::PlannedOutage, true) => (
            "计划停电{outage_change}：{outage_start} 至 {outage_end}",
            "尊敬的{customer_name}（户号 {account_no}）：因{outage_reason}，计划于 {outage_start} 至 {outage_end} 停电{outage_change}（编号 {outage_ref}），请提前做好安排。【{tenant_name}】",
        ),
        (Kind::PlannedOutage, false) => (
            "Planned outage{outage_change}: {outage_start} to {outage_end}",
            "Dear {customer_name} (account {account_no}): for {outage_reason}, power will be off from {outage_start} to {outage_end}{outage_change} (ref. {outage_ref}). Please plan ahead. — {tenant_name}",
        ),
        (Kind::FaultReported, true) => (
            "故障报修已受理",
            "尊敬的{customer_name}：您所在区域的停电故障（{title}）已受理，抢修人员正在处理。【{tenant_name}】",
        ),
        (Kind::FaultReported, false) => (
            "Fault reported",
            "Dear {customer_name}: the outage in your area ({title}) is reported and a repair crew is on it. — {tenant_name}",
        ),
        (Kind::RepairProgress, true) => (
            "抢修进展",
            "尊敬的{customer_name}：故障抢修（{title}）有新进展，我们会在恢复供电后通知您。【{tenant_name}】",
        ),
        (Kind::RepairProgress, false) => (
            "Repair progress",
            "Dear {customer_name}: the repair ({title}) is progressing; we will tell you when power is back. — {tenant_name}",
        ),
        (Kind::PowerRestored, true) => {
            ("已恢复供电", "尊敬的{customer_name}：故障（{title}）已修复，供电已恢复。感谢您的耐心。【{tenant_name}】")
        }
        (Kind::PowerRestored, false) => (
            "Power restored",
            "Dear {customer_name}: the fault ({title}) is repaired and power is back. Thank you for your patience. — {tenant_name}",
        ),
        (Kind::ExpansionStageChanged, true) => {
            ("业扩报装进度", "尊敬的{customer_name}：您的用电申请（{title}）已进入新环节。【{tenant_name}】")
        }
        (Kind::ExpansionStageChanged, false) => (
            "Your application has moved on",
            "Dear {customer_name}: your connection application ({title}) has reached its next stage. — {tenant_name}",
        ),
        (Kind::MeterVerificationDue, true) => (
            "电能表到期校验",
            "尊敬的{customer_name}（户号 {account_no}）：您的电能表 {meter_serial} 将于 {verification_date} 到期校验，我们将与您预约上门时间。【{tenant_name}】",
        ),
        (Kind::MeterVerificationDue, false) => (
            "Your meter is due for verification",
            "Dear {customer_name} (account {account_no}): meter {meter_serial} is due for verification on {verification_date}; we will contact you to arrange a visit. — {tenant_name}",
        ),
        (Kind::ContractExpiry, true) => (
            "供用电合同即将到期",
            "尊敬的{customer_name}（户号 {account_no}）：您的供用电合同 {contract_no} 将于 {expiry_date} 到期，请联系客户经理续签。【{tenant_name}】",
        ),
        (Kind::ContractExpiry, false) => (
            "Your supply contract expires soon",
            "Dear {customer_name} (account {account_no}): your supply contract {contract_no} expires on {expiry_date}; please contact your account manager to renew it. — {tenant_name}",
        ),
        (Kind::SafeUseAdvice, true) => ("安全用电提示", "尊敬的{customer_name}：{message}【{tenant_name}】"),
        (Kind::SafeUseAdvice, false) => ("Using electricity safely", "Dear {customer_name}: {message} — {tenant_name}"),
        (Kind::EnergySavingAdvice, true) => ("节约用电建议", "尊敬的{customer_name}：{message}【{tenant_name}】"),
        (Kind::EnergySavingAdvice, false) => ("Saving energy", "Dear {customer_name}: {message} — {tenant_name}"),
        (Kind::DemandResponseRequest, true) => {
            ("需求响应邀约", "尊敬的{customer_name}（户号 {account_no}）：{message}【{tenant_name}】")
        }
        (Kind::DemandResponseRequest, false) => {
            ("Demand response request", "Dear {customer_name} (account {account_no}): {message} — {tenant_name}")
        }
        (Kind::DemandResponseResult, true) => {
            ("需求响应结果", "尊敬的{customer_name}（户号 {account_no}）：{message}【{tenant_name}】")
        }
        (Kind::DemandResponseResult, false) => {
            ("Demand response result", "Dear {customer_name} (account {account_no}): {message} — {tenant_name}")
        }
        (Kind::PersonalBill, true) => (
            "{period} 电费账单 {bill_no}",
            "尊敬的{customer_name}（户号 {account_no}）：您 {period} 用电 {energy_kwh} 千瓦时，电费 {amount} 元，缴费截止 {due_date}。\n{lines}【{tenant_name}】",
        ),
        (Kind::PersonalBill, false) => (
            "Your {period} bill {bill_no}",
            "Dear {customer_name} (account {account_no}): in {period} you used {energy_kwh} kWh; the bill is ¥{amount}, due on {due_date}.\n{lines} — {tenant_name}",
        ),
        (Kind::LoadAnomaly, true) => (
            "用电负荷突变提醒",
            "尊敬的{customer_name}（户号 {account_no}）：您的电能表 {meter_serial} 自 {change_date} 起日均用电量由约 {before_kwh} 千瓦时变为约 {after_kwh} 千瓦时（{change_pct}）。如非生产计划调整，请检查用电设备，或联系您的客户经理。【{tenant_name}】",
        ),
        (Kind::LoadAnomaly, false) => (
            "Your electricity use changed suddenly",
            "Dear {customer_name} (account {account_no}): since {change_date}, meter {meter_serial} records about {after_kwh} kWh on an average day instead of about {before_kwh} kWh ({change_pct}). If you did not plan this, please check your equipment or call your account manager. — {tenant_name}",
        ),
        (Kind::PortalCode, true) => (
            "网上营业厅验证码",
            "尊敬的{customer_name}：您正在网上营业厅绑定户号 {account_no}，验证码 {code}，{minutes} 分钟内有效。如非本人操作，请忽略本信息，切勿告诉他人。【{tenant_name}】",
        ),
        (Kind::AppointmentReminder, true) => (
            "营业厅预约提醒",
            "尊敬的{customer_name}（户号 {account_no}）：您预约了 {day} {time} 到{hall}（{hall_address}）办理业务，请携带身份证件准时前往。如需取消，请登录网上营业厅。【{tenant_name}】",
        ),
        (Kind::AppointmentReminder, false) => (
            "Your appointment at the business hall",
            "Dear {customer_name} (account {account_no}): your appointment at {hall} ({hall_address}) is on {day} at {time}. Please bring your ID. To cancel, sign in to the online service hall. — {tenant_name}",
        ),
        (Kind::PortalCode, false) => (
            "Your online service code",
            "Dear {customer_name}: your code for linking account {account_no} online is {code}; it is valid for {minutes} minutes. If you did not ask for it, ignore this message and tell no one the code. — {tenant_name}",
        ),
    }
}

/// Field values for a preview or a test: every field of the kind, named.
pub fn sample_data(kind: Kind) -> Value {
    let mut m = BTreeMap::new();
    for f in COMMON_FIELDS.iter().chain(kind_fields(kind)) {
        m.insert(f.to_string(), Value::String(format!("[{f}]")));
    }
    Value::Object(m.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_fill_from_the_data_and_doubled_braces_write_one() {
        let data = json!({"customer_name": "张三", "amount": "128.50", "days_left": 3});
        let r = render("{{notice}} {customer_name}", "应缴 {amount} 元，可用 { days_left } 天", &data).unwrap();
        assert_eq!(r.subject, "{notice} 张三");
        assert_eq!(r.body, "应缴 128.50 元，可用 3 天");
    }

    #[test]
    fn a_field_without_a_value_is_an_error_naming_it() {
        let err = render("", "Dear {customer_name}", &json!({})).unwrap_err();
        assert_eq!(err, TemplateError::Missing { part: "body", name: "customer_name".into() });
        assert_eq!(err.to_string(), "body: no value for {customer_name}");
    }

    #[test]
    fn unknown_fields_and_bad_braces_are_refused_with_where() {
        let k = Kind::LowBalance;
        assert_eq!(check(k, "", "余额 {balance} 元").map_err(|e| e.to_string()), Ok(()));
        assert_eq!(
            check(k, "", "余额 {balnce} 元").unwrap_err(),
            TemplateError::UnknownField { part: "body", name: "balnce".into() }
        );
        // A field of another kind is not a field of this one.
        assert!(matches!(check(k, "{outage_start}", "x"), Err(TemplateError::UnknownField { part: "subject", .. })));
        assert_eq!(check(k, "", "余额 {balance 元").unwrap_err(), TemplateError::Unclosed { part: "body", at: 4 });
        assert_eq!(check(k, "", "ab } c").unwrap_err(), TemplateError::StrayClose { part: "body", at: 4 });
        assert_eq!(check(k, "", "a {} c").unwrap_err(), TemplateError::Empty { part: "body", at: 3 });
        assert_eq!(check(k, "", "a {x{y}} c").unwrap_err(), TemplateError::Unclosed { part: "body", at: 3 });
        assert!(check(k, "", "a {{x}} c").is_ok());
    }

    #[test]
    fn every_builtin_template_checks_and_renders_from_its_fields() {
        for kind in Kind::ALL {
            for lang in ["zh-CN", "en"] {
                let (subject, body) = builtin(kind, lang);
                check(kind, subject, body).unwrap_or_else(|e| panic!("{kind:?} {lang}: {e}"));
                let r = render(subject, body, &sample_data(kind)).unwrap();
                assert!(r.body.contains("[customer_name]"), "{kind:?} {lang} names the customer");
                assert!(!r.subject.is_empty());
            }
        }
        assert_ne!(builtin(Kind::Overdue, "en"), builtin(Kind::Overdue, "zh-CN"));
    }
}
