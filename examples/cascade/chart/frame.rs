//! What every chart has: the frame, its title and legend, both axes with
//! their labels, and the scenario's phases as bands behind the data.

use std::fmt::Write as _;

/// The chart's width, in SVG units.
pub(super) const WIDTH: f64 = 960.0;
pub(super) const LEFT: f64 = 100.0;
pub(super) const RIGHT: f64 = 20.0;
/// Title, legend and phase names.
pub(super) const TOP: f64 = 70.0;
/// Tick labels and the x axis's label.
pub(super) const BOTTOM: f64 = 42.0;

/// The scenario's phases: a label, a start and an end, in seconds.
pub type Phases = [(&'static str, f64, f64)];

/// A y axis.
#[derive(Debug, Clone, Copy)]
pub enum Scale {
    /// 0 to `max`.
    Linear { max: f64 },
    /// `min` to `max`, by powers of ten.
    Log { min: f64, max: f64 },
}

impl Scale {
    /// Where `v` sits, from 0 (bottom) to 1 (top).
    pub(super) fn at(self, v: f64) -> f64 {
        match self {
            Scale::Linear { max } => (v / max).clamp(0.0, 1.0),
            Scale::Log { min, max } => {
                ((v.max(min).log10() - min.log10()) / (max.log10() - min.log10())).clamp(0.0, 1.0)
            }
        }
    }

    fn ticks(self) -> Vec<f64> {
        match self {
            Scale::Linear { max } => (0..=4).map(|i| max * f64::from(i) / 4.0).collect(),
            Scale::Log { min, max } => {
                let mut ticks = Vec::new();
                let mut v = min;
                while v <= max * 1.0001 {
                    ticks.push(v);
                    v *= 10.0;
                }
                ticks
            }
        }
    }
}

/// A line of a line chart.
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub dashed: bool,
    /// (seconds, value); a gap where there is no point.
    pub points: Vec<(f64, Option<f64>)>,
}

/// One entry of a legend: a name and its color; `dashed` draws a dashed
/// line sample, `None` a filled box.
pub struct Key {
    pub name: String,
    pub color: &'static str,
    pub dashed: Option<bool>,
}

/// What every chart has: the frame, title, legend, phases and axes.
pub struct Frame {
    pub title: String,
    pub y_label: String,
    /// The x axis, 0 to `x_max` seconds.
    pub x_max: f64,
    /// The plot area's height.
    pub height: f64,
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Frame {
    pub(super) fn x(&self, t: f64) -> f64 {
        LEFT + (WIDTH - LEFT - RIGHT) * (t / self.x_max).clamp(0.0, 1.0)
    }

    pub(super) fn plot_width(&self) -> f64 {
        WIDTH - LEFT - RIGHT
    }

    /// The opening tag, the title and the legend.
    pub(super) fn open(&self, total_height: f64, keys: &[Key]) -> String {
        let mut svg = format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {total_height}" width="{WIDTH}" height="{total_height}" font-family="Helvetica, Arial, sans-serif" font-size="12" role="img"><title>{title}</title><rect width="100%" height="100%" fill="#ffffff"/><text x="{LEFT}" y="20" font-size="15" font-weight="bold">{title}</text>"##,
            title = escape(&self.title)
        );
        let mut x = LEFT;
        for key in keys {
            match key.dashed {
                Some(dashed) => {
                    let dash = if dashed {
                        r#" stroke-dasharray="6 4""#
                    } else {
                        ""
                    };
                    let _ = write!(
                        svg,
                        r#"<line x1="{x}" x2="{}" y1="36" y2="36" stroke="{}" stroke-width="2.5"{dash}/>"#,
                        x + 22.0,
                        key.color
                    );
                }
                None => {
                    let _ = write!(
                        svg,
                        r#"<rect x="{x}" y="30" width="22" height="12" fill="{}"/>"#,
                        key.color
                    );
                }
            }
            let _ = write!(
                svg,
                r#"<text x="{}" y="40">{}</text>"#,
                x + 27.0,
                escape(&key.name)
            );
            x += 27.0 + 6.5 * key.name.chars().count() as f64 + 16.0;
        }
        svg
    }

    /// Phase bands and names behind a plot area starting at `top`.
    pub(super) fn phases(&self, svg: &mut String, phases: &Phases, top: f64, label: bool) {
        for (i, (name, from, to)) in phases.iter().enumerate() {
            let fill = if i % 2 == 0 { "#f3f3f3" } else { "#e6e6e6" };
            let (a, b) = (self.x(*from), self.x(*to));
            let _ = write!(
                svg,
                r#"<rect x="{a:.1}" y="{top}" width="{:.1}" height="{}" fill="{fill}"/>"#,
                b - a,
                self.height
            );
            if label {
                let _ = write!(
                    svg,
                    r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
                    (a + b) / 2.0,
                    top - 6.0,
                    escape(name)
                );
            }
        }
    }

    /// The x axis under a plot area starting at `top`, with its label if
    /// `label`.
    pub(super) fn x_axis(&self, svg: &mut String, top: f64, label: bool) {
        let bottom = top + self.height;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{bottom}" y2="{bottom}" stroke="#333"/>"##,
            LEFT + self.plot_width()
        );
        let step = if self.x_max <= 12.0 { 1.0 } else { 2.0 };
        let mut t = 0.0;
        while t <= self.x_max + 1e-9 {
            let x = self.x(t);
            let _ = write!(
                svg,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{bottom}" y2="{}" stroke="#333"/><text x="{x:.1}" y="{}" text-anchor="middle">{t:.0}</text>"##,
                bottom + 4.0,
                bottom + 16.0
            );
            t += step;
        }
        if label {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">seconds into the scenario (each run plays the same script)</text>"#,
                LEFT + self.plot_width() / 2.0,
                bottom + 34.0
            );
        }
    }

    /// The y axis of a plot area starting at `top`: ticks, grid and label.
    pub(super) fn y_axis(&self, svg: &mut String, top: f64, scale: Scale, unit: &str, label: &str) {
        let y = |v: f64| top + self.height * (1.0 - scale.at(v));
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{LEFT}" y1="{top}" y2="{}" stroke="#333"/>"##,
            top + self.height
        );
        for v in scale.ticks() {
            let text = if v >= 1.0 || v == 0.0 {
                format!("{v:.0}{unit}")
            } else {
                format!("{v}{unit}")
            };
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#bbb" stroke-width="0.6"/><text x="{}" y="{:.1}" text-anchor="end">{text}</text>"##,
                LEFT + self.plot_width(),
                y(v),
                y(v),
                LEFT - 5.0,
                y(v) + 4.0
            );
        }
        self.y_label(svg, top, label);
    }

    /// The y axis's label, turned, beside a plot area starting at `top`.
    pub(super) fn y_label(&self, svg: &mut String, top: f64, label: &str) {
        let middle = top + self.height / 2.0;
        let _ = write!(
            svg,
            r#"<text transform="translate(18 {middle:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            escape(label)
        );
    }
}
