//! The capacity plan: what breaks as the system grows, and what it costs.
//!
//! Growth *drivers* (agents, users, products) have current values; each
//! *component* has a demand per driver unit (a rate in operations/s, a
//! number of concurrent sessions, or memory in MB), a capacity per instance
//! (measured: the USL peak or the highest throughput within a latency limit;
//! or declared), a scaling kind and a cost per instance. For every scale
//! point the plan computes:
//!
//! - demand = Σ over drivers of (demand per unit × the driver's value), the
//!   drivers not named at that scale staying at their current value;
//! - utilisation = demand / capacity of the instances running today, where k
//!   instances give `C·k / (1 + σ(k−1) + κk(k−1))` (the USL across
//!   instances: diminishing returns, not linear division; σ = κ = 0 is
//!   linear);
//! - status: OK below 60 %, STRAINED from 60 %, CRITICAL from 85 %, BREAKS
//!   from 100 % — or, for a concurrency demand, past the USL peak N*, where
//!   more load lowers throughput;
//! - instances needed to bring utilisation under the STRAINED line (60 %):
//!   the smallest k up to 1,000 that does it; none when the component is a
//!   single instance that cannot carry it, or when the USL across instances
//!   peaks first;
//! - cost = instances needed × cost per instance.
//!
//! The **scaling wall** is the first scale point at which `wall_components`
//! (default 2) or more components are STRAINED or worse together: upgrades
//! that must land at the same time are the real risk. Each component's break
//! point is found exactly on the path from today through the scale points
//! (utilisation is linear in the drivers along each segment).
//!
//! Recommendations name the measurement behind them and the scale at which
//! they bite, grouped by how far that is from today (the first driver's
//! value at the break over its current value): Immediate (already at or past
//! STRAINED today), Short-term (breaks within 2×), Medium-term (within 5×),
//! Long-term (later).

use std::collections::BTreeMap;

/// What a component's demand measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemandKind {
    /// Operations per second.
    Rate,
    /// Concurrent sessions (compared with the USL peak concurrency).
    Concurrency,
    /// Memory in MB.
    MemoryMb,
}

impl DemandKind {
    /// The unit as printed.
    pub fn unit(self) -> &'static str {
        match self {
            DemandKind::Rate => "ops/s",
            DemandKind::Concurrency => "sessions",
            DemandKind::MemoryMb => "MB",
        }
    }
}

/// Why a demand or capacity text is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// No number in front.
    #[error("'{0}' does not start with a number (write e.g. 2/min, 3 sessions, 50MB)")]
    Number(String),
    /// A unit that is not known.
    #[error("unknown unit '{unit}' in '{text}' (use /s, /min, /h, sessions or MB)")]
    Unit {
        /// The whole text.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// A negative amount.
    #[error("'{0}' is negative; a demand or capacity must be ≥ 0")]
    Negative(String),
}

/// Parses "2/min", "0.5/s", "120/h", "3 sessions", "50MB", "1.5 GB" into a
/// kind and a value in its base unit (per second, sessions, MB).
pub fn parse_quantity(text: &str) -> Result<(DemandKind, f64), QuantityError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| QuantityError::Number(text.to_string()))?;
    if value < 0.0 || !value.is_finite() {
        return Err(QuantityError::Negative(text.to_string()));
    }
    let unit = unit.trim();
    let (kind, factor) = match unit.to_ascii_lowercase().as_str() {
        "/s" | "/sec" | "/second" => (DemandKind::Rate, 1.0),
        "/min" | "/minute" => (DemandKind::Rate, 1.0 / 60.0),
        "/h" | "/hour" => (DemandKind::Rate, 1.0 / 3600.0),
        "/day" | "/d" => (DemandKind::Rate, 1.0 / 86_400.0),
        "session" | "sessions" | "concurrent" => (DemandKind::Concurrency, 1.0),
        "mb" | "mib" => (DemandKind::MemoryMb, 1.0),
        "gb" | "gib" => (DemandKind::MemoryMb, 1024.0),
        "kb" | "kib" => (DemandKind::MemoryMb, 1.0 / 1024.0),
        _ => {
            return Err(QuantityError::Unit {
                text: text.to_string(),
                unit: unit.to_string(),
            })
        }
    };
    Ok((kind, value * factor))
}

/// How a component grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalingKind {
    /// Add instances behind a balancer.
    Stateless,
    /// Split the data over more instances.
    Shardable,
    /// One instance only: grows by a bigger machine or a redesign.
    Single,
}

impl ScalingKind {
    /// Name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            ScalingKind::Stateless => "stateless",
            ScalingKind::Shardable => "shardable",
            ScalingKind::Single => "single",
        }
    }
}

/// The USL coefficients measured for a component (for the wording of recommendations).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UslShape {
    /// Contention.
    pub sigma: f64,
    /// Coherency.
    pub kappa: f64,
    /// Peak concurrency N* (infinite when κ = 0).
    pub peak_concurrency: f64,
}

/// One component of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Its name (a service of the config).
    pub name: String,
    /// What its demand measures.
    pub kind: DemandKind,
    /// Demand per unit of each driver, in the kind's base unit.
    pub per_unit: BTreeMap<String, f64>,
    /// Capacity of one instance, same unit.
    pub capacity: f64,
    /// Where the capacity comes from (shown as evidence).
    pub capacity_source: String,
    /// The measured USL shape, when a sweep was fitted.
    pub usl: Option<UslShape>,
    /// How it grows.
    pub scaling: ScalingKind,
    /// Instances running today.
    pub instances: u32,
    /// Cost of one instance (any currency, per any period).
    pub cost_per_instance: f64,
    /// USL coefficients across instances (σ, κ); (0, 0) is linear.
    pub cluster: (f64, f64),
}

impl Component {
    /// Capacity of one instance: the declared or measured figure, and for a
    /// concurrency demand never more than the USL peak N*.
    pub fn per_instance(&self) -> f64 {
        match (self.kind, self.usl) {
            (DemandKind::Concurrency, Some(u)) if u.peak_concurrency.is_finite() => {
                self.capacity.min(u.peak_concurrency)
            }
            _ => self.capacity,
        }
    }

    /// Capacity of `k` instances.
    pub fn capacity_of(&self, k: u32) -> f64 {
        let k = f64::from(k.max(1));
        let (sigma, kappa) = self.cluster;
        self.per_instance() * k / (1.0 + sigma * (k - 1.0) + kappa * k * (k - 1.0))
    }

    /// Demand at a point where each driver has the given value.
    pub fn demand(&self, values: &BTreeMap<String, f64>) -> f64 {
        self.per_unit
            .iter()
            .map(|(driver, per)| per * values.get(driver).copied().unwrap_or(0.0))
            .sum()
    }
}

/// Status of one component at one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Under 60 %.
    Ok,
    /// 60–85 %.
    Strained,
    /// 85–100 %.
    Critical,
    /// 100 % or more, or past the USL peak.
    Breaks,
}

impl Status {
    /// Name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Strained => "STRAINED",
            Status::Critical => "CRITICAL",
            Status::Breaks => "BREAKS",
        }
    }
}

/// Utilisation thresholds.
pub const STRAINED_AT: f64 = 0.60;
/// See [`STRAINED_AT`].
pub const CRITICAL_AT: f64 = 0.85;
/// Most instances considered.
pub const MAX_INSTANCES: u32 = 1000;

/// The status of a utilisation (a concurrency demand's capacity is already
/// capped at the USL peak N*, so past the peak is past 100 %).
pub fn status_of(utilisation: f64) -> Status {
    if utilisation >= 1.0 {
        Status::Breaks
    } else if utilisation >= CRITICAL_AT {
        Status::Critical
    } else if utilisation >= STRAINED_AT {
        Status::Strained
    } else {
        Status::Ok
    }
}

/// Instances that bring `demand` under the STRAINED line, if any can.
pub fn instances_needed(component: &Component, demand: f64) -> Option<u32> {
    let limit = match component.scaling {
        ScalingKind::Single => 1,
        _ => MAX_INSTANCES,
    };
    let mut best = 0.0;
    for k in 1..=limit {
        let capacity = component.capacity_of(k);
        if demand < STRAINED_AT * capacity || (demand == 0.0 && capacity >= 0.0) {
            return Some(k);
        }
        if capacity < best {
            return None; // past the cluster's own USL peak: more instances lower capacity
        }
        best = capacity;
    }
    None
}

/// One cell of the bottleneck map.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Demand at this scale.
    pub demand: f64,
    /// Demand over the capacity of today's instances.
    pub utilisation: f64,
    /// Status.
    pub status: Status,
    /// Instances needed to stay under the STRAINED line.
    pub instances_needed: Option<u32>,
    /// Their cost.
    pub cost: Option<f64>,
}

/// Where a component first breaks on the path from today through the scales.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakPoint {
    /// Each driver's value at the break.
    pub values: BTreeMap<String, f64>,
    /// Index of the first scale point at or past the break.
    pub scale_index: usize,
}

/// One component across every scale.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentPlan {
    /// The component.
    pub component: Component,
    /// Utilisation today.
    pub today: Cell,
    /// One cell per scale point.
    pub cells: Vec<Cell>,
    /// Where utilisation reaches 100 % (or N*), if within the scales.
    pub breaks_at: Option<BreakPoint>,
}

/// Recommendation horizons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Horizon {
    /// Already strained today.
    Immediate,
    /// Breaks within 2× today's scale.
    ShortTerm,
    /// Within 5×.
    MediumTerm,
    /// Later.
    LongTerm,
}

impl Horizon {
    /// Name as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Horizon::Immediate => "Immediate",
            Horizon::ShortTerm => "Short-term",
            Horizon::MediumTerm => "Medium-term",
            Horizon::LongTerm => "Long-term",
        }
    }
}

/// An action tied to its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// When it must be done.
    pub horizon: Horizon,
    /// The component.
    pub component: String,
    /// What to do and why, with the figures.
    pub text: String,
}

/// Everything the plan needs.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInput {
    /// Drivers and their current values, in order (the first is the headline driver).
    pub drivers: Vec<(String, f64)>,
    /// Components.
    pub components: Vec<Component>,
    /// Scale points: each driver's value (drivers not named stay current).
    pub scales: Vec<BTreeMap<String, f64>>,
    /// Components strained or worse together that make the wall.
    pub wall_components: usize,
}

/// The computed plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Scale points with every driver filled in.
    pub scales: Vec<BTreeMap<String, f64>>,
    /// Per component.
    pub components: Vec<ComponentPlan>,
    /// Index of the scaling wall, if reached.
    pub wall: Option<usize>,
    /// Total cost per scale (None when some component cannot be scaled to it).
    pub cost: Vec<Option<f64>>,
    /// Recommendations, most urgent first.
    pub recommendations: Vec<Recommendation>,
}

impl PlanInput {
    fn today(&self) -> BTreeMap<String, f64> {
        self.drivers.iter().cloned().collect()
    }

    fn filled(&self, scale: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
        let mut values = self.today();
        for (k, v) in scale {
            values.insert(k.clone(), *v);
        }
        values
    }
}

fn cell(component: &Component, values: &BTreeMap<String, f64>) -> Cell {
    let demand = component.demand(values);
    let capacity = component.capacity_of(component.instances);
    let utilisation = if capacity > 0.0 {
        demand / capacity
    } else {
        f64::INFINITY
    };
    let instances = instances_needed(component, demand);
    Cell {
        demand,
        utilisation,
        status: status_of(utilisation),
        instances_needed: instances,
        cost: instances.map(|k| f64::from(k) * component.cost_per_instance),
    }
}

/// The first point on the path today → scales[0] → scales[1] … where the
/// component's utilisation reaches 1.
fn break_point(component: &Component, path: &[BTreeMap<String, f64>]) -> Option<BreakPoint> {
    let limit = component.capacity_of(component.instances);
    for (i, pair) in path.windows(2).enumerate() {
        let (from, to) = (&pair[0], &pair[1]);
        let (d0, d1) = (component.demand(from), component.demand(to));
        if d0 >= limit && i == 0 {
            return Some(BreakPoint {
                values: from.clone(),
                scale_index: 0,
            });
        }
        if d1 >= limit && d1 > d0 {
            let t = ((limit - d0) / (d1 - d0)).clamp(0.0, 1.0);
            let values = from
                .iter()
                .map(|(k, v0)| {
                    let v1 = to.get(k).copied().unwrap_or(*v0);
                    (k.clone(), v0 + t * (v1 - v0))
                })
                .collect();
            return Some(BreakPoint {
                values,
                scale_index: i,
            });
        }
    }
    None
}

/// Computes the plan. Pure: every input is given.
pub fn plan(input: &PlanInput) -> Plan {
    let today = input.today();
    let scales: Vec<BTreeMap<String, f64>> = input.scales.iter().map(|s| input.filled(s)).collect();
    let mut path = vec![today.clone()];
    path.extend(scales.iter().cloned());
    let components: Vec<ComponentPlan> = input
        .components
        .iter()
        .map(|c| ComponentPlan {
            component: c.clone(),
            today: cell(c, &today),
            cells: scales.iter().map(|s| cell(c, s)).collect(),
            breaks_at: break_point(c, &path),
        })
        .collect();
    let wall = (0..scales.len()).find(|&i| {
        components
            .iter()
            .filter(|c| c.cells[i].status >= Status::Strained)
            .count()
            >= input.wall_components.max(1)
    });
    let cost = (0..scales.len())
        .map(|i| components.iter().map(|c| c.cells[i].cost).sum())
        .collect();
    let headline = input.drivers.first().map(|(n, v)| (n.clone(), *v));
    let mut recommendations: Vec<Recommendation> = components
        .iter()
        .filter_map(|c| recommend(c, headline.as_ref(), &scales))
        .collect();
    recommendations.sort_by(|a, b| {
        a.horizon
            .cmp(&b.horizon)
            .then(a.component.cmp(&b.component))
    });
    Plan {
        scales,
        components,
        wall,
        cost,
        recommendations,
    }
}

/// A planned figure with 3 significant digits, in the one number format.
fn sig(x: f64) -> String {
    crate::number::sig_n(x, 3)
}

fn recommend(
    plan: &ComponentPlan,
    headline: Option<&(String, f64)>,
    scales: &[BTreeMap<String, f64>],
) -> Option<Recommendation> {
    let c = &plan.component;
    let worst = plan
        .cells
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.utilisation.total_cmp(&b.1.utilisation))?;
    if plan.today.status < Status::Strained && worst.1.status < Status::Strained {
        return None;
    }
    let (driver, current) = headline.cloned().unwrap_or_default();
    let horizon = if plan.today.status >= Status::Strained {
        Horizon::Immediate
    } else {
        match &plan.breaks_at {
            Some(b) if current > 0.0 => {
                let ratio = b.values.get(&driver).copied().unwrap_or(current) / current;
                if ratio <= 2.0 {
                    Horizon::ShortTerm
                } else if ratio <= 5.0 {
                    Horizon::MediumTerm
                } else {
                    Horizon::LongTerm
                }
            }
            _ => Horizon::LongTerm,
        }
    };
    let mut text = format!("{}: ", c.name);
    if let Some(u) = c.usl {
        if u.kappa > 0.0 && u.kappa * u.peak_concurrency > u.sigma {
            text.push_str(&format!(
                "κ = {} dominates — throughput falls past {} concurrent clients; ",
                sig(u.kappa),
                sig(u.peak_concurrency)
            ));
        } else if u.sigma > 0.0 {
            text.push_str(&format!(
                "σ = {} dominates — contention caps throughput near 1/σ = {} × one client's; ",
                sig(u.sigma),
                sig(1.0 / u.sigma)
            ));
        }
    }
    let at = scales
        .get(worst.0)
        .and_then(|s| s.get(&driver))
        .map(|v| format!("at {} {driver}", sig(*v)))
        .unwrap_or_else(|| "at the largest scale".into());
    text.push_str(&format!(
        "{at} demand is {} of capacity ({} of {} {}, {})",
        crate::number::pct(worst.1.utilisation * 100.0),
        sig(worst.1.demand),
        sig(c.capacity_of(c.instances)),
        c.kind.unit(),
        c.capacity_source
    ));
    let action = match (c.scaling, worst.1.instances_needed) {
        (ScalingKind::Single, _) => {
            "a single instance cannot be scaled out: move to a bigger machine, cache in front, or split it".to_string()
        }
        (ScalingKind::Stateless, Some(1)) => "a bigger instance or a second one".to_string(),
        (ScalingKind::Stateless, Some(k)) => format!("run {k} instances"),
        (ScalingKind::Shardable, Some(k)) => format!("shard it over {k} instances"),
        (_, None) => "scaling out cannot carry it (the instances' own USL peaks first): redesign".to_string(),
    };
    text.push_str(&format!(": {action}"));
    if let Some(b) = &plan.breaks_at {
        if let Some(v) = b.values.get(&driver) {
            text.push_str(&format!(" before ~{} {driver}", sig(*v)));
        }
    }
    Some(Recommendation {
        horizon,
        component: c.name.clone(),
        text,
    })
}

/// Points each finding costs in the health score.
pub const HEALTH_PENALTY: [(&str, f64); 4] = [
    ("CRITICAL", 4.0),
    ("HIGH", 2.0),
    ("MEDIUM", 1.0),
    ("LOW", 0.25),
];

/// The health score 0–10: 10 − 4·critical − 2·high − 1·medium − 0.25·low,
/// never below 0. `counts` are the findings per severity name.
pub fn health_score(counts: &BTreeMap<String, usize>) -> f64 {
    let penalty: f64 = HEALTH_PENALTY
        .iter()
        .map(|(name, points)| points * counts.get(*name).copied().unwrap_or(0) as f64)
        .sum();
    (10.0 - penalty).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(name: &str, per_agent: f64, capacity: f64) -> Component {
        Component {
            name: name.into(),
            kind: DemandKind::Rate,
            per_unit: [("agents".to_string(), per_agent)].into_iter().collect(),
            capacity,
            capacity_source: "declared".into(),
            usl: None,
            scaling: ScalingKind::Stateless,
            instances: 1,
            cost_per_instance: 100.0,
            cluster: (0.0, 0.0),
        }
    }

    fn scales(values: &[f64]) -> Vec<BTreeMap<String, f64>> {
        values
            .iter()
            .map(|v| [("agents".to_string(), *v)].into_iter().collect())
            .collect()
    }

    #[test]
    fn quantities_parse_with_units_and_refuse_typos() {
        assert_eq!(
            parse_quantity("2/min").unwrap(),
            (DemandKind::Rate, 2.0 / 60.0)
        );
        assert_eq!(
            parse_quantity("3 sessions").unwrap(),
            (DemandKind::Concurrency, 3.0)
        );
        assert_eq!(
            parse_quantity("1.5GB").unwrap(),
            (DemandKind::MemoryMb, 1536.0)
        );
        assert!(matches!(
            parse_quantity("2/mni"),
            Err(QuantityError::Unit { .. })
        ));
        assert!(matches!(
            parse_quantity("-2/s"),
            Err(QuantityError::Negative(_))
        ));
        assert!(matches!(
            parse_quantity("lots/s"),
            Err(QuantityError::Number(_))
        ));
    }

    #[test]
    fn utilisation_statuses_break_point_wall_instances_and_cost_by_hand() {
        // api: 2 ops/s per agent, 200 ops/s → 100 % at 100 agents
        // db: 1 ops/s per agent, 120 ops/s → 100 % at 120 agents
        // cache: 0.1 ops/s per agent, 1000 ops/s → never strained here
        let input = PlanInput {
            drivers: vec![("agents".into(), 10.0)],
            components: vec![
                component("api", 2.0, 200.0),
                component("db", 1.0, 120.0),
                component("cache", 0.1, 1000.0),
            ],
            scales: scales(&[50.0, 80.0, 150.0]),
            wall_components: 2,
        };
        let p = plan(&input);
        let api = &p.components[0];
        // today 20/200 = 10 %; 50 agents 50 %; 80 agents 80 %; 150 agents 150 %
        let u: Vec<f64> = api.cells.iter().map(|c| c.utilisation).collect();
        assert_eq!(u, vec![0.5, 0.8, 1.5]);
        let statuses: Vec<Status> = api.cells.iter().map(|c| c.status).collect();
        assert_eq!(statuses, vec![Status::Ok, Status::Strained, Status::Breaks]);
        // breaks exactly at 100 agents, between scale points 80 and 150
        let b = api.breaks_at.as_ref().unwrap();
        assert!((b.values["agents"] - 100.0).abs() < 1e-9);
        assert_eq!(b.scale_index, 2);
        let db_break = p.components[1].breaks_at.as_ref().unwrap().values["agents"];
        assert!((db_break - 120.0).abs() < 1e-9);
        assert!(p.components[2].breaks_at.is_none());
        // db at 80 agents: 80/120 = 67 % STRAINED, with api STRAINED → the wall is at 80 agents
        assert_eq!(p.components[1].cells[1].status, Status::Strained);
        assert_eq!(p.wall, Some(1));
        // instances to stay under 60 %: api at 150 agents needs 300/(0.6·200) → 3 (2.5 rounded up)
        assert_eq!(api.cells[2].instances_needed, Some(3));
        assert_eq!(api.cells[2].cost, Some(300.0));
        // total at 150 agents: api 3, db 150/(0.6·120) = 2.08 → 3, cache 1 → 7 × 100
        assert_eq!(p.cost[2], Some(700.0));
        // recommendations: api and db, short/medium term by the break (100/10 = 10× → long-term)
        assert_eq!(p.recommendations.len(), 2);
        assert!(
            p.recommendations[0].text.contains("before ~100 agents"),
            "{:?}",
            p.recommendations
        );
        assert_eq!(p.recommendations[0].horizon, Horizon::LongTerm);
    }

    #[test]
    fn usl_across_instances_gives_diminishing_returns_and_a_limit() {
        let mut c = component("search", 1.0, 100.0);
        c.cluster = (0.1, 0.0);
        // k instances: 100k / (1 + 0.1(k−1)); demand 150 needs 150/0.6 = 250 of capacity:
        // k = 3 gives 250 (not < 250), k = 4 gives 307.7
        assert_eq!(instances_needed(&c, 150.0), Some(4));
        // linear division would say 3
        c.cluster = (0.0, 0.0);
        assert_eq!(instances_needed(&c, 150.0), Some(3));
        // with coherency the cluster peaks: capacity max ≈ 100·k/(1+0.02k(k−1)) at k ≈ 7 → ~270
        c.cluster = (0.0, 0.02);
        assert_eq!(instances_needed(&c, 1000.0), None);
        // a single instance cannot be scaled out
        c.scaling = ScalingKind::Single;
        assert_eq!(instances_needed(&c, 59.0), Some(1));
        assert_eq!(instances_needed(&c, 61.0), None);
    }

    #[test]
    fn concurrency_past_the_usl_peak_breaks_even_below_full_utilisation() {
        let mut c = component("gateway", 1.0, 1000.0);
        c.kind = DemandKind::Concurrency;
        c.usl = Some(UslShape {
            sigma: 0.02,
            kappa: 0.004,
            peak_concurrency: 15.5,
        });
        let input = PlanInput {
            drivers: vec![("agents".into(), 5.0)],
            components: vec![c],
            scales: scales(&[10.0, 20.0]),
            wall_components: 2,
        };
        let p = plan(&input);
        assert_eq!(p.components[0].cells[1].status, Status::Breaks);
        let b = p.components[0].breaks_at.as_ref().unwrap().values["agents"];
        assert!((b - 15.5).abs() < 1e-9, "{b}");
        let text = &p.recommendations[0].text;
        assert!(
            text.contains("κ = 0.004 dominates — throughput falls past 15.5 concurrent clients"),
            "{text}"
        );
    }

    #[test]
    fn health_score_follows_its_formula() {
        let counts: BTreeMap<String, usize> = [("HIGH".to_string(), 1), ("LOW".to_string(), 2)]
            .into_iter()
            .collect();
        assert_eq!(health_score(&counts), 10.0 - 2.0 - 0.5);
        let many: BTreeMap<String, usize> = [("CRITICAL".to_string(), 3)].into_iter().collect();
        assert_eq!(health_score(&many), 0.0);
        assert_eq!(health_score(&BTreeMap::new()), 10.0);
    }
}
