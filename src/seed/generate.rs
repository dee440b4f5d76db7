//! Realistic, deterministic demo customers: Chinese names by surname
//! frequency, addresses that follow the reading route, industries that fit
//! the class, and meters with an installation history. Pure: the same seed and
//! sequence number always give the same customer.

use chrono::NaiveDate;
use rand::{Rng, rngs::StdRng, seq::SliceRandom};
use rust_decimal::Decimal;

pub struct DemoCustomer {
    pub account_no: String,
    pub name: String,
    pub class_code: &'static str,
    pub industry_code: &'static str,
    pub voltage_code: &'static str,
    pub tariff_code: &'static str,
    pub route_index: usize,
    pub address: String,
    pub phone: Option<String>,
    pub capacity_kva: Option<Decimal>,
    pub importance: Option<&'static str>,
    pub manager_index: Option<usize>,
    pub preferred_channels: Vec<&'static str>,
    pub tags: Vec<&'static str>,
    pub contacts: Vec<DemoContact>,
    pub supply_points: Vec<DemoSupplyPoint>,
}

pub struct DemoContact {
    pub name: String,
    pub role: &'static str,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub is_primary: bool,
}

pub struct DemoSupplyPoint {
    pub code: String,
    pub address: String,
    pub voltage_code: &'static str,
    pub capacity_kva: Option<Decimal>,
    pub transformer: String,
    pub meters: Vec<DemoMeter>,
}

pub struct DemoMeter {
    pub serial: String,
    pub kind: &'static str,
    pub time_of_use: bool,
    pub multiplier: Decimal,
    pub installed_on: NaiveDate,
    pub next_verification: Option<NaiveDate>,
    /// The meter this one replaced: its serial and installation date.
    pub previous: Option<(String, NaiveDate)>,
}

pub struct Region {
    /// The short place name used in company names, e.g. 杭州.
    pub city: &'static str,
    /// The place as an address starts, e.g. 杭州市.
    pub place: &'static str,
    pub districts: &'static [&'static str],
    pub streets: &'static [&'static str],
}

pub fn city_region() -> Region {
    Region {
        city: "杭州",
        place: "杭州市",
        districts: &["上城区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区", "临平区", "钱塘区"],
        streets: &[
            "解放路",
            "庆春路",
            "凤起路",
            "体育场路",
            "文三路",
            "文二路",
            "天目山路",
            "莫干山路",
            "延安路",
            "中河北路",
            "江南大道",
            "滨盛路",
            "市心中路",
            "金城路",
            "文一西路",
            "五常大道",
            "星桥路",
            "临平大道",
            "下沙路",
            "学源街",
        ],
    }
}

pub fn county_region() -> Region {
    Region {
        city: "桐庐",
        place: "桐庐县",
        districts: &["城南街道", "旧县街道", "桐君街道", "横村镇", "分水镇", "富春江镇", "江南镇", "百江镇"],
        streets: &[
            "迎春南路",
            "白云源路",
            "富春路",
            "学圣路",
            "康乐路",
            "桐君路",
            "春江路",
            "瑶琳路",
            "梅蓉路",
            "洋洲路",
        ],
    }
}

/// Surnames by their frequency in China (per mille, roughly), with a few
/// compound surnames.
const SURNAMES: &[(&str, u32)] = &[
    ("王", 72),
    ("李", 72),
    ("张", 68),
    ("刘", 54),
    ("陈", 46),
    ("杨", 32),
    ("黄", 24),
    ("赵", 23),
    ("吴", 21),
    ("周", 20),
    ("徐", 17),
    ("孙", 15),
    ("马", 15),
    ("朱", 14),
    ("胡", 13),
    ("郭", 12),
    ("何", 12),
    ("林", 11),
    ("高", 11),
    ("罗", 11),
    ("郑", 10),
    ("梁", 9),
    ("谢", 8),
    ("宋", 8),
    ("唐", 8),
    ("许", 7),
    ("韩", 7),
    ("冯", 7),
    ("邓", 7),
    ("曹", 7),
    ("彭", 6),
    ("曾", 6),
    ("肖", 6),
    ("田", 6),
    ("董", 6),
    ("袁", 5),
    ("潘", 5),
    ("于", 5),
    ("蒋", 5),
    ("蔡", 5),
    ("余", 5),
    ("杜", 5),
    ("叶", 5),
    ("程", 5),
    ("苏", 4),
    ("魏", 4),
    ("吕", 4),
    ("丁", 4),
    ("任", 4),
    ("沈", 4),
    ("姚", 4),
    ("卢", 4),
    ("姜", 3),
    ("崔", 3),
    ("钟", 3),
    ("谭", 3),
    ("陆", 3),
    ("汪", 3),
    ("范", 3),
    ("金", 3),
    ("石", 3),
    ("廖", 3),
    ("贾", 3),
    ("夏", 3),
    ("韦", 3),
    ("付", 3),
    ("方", 3),
    ("白", 3),
    ("邹", 3),
    ("孟", 2),
    ("熊", 2),
    ("秦", 2),
    ("邱", 2),
    ("江", 2),
    ("尹", 2),
    ("薛", 2),
    ("闫", 2),
    ("段", 2),
    ("雷", 2),
    ("侯", 2),
    ("龙", 2),
    ("史", 2),
    ("陶", 2),
    ("黎", 2),
    ("贺", 2),
    ("顾", 2),
    ("毛", 2),
    ("郝", 2),
    ("欧阳", 1),
    ("司马", 1),
    ("诸葛", 1),
    ("上官", 1),
];

const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀", "霞",
    "平", "刚", "桂", "英", "华", "玉", "萍", "红", "建", "国", "文", "辉", "鹏", "飞", "鑫", "波", "斌", "宇", "浩",
    "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙", "林", "欣", "婷", "雪", "琳", "晨", "晶", "颖", "佳", "慧", "倩",
    "莉", "燕", "玲", "丹", "萌", "瑶", "梅", "兰", "凤", "云", "海", "峰", "东", "志", "永", "春", "新", "金", "德",
    "忠", "福", "生", "荣", "祥", "嘉", "雨", "思", "梓", "子", "涵", "轩", "博", "睿", "泽", "晓", "亮", "成", "宏",
    "伦", "清", "民", "安", "良", "兴", "昊", "然", "诗", "若", "悦", "航", "毅", "彬", "媛", "蕾", "璐", "露", "薇",
    "琪", "璇", "翔", "振", "立", "江", "宝", "秋", "爱", "冬", "光", "天", "少", "家", "信", "达", "正", "中", "胜",
    "学", "贵", "利", "武", "卫", "松", "琦", "楠", "皓", "逸", "舒",
];

const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156",
    "157", "158", "159", "176", "177", "178", "180", "181", "182", "183", "185", "186", "187", "188", "189", "198",
    "199",
];

/// A line of business: its industry and how such businesses are named
/// (a brand word from WORDS, then one of the suffixes).
struct Trade {
    industry: &'static str,
    suffixes: &'static [&'static str],
}

const WORDS: &[&str] = &[
    "宏达", "恒信", "华美", "金鼎", "永盛", "瑞丰", "新星", "远航", "鑫源", "天成", "合力", "东方", "明珠", "兴旺",
    "中天", "锦程", "富春", "钱江", "之江", "百川", "绿源", "嘉禾", "创新", "卓越", "万达", "顺发", "汇通", "九州",
];

const SHOPS: &[Trade] = &[
    Trade { industry: "F52", suffixes: &["超市", "便利店", "五金店", "服装店", "药房", "电器商行"] },
    Trade { industry: "H62", suffixes: &["餐饮店", "面馆", "酒楼", "小吃店", "火锅店"] },
    Trade { industry: "H61", suffixes: &["宾馆", "大酒店", "民宿", "快捷酒店"] },
    Trade {
        industry: "I65", suffixes: &["网络科技有限公司", "信息技术有限公司", "软件有限公司"]
    },
    Trade { industry: "K70", suffixes: &["物业管理有限公司", "房地产开发有限公司"] },
    Trade { industry: "E47", suffixes: &["建设工程有限公司", "建筑工地临时用电"] },
];

const FACTORIES: &[Trade] = &[
    Trade { industry: "C26", suffixes: &["化工有限公司", "新材料股份有限公司"] },
    Trade { industry: "C30", suffixes: &["水泥有限公司", "建材有限公司", "玻璃制品有限公司"] },
    Trade { industry: "C31", suffixes: &["钢铁有限公司", "特钢有限公司", "金属制品有限公司"] },
    Trade {
        industry: "C39", suffixes: &["电子有限公司", "微电子股份有限公司", "光电科技有限公司"]
    },
    Trade { industry: "C13", suffixes: &["食品有限公司", "粮油加工有限公司"] },
    Trade { industry: "B06", suffixes: &["矿业有限公司"] },
];

const TRANSFORMER_SIZES: &[i64] =
    &[315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500, 3150, 5000, 8000, 10000, 20000];
const CT_RATIOS: &[i64] = &[30, 40, 60, 80, 100, 200];

fn weighted<'a, T>(rng: &mut StdRng, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|i| i.1).sum();
    let mut pick = rng.gen_range(0..total);
    for (item, weight) in items {
        if pick < *weight {
            return item;
        }
        pick -= weight;
    }
    &items[items.len() - 1].0
}

fn person_name(rng: &mut StdRng) -> String {
    let mut name = String::from(*weighted(rng, SURNAMES));
    let given = if rng.gen_bool(0.7) { 2 } else { 1 };
    for _ in 0..given {
        name.push_str(GIVEN.choose(rng).copied().unwrap_or("明"));
    }
    name
}

/// A mobile number unique within a run (for one salt): a prefix picked by a
/// hash of the sequence number, then the sequence number scrambled by a
/// bijection on 0..10^8 (multiplication by a number coprime to 10).
fn mobile(seq: u64, salt: u64) -> String {
    let hash = (seq.wrapping_mul(2_654_435_761) >> 7).wrapping_add(salt);
    let prefix = MOBILE_PREFIXES[(hash % MOBILE_PREFIXES.len() as u64) as usize];
    let body = (seq % 100_000_000).wrapping_mul(37_493_117).wrapping_add(salt * 7_919) % 100_000_000;
    format!("{prefix}{body:08}")
}

fn date(rng: &mut StdRng, from_year: i32, to_year: i32) -> NaiveDate {
    let year = rng.gen_range(from_year..=to_year);
    NaiveDate::from_ymd_opt(year, rng.gen_range(1..=12), rng.gen_range(1..=28)).unwrap_or_default()
}

/// The customer numbered `seq` of a tenant whose account numbers start with `area_prefix`.
pub fn customer(
    rng: &mut StdRng,
    region: &Region,
    area_prefix: &str,
    seq: u64,
    routes: usize,
    managers: usize,
) -> DemoCustomer {
    let account_no = format!("{area_prefix}{seq:08}");
    let route_index = if routes == 0 { 0 } else { (seq as usize * 7 / 5) % routes };
    let district = region.districts[route_index % region.districts.len()];
    let street = region.streets[(route_index / region.districts.len() + seq as usize / 997) % region.streets.len()];
    let roll: f64 = rng.r#gen();
    let kind = if roll < 0.88 {
        0
    } else if roll < 0.96 {
        1
    } else if roll < 0.975 {
        2
    } else if roll < 0.995 {
        3
    } else {
        4
    };
    let mut importance = None;
    let (name, class_code, industry_code, voltage_code, tariff_code, capacity_kva, address) = match kind {
        0 => {
            let building = rng.gen_range(1..=30);
            let address = format!(
                "{}{district}{street}{}号{building}栋{}单元{}{:02}室",
                region.place,
                rng.gen_range(1..=399),
                rng.gen_range(1..=4),
                rng.gen_range(1..=18),
                rng.gen_range(1..=4)
            );
            let voltage = if rng.gen_bool(0.9) { "v220" } else { "v380" };
            let tariff = if rng.gen_bool(0.3) { "res_tou" } else { "res_tiered" };
            (person_name(rng), "residential", "RES", voltage, tariff, None, address)
        }
        1 => {
            let trade = SHOPS.choose(rng).unwrap_or(&SHOPS[0]);
            let name = format!(
                "{}{}{}",
                region.city,
                WORDS.choose(rng).unwrap_or(&"宏达"),
                trade.suffixes.choose(rng).unwrap_or(&"超市")
            );
            let big = rng.gen_bool(0.2);
            let capacity =
                big.then(|| Decimal::from(*[50i64, 100, 160, 200, 315, 400, 630].choose(rng).unwrap_or(&100)));
            let tariff = if rng.gen_bool(0.4) { "commercial_tou" } else { "commercial_single" };
            let address = format!("{}{district}{street}{}号", region.place, rng.gen_range(1..=599));
            (name, "commercial", trade.industry, if big { "kv10" } else { "v380" }, tariff, capacity, address)
        }
        2 => {
            let trade = FACTORIES.choose(rng).unwrap_or(&FACTORIES[0]);
            let name = format!(
                "{}{}{}",
                region.city,
                WORDS.choose(rng).unwrap_or(&"宏达"),
                trade.suffixes.choose(rng).unwrap_or(&"化工有限公司")
            );
            let size = *TRANSFORMER_SIZES.choose(rng).unwrap_or(&1000);
            let voltage = match size {
                s if s >= 10000 => "kv110",
                s if s >= 5000 => "kv35",
                _ => "kv10",
            };
            if trade.industry == "B06" || size >= 8000 {
                importance = Some(if size >= 10000 { "first" } else { "second" });
            }
            let address = format!("{}{district}工业园区{}号", region.place, rng.gen_range(1..=199));
            (name, "large_industry", trade.industry, voltage, "large_two_part", Some(Decimal::from(size)), address)
        }
        3 => {
            let name = if rng.gen_bool(0.5) {
                format!(
                    "{}{}家庭农场",
                    district.trim_end_matches(['区', '镇']).trim_end_matches("街道"),
                    person_name(rng)
                )
            } else {
                format!(
                    "{}{}村排灌站",
                    district.trim_end_matches(['区', '镇']).trim_end_matches("街道"),
                    ["东", "西", "南", "北", "新"].choose(rng).unwrap_or(&"新")
                )
            };
            let address = format!(
                "{}{district}{}村",
                region.place,
                ["新丰", "和平", "红旗", "联合", "前进", "建新"].choose(rng).unwrap_or(&"新丰")
            );
            (name, "agriculture", "A01", "v380", "agri", None, address)
        }
        _ => {
            let (name, industry, grade) = *[
                ("{c}市第一人民医院", "Q84", "first"),
                ("{c}市中医院", "Q84", "second"),
                ("{c}自来水公司水厂", "D46", "first"),
                ("{d}人民政府", "S92", "second"),
                ("{c}市实验中学", "P83", "temporary"),
                ("{d}卫生院", "Q84", "second"),
            ]
            .choose(rng)
            .unwrap_or(&("{c}市第一人民医院", "Q84", "first"));
            importance = Some(grade);
            let name = name.replace("{c}", region.city).replace("{d}", district);
            let size = *[630i64, 800, 1000, 1250, 2000].choose(rng).unwrap_or(&1000);
            let address = format!("{}{district}{street}{}号", region.place, rng.gen_range(1..=299));
            (name, "public", industry, "kv10", "commercial_single", Some(Decimal::from(size)), address)
        }
    };
    let is_business = kind != 0;
    let manager_index = (managers > 0 && (kind == 2 || importance.is_some())).then(|| seq as usize % managers);
    let phone = rng.gen_bool(0.95).then(|| mobile(seq, 0));

    let mut preferred_channels = if is_business { vec!["phone", "email"] } else { vec!["sms", "wechat"] };
    if !is_business && rng.gen_bool(0.1) {
        preferred_channels = vec!["sms", "letter"];
    }
    let mut tags = Vec::new();
    if kind == 0 && rng.gen_bool(0.1) {
        tags.push("elderly");
    }
    if kind == 0 && rng.gen_bool(0.003) {
        tags.push("medical_equipment");
        tags.push("outage_sensitive");
    }
    if importance.is_some() && !tags.contains(&"outage_sensitive") {
        tags.push("outage_sensitive");
    }
    if kind == 2 {
        tags.push("high_consumption");
    }
    if rng.gen_bool(0.5) {
        tags.push("online_payer");
    }
    tags.sort_unstable();

    let contacts = if is_business {
        let roles: &[&str] = if kind == 1 { &["负责人"] } else { &["电工", "财务", "负责人"] };
        roles
            .iter()
            .enumerate()
            .map(|(i, role)| DemoContact {
                name: person_name(rng),
                role,
                phone: Some(mobile(seq, i as u64 + 1)),
                email: (kind != 1 && *role == "财务").then(|| format!("finance{seq}@example.cn")),
                is_primary: i == 0,
            })
            .collect()
    } else if rng.gen_bool(0.15) {
        vec![DemoContact {
            name: person_name(rng),
            role: "家属",
            phone: Some(mobile(seq, 9)),
            email: None,
            is_primary: false,
        }]
    } else {
        Vec::new()
    };

    let points = if kind == 2 { rng.gen_range(1..=3) } else { 1 };
    let supply_points = (1..=points)
        .map(|n| {
            let point_capacity = capacity_kva.map(|c| (c / Decimal::from(points)).round_dp(2));
            let transformer = if capacity_kva.is_some() {
                format!("专变 {n}号")
            } else {
                format!("10kV {street}线 #{} 公变", route_index % 40 + 1)
            };
            let time_of_use = tariff_code.ends_with("_tou") || kind == 2;
            let kind_of_meter = if rng.gen_bool(0.04) { "prepaid" } else { "smart" };
            let installed_on = date(rng, 2012, 2025);
            let previous = rng.gen_bool(0.15).then(|| (format!("3200{seq:09}{n}"), date(rng, 2000, 2011)));
            let multiplier =
                if kind == 2 { Decimal::from(*CT_RATIOS.choose(rng).unwrap_or(&40)) } else { Decimal::ONE };
            DemoSupplyPoint {
                code: format!("{account_no}-{n}"),
                address: address.clone(),
                voltage_code,
                capacity_kva: point_capacity,
                transformer,
                meters: vec![DemoMeter {
                    serial: format!("3300{seq:09}{n}"),
                    kind: kind_of_meter,
                    time_of_use,
                    multiplier,
                    installed_on,
                    next_verification: Some(date(rng, 2026, 2032)),
                    previous,
                }],
            }
        })
        .collect();

    DemoCustomer {
        account_no,
        name,
        class_code,
        industry_code,
        voltage_code,
        tariff_code,
        route_index,
        address,
        phone,
        capacity_kva,
        importance,
        manager_index,
        preferred_channels,
        tags,
        contacts,
        supply_points,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::SeedableRng;

    use super::*;
    use crate::customers::{model, reference::RefList};

    fn many(n: u64) -> Vec<DemoCustomer> {
        let mut rng = StdRng::seed_from_u64(1);
        let region = city_region();
        (1..=n).map(|seq| customer(&mut rng, &region, "01", seq, 40, 2)).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_customers() {
        let (a, b) = (many(200), many(200));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((&x.name, &x.address, &x.phone), (&y.name, &y.address, &y.phone));
        }
    }

    #[test]
    fn keys_are_unique_and_every_value_is_valid() {
        let customers = many(20_000);
        let codes = |list: RefList| list.defaults().iter().map(|d| d.0).collect::<HashSet<_>>();
        let (classes, industries, voltages, tariffs, tags) = (
            codes(RefList::Class),
            codes(RefList::Industry),
            codes(RefList::Voltage),
            codes(RefList::Tariff),
            codes(RefList::Tag),
        );
        let mut accounts = HashSet::new();
        let mut serials = HashSet::new();
        let mut phones = HashSet::new();
        let mut points = HashSet::new();
        for c in &customers {
            assert!(accounts.insert(c.account_no.clone()) && model::is_account_no(&c.account_no));
            assert!(classes.contains(c.class_code) && industries.contains(c.industry_code));
            assert!(voltages.contains(c.voltage_code) && tariffs.contains(c.tariff_code));
            assert!(c.tags.iter().all(|t| tags.contains(t)));
            assert!(c.preferred_channels.iter().all(|ch| model::CHANNELS.contains(ch)));
            if let Some(phone) = &c.phone {
                assert_eq!(model::parse_phone(phone).as_deref(), Some(phone.as_str()), "valid mobile {phone}");
                assert!(phones.insert(phone.clone()), "phone {phone} repeats");
            }
            if c.class_code == "large_industry" {
                assert!(c.capacity_kva.is_some() && c.manager_index.is_some());
            }
            if c.class_code == "residential" {
                assert!(["v220", "v380"].contains(&c.voltage_code));
            }
            for p in &c.supply_points {
                assert!(points.insert(p.code.clone()));
                for m in &p.meters {
                    assert!(serials.insert(m.serial.clone()), "serial {} repeats", m.serial);
                    if let Some((old, installed)) = &m.previous {
                        assert!(serials.insert(old.clone()) && *installed < m.installed_on);
                    }
                }
            }
        }
    }

    #[test]
    fn the_class_mix_looks_like_a_city() {
        let customers = many(20_000);
        let share = |class: &str| customers.iter().filter(|c| c.class_code == class).count() as f64 / 20_000.0;
        assert!((0.85..0.91).contains(&share("residential")));
        assert!((0.06..0.10).contains(&share("commercial")));
        assert!((0.008..0.025).contains(&share("large_industry")));
        let names: HashSet<_> = customers.iter().map(|c| c.name.as_str()).collect();
        assert!(names.len() > 10_000, "names vary: {}", names.len());
    }
}
