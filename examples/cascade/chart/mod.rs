//! Self-contained SVG charts: line charts, stacked bars and state bands
//! over the scenario's time. No scripts, fonts or files from elsewhere:
//! the report opens offline and the README's copy renders on any forge.

mod frame;

use std::fmt::Write as _;

use self::frame::{BOTTOM, LEFT, RIGHT, TOP, WIDTH};
pub use self::frame::{Frame, Key, Phases, Scale, Series, escape};

/// A line chart over the scenario: one line per series.
pub fn lines(
    frame: &Frame,
    phases: &Phases,
    scale: Scale,
    unit: &str,
    series: &[Series],
) -> String {
    let keys: Vec<Key> = series
        .iter()
        .map(|s| Key {
            name: s.name.clone(),
            color: s.color,
            dashed: Some(s.dashed),
        })
        .collect();
    let total = TOP + frame.height + BOTTOM;
    let mut svg = frame.open(total, &keys);
    frame.phases(&mut svg, phases, TOP, true);
    frame.y_axis(&mut svg, TOP, scale, unit, &frame.y_label);
    frame.x_axis(&mut svg, TOP, true);
    let y = |v: f64| TOP + frame.height * (1.0 - scale.at(v));
    for s in series {
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        // One polyline per unbroken stretch of points.
        for stretch in s.points.split(|(_, v)| v.is_none()) {
            if stretch.is_empty() {
                continue;
            }
            let points: Vec<String> = stretch
                .iter()
                .filter_map(|(t, v)| v.map(|v| format!("{:.1},{:.1}", frame.x(*t), y(v))))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{}" stroke-width="2"{dash} points="{}"><title>{}</title></polyline>"#,
                s.color,
                points.join(" "),
                escape(&s.name)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Stacked bars, one panel per run: each bar splits a time bucket into
/// parts (the values add up to 100) in the keys' colors.
pub struct Panel {
    pub label: String,
    /// (bucket start, bucket end, one value per key), in seconds and %.
    pub bars: Vec<(f64, f64, Vec<f64>)>,
}

pub fn stacked(frame: &Frame, phases: &Phases, keys: &[Key], panels: &[Panel]) -> String {
    let gap = 34.0;
    let total = TOP + (frame.height + gap) * panels.len() as f64 - gap + BOTTOM;
    let mut svg = frame.open(total, keys);
    for (i, panel) in panels.iter().enumerate() {
        let top = TOP + (frame.height + gap) * i as f64;
        frame.phases(&mut svg, phases, top, i == 0);
        for (from, to, values) in &panel.bars {
            let (a, b) = (frame.x(*from), frame.x(*to));
            let mut bottom = top + frame.height;
            for (value, key) in values.iter().zip(keys) {
                let h = frame.height * value / 100.0;
                if h > 0.0 {
                    let _ = write!(
                        svg,
                        r#"<rect x="{a:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{} {value:.0} %</title></rect>"#,
                        bottom - h,
                        (b - a - 0.5).max(0.5),
                        key.color,
                        escape(&key.name)
                    );
                }
                bottom -= h;
            }
        }
        let label = format!("{}: % of requests", panel.label);
        frame.y_axis(&mut svg, top, Scale::Linear { max: 100.0 }, "", &label);
        frame.x_axis(&mut svg, top, i + 1 == panels.len());
        let (w, right) = (9.0 * panel.label.len() as f64 + 10.0, WIDTH - RIGHT - 4.0);
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{}" width="{w:.1}" height="18" fill="#ffffff" opacity="0.85"/><text x="{}" y="{}" font-weight="bold" text-anchor="end">{}</text>"##,
            right - w + 5.0,
            top + 3.0,
            right,
            top + 16.0,
            escape(&panel.label)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One layer's states over time: its label, and `(from, to, state)` in
/// seconds.
pub struct Row {
    pub label: String,
    pub bands: Vec<(f64, f64, String)>,
}

/// A row of state bands per layer, over the scenario, each state in its
/// key's color (matched by name).
pub fn bands(frame: &Frame, phases: &Phases, keys: &[Key], rows: &[Row]) -> String {
    let total = TOP + frame.height + BOTTOM;
    let mut svg = frame.open(total, keys);
    frame.phases(&mut svg, phases, TOP, true);
    let row_height = frame.height / rows.len().max(1) as f64;
    for (i, Row { label, bands }) in rows.iter().enumerate() {
        let top = TOP + row_height * i as f64;
        for (from, to, state) in bands {
            let color = keys
                .iter()
                .find(|k| k.name == *state)
                .map_or("#999999", |k| k.color);
            let (a, b) = (frame.x(*from), frame.x(*to));
            let _ = write!(
                svg,
                r#"<rect x="{a:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{}: {} from {from:.2} s to {to:.2} s</title></rect>"#,
                top + 6.0,
                (b - a).max(0.8),
                row_height - 12.0,
                escape(label),
                escape(state)
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"#,
            LEFT - 6.0,
            top + row_height / 2.0 + 4.0,
            escape(label)
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{}" stroke="#333"/>"##,
        TOP + frame.height
    );
    frame.y_label(&mut svg, TOP, &frame.y_label);
    frame.x_axis(&mut svg, TOP, true);
    svg.push_str("</svg>");
    svg
}
