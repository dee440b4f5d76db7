//! The reference lists that classify customers: classes, industries, voltage
//! levels, tariff categories and tags. Every tenant starts with the national
//! defaults below and may add its own.

use serde::Serialize;
use sqlx::PgConnection;

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
    fn table(self) -> &'static str {
        match self {
            RefList::Class => "customer_classes",
            RefList::Industry => "industries",
            RefList::Voltage => "voltage_levels",
            RefList::Tariff => "tariff_categories",
            RefList::Tag => "tags",
        }
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

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct RefItem {
    pub code: String,
    pub name_zh: String,
    pub name_en: String,
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

/// The reading routes as (code, name), by code: for route filters.
pub async fn routes(conn: &mut PgConnection) -> sqlx::Result<Vec<(String, String)>> {
    let rows = sqlx::query!("SELECT code, name FROM reading_routes ORDER BY code").fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| (r.code, r.name)).collect())
}

pub async fn load(conn: &mut PgConnection, list: RefList) -> sqlx::Result<Vec<RefItem>> {
    let sql = format!("SELECT code, name_zh, name_en FROM {} ORDER BY sort, code", list.table());
    sqlx::query_as(&sql).fetch_all(conn).await
}

/// The five lists, in the order of `RefList::ALL`, in one round trip (the
/// customer page and form need all of them on every request).
pub async fn load_all(conn: &mut PgConnection) -> sqlx::Result<[Vec<RefItem>; 5]> {
    let sql = RefList::ALL
        .iter()
        .enumerate()
        .map(|(i, list)| format!("SELECT {i} AS list, code, name_zh, name_en, sort FROM {}", list.table()))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
        + " ORDER BY list, sort, code";
    let rows: Vec<(i32, String, String, String, i32)> = sqlx::query_as(&sql).fetch_all(conn).await?;
    let mut lists: [Vec<RefItem>; 5] = Default::default();
    for (list, code, name_zh, name_en, _) in rows {
        lists[list as usize].push(RefItem { code, name_zh, name_en });
    }
    Ok(lists)
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
}
