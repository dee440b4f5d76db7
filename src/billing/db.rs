//! Loading the tenant's tariff versions and billing settings into the pure
//! shapes the calculation takes.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::billing::{
    LateFeeRules,
    tariff::{BasicCharge, EnergyPrice, Tariff, Tiers},
};

/// One row of `tariff_versions`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TariffVersion {
    pub id: Uuid,
    pub tariff_code: String,
    pub effective_from: NaiveDate,
    pub energy_kind: String,
    pub flat_price: Decimal,
    pub peak_price: Option<Decimal>,
    pub valley_price: Option<Decimal>,
    pub tier1_yearly_kwh: Option<Decimal>,
    pub tier2_yearly_kwh: Option<Decimal>,
    pub tier2_surcharge: Option<Decimal>,
    pub tier3_surcharge: Option<Decimal>,
    pub basic_kind: Option<String>,
    pub basic_price: Option<Decimal>,
    pub power_factor_standard: Option<Decimal>,
}

impl TariffVersion {
    /// The version as the calculation takes it.
    pub fn to_tariff(&self) -> Tariff {
        let energy = match (self.energy_kind.as_str(), self.peak_price, self.valley_price) {
            ("time_of_use", Some(peak), Some(valley)) => EnergyPrice::TimeOfUse { peak, flat: self.flat_price, valley },
            _ => EnergyPrice::Flat(self.flat_price),
        };
        let tiers = match (self.tier1_yearly_kwh, self.tier2_yearly_kwh, self.tier2_surcharge, self.tier3_surcharge) {
            (Some(l1), Some(l2), Some(s2), Some(s3)) => Some(Tiers { yearly_limits: [l1, l2], surcharges: [s2, s3] }),
            _ => None,
        };
        let basic = match (self.basic_kind.as_deref(), self.basic_price) {
            (Some("per_kva"), Some(p)) => Some(BasicCharge::PerKva(p)),
            (Some("per_kw_demand"), Some(p)) => Some(BasicCharge::PerKwDemand(p)),
            _ => None,
        };
        Tariff {
            code: self.tariff_code.clone(),
            effective_from: self.effective_from,
            energy,
            tiers,
            basic,
            power_factor_standard: self.power_factor_standard,
        }
    }
}

pub async fn versions(conn: &mut PgConnection, code: Option<&str>) -> sqlx::Result<Vec<TariffVersion>> {
    sqlx::query_as!(
        TariffVersion,
        r#"SELECT id, tariff_code, effective_from, energy_kind, flat_price, peak_price, valley_price,
                  tier1_yearly_kwh, tier2_yearly_kwh, tier2_surcharge, tier3_surcharge, basic_kind, basic_price,
                  power_factor_standard
           FROM tariff_versions WHERE ($1::text IS NULL OR tariff_code = $1)
           ORDER BY tariff_code, effective_from"#,
        code
    )
    .fetch_all(conn)
    .await
}

/// Every tariff of the tenant, by code, all versions.
pub async fn tariffs_by_code(conn: &mut PgConnection) -> sqlx::Result<HashMap<String, Vec<Tariff>>> {
    let mut map: HashMap<String, Vec<Tariff>> = HashMap::new();
    for v in versions(conn, None).await? {
        map.entry(v.tariff_code.clone()).or_default().push(v.to_tariff());
    }
    Ok(map)
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub due_days: i64,
    pub late_fees: LateFeeRules,
}

impl Default for Settings {
    fn default() -> Self {
        Self { due_days: 15, late_fees: LateFeeRules::default() }
    }
}

pub async fn settings(conn: &mut PgConnection) -> sqlx::Result<Settings> {
    let row = sqlx::query!(
        "SELECT due_days, late_fee_residential, late_fee_other, late_fee_other_across_year FROM billing_settings"
    )
    .fetch_optional(conn)
    .await?;
    Ok(row
        .map(|r| Settings {
            due_days: r.due_days as i64,
            late_fees: LateFeeRules {
                residential: r.late_fee_residential,
                other: r.late_fee_other,
                other_across_year: r.late_fee_other_across_year,
            },
        })
        .unwrap_or_default())
}
