//! The reference lists that classify customers: classes, industries, voltage
//! levels, tariff categories and tags. Every tenant starts with the national
//! defaults below and may add its own.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::web::{
    error::FieldErrors,
    input::{visible_text, whole_number},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefList {
    Class,
    Industry,
    Voltage,
    Tariff,
    Tag,
}

impl RefList {
    pub const ALL: [RefList; 5] = [RefList::Class, RefList::Industry, RefList::Voltage, RefList::Tariff, RefList::Tag];

    /// The table behind the list. Only these five names ever reach SQL text.
    pub(crate) fn table(self) -> &'static str {
        match self {
            RefList::Class => "customer_classes",
            RefList::Industry => "industries",
            RefList::Voltage => "voltage_levels",
            RefList::Tariff => "tariff_categories",
            RefList::Tag => "tags",
        }
    }

    /// The list's name in paths (`/admin/reference/{list}`, the API).
    pub fn slug(self) -> &'static str {
        match self {
            RefList::Class => "classes",
            RefList::Industry => "industries",
            RefList::Voltage => "voltages",
            RefList::Tariff => "tariffs",
            RefList::Tag => "tags",
        }
    }

    pub fn from_slug(slug: &str) -> Option<RefList> {
        RefList::ALL.into_iter().find(|l| l.slug() == slug)
    }

    /// The defaults a new tenant starts with: (code, Chinese, English).
    pub fn defaults(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            RefList::Class => &[
                ("residential", "居民生活", "Residential"),
                ("commercial", "一般工商业", "Commercial and general industry"),
                ("large_industry", "大工业", "Large industry"),
                ("agriculture", "农业生产", "Agriculture"),
                ("public", "公共及其他", "Public and other"),
            ],
            RefList::Industry => &[
                ("RES", "城乡居民生活", "Households"),
                ("A01", "农业", "Farming"),
                ("B06", "煤炭开采和洗选业", "Coal mining"),
                ("C13", "农副食品加工业", "Food processing"),
                ("C26", "化学原料和化学制品制造业", "Chemicals"),
                ("C30", "非金属矿物制品业", "Non-metallic mineral products"),
                ("C31", "黑色金属冶炼和压延加工业", "Iron and steel"),
                ("C39", "计算机、通信和其他电子设备制造业", "Electronics manufacturing"),
                ("D46", "水的生产和供应业", "Water supply"),
                ("E47", "房屋建筑业", "Building construction"),
                ("F52", "零售业", "Retail"),
                ("H61", "住宿业", "Accommodation"),
                ("H62", "餐饮业", "Catering"),
                ("I65", "软件和信息技术服务业", "Software and IT services"),
                ("K70", "房地产业", "Real estate"),
                ("P83", "教育", "Education"),
                ("Q84", "卫生", "Health care"),
                ("S92", "公共管理", "Public administration"),
            ],
            RefList::Voltage => &[
                ("v220", "交流220V", "AC 220 V"),
                ("v380", "交流380V", "AC 380 V"),
                ("kv10", "交流10kV", "AC 10 kV"),
                ("kv20", "交流20kV", "AC 20 kV"),
                ("kv35", "交流35kV", "AC 35 kV"),
                ("kv110", "交流110kV", "AC 110 kV"),
                ("kv220", "交流220kV", "AC 220 kV"),
            ],
            RefList::Tariff => &[
                ("res_tiered", "居民阶梯电价", "Residential tiered"),
                ("res_tou", "居民峰谷分时电价", "Residential time-of-use"),
                ("commercial_single", "一般工商业单一制", "Commercial single-part"),
                ("commercial_tou", "一般工商业分时电价", "Commercial time-of-use"),
                ("large_two_part", "大工业两部制电价", "Large industry two-part"),
                ("agri", "农业生产电价", "Agricultural"),
            ],
            RefList::Tag => &[
                ("outage_sensitive", "停电敏感", "Outage-sensitive"),
                ("elderly", "老年人", "Elderly"),
                ("online_payer", "线上交费", "Online payer"),
                ("medical_equipment", "家用医疗设备", "Medical equipment at home"),
                ("high_consumption", "高耗能", "High consumption"),
                ("vip", "VIP客户", "VIP"),
            ],
        }
    }
}

/// One code of a reference list with its names.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RefItem {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
    /// Retired codes stay on the records that have them and are refused for new ones.
    pub retired: bool,
}

impl RefItem {
    pub fn name(&self, lang: &str) -> &str {
        if lang == "en" { &self.name_en } else { &self.name_zh }
    }
}

/// Gives the current tenant the default list entries it lacks.
pub async fn install_defaults(conn: &mut PgConnection) -> sqlx::Result<()> {
    for list in RefList::ALL {
        let items = list.defaults();
        let sql = format!(
            "INSERT INTO {} (tenant_id, code, name_zh, name_en, sort)
             SELECT app_tenant_id(), code, zh, en, ord
             FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS d(code, zh, en, ord)
             ON CONFLICT DO NOTHING",
            list.table()
        );
        sqlx::query(&sql)
            .bind(items.iter().map(|i| i.0).collect::<Vec<_>>())
            .bind(items.iter().map(|i| i.1).collect::<Vec<_>>())
            .bind(items.iter().map(|i| i.2).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The reading routes as (code, name), by code, retired ones too: for route
/// filters over records that may still carry them.
pub async fn routes(conn: &mut PgConnection) -> sqlx::Result<Vec<(String, String)>> {
    let rows = sqlx::query!("SELECT code, name FROM reading_routes ORDER BY code").fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| (r.code, r.name)).collect())
}

pub async fn load(conn: &mut PgConnection, list: RefList) -> sqlx::Result<Vec<RefItem>> {
    let sql = format!(
        "SELECT code, name_zh, name_en, retired_at IS NOT NULL AS retired FROM {} ORDER BY sort, code",
        list.table()
    );
    sqlx::query_as(&sql).fetch_all(conn).await
}

/// The five lists, retired codes included (flagged), in the order of `RefList::ALL`, in one round trip (the
/// customer page and form need all of them on every request).
pub async fn load_all(conn: &mut PgConnection) -> sqlx::Result<[Vec<RefItem>; 5]> {
    let sql = RefList::ALL
        .iter()
        .enumerate()
        .map(|(i, list)| {
            format!(
                "SELECT {i} AS list, code, name_zh, name_en, sort, retired_at IS NOT NULL AS retired FROM {}",
                list.table()
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
        + " ORDER BY list, sort, code";
    let rows: Vec<(i32, String, String, String, i32, bool)> = sqlx::query_as(&sql).fetch_all(conn).await?;
    let mut lists: [Vec<RefItem>; 5] = Default::default();
    for (list, code, name_zh, name_en, _, retired) in rows {
        lists[list as usize].push(RefItem { code, name_zh, name_en, retired });
    }
    Ok(lists)
}

/// A tenant's reference lists and reading routes as pages show them.
pub struct Cached {
    /// Classes, industries, voltages, tariffs and tags, in [`RefList::ALL`]'s order.
    pub lists: [Vec<RefItem>; 5],
    /// (code, name, retired)
    pub routes: Vec<(String, String, bool)>,
}

impl Cached {
    /// One of the lists.
    pub fn list(&self, list: RefList) -> &[RefItem] {
        let at = RefList::ALL.iter().position(|l| *l == list).expect("every list is in RefList::ALL");
        &self.lists[at]
    }
}

/// How long a process keeps a tenant's lists. They change a few times a
/// year, and every page that names a class or voltage reads them; an edit in
/// this process empties the cache at once ([`forget_cached`]), and another
/// server process shows it within this time.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

type CacheMap = std::collections::HashMap<Uuid, (std::time::Instant, std::sync::Arc<Cached>)>;
static CACHE: std::sync::LazyLock<std::sync::Mutex<CacheMap>> = std::sync::LazyLock::new(Default::default);

/// The tenant's lists, from the cache while fresh, else read (two statements) and kept.
pub async fn cached(conn: &mut PgConnection, tenant_id: Uuid) -> sqlx::Result<std::sync::Arc<Cached>> {
    let now = std::time::Instant::now();
    if let Some((at, lists)) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(&tenant_id)
        && now.duration_since(*at) < CACHE_TTL
    {
        return Ok(lists.clone());
    }
    let lists = load_all(&mut *conn).await?;
    let routes =
        sqlx::query!(r#"SELECT code, name, retired_at IS NOT NULL AS "retired!" FROM reading_routes ORDER BY code"#)
            .fetch_all(conn)
            .await?
            .into_iter()
            .map(|r| (r.code, r.name, r.retired))
            .collect();
    let fresh = std::sync::Arc::new(Cached { lists, routes });
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|_, (at, _)| now.duration_since(*at) < CACHE_TTL);
    cache.insert(tenant_id, (now, fresh.clone()));
    Ok(fresh)
}

/// Empties the cache: a list or route was edited (by any tenant; edits are rare).
pub fn forget_cached() {
    CACHE.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

/// A code as a tenant admin types it: added with its names, or renamed (the
/// code is then fixed and ignored).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct CodeForm {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name_zh: String,
    #[serde(default)]
    pub name_en: String,
}

/// A code that passed the checks: what is written and audited.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValidCode {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
}

/// The same rule as the tables' CHECK: 1 to 20 of letters, digits, `_ . -`.
pub fn is_reference_code(code: &str) -> bool {
    (1..=20).contains(&code.len()) && code.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Checks a new code (`with_code`) or a renaming (the names only).
pub fn check_code(form: &CodeForm, with_code: bool) -> Result<ValidCode, FieldErrors> {
    let mut errors = FieldErrors::default();
    let code = form.code.trim().to_owned();
    if with_code && !is_reference_code(&code) {
        errors.add("code", if code.is_empty() { "required" } else { "reference_code_format" });
    }
    let name_zh = visible_text(&form.name_zh, 100, "name_zh", true, &mut errors);
    let name_en = visible_text(&form.name_en, 100, "name_en", true, &mut errors);
    errors.finish(ValidCode { code, name_zh, name_en })
}

/// A reading route as typed: its code (fixed once added), name, reading day
/// of the month and readers (staff user ids, one form field each).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct RouteForm {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub reader_day: String,
    #[serde(default)]
    pub readers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ValidRoute {
    pub code: String,
    pub name: String,
    pub reader_day: Option<i16>,
    pub readers: Vec<Uuid>,
}

/// Checks a route against the staff who may read it (`staff`: active users).
pub fn check_route(form: &RouteForm, with_code: bool, staff: &[Uuid]) -> Result<ValidRoute, FieldErrors> {
    let mut errors = FieldErrors::default();
    let code = form.code.trim().to_owned();
    let route_code_ok =
        (1..=20).contains(&code.len()) && code.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
    if with_code && !route_code_ok {
        errors.add("code", if code.is_empty() { "required" } else { "route_code_format" });
    }
    let name = visible_text(&form.name, 100, "name", true, &mut errors);
    // The day is left blank for a route read on no fixed day.
    let reader_day = (!form.reader_day.trim().is_empty())
        .then(|| whole_number(&form.reader_day, 1..=28, "reader_day", "reader_day_range", &mut errors) as i16);
    let mut readers = Vec::new();
    for raw in form.readers.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
        match Uuid::try_parse(raw) {
            Ok(id) if staff.contains(&id) => readers.push(id),
            _ => errors.add("readers", "unknown_reader"),
        }
    }
    readers.sort();
    readers.dedup();
    errors.finish(ValidRoute { code, name, reader_day, readers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_codes_are_unique_and_well_formed() {
        for list in RefList::ALL {
            let mut codes: Vec<_> = list.defaults().iter().map(|d| d.0).collect();
            assert!(codes.iter().all(|c| !c.is_empty()
                && c.len() <= 20
                && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')));
            let n = codes.len();
            codes.sort();
            codes.dedup();
            assert_eq!(codes.len(), n, "{list:?} has a duplicate code");
        }
    }

    #[test]
    fn a_new_code_needs_a_well_formed_code_and_both_names() {
        let form =
            CodeForm { code: " C99 ".into(), name_zh: "其他制造业".into(), name_en: "Other manufacturing".into() };
        assert_eq!(check_code(&form, true).unwrap().code, "C99");
        let bad = CodeForm { code: "C 99".into(), name_zh: " ".into(), ..form.clone() };
        let errors = check_code(&bad, true).unwrap_err();
        let found: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(found, [("code", "reference_code_format"), ("name_zh", "required")]);
        // A renaming ignores the code.
        assert!(check_code(&CodeForm { code: String::new(), ..form }, false).is_ok());
        assert!(!is_reference_code("ABCDEFGHIJKLMNOPQRSTU"));
    }

    #[test]
    fn a_route_names_its_day_and_unknown_readers() {
        let staff = [Uuid::from_u128(1), Uuid::from_u128(2)];
        let form = RouteForm {
            code: "R09".into(),
            name: "东城9段".into(),
            reader_day: "15".into(),
            readers: vec![staff[1].to_string(), staff[1].to_string(), String::new()],
        };
        let valid = check_route(&form, true, &staff).unwrap();
        assert_eq!((valid.reader_day, valid.readers), (Some(15), vec![staff[1]]));
        assert_eq!(
            check_route(&RouteForm { reader_day: String::new(), ..form.clone() }, true, &staff).unwrap().reader_day,
            None
        );
        let bad = RouteForm {
            code: "R.9".into(),
            reader_day: "29".into(),
            readers: vec![Uuid::from_u128(3).to_string()],
            ..form
        };
        let errors = check_route(&bad, true, &staff).unwrap_err();
        let found: Vec<_> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            found,
            [("code", "route_code_format"), ("reader_day", "reader_day_range"), ("readers", "unknown_reader")]
        );
    }
}
