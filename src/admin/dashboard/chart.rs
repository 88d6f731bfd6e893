//! The geometry of the per-day channel chart: stacked bars, one stack per day, one colour per
//! channel, drawn by the template as inline SVG.
//!
//! Only numbers and labels are computed here; the template writes the SVG elements, so every
//! label goes through its auto-escaping. Positive values stack up from zero and negative ones
//! (net losses) down from it, so a day's stack shows both.

/// The SVG's coordinate box; the SVG scales to the page width.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 32.0;
/// At most this many day labels on the x axis.
const MAX_X_LABELS: usize = 10;
/// How many colours the stylesheet defines (`.c0` … `.c7`).
pub const PALETTE: usize = 8;

/// One channel's values, one per day, in the chart's day order.
#[derive(Debug, Clone)]
pub struct Series {
    /// The channel's name, for tooltips.
    pub name: String,
    /// Its colour: an index into the stylesheet's palette.
    pub colour: usize,
    /// One value per day.
    pub values: Vec<i64>,
}

/// One rectangle of a stack.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
    /// The palette class, `c0` … `c7`.
    pub class: String,
    /// The tooltip: day, channel and value.
    pub title: String,
}

/// A label at a position.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    /// Horizontal anchor.
    pub x: f64,
    /// Vertical anchor (baseline).
    pub y: f64,
    /// The text.
    pub text: String,
}

/// A ready-to-draw stacked bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct StackedChart {
    /// The `viewBox` width.
    pub width: f64,
    /// The `viewBox` height.
    pub height: f64,
    /// Where the plot starts and ends horizontally (for grid lines).
    pub left: f64,
    /// The right end of the plot.
    pub right: f64,
    /// Every bar.
    pub bars: Vec<Bar>,
    /// Day labels under the x axis.
    pub x_labels: Vec<Label>,
    /// Value labels left of the y axis; each also marks a grid line at its `y`.
    pub y_ticks: Vec<Label>,
    /// The y of the zero line.
    pub zero: f64,
    /// True when every value is zero: the template says so instead of an empty plot.
    pub empty: bool,
}

/// Rounds to a tenth, so the SVG stays short.
fn tenth(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The smallest 1, 2 or 5 × 10ⁿ at least `raw`.
fn nice_step(raw: f64) -> i64 {
    let mut step = 1_i64;
    loop {
        for factor in [1, 2, 5] {
            if (step * factor) as f64 >= raw {
                return step * factor;
            }
        }
        step *= 10;
    }
}

impl StackedChart {
    /// Lays out `series` over `days` (`yyyy-mm-dd`, oldest first).
    pub fn new(days: &[String], series: &[Series]) -> Self {
        let mut high = 0_i64;
        let mut low = 0_i64;
        for day in 0..days.len() {
            let values = series.iter().filter_map(|s| s.values.get(day));
            let (up, down) = values.fold((0, 0), |(up, down), &v| {
                if v > 0 {
                    (up + v, down)
                } else {
                    (up, down + v)
                }
            });
            high = high.max(up);
            low = low.min(down);
        }
        let step = nice_step(((high - low) as f64 / 4.0).max(1.0));
        let top = (high + step - 1).div_euclid(step) * step;
        let bottom = low.div_euclid(step) * step;
        let top = if top == bottom { bottom + step } else { top };
        let plot_h = HEIGHT - TOP - BOTTOM;
        let y_of = |v: i64| TOP + (top - v) as f64 / (top - bottom) as f64 * plot_h;

        let slot = (WIDTH - LEFT - RIGHT) / days.len().max(1) as f64;
        let bar_w = tenth(slot * 0.7);
        let mut bars = Vec::new();
        for (i, day) in days.iter().enumerate() {
            let x = tenth(LEFT + slot * i as f64 + slot * 0.15);
            let (mut up, mut down) = (0_i64, 0_i64);
            for s in series {
                let v = s.values.get(i).copied().unwrap_or(0);
                let (from, to) = match v {
                    0 => continue,
                    v if v > 0 => {
                        up += v;
                        (up, up - v)
                    }
                    v => {
                        down += v;
                        (down - v, down)
                    }
                };
                bars.push(Bar {
                    x,
                    y: tenth(y_of(from)),
                    w: bar_w,
                    h: tenth(y_of(to) - y_of(from)),
                    class: format!("c{}", s.colour % PALETTE),
                    title: format!("{day} {}: {v}", s.name),
                });
            }
        }

        let every = days.len().div_ceil(MAX_X_LABELS).max(1);
        let x_labels = days
            .iter()
            .enumerate()
            .filter(|(i, _)| i % every == 0)
            .map(|(i, day)| Label {
                x: tenth(LEFT + slot * (i as f64 + 0.5)),
                y: HEIGHT - 6.0,
                text: day.get(5..).unwrap_or(day).to_owned(),
            })
            .collect();
        let y_ticks = (0..)
            .map(|k| bottom + k * step)
            .take_while(|v| *v <= top)
            .map(|v| Label {
                x: LEFT - 6.0,
                y: tenth(y_of(v)),
                text: v.to_string(),
            })
            .collect();
        Self {
            width: WIDTH,
            height: HEIGHT,
            left: LEFT,
            right: WIDTH - RIGHT,
            bars,
            x_labels,
            y_ticks,
            zero: tenth(y_of(0)),
            empty: high == 0 && low == 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("2026-11-{d:02}")).collect()
    }

    fn series(name: &str, colour: usize, values: &[i64]) -> Series {
        Series {
            name: name.to_owned(),
            colour,
            values: values.to_vec(),
        }
    }

    #[test]
    fn steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(0.3), 1);
        assert_eq!(nice_step(3.0), 5);
        assert_eq!(nice_step(7.5), 10);
        assert_eq!(nice_step(11.0), 20);
        assert_eq!(nice_step(240.0), 500);
    }

    #[test]
    fn bars_stack_and_the_tallest_day_fits_the_plot() {
        let chart = StackedChart::new(
            &days(2),
            &[series("展会", 0, &[3, 1]), series("官网", 1, &[1, 0])],
        );
        assert_eq!(chart.bars.len(), 3, "zero values draw nothing");
        let (expo, site) = (&chart.bars[0], &chart.bars[1]);
        assert_eq!(expo.x, site.x, "one stack per day");
        assert!(
            (expo.y + expo.h - chart.zero).abs() < 0.2,
            "the first bar sits on zero"
        );
        assert!(
            (site.y + site.h - expo.y).abs() < 0.2,
            "the second sits on the first"
        );
        assert!(site.y >= TOP - 0.1);
        assert_eq!(expo.class, "c0");
        assert_eq!(site.title, "2026-11-01 官网: 1");
        assert!(!chart.empty);
    }

    #[test]
    fn negative_values_hang_below_zero() {
        let chart = StackedChart::new(&days(1), &[series("广告", 9, &[-2])]);
        let bar = &chart.bars[0];
        assert!((bar.y - chart.zero).abs() < 0.2, "starts at zero");
        assert!(bar.h > 0.0);
        assert!(bar.y + bar.h <= HEIGHT - BOTTOM + 0.1);
        assert_eq!(bar.class, "c1", "colours wrap around the palette");
        assert!(chart.y_ticks.iter().any(|t| t.text == "-2"));
    }

    #[test]
    fn an_all_zero_range_is_empty_and_long_ranges_thin_their_labels() {
        let chart = StackedChart::new(&days(30), &[series("展会", 0, &[0; 30])]);
        assert!(chart.empty);
        assert!(chart.bars.is_empty());
        assert!(chart.x_labels.len() <= MAX_X_LABELS);
        assert_eq!(chart.x_labels[0].text, "11-01");
    }
}
