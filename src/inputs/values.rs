//! The parsers of one input's value: booleans, whole numbers, durations, the base URL and
//! region, JSON objects and entities, `team`, `link`, statuses, identifiers and run ids. Each
//! takes the text a workflow gave and returns the typed value or an error naming the input;
//! which inputs an operation reads, and their defaults, is the business of the table in
//! [`super`]. [`shown`] and [`printable`] put outside text into those errors safely.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{parse_json_input, InputError, Status};

const EU_HOSTS: [&str; 2] = ["api.getport.io", "api.port.io"];
const US_HOSTS: [&str; 2] = ["api.us.getport.io", "api.us.port.io"];
const DEFAULT_EU_BASE: &str = "https://api.getport.io";
const DEFAULT_US_BASE: &str = "https://api.us.getport.io";
/// Port's web app and website, each with the API host meant: a `baseUrl` copied from the
/// browser.
const NOT_API_HOSTS: [(&str, &str); 8] = [
    ("app.getport.io", "api.getport.io"),
    ("app.port.io", "api.port.io"),
    ("app.us.getport.io", "api.us.getport.io"),
    ("app.us.port.io", "api.us.port.io"),
    ("getport.io", "api.getport.io"),
    ("www.getport.io", "api.getport.io"),
    ("port.io", "api.port.io"),
    ("www.port.io", "api.port.io"),
];

/// The API root from `baseUrl` and `region`: no trailing `/`, no `/v1`.
pub(super) fn parse_base_url(
    base_url: Option<String>,
    region: Option<String>,
) -> Result<String, InputError> {
    let region = region
        .map(|r| match r.to_ascii_lowercase().as_str() {
            "eu" => Ok(("eu", r)),
            "us" => Ok(("us", r)),
            _ => Err(InputError::new(
                "region",
                format!("must be eu or us, got {}", shown(&r)),
            )),
        })
        .transpose()?;
    let Some(text) = base_url else {
        return Ok(match region {
            Some(("us", _)) => DEFAULT_US_BASE.to_owned(),
            _ => DEFAULT_EU_BASE.to_owned(),
        });
    };
    // The URL as the errors below show it: a password in it is never printed.
    let text_shown = shown(&without_user_info(&text));
    let not_http = || {
        InputError::new(
            "baseUrl",
            format!("must be an http(s) URL, got {text_shown}"),
        )
    };
    let url = reqwest::Url::parse(&text).map_err(|_| not_http())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(not_http());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InputError::new(
            "baseUrl",
            format!(
                "must not hold a user name or password, got {text_shown}: Port authenticates \
                 with 'clientId' and 'clientSecret', and a proxy's credentials go in HTTPS_PROXY"
            ),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(InputError::new(
            "baseUrl",
            format!("must not have a query or a fragment, got {text_shown}"),
        ));
    }
    check_port_host(url.host_str().unwrap_or_default(), &text_shown)?;
    if let Some((region, given_region)) = region {
        let host = url.host_str().unwrap_or_default();
        let (hosts, other) = if region == "us" {
            (US_HOSTS, "a US")
        } else {
            (EU_HOSTS, "an EU")
        };
        if !hosts.contains(&host) {
            return Err(InputError::new(
                "region",
                format!(
                    "is {} but input 'baseUrl' ({}) is not {other} host of Port; give only one of \
                     them",
                    shown(&given_region),
                    text_shown
                ),
            ));
        }
    }
    let whole = url.as_str();
    let origin = &whole[..whole.len() - url.path().len()];
    let path = url.path().trim_end_matches('/');
    let path = path
        .strip_suffix("/v1")
        .unwrap_or(path)
        .trim_end_matches('/');
    Ok(format!("{origin}{path}"))
}

/// Refuses a host that is Port's web app or website, or one or two letters away from one of
/// Port's API hosts: otherwise the first request would fail as a DNS error or an HTML page,
/// without naming `baseUrl`. Any other host (a proxy, a stand-in) is taken as given.
fn check_port_host(host: &str, text_shown: &str) -> Result<(), InputError> {
    if let Some((_, api)) = NOT_API_HOSTS.iter().find(|(h, _)| *h == host) {
        return Err(InputError::new(
            "baseUrl",
            format!(
                "is {text_shown}, Port's web app or website, not its API: use https://{api} \
                 (or leave 'baseUrl' empty and set 'region')"
            ),
        ));
    }
    let api_hosts = || EU_HOSTS.iter().chain(US_HOSTS.iter());
    if api_hosts().any(|h| *h == host) {
        return Ok(());
    }
    match api_hosts().find(|h| edit_distance(host, h) <= 2) {
        Some(near) => Err(InputError::new(
            "baseUrl",
            format!(
                "is {text_shown}, whose host {} is not one of Port's: did you mean \
                 https://{near}?",
                printable(host)
            ),
        )),
        None => Ok(()),
    }
}

/// The fewest one-character insertions, deletions and substitutions that turn `a` into `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// `text` with whatever stands between `://` and the host's `@` replaced by `***`, so that a
/// URL can be shown in an error without the password it may hold.
fn without_user_info(text: &str) -> String {
    let Some(scheme_end) = text.find("://").map(|i| i + 3) else {
        return text.to_string();
    };
    let authority_end = text[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| scheme_end + i);
    match text[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &text[..scheme_end], &text[scheme_end + at..]),
        None => text.to_string(),
    }
}

/// A JSON input that must be an object.
pub(super) fn object_input(
    input: &'static str,
    text: Option<String>,
) -> Result<Option<Map<String, Value>>, InputError> {
    let Some(text) = text else {
        return Ok(None);
    };
    match parse_json_input(input, &text)? {
        Value::Object(map) => Ok(Some(map)),
        other => Err(InputError::new(
            input,
            format!("must be a JSON object, got {}", kind(&other)),
        )),
    }
}

/// `entities`: a JSON array of objects; string `identifier`/`blueprint` keys must be valid.
pub(super) fn parse_entities(text: &str) -> Result<Vec<Value>, InputError> {
    let elements = match parse_json_input("entities", text)? {
        Value::Array(elements) => elements,
        other => {
            return Err(InputError::new(
                "entities",
                format!("must be a JSON array of objects, got {}", kind(&other)),
            ))
        }
    };
    // Elements are numbered from 0, as Port's bulk answers and the job summary number them.
    for (n, element) in elements.iter().enumerate() {
        if let Some(problem) = entity_problem(element) {
            return Err(InputError::new(
                "entities",
                format!("element {n} {problem}"),
            ));
        }
    }
    Ok(elements)
}

/// What is wrong with one entity of a bulk upsert, if anything: it must be a JSON object whose
/// `blueprint` and `identifier`, when given, are valid identifiers. Said as the end of a
/// sentence about the element: `must be a JSON object, got a string`.
pub(crate) fn entity_problem(element: &Value) -> Option<String> {
    let Value::Object(map) = element else {
        return Some(format!("must be a JSON object, got {}", kind(element)));
    };
    for key in ["blueprint", "identifier"] {
        match map.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(value)) => {
                if let Err(why) = check_identifier(value) {
                    return Some(format!("has an invalid \"{key}\": {why}"));
                }
            }
            Some(other) => return Some(format!("\"{key}\" must be a string, got {}", kind(other))),
        }
    }
    None
}

/// `team`: a JSON string or array of strings, a list of single-quoted names (`['a', 'b']`, as
/// in Port's own examples), a search query object (`{"combinator", "rules"}`, which Port's spec
/// accepts for an entity's team), or else a plain team name.
pub(super) fn parse_team(text: &str) -> Result<Value, InputError> {
    const WANT: &str = "must be a team name, a JSON array of team names, or a search query object";
    match parse_json_input("team", text) {
        Ok(Value::String(name)) => Ok(Value::String(name)),
        Ok(Value::Array(names)) => match names.iter().find(|v| !v.is_string()) {
            None => Ok(Value::Array(names)),
            Some(bad) => Err(InputError::new(
                "team",
                format!("{WANT}, got an array holding {}", kind(bad)),
            )),
        },
        Ok(Value::Object(query)) => {
            check_team_query(&query)
                .map_err(|why| InputError::new("team", format!("{WANT}: {why}")))?;
            Ok(Value::Object(query))
        }
        Ok(other) => Err(InputError::new(
            "team",
            format!("{WANT}, got {}", kind(&other)),
        )),
        Err(e) if text.starts_with('[') => match single_quoted_list(text) {
            Some(names) => Ok(Value::Array(names.into_iter().map(Value::String).collect())),
            // A broken JSON array is a mistake, not a team name.
            None => Err(e),
        },
        Err(_) => Ok(Value::String(text.to_owned())),
    }
}

/// The search query Port's spec accepts for an entity's `team`: exactly `combinator` (`and` or
/// `or`) and `rules` (an array of objects). The rules go to Port untouched.
fn check_team_query(query: &Map<String, Value>) -> Result<(), String> {
    if let Some(key) = query
        .keys()
        .find(|k| !matches!(k.as_str(), "combinator" | "rules"))
    {
        return Err(format!(
            "an object must hold only \"combinator\" and \"rules\", not {}",
            shown(key)
        ));
    }
    match query.get("combinator") {
        Some(Value::String(c)) if c == "and" || c == "or" => {}
        Some(other) => {
            return Err(format!(
                "\"combinator\" must be \"and\" or \"or\", got {}",
                shown(&other.to_string())
            ))
        }
        None => return Err("the query has no \"combinator\"".into()),
    }
    match query.get("rules") {
        Some(Value::Array(rules)) => match rules.iter().position(|r| !r.is_object()) {
            None => Ok(()),
            Some(i) => Err(format!(
                "\"rules\" element {i} must be a JSON object, got {}",
                kind(&rules[i])
            )),
        },
        Some(other) => Err(format!(
            "\"rules\" must be a JSON array, got {}",
            kind(other)
        )),
        None => Err("the query has no \"rules\"".into()),
    }
}

/// `['a', 'b']`: a list of single-quoted names, as Python prints a list and as Port's own
/// snippets write `team`. Names must not hold quotes, backslashes or control characters; the
/// list may be empty. `None` when the text is not such a list.
fn single_quoted_list(text: &str) -> Option<Vec<String>> {
    let mut rest = text
        .trim()
        .strip_prefix('[')?
        .strip_suffix(']')?
        .trim_start();
    let mut names = Vec::new();
    if rest.is_empty() {
        return Some(names);
    }
    loop {
        let quoted = rest.strip_prefix('\'')?;
        let end = quoted.find('\'')?;
        let name = &quoted[..end];
        if name.is_empty()
            || name
                .chars()
                .any(|c| matches!(c, '"' | '\\') || c.is_control())
        {
            return None;
        }
        names.push(name.to_owned());
        rest = quoted[end + 1..].trim_start();
        if rest.is_empty() {
            return Some(names);
        }
        rest = rest.strip_prefix(',')?.trim_start();
    }
}

/// `link`: one URL, a JSON array of URLs, or a list of single-quoted URLs (`['https://…']`).
/// Each must be an absolute `http`/`https` URL with a host: Port shows a run's links as links,
/// so a `javascript:` or `data:` one would be a trap in Port's page.
pub(super) fn parse_link(text: &str) -> Result<Vec<String>, InputError> {
    if !text.starts_with('[') {
        check_web_url(text).map_err(|why| InputError::new("link", why))?;
        return Ok(vec![text.to_owned()]);
    }
    let items = match parse_json_input("link", text) {
        Ok(Value::Array(items)) => items,
        Ok(_) => unreachable!("JSON text starting with '[' is an array"),
        Err(e) => match single_quoted_list(text) {
            Some(urls) => urls.into_iter().map(Value::String).collect(),
            None => return Err(e),
        },
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) if !s.trim().is_empty() => {
                check_web_url(s.trim())
                    .map_err(|why| InputError::new("link", format!("element {i} {why}")))?;
                Ok(s.trim().to_owned())
            }
            Value::String(_) => Err(InputError::new(
                "link",
                format!("element {i} is an empty string"),
            )),
            other => Err(InputError::new(
                "link",
                format!("element {i} must be a string, got {}", kind(other)),
            )),
        })
        .collect()
}

/// `Ok` for an absolute `http`/`https` URL with a host; else the end of a sentence about the
/// value: `must be an http(s) URL, got 'javascript:alert(1)'`.
fn check_web_url(text: &str) -> Result<(), String> {
    // The URL parser drops tabs and line breaks; the value sent would still hold them.
    let web = !text.contains(char::is_control)
        && reqwest::Url::parse(text).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty())
        });
    if web {
        Ok(())
    } else {
        Err(format!("must be an http(s) URL, got {}", shown(text)))
    }
}

pub(super) fn parse_status(input: &'static str, text: &str) -> Result<Status, InputError> {
    match text.to_ascii_lowercase().as_str() {
        "success" => Ok(Status::Success),
        "failure" => Ok(Status::Failure),
        "cancelled" | "canceled" => Ok(Status::Cancelled),
        _ => Err(InputError::new(
            input,
            format!(
                "must be SUCCESS or FAILURE (or a job.status value: success, failure, \
                 cancelled), got {}",
                shown(text)
            ),
        )),
    }
}

/// A boolean as `@actions/core`'s `getBooleanInput` accepts it.
pub(super) fn parse_bool(
    input: &'static str,
    value: Option<String>,
    default: bool,
) -> Result<bool, InputError> {
    match value.as_deref() {
        None => Ok(default),
        Some("true" | "True" | "TRUE") => Ok(true),
        Some("false" | "False" | "FALSE") => Ok(false),
        Some(other) => Err(InputError::new(
            input,
            format!(
                "must be a boolean (true, True, TRUE, false, False or FALSE), got {}",
                shown(other)
            ),
        )),
    }
}

pub(super) fn parse_job_id(text: String) -> Result<String, InputError> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text)
    } else {
        Err(InputError::new(
            "jobId",
            format!(
                "must be a numeric job id such as ${{{{ job.check_run_id }}}} gives, got {}",
                shown(&text)
            ),
        ))
    }
}

pub(super) fn parse_int(
    input: &'static str,
    value: Option<String>,
    default: u64,
    max: u64,
) -> Result<u64, InputError> {
    let Some(text) = value else {
        return Ok(default);
    };
    match text.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(InputError::new(
            input,
            format!(
                "must be a whole number from 1 to {max}, got {}",
                shown(&text)
            ),
        )),
    }
}

pub(super) fn parse_duration_input(
    input: &'static str,
    value: Option<String>,
    default_secs: u64,
) -> Result<Duration, InputError> {
    let Some(text) = value else {
        return Ok(Duration::from_secs(default_secs));
    };
    match parse_duration(&text) {
        Some(0) => Err(InputError::new(
            input,
            format!("must be longer than zero, got {}", shown(&text)),
        )),
        Some(secs) if secs > MAX_DURATION_SECS => Err(InputError::new(
            input,
            format!("must be at most 7 days (168h), got {}", shown(&text)),
        )),
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => Err(InputError::new(
            input,
            format!(
                "must be a duration in seconds (45) or with units s, m, h (90s, 5m, 1h, 1m30s), \
                 got {}",
                shown(&text)
            ),
        )),
    }
}

/// The longest duration input: longer than any GitHub job can run (6 h on hosted runners),
/// and small enough that every deadline computed from it fits.
const MAX_DURATION_SECS: u64 = 7 * 24 * 3600;

/// Seconds in `45`, `90s`, `5m`, `1h` or `1h2m3s` (units in that order, each once).
fn parse_duration(text: &str) -> Option<u64> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let mut total: u64 = 0;
    let mut rest = text;
    let mut units: &[(char, u64)] = &[('h', 3600), ('m', 60), ('s', 1)];
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let at = units.iter().position(|(u, _)| *u == unit)?;
        total = total.checked_add(number.checked_mul(units[at].1)?)?;
        units = &units[at + 1..];
        rest = &rest[digits + 1..];
    }
    Some(total)
}

/// A Port run id: a Port identifier that is one path segment (no `/` or `\\`). Port's run ids
/// are `r_` and letters and digits; anything else is refused before it reaches a URL or a log.
pub fn check_run_id(value: &str) -> Result<(), String> {
    check_port_id(value, RUN_ID_SYMBOLS, |c| {
        matches!(c, '/' | '\\').then_some(
            "a run id is one path segment; Port's look like r_ followed by letters and digits",
        )
    })
}

/// An input holding a Port identifier.
pub(super) fn identifier_input(
    input: &'static str,
    value: Option<String>,
) -> Result<Option<String>, InputError> {
    if let Some(value) = &value {
        check_identifier(value).map_err(|why| {
            InputError::new(input, format!("is not a valid Port identifier: {why}"))
        })?;
    }
    Ok(value)
}

const MAX_IDENTIFIER_CHARS: usize = 1000;

/// The characters a Port identifier may hold besides letters and digits.
const IDENTIFIER_SYMBOLS: &str = "@_.+:\\/=-";
/// The same for a run id, which is one path segment.
const RUN_ID_SYMBOLS: &str = "@_.+:=-";

/// Port's identifier pattern `^(?!\.{1,2}$)[\p{L}0-9@_.+:\\/=-]+$`, at most 1000 characters.
pub fn check_identifier(value: &str) -> Result<(), String> {
    check_port_id(value, IDENTIFIER_SYMBOLS, |_| None)
}

/// An identifier of letters, digits and `symbols`, neither `.` nor `..`, at most 1000
/// characters. A character refused is explained by `note`, else by the list of those allowed.
fn check_port_id(
    value: &str,
    symbols: &str,
    note: fn(char) -> Option<&'static str>,
) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".into());
    }
    if value == "." || value == ".." {
        return Err(format!("{} is not allowed", shown(value)));
    }
    if let Some(c) = value
        .chars()
        .find(|&c| !(c.is_alphabetic() || c.is_ascii_digit() || symbols.contains(c)))
    {
        let why = note(c).map_or_else(
            || {
                let listed: Vec<String> = symbols.chars().map(String::from).collect();
                format!("allowed: letters, digits and {}", listed.join(" "))
            },
            str::to_string,
        );
        return Err(format!(
            "{} contains {} ({why})",
            shown(value),
            shown(&c.to_string())
        ));
    }
    let count = value.chars().count();
    if count > MAX_IDENTIFIER_CHARS {
        return Err(format!(
            "it has {count} characters, more than {MAX_IDENTIFIER_CHARS}"
        ));
    }
    Ok(())
}

/// A JSON value's type, as error messages name it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A user's value quoted for an error message: control characters escaped, long values cut.
pub(super) fn shown(value: &str) -> String {
    format!("'{}'", printable(value))
}

/// Outside text made safe to print on one line: control characters escaped, cut after 100
/// characters.
pub(crate) fn printable(value: &str) -> String {
    const MAX: usize = 100;
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
