//! A step's output as the GitHub runner shows it in the job's log: workflow commands are
//! consumed and rendered, values registered with `::add-mask::` are shown as `***` from then on,
//! for the rest of the job.

/// The job's log so far: the values masked by earlier steps stay masked in later ones.
#[derive(Default)]
pub struct RunnerLog {
    masks: Vec<String>,
    group_open: bool,
    annotations: Vec<String>,
}

impl RunnerLog {
    /// Renders one step's stdout, line by line, as the runner would show it.
    pub fn render(&mut self, stdout: &str) -> String {
        let mut out = String::new();
        for line in stdout.lines() {
            if let Some(shown) = self.line(line) {
                let indent = if self.group_open && !shown.starts_with('▶') {
                    "  "
                } else {
                    ""
                };
                for l in shown.split('\n') {
                    out.push_str(indent);
                    out.push_str(&self.mask(l));
                    out.push('\n');
                }
            }
        }
        out
    }

    /// The annotations the step made (errors, warnings, notices), as the run's summary page
    /// lists them, masked.
    pub fn take_annotations(&mut self) -> Vec<String> {
        std::mem::take(&mut self.annotations)
            .into_iter()
            .map(|a| self.mask(&a))
            .collect()
    }

    /// Replaces every masked value with `***`, longest first so that a value holding another
    /// is masked whole.
    pub fn mask(&self, text: &str) -> String {
        let mut masks: Vec<&String> = self.masks.iter().collect();
        masks.sort_by_key(|m| std::cmp::Reverse(m.len()));
        let mut text = text.to_string();
        for m in masks {
            text = text.replace(m.as_str(), "***");
        }
        text
    }

    /// What the runner prints for one line: `None` for a command it consumes silently.
    fn line(&mut self, line: &str) -> Option<String> {
        let Some((name, properties, data)) = parse_command(line) else {
            return Some(line.to_string());
        };
        let data = unescape_data(data);
        match name {
            "add-mask" => {
                for value in data.split('\n').map(str::trim) {
                    if !value.is_empty() && !self.masks.iter().any(|m| m == value) {
                        self.masks.push(value.to_string());
                    }
                }
                None
            }
            // Shown only when the workflow runs with debug logging on.
            "debug" => None,
            "group" => {
                self.group_open = true;
                Some(format!("▶ {data}"))
            }
            "endgroup" => {
                self.group_open = false;
                None
            }
            "error" | "warning" | "notice" => {
                let kind = match name {
                    "error" => "Error",
                    "warning" => "Warning",
                    _ => "Notice",
                };
                let title = properties
                    .split(',')
                    .filter_map(|p| p.split_once('='))
                    .find(|(k, _)| k.trim() == "title")
                    .map(|(_, v)| unescape_property(v));
                self.annotations.push(match &title {
                    Some(t) => format!("{kind}: {t}: {data}"),
                    None => format!("{kind}: {data}"),
                });
                Some(format!("{kind}: {data}"))
            }
            // A command the runner does not know is printed as it is.
            _ => Some(line.to_string()),
        }
    }
}

/// `::name properties::data` as (name, properties, data).
fn parse_command(line: &str) -> Option<(&str, &str, &str)> {
    let rest = line.strip_prefix("::")?;
    let (head, data) = rest.split_once("::")?;
    let (name, properties) = head.split_once(' ').unwrap_or((head, ""));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    Some((name, properties, data))
}

fn unescape_data(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

fn unescape_property(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_consumed_and_the_values_shown_as_stars_in_later_steps_too() {
        let mut log = RunnerLog::default();
        let shown = log
            .render("::add-mask::s3cret-value\nsending s3cret-value\n::add-mask::tok%0Aen-part\n");
        assert_eq!(shown, "sending ***\n");
        assert_eq!(
            log.render("tok en-part s3cret-value\n"),
            "*** *** ***\n",
            "a multi-line mask masks each of its lines, and masks last for the job"
        );
    }

    #[test]
    fn annotations_groups_and_debug_lines_are_rendered_as_the_runner_shows_them() {
        let mut log = RunnerLog::default();
        let shown = log.render(concat!(
            "::group::Requests\n",
            "POST /v1/x\n",
            "::endgroup::\n",
            "::debug::hidden\n",
            "::error title=port-action failed::100%25 broken%0Asecond line\n",
            "::warning::careful\n",
            "::notice title=a%3Ab%2Cc::fyi\n",
            "::unknown-thing::kept\n",
            "plain :: text\n",
        ));
        assert_eq!(
            shown,
            concat!(
                "▶ Requests\n",
                "  POST /v1/x\n",
                "Error: 100% broken\n",
                "second line\n",
                "Warning: careful\n",
                "Notice: fyi\n",
                "::unknown-thing::kept\n",
                "plain :: text\n",
            )
        );
        assert_eq!(
            log.take_annotations(),
            [
                "Error: port-action failed: 100% broken\nsecond line",
                "Warning: careful",
                "Notice: a:b,c: fyi",
            ]
        );
    }

    #[test]
    fn a_value_holding_another_masked_value_is_masked_whole() {
        let mut log = RunnerLog::default();
        log.render("::add-mask::abcd\n::add-mask::abcdefgh\n");
        assert_eq!(log.mask("abcdefgh abcd"), "*** ***");
    }
}
