//! The job summary as a reader sees it on the run's page, in plain text: the step writes
//! Markdown in which outside text is escaped (`\``, `\*`, `&lt;`), and GitHub renders those
//! escapes away. Shown raw, `\`deploy\`` would read as if port-action printed backslashes.
//! Only what port-action's summaries use is rendered: headings, bold, code spans, links,
//! backslash escapes, the three HTML entities and the caution block.

/// `markdown` rendered line by line as text.
pub fn as_read(markdown: &str) -> String {
    let mut out = String::new();
    for line in markdown.lines() {
        let line = line.trim_end();
        let line = match line.trim_start_matches('#') {
            rest if rest.len() < line.len() && rest.starts_with(' ') => rest.trim_start(),
            _ => line,
        };
        let rendered = match line.strip_prefix('>') {
            Some(quoted) if quoted.trim() == "[!CAUTION]" => "Caution:".to_string(),
            Some(quoted) => format!("  {}", inline(quoted.trim_start())),
            None => inline(line),
        };
        out.push_str(&rendered);
        out.push('\n');
    }
    out
}

/// One line: escapes, entities, `**`, code spans and links rendered.
fn inline(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1).is_some_and(char::is_ascii_punctuation) => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '`' => {
                // A code span: its content is literal, up to a fence of the same length.
                let fence = chars[i..].iter().take_while(|c| **c == '`').count();
                let body_start = i + fence;
                let end = (body_start..chars.len()).find(|&j| {
                    chars[j..].iter().take_while(|c| **c == '`').count() == fence
                        && chars.get(j.wrapping_sub(1)) != Some(&'`')
                });
                match end {
                    Some(end) => {
                        let body: String = chars[body_start..end].iter().collect();
                        let body = match body.strip_prefix(' ').and_then(|b| b.strip_suffix(' ')) {
                            Some(b) if !b.is_empty() => b.to_string(),
                            _ => body,
                        };
                        out.push_str(&body);
                        i = end + fence;
                    }
                    None => {
                        out.extend(&chars[i..body_start]);
                        i = body_start;
                    }
                }
            }
            '*' if chars.get(i + 1) == Some(&'*') => i += 2,
            '&' => {
                let rest: String = chars[i..chars.len().min(i + 5)].iter().collect();
                let (text, len) = if rest.starts_with("&lt;") {
                    ("<", 4)
                } else if rest.starts_with("&gt;") {
                    (">", 4)
                } else if rest.starts_with("&amp;") {
                    ("&", 5)
                } else {
                    ("&", 1)
                };
                out.push_str(text);
                i += len;
            }
            '[' => match link_at(&chars, i) {
                Some((label, url, next)) => {
                    let label = inline(&label);
                    if label == url {
                        out.push_str(&url);
                    } else {
                        out.push_str(&format!("{label} <{url}>"));
                    }
                    i = next;
                }
                None => {
                    out.push('[');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// `[label](destination)` starting at `at`: the label's Markdown, the destination with its
/// `\&` unescaped, and where the link ends.
fn link_at(chars: &[char], at: usize) -> Option<(String, String, usize)> {
    let mut depth = 0;
    let mut j = at;
    let close = loop {
        match chars.get(j)? {
            '\\' => j += 1,
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    break j;
                }
            }
            _ => {}
        }
        j += 1;
    };
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = (close + 2..chars.len()).find(|&k| chars[k] == ')')?;
    let label: String = chars[at + 1..close].iter().collect();
    let url: String = chars[close + 2..end].iter().collect();
    Some((label, url.replace("\\&", "&"), end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_code_spans_links_and_bold_read_as_text() {
        let md = "### Port: PATCH\\_RUN\n\n\
                  - Run [`r_demo`](http://x/run?runId=r_demo\\&a=1) finished: **SUCCESS**\n\
                  - Run summary: GitHub Actions job \\`deploy\\` in acme/payments &lt;ok&gt;\n\
                  - Run links: [https://github.com/a](https://github.com/a)\n\
                  - `` a`b ``\n\n\
                  > [!CAUTION]\n\
                  > cannot post: 100\\% \\[sic\\]\n";
        assert_eq!(
            as_read(md),
            "Port: PATCH_RUN\n\n\
             - Run r_demo <http://x/run?runId=r_demo&a=1> finished: SUCCESS\n\
             - Run summary: GitHub Actions job `deploy` in acme/payments <ok>\n\
             - Run links: https://github.com/a\n\
             - a`b\n\n\
             Caution:\n  cannot post: 100% [sic]\n"
        );
    }
}
