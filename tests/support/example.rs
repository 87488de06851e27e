//! `examples/service.toml` with one commented-out section switched on, to
//! check that what the example shows a user to uncomment loads.

/// The example, with the commented block that starts at the line
/// `# [<section>` (and every `# ` line right after it) uncommented.
pub fn with_section_uncommented(section: &str) -> String {
    let example = std::fs::read_to_string("examples/service.toml").expect("the example");
    uncomment(&example, section)
}

/// `example` with the commented block opening `# [<section>` uncommented.
pub fn uncomment(example: &str, section: &str) -> String {
    let opening = format!("# [{section}]");
    assert!(example.contains(&opening), "the example shows {section}");
    let mut out = String::new();
    let mut inside = false;
    for line in example.lines() {
        if line.starts_with(&opening) {
            inside = true;
        } else if !line.starts_with("# ") {
            inside = false;
        }
        match (inside, line.strip_prefix("# ")) {
            (true, Some(setting)) => out.push_str(setting),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
