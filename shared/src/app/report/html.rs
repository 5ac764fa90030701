//! The weekly review as one self-contained HTML page a finance lead reads without help: the
//! figures per step in a table, recovery curves of the treated against the holdout, firings
//! per day, the sample-ratio checks and the exception lists. Styles are inline and the page's
//! Content-Security-Policy forbids every fetch, so it opens offline and leaks nothing.

use super::svg::{self, Line, escape};
use super::{ArmFigures, RECOVERY_DAYS, Review, StepGroup};
use crate::domain::aging::AgingTable;
use crate::domain::{Currency, Mode, Money};
use std::fmt::Write;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;margin:0;
background:#fff;line-height:1.45}
main{max-width:980px;margin:0 auto;padding:16px}
h1{font-size:1.6rem;margin:.4em 0}h2{font-size:1.25rem;margin-top:1.6em;border-bottom:2px solid #1f5fa8}
h3{font-size:1.05rem;margin:1.2em 0 .3em}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5em 0}
th,td{border:1px solid #c8c8c8;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#eef2f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#444;font-size:.88rem}.hint{background:#fff6d6;border-left:4px solid #8a6d00;
padding:4px 8px;margin:4px 0}.warn{background:#fde8e4;border-left:4px solid #b3471d;padding:4px 8px}
.chart{max-width:640px;display:block;margin:.4em 0}.scroll{overflow-x:auto}
@media (max-width:600px){main{padding:8px}th,td{padding:3px}}
";

fn rate(a: &ArmFigures) -> String {
    match a.share().rate() {
        None => "–".to_owned(),
        Some(r) => format!("{:.0}% of {}", r * 100.0, a.matured),
    }
}

fn amounts(a: &ArmFigures) -> String {
    if a.recovered_this_week.is_empty() {
        return "–".to_owned();
    }
    a.recovered_this_week
        .iter()
        .map(|(code, minor)| match Currency::parse(code) {
            Ok(c) => format!("{} {code}", Money::new(*minor, c).to_decimal_string()),
            Err(_) => format!("{minor} {code} (minor units)"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn lift(g: &StepGroup) -> String {
    match g.lift {
        None => "–".to_owned(),
        Some((d, lo, hi)) => format!(
            "{:+.0} pts ({:+.0} to {:+.0})",
            d * 100.0,
            lo * 100.0,
            hi * 100.0
        ),
    }
}

fn group_title(g: &StepGroup) -> String {
    let mode = match g.mode {
        Mode::Live => "live",
        Mode::DryRun => "dry run",
    };
    format!(
        "{} (v{}, {mode}): step {}",
        g.automation_name, g.automation_version, g.step
    )
}

/// The page's policy: inline styles, nothing fetched, no script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

/// The review as an HTML page.
pub fn render(review: &Review) -> String {
    let mut out = String::new();
    let title = format!(
        "Weekly review {}: {}",
        review.week,
        review.tenant_id.as_str()
    );
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>",
        escape(&title)
    );
    let _ = write!(
        out,
        "<h1>{}</h1><p>Week {} to {} (tenant time). Recovery figures take the decisions \
         from {} on, each counted when {RECOVERY_DAYS} days have passed since it: a customer \
         recovered when the balance came back, the invoice was paid, or the request to cancel \
         was withdrawn or settled with an offer. The <strong>holdout</strong> is a random \
         share of customers the automation deliberately leaves alone, so the difference \
         between the treated and the holdout (the <strong>lift</strong>) is what the step \
         itself recovered.</p>",
        escape(&title),
        review.from,
        review.to,
        review.lookback_from
    );

    out.push_str("<h2>Steps</h2>");
    if review.groups.is_empty() {
        out.push_str("<p>No decisions in the look-back window.</p>");
    } else {
        out.push_str(
            "<div class=\"scroll\"><table><caption class=\"note\">Per automation version and \
             step. Rates are of decisions old enough to have had their days.</caption><thead><tr>\
             <th scope=\"col\">Step</th><th scope=\"col\">Went on this week</th>\
             <th scope=\"col\">Held out this week</th><th scope=\"col\">Treated recovered</th>\
             <th scope=\"col\">Holdout recovered</th><th scope=\"col\">Lift (95% interval)</th>\
             <th scope=\"col\">Median days to recover</th>\
             <th scope=\"col\">Owed by those who recovered this week</th></tr></thead><tbody>",
        );
        for g in &review.groups {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(&group_title(g)),
                g.this_week.went_on,
                g.this_week.holdout,
                rate(&g.treated),
                rate(&g.holdout),
                lift(g),
                g.treated
                    .median_days_to_recover
                    .map_or_else(|| "–".to_owned(), |d| format!("{d:.1}")),
                escape(&amounts(&g.treated)),
            );
        }
        out.push_str("</tbody></table></div>");
    }

    out.push_str("<h2>Recovery curves</h2><p class=\"note\">Share of customers still not recovered, by days since the step's decision: the lower the treated line below the holdout's, the more the step recovers.</p>");
    for g in review
        .groups
        .iter()
        .filter(|g| !g.treated.curve.is_empty() || !g.holdout.curve.is_empty())
    {
        let _ = write!(out, "<section><h3>{}</h3>", escape(&group_title(g)));
        let points = |a: &ArmFigures| a.curve.iter().map(|(d, s, _)| (*d as f64, *s)).collect();
        let treated_name = match g.mode {
            Mode::Live => "treated",
            Mode::DryRun => "targeted (dry run)",
        };
        let mut lines = vec![Line {
            name: treated_name,
            points: points(&g.treated),
            dashed: false,
        }];
        if !g.holdout.curve.is_empty() {
            lines.push(Line {
                name: "holdout",
                points: points(&g.holdout),
                dashed: true,
            });
        }
        out.push_str(&svg::share_lines(
            "recovery",
            &format!(
                "{}: share still unrecovered by days since the decision",
                group_title(g)
            ),
            "days since the decision",
            super::CURVE_DAYS as f64,
            &lines,
        ));
        for hint in &g.hints {
            let _ = write!(out, "<p class=\"hint\">{}</p>", escape(hint));
        }
        for note in &g.notes {
            let _ = write!(out, "<p class=\"note\">{}</p>", escape(note));
        }
        if let Some(s) = &g.saves {
            let _ = write!(
                out,
                "<p>Holds ended: {}; saved (withdrawn or offer accepted): {}.</p>",
                s.ended, s.saved
            );
            if !s.offers.is_empty() {
                out.push_str("<table><thead><tr><th scope=\"col\">Offer</th><th scope=\"col\">Made</th><th scope=\"col\">Accepted</th></tr></thead><tbody>");
                for (id, offered, accepted) in &s.offers {
                    let _ = write!(
                        out,
                        "<tr><th scope=\"row\">{}</th><td class=\"n\">{offered}</td><td class=\"n\">{accepted}</td></tr>",
                        escape(id)
                    );
                }
                out.push_str("</tbody></table>");
            }
        }
        out.push_str("</section>");
    }

    out.push_str("<h2>Firings per day</h2>");
    let days: Vec<chrono::NaiveDate> = review
        .from
        .iter_days()
        .take_while(|d| *d <= review.to)
        .collect();
    let mut series: Vec<(String, Vec<u64>)> = Vec::new();
    for d in &review.per_day {
        let name = format!("{} {}", d.automation_id, d.step);
        let i = match series.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                series.push((name, vec![0; days.len()]));
                series.len() - 1
            }
        };
        if let Some(slot) = days.iter().position(|day| *day == d.date) {
            series[i].1[slot] += d.went_on;
        }
    }
    if series.is_empty() {
        out.push_str("<p>Nothing went on this week.</p>");
    } else {
        out.push_str(&svg::grouped_bars(
            "per_day",
            "Decisions that went on, per day and step",
            "date",
            &days
                .iter()
                .map(|d| d.format("%a %d").to_string())
                .collect::<Vec<_>>(),
            &series,
        ));
    }

    if !review.assignments.is_empty() {
        out.push_str("<h2>Holdout check</h2><table><thead><tr><th scope=\"col\">Automation</th><th scope=\"col\">Rollout</th><th scope=\"col\">Treated</th><th scope=\"col\">Held out</th><th scope=\"col\">Not in cohort</th><th scope=\"col\">Verdict</th></tr></thead><tbody>");
        for a in &review.assignments {
            let verdict = match a.p_value {
                None => "too few clocks to check".to_owned(),
                Some(p) if a.mismatch() => {
                    format!("MISMATCH (p = {p:.2e}): the holdout is not the share it should be")
                }
                Some(p) => format!("as expected (p = {p:.2})"),
            };
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{} v{}</th><td>cohort {}%, holdout {}%</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td{}>{}</td></tr>",
                escape(&a.automation_id),
                a.automation_version,
                a.rollout.cohort_percent,
                a.rollout.holdout_percent,
                a.treated,
                a.holdout,
                a.not_in_cohort,
                if a.mismatch() { " class=\"warn\"" } else { "" },
                escape(&verdict)
            );
        }
        out.push_str("</tbody></table>");
    }

    out.push_str("<h2>Aging</h2>");
    match &review.aging_end {
        Some(end) => aging(&mut out, review.aging_start.as_ref(), end),
        None => out.push_str("<p class=\"note\">No aging table was recorded at the end of this week (the weekly job records it on the Monday after).</p>"),
    }

    out.push_str("<h2>Exceptions this week</h2>");
    let _ = write!(
        out,
        "<h3>Conditions most often not met ({})</h3>",
        review.conditions_not_met.len()
    );
    if review.conditions_not_met.is_empty() {
        out.push_str("<p class=\"note\">None.</p>");
    } else {
        out.push_str("<p class=\"note\">Customers a step skipped because a condition did not hold, counted once per daily run: a condition that skips many may be set too strictly.</p><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Automation</th><th scope=\"col\">Step</th><th scope=\"col\">Condition</th><th scope=\"col\">Skips (customer-days)</th><th scope=\"col\">Days</th></tr></thead><tbody>");
        for c in &review.conditions_not_met {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(&c.automation_id),
                escape(&c.step),
                escape(&c.condition),
                c.skips,
                c.days
            );
        }
        out.push_str("</tbody></table></div>");
    }
    for list in &review.exceptions {
        let _ = write!(out, "<h3>{} ({})</h3>", escape(list.title), list.total);
        if list.items.is_empty() {
            out.push_str("<p class=\"note\">None.</p>");
            continue;
        }
        out.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Date</th><th scope=\"col\">Customer</th><th scope=\"col\">Automation</th><th scope=\"col\">Step</th><th scope=\"col\">Detail</th></tr></thead><tbody>");
        for i in &list.items {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                i.date,
                escape(&i.customer_id),
                escape(&i.automation_id),
                escape(&i.step),
                escape(&i.detail)
            );
        }
        out.push_str("</tbody></table></div>");
        if list.total as usize > list.items.len() {
            let _ = write!(
                out,
                "<p class=\"note\">The first {} of {} are listed.</p>",
                list.items.len(),
                list.total
            );
        }
    }
    out.push_str("</main></body></html>\n");
    out
}

/// The aging section: per currency, a table of the buckets on `end`'s date with the change
/// since `start`, and a chart of the amount owed per bucket on both dates.
fn aging(out: &mut String, start: Option<&AgingTable>, end: &AgingTable) {
    use crate::domain::aging::{BUCKETS, CurrencyAging};
    let _ = write!(
        out,
        "<p class=\"note\">What customers owe on {}, by days since each unpaid charge (balance forward: payments settle the oldest charges first){}.</p>",
        end.date,
        start.map_or_else(String::new, |s| format!(", against {}", s.date))
    );
    if end.currencies.is_empty() {
        out.push_str("<p>Nobody owes anything.</p>");
    }
    let show = |minor: i64, c: &CurrencyAging| Money::new(minor, c.currency).to_decimal_string();
    for c in &end.currencies {
        let zero = CurrencyAging {
            currency: c.currency,
            buckets: Default::default(),
        };
        let before = start.map(|s| s.currency(c.currency).unwrap_or(&zero));
        let _ = write!(
            out,
            "<h3>{}</h3><table><thead><tr><th scope=\"col\">Days since the charge</th><th scope=\"col\">Owed</th><th scope=\"col\">Customers (by their oldest charge)</th>{}</tr></thead><tbody>",
            c.currency.code(),
            start.map_or_else(String::new, |s| format!(
                "<th scope=\"col\">Change since {}</th>",
                s.date
            ))
        );
        let row = |out: &mut String,
                   name: &str,
                   minor: i64,
                   customers: u64,
                   was: Option<(i64, u64)>| {
            let change = was.map_or_else(String::new, |(m, n)| {
                format!(
                    "<td class=\"n\">{}</td>",
                    escape(&format!(
                        "{}, {:+} customers",
                        show(minor - m, c),
                        customers as i64 - n as i64
                    ))
                )
            });
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{name}</th><td class=\"n\">{}</td><td class=\"n\">{customers}</td>{change}</tr>",
                show(minor, c),
            );
        };
        for (i, (name, _)) in BUCKETS.iter().enumerate() {
            let b = c.buckets[i];
            let was = before.map(|s| (s.buckets[i].amount_minor, s.buckets[i].customers));
            row(out, name, b.amount_minor, b.customers, was);
        }
        let was = before.map(|s| (s.total_minor(), s.customers()));
        row(out, "Total", c.total_minor(), c.customers(), was);
        out.push_str("</tbody></table>");
        // Whole units for the chart's axis (integer division: the table has the exact
        // amounts).
        let unit = 10i64.pow(c.currency.minor_digits());
        let whole = |a: &CurrencyAging| -> Vec<u64> {
            a.buckets
                .iter()
                .map(|b| (b.amount_minor.max(0) / unit) as u64)
                .collect()
        };
        let mut series = Vec::new();
        if let (Some(s), Some(table)) = (before, start) {
            series.push((format!("owed on {}", table.date), whole(s)));
        }
        series.push((format!("owed on {}", end.date), whole(c)));
        out.push_str(&svg::grouped_bars(
            &format!("aging_{}", c.currency.code()),
            &format!(
                "Owed by days since the charge, {} (whole units)",
                c.currency.code()
            ),
            "days since the charge",
            &BUCKETS
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .collect::<Vec<_>>(),
            &series,
        ));
    }
}

/// The aging table of one date as a page of its own (`GET /v1/reports/aging` in a browser).
pub fn render_aging(tenant: &crate::domain::TenantId, table: &AgingTable) -> String {
    let mut out = String::new();
    let title = format!("Aging on {}: {}", table.date, tenant.as_str());
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\
         <title>{t}</title><style>{STYLE}</style></head><body><main><h1>{t}</h1>",
        t = escape(&title)
    );
    aging(&mut out, None, table);
    out.push_str("</main></body></html>\n");
    out
}
