//! The deterministic generator of the benchmark ledger: one US entity with a chart of a few
//! hundred accounts, two dimensions, three currencies with daily rates, and N journal entries of
//! about three lines each spread over fiscal year FY2026. The same seed and N always give the
//! same files, byte for byte, so runs on different days measure the same work.
//!
//! It writes, into one folder: `setup.toml`, `rates.csv`, `journal.csv` (closebook's journal
//! CSV) and `journal.ledger` (the same entries as a plain-text journal that hledger and ledger
//! read). Foreign-currency lines carry their accounting amount, converted here at the day's
//! rate, so that closebook and the peers see exactly the same amounts. Files are written through
//! buffers, entry by entry: a million entries never sit in memory.

use anyhow::Context as _;
use chrono::{Duration, NaiveDate};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// The entity the benchmark ledger belongs to.
pub const ENTITY: &str = "BENCH-US";
/// The user the benchmark acts as (member of the closers group).
pub const USER: &str = "bench";
/// The fiscal year the entries fall in, and its first day.
pub const FISCAL_YEAR: &str = "FY2026";
pub const FIRST_DAY: (i32, u32, u32) = (2026, 1, 1);
/// Days in FY2026.
const YEAR_DAYS: i64 = 365;
/// The seed of the generator: change it and every figure changes.
const SEED: u64 = 0x00c1_05eb_00c1_05eb;
/// Open receivables and payables kept for later payments, oldest paid first. Bounds the
/// generator's memory whatever N is.
const OPEN_ITEMS_KEPT_MAX: usize = 10_000;
/// The share capital paid in by the first entry, in cents (50 million dollars).
const SHARE_CAPITAL_CENTS: i64 = 5_000_000_000;
/// Buffer of each output file.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Departments (dimension `department`); 100, 200 and 300 are the allocation's destinations.
const DEPARTMENTS: [&str; 10] = ["100", "200", "300", "400", "500", "600", "700", "800", "900", "950"];
/// Projects (dimension `project`).
const PROJECT_COUNT: u64 = 40;

/// Which currencies the journal's entries use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Currencies {
    /// US dollars, plus export sales in EUR and loan payments in GBP (15 % of the entries),
    /// which the plain-text journal writes with `@@` total costs.
    #[default]
    Mixed,
    /// US dollars only: the same kinds of entries less the two foreign ones. ledger 3.3 handles
    /// `@@` costs on a large journal pathologically; this journal shows it on its own ground.
    UsdOnly,
}

impl Currencies {
    /// How a run names the journal.
    pub fn description(self) -> &'static str {
        match self {
            Currencies::Mixed => "3 currencies with daily rates (15 % of the entries in EUR or GBP)",
            Currencies::UsdOnly => "USD only",
        }
    }

    /// The kinds of entries drawn from: the foreign ones are the last 15 of 100.
    fn kinds(self) -> u64 {
        match self {
            Currencies::Mixed => 100,
            Currencies::UsdOnly => 85,
        }
    }

    /// What the files of a generation of `entries` entries are named by (`1000000`,
    /// `1000000-usd`): its data folder `data-{name}`, its ledger template.
    pub fn name(self, entries: u64) -> String {
        match self {
            Currencies::Mixed => entries.to_string(),
            Currencies::UsdOnly => format!("{entries}-usd"),
        }
    }
}

/// The counts a generation produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generated {
    pub entries: u64,
    pub lines: u64,
    pub accounts: usize,
}

/// SplitMix64: small, fast and the same on every machine.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// An amount in cents between `low` and `high` whole units.
    fn cents(&mut self, low: i64, high: i64) -> i64 {
        let span = u64::try_from((high - low) * 100).unwrap_or(1).max(1);
        low * 100 + i64::try_from(self.below(span)).unwrap_or(0)
    }
}

/// One account of the chart, as written to setup.toml.
struct Account {
    number: u32,
    kind: &'static str,
    extra: &'static str,
}

fn chart() -> Vec<Account> {
    let mut accounts = Vec::new();
    let mut add = |number: u32, kind: &'static str, extra: &'static str| accounts.push(Account { number, kind, extra });
    add(1000, "asset", "");
    for number in (1010..1100).step_by(10) {
        add(number, "asset", "");
    }
    add(1100, "asset", ", settle = true");
    add(1200, "asset", ", revalue = true, fixed_currency = \"EUR\"");
    for number in (1300..1400).step_by(10) {
        add(number, "asset", "");
    }
    for number in (1500..1600).step_by(10) {
        add(number, "asset", "");
    }
    add(2000, "liability", ", settle = true");
    add(2100, "liability", "");
    add(2300, "liability", ", revalue = true, fixed_currency = \"GBP\"");
    for number in (2400..2500).step_by(10) {
        add(number, "liability", "");
    }
    add(3000, "equity", "");
    add(3900, "equity", "");
    for number in revenue_accounts() {
        add(number, "revenue", "");
    }
    for number in expense_accounts() {
        add(number, "expense", "");
    }
    add(6800, "expense", "");
    add(7100, "revenue", "");
    add(7200, "expense", "");
    add(7990, "expense", "");
    accounts
}

fn revenue_accounts() -> impl Iterator<Item = u32> {
    (4000..4100).step_by(5)
}

/// Cost of sales 5000–5495 and operating expenses 6000–6795 (6100 is rent, the allocation's
/// source).
fn expense_accounts() -> impl Iterator<Item = u32> {
    (5000..5500).step_by(5).chain((6000..6800).step_by(5))
}

/// EUR→USD and GBP→USD in ten-thousandths, one per day from 2025-12-31 to 2026-12-31: a
/// bounded random walk.
fn daily_rates() -> Vec<(i64, i64)> {
    let mut random = Random(SEED ^ 0x5eed);
    let (mut eur, mut gbp) = (10_800_i64, 12_700_i64);
    let mut rates = Vec::new();
    for _ in 0..=YEAR_DAYS {
        rates.push((eur, gbp));
        eur = (eur + i64::try_from(random.below(41)).unwrap_or(20) - 20).clamp(10_200, 11_400);
        gbp = (gbp + i64::try_from(random.below(41)).unwrap_or(20) - 20).clamp(12_000, 13_400);
    }
    rates
}

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2).expect("a valid first day")
}

/// Cents as `-12.34`.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let absolute = cents.unsigned_abs();
    format!("{sign}{}.{:02}", absolute / 100, absolute % 100)
}

/// Converts cents at a rate in ten-thousandths, rounded half away from zero.
fn convert(cents: i64, rate: i64) -> i64 {
    let product = i128::from(cents) * i128::from(rate);
    let half = if product < 0 { -5_000 } else { 5_000 };
    i64::try_from((product + half) / 10_000).expect("converted cents fit in i64")
}

/// One line as generated: account, amount in its currency, the currency (None: USD), the
/// accounting amount in USD, and its dimensions.
struct Line {
    account: u32,
    amount: i64,
    currency: Option<&'static str>,
    accounting: i64,
    department: Option<&'static str>,
    project: Option<u64>,
}

impl Line {
    fn usd(account: u32, amount: i64) -> Self {
        Self {
            account,
            amount,
            currency: None,
            accounting: amount,
            department: None,
            project: None,
        }
    }

    fn foreign(account: u32, amount: i64, currency: &'static str, rate: i64) -> Self {
        Self {
            currency: Some(currency),
            accounting: convert(amount, rate),
            ..Self::usd(account, amount)
        }
    }

    fn with_dimensions(mut self, department: &'static str, project: Option<u64>) -> Self {
        self.department = Some(department);
        self.project = project;
        self
    }
}

/// Writes the benchmark organization for `entries` entries into `folder`.
pub fn generate(folder: &Path, entries: u64) -> anyhow::Result<Generated> {
    generate_with(folder, entries, Currencies::Mixed)
}

/// `generate` with the journal's currencies chosen.
pub fn generate_with(folder: &Path, entries: u64, currencies: Currencies) -> anyhow::Result<Generated> {
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let accounts = chart();
    write_setup(&folder.join("setup.toml"), &accounts)?;
    let rates = daily_rates();
    write_rates(&folder.join("rates.csv"), &rates)?;
    let lines = write_journals(folder, entries, &rates, currencies)?;
    Ok(Generated {
        entries,
        lines,
        accounts: accounts.len(),
    })
}

fn create(path: &Path) -> anyhow::Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(
        WRITE_BUFFER_BYTES,
        File::create(path).with_context(|| format!("creating {}", path.display()))?,
    ))
}

fn write_setup(path: &Path, accounts: &[Account]) -> anyhow::Result<()> {
    let mut text = String::from(
        "# The closebook benchmark organization, written by `closebook-bench generate`.\n\n\
         [[currency]]\ncode = \"USD\"\nname = \"US dollar\"\nminor_units = 2\n\n\
         [[currency]]\ncode = \"EUR\"\nname = \"Euro\"\nminor_units = 2\n\n\
         [[currency]]\ncode = \"GBP\"\nname = \"Pound sterling\"\nminor_units = 2\n\n\
         [[calendar]]\nid = \"standard\"\nstart_month = 1\nfirst_year = \"FY2026\"\nlast_year = \"FY2027\"\n\n\
         [[chart]]\nid = \"BENCH\"\nname = \"Benchmark chart of accounts\"\naccounts = [\n",
    );
    for account in accounts {
        writeln!(
            text,
            "  {{ number = \"{0}\", name = \"Account {0}\", type = \"{1}\"{2} }},",
            account.number, account.kind, account.extra
        )?;
    }
    text.push_str("]\n\n[[dimension]]\nname = \"department\"\ndescription = \"Department\"\nvalues = [");
    text.push_str(
        &DEPARTMENTS
            .iter()
            .map(|department| format!("\"{department}\""))
            .collect::<Vec<_>>()
            .join(", "),
    );
    text.push_str("]\n\n[[dimension]]\nname = \"project\"\ndescription = \"Project\"\nvalues = [");
    text.push_str(
        &(1..=PROJECT_COUNT)
            .map(|project| format!("\"P{project:02}\""))
            .collect::<Vec<_>>()
            .join(", "),
    );
    write!(
        text,
        "]\n\n[[group]]\nid = \"closers\"\nname = \"Closers\"\n\n\
         [[user]]\nid = \"{USER}\"\nname = \"Benchmark\"\ngroups = [\"closers\"]\n\n\
         [security]\nadministrator = \"{USER}\"\ntrust_declared_users = true\n\n\
         [[entity]]\nid = \"{ENTITY}\"\nname = \"Benchmark Inc.\"\ncurrency = \"USD\"\ncalendar = \"standard\"\n\
         chart = \"BENCH\"\nretained_earnings_account = \"3900\"\ndefault_rate_type = \"spot\"\n\
         penny_rounding_account = \"7990\"\npenny_tolerance = \"0.01\"\n"
    )?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn write_rates(path: &Path, rates: &[(i64, i64)]) -> anyhow::Result<()> {
    let mut out = create(path)?;
    writeln!(out, "from,to,type,date,rate")?;
    let day_before = first_day() - Duration::days(1);
    for (offset, (eur, gbp)) in (0_i64..).zip(rates) {
        let date = day_before + Duration::days(offset);
        writeln!(out, "EUR,USD,spot,{date},{}.{:04}", eur / 10_000, eur % 10_000)?;
        writeln!(out, "GBP,USD,spot,{date},{}.{:04}", gbp / 10_000, gbp % 10_000)?;
    }
    out.flush()?;
    Ok(())
}

/// Writes `journal.csv` and `journal.ledger`; returns the number of lines.
fn write_journals(folder: &Path, entries: u64, rates: &[(i64, i64)], currencies: Currencies) -> anyhow::Result<u64> {
    let mut csv = create(&folder.join("journal.csv"))?;
    let mut plain = create(&folder.join("journal.ledger"))?;
    writeln!(
        csv,
        "entry,date,account,amount,currency,accounting_amount,description,dim.department,dim.project"
    )?;
    let mut random = Random(SEED);
    let revenue: Vec<u32> = revenue_accounts().collect();
    let expenses: Vec<u32> = expense_accounts().collect();
    let mut open_receivables = std::collections::VecDeque::new();
    let mut open_payables = std::collections::VecDeque::new();
    let mut line_count = 0;
    let mut lines: Vec<Line> = Vec::with_capacity(4);
    for index in 0..entries {
        let day = i64::try_from(u128::from(index) * u128::from(YEAR_DAYS.unsigned_abs()) / u128::from(entries.max(1)))?;
        let date = first_day() + Duration::days(day);
        // Index 1 of `rates` is the first day of the year (index 0 is the day before).
        let (eur, gbp) = rates[usize::try_from(day + 1)?];
        let department = DEPARTMENTS[usize::try_from(random.below(DEPARTMENTS.len() as u64))?];
        let project = Some(1 + random.below(PROJECT_COUNT));
        lines.clear();
        let description = if index == 0 {
            lines.push(Line::usd(1000, SHARE_CAPITAL_CENTS));
            lines.push(Line::usd(3000, -SHARE_CAPITAL_CENTS));
            "Share capital paid in"
        } else {
            match random.below(currencies.kinds()) {
                0..55 => {
                    let first = expenses[usize::try_from(random.below(expenses.len() as u64))?];
                    let second = expenses[usize::try_from(random.below(expenses.len() as u64))?];
                    let (a, b) = (random.cents(10, 5_000), random.cents(10, 2_000));
                    lines.push(Line::usd(first, a).with_dimensions(department, project));
                    lines.push(Line::usd(second, b).with_dimensions(department, None));
                    lines.push(Line::usd(1000, -(a + b)));
                    "Expenses paid"
                }
                55..72 => {
                    let (a, b) = (random.cents(100, 20_000), random.cents(100, 5_000));
                    let first = revenue[usize::try_from(random.below(revenue.len() as u64))?];
                    lines.push(Line::usd(1100, a + b));
                    lines.push(Line::usd(first, -a).with_dimensions(department, project));
                    lines.push(Line::usd(4000, -b).with_dimensions(department, None));
                    if open_receivables.len() < OPEN_ITEMS_KEPT_MAX {
                        open_receivables.push_back(a + b);
                    }
                    "Invoice"
                }
                72..78 => match open_receivables.pop_front() {
                    Some(amount) => {
                        lines.push(Line::usd(1000, amount));
                        lines.push(Line::usd(1100, -amount));
                        "Customer payment"
                    }
                    None => {
                        let amount = random.cents(10, 1_000);
                        lines.push(Line::usd(1010, amount));
                        lines.push(Line::usd(1000, -amount));
                        "Transfer between banks"
                    }
                },
                78..82 => {
                    let (a, b) = (random.cents(100, 10_000), random.cents(10, 1_000));
                    let first = expenses[usize::try_from(random.below(expenses.len() as u64))?];
                    lines.push(Line::usd(first, a).with_dimensions(department, project));
                    lines.push(Line::usd(6100, b).with_dimensions("300", None));
                    lines.push(Line::usd(2000, -(a + b)));
                    if open_payables.len() < OPEN_ITEMS_KEPT_MAX {
                        open_payables.push_back(a + b);
                    }
                    "Supplier invoice"
                }
                82..85 => match open_payables.pop_front() {
                    Some(amount) => {
                        lines.push(Line::usd(2000, amount));
                        lines.push(Line::usd(1000, -amount));
                        "Supplier payment"
                    }
                    None => {
                        let amount = random.cents(10, 1_000);
                        lines.push(Line::usd(1020, amount));
                        lines.push(Line::usd(1000, -amount));
                        "Transfer between banks"
                    }
                },
                85..95 => {
                    let (a, b) = (random.cents(100, 10_000), random.cents(10, 5_000));
                    let first = revenue[usize::try_from(random.below(revenue.len() as u64))?];
                    lines.push(Line::foreign(1200, a + b, "EUR", eur));
                    lines.push(Line::foreign(first, -a, "EUR", eur).with_dimensions(department, project));
                    let mut last = Line::foreign(4000, -b, "EUR", eur).with_dimensions(department, None);
                    // Rounding each line may leave a cent: the last line takes it, so that the
                    // entry balances in both currencies, as a bank statement would book it.
                    last.accounting = -(lines[0].accounting + lines[1].accounting);
                    lines.push(last);
                    "Export sale paid in EUR"
                }
                _ => {
                    let (interest, repayment) = (random.cents(10, 2_000), random.cents(100, 10_000));
                    let first = Line::foreign(6800, interest, "GBP", gbp).with_dimensions("300", None);
                    let second = Line::foreign(2300, repayment, "GBP", gbp);
                    let cash = -(first.accounting + second.accounting);
                    lines.push(first);
                    lines.push(second);
                    lines.push(Line::usd(1000, cash));
                    "Loan interest and repayment in GBP"
                }
            }
        };
        line_count += lines.len() as u64;
        write_entry(&mut csv, &mut plain, index, date, description, &lines)?;
    }
    csv.flush()?;
    plain.flush()?;
    Ok(line_count)
}

fn write_entry(
    csv: &mut impl Write,
    plain: &mut impl Write,
    index: u64,
    date: NaiveDate,
    description: &str,
    lines: &[Line],
) -> anyhow::Result<()> {
    writeln!(plain, "{date} E{index:08} {description}")?;
    for line in lines {
        let currency = line.currency.unwrap_or("");
        let accounting = if line.currency.is_some() {
            money(line.accounting)
        } else {
            String::new()
        };
        let project = line.project.map(|project| format!("P{project:02}")).unwrap_or_default();
        writeln!(
            csv,
            "E{index:08},{date},{},{},{currency},{accounting},{description},{},{project}",
            line.account,
            money(line.amount),
            line.department.unwrap_or("")
        )?;
        match line.currency {
            None => writeln!(plain, "    a:{}  {} USD", line.account, money(line.amount))?,
            Some(currency) => writeln!(
                plain,
                "    a:{}  {} {currency} @@ {} USD",
                line.account,
                money(line.amount),
                money(line.accounting.abs())
            )?,
        }
    }
    writeln!(plain)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_rounds_half_away_from_zero() {
        // Proves the generator converts like closebook does (half away from zero, to cents).
        assert_eq!(convert(1_00, 10_850), 1_09);
        assert_eq!(convert(-1_00, 10_850), -1_09);
        assert_eq!(convert(10, 10_850), 11);
        assert_eq!(money(-5), "-0.05");
        assert_eq!(money(123_456), "1234.56");
    }

    #[test]
    fn generation_is_deterministic_and_balanced() {
        // Proves two generations give the same bytes and every plain-text entry sums to zero.
        let root = std::env::temp_dir().join(format!("closebook-bench-generate-{}", std::process::id()));
        let (first, second) = (root.join("a"), root.join("b"));
        let generated = generate(&first, 500).unwrap();
        generate(&second, 500).unwrap();
        for file in ["setup.toml", "rates.csv", "journal.csv", "journal.ledger"] {
            assert_eq!(
                std::fs::read(first.join(file)).unwrap(),
                std::fs::read(second.join(file)).unwrap(),
                "{file} differs between two generations"
            );
        }
        assert_eq!(generated.entries, 500);
        assert!(
            generated.lines > 1_000,
            "about three lines an entry: {}",
            generated.lines
        );
        assert!(
            generated.accounts > 300,
            "a few hundred accounts: {}",
            generated.accounts
        );
        let csv = std::fs::read_to_string(first.join("journal.csv")).unwrap();
        let mut sums = std::collections::HashMap::<String, i64>::new();
        for row in csv.lines().skip(1) {
            let fields: Vec<&str> = row.split(',').collect();
            let accounting = if fields[5].is_empty() { fields[3] } else { fields[5] };
            let cents: i64 = accounting.replace('.', "").parse().unwrap();
            *sums.entry(fields[0].to_owned()).or_default() += cents;
        }
        assert_eq!(sums.len(), 500);
        assert!(sums.values().all(|sum| *sum == 0), "an entry does not balance");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_usd_only_journal_has_no_foreign_line_and_no_cost() {
        // Proves the single-currency variant: the mixed journal of the same size has EUR and
        // GBP lines (with `@@` costs in the plain-text journal), this one none.
        let root = std::env::temp_dir().join(format!("closebook-bench-usd-{}", std::process::id()));
        let (mixed, usd) = (root.join("mixed"), root.join("usd"));
        generate(&mixed, 500).unwrap();
        let generated = generate_with(&usd, 500, Currencies::UsdOnly).unwrap();
        assert_eq!(generated.entries, 500);
        let foreign = |folder: &Path| {
            let csv = std::fs::read_to_string(folder.join("journal.csv")).unwrap();
            let plain = std::fs::read_to_string(folder.join("journal.ledger")).unwrap();
            (
                csv.lines()
                    .skip(1)
                    .filter(|row| !row.split(',').nth(4).unwrap().is_empty())
                    .count(),
                plain.matches("@@").count(),
            )
        };
        let (mixed_lines, mixed_costs) = foreign(&mixed);
        assert!(mixed_lines > 0 && mixed_costs > 0, "{mixed_lines} {mixed_costs}");
        assert_eq!(foreign(&usd), (0, 0));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
