//! Links into Port's web app for the job summary and outputs: the app that belongs to an API
//! host, a run's page, an entity's page. Never with the base URL's user info.

use reqwest::Url;

use super::shown::shown_base;

/// The Port web app that belongs to an API host: `api.getport.io` → `https://app.getport.io`,
/// `api.us.port.io` → `https://app.us.port.io`; any other host (a proxy, a stand-in) serves
/// as its own app base. Never with the base URL's user info.
pub fn app_base(api_base: &str) -> String {
    match Url::parse(api_base) {
        Ok(url) => match url.host_str() {
            Some(host) if host.starts_with("api.") => {
                format!("https://app.{}", &host["api.".len()..])
            }
            _ => shown_base(api_base),
        },
        Err(_) => api_base.to_string(),
    }
}

/// The run's page in Port.
pub fn run_url(api_base: &str, run_id: &str) -> String {
    let mut url =
        Url::parse(&format!("{}/organization/run", app_base(api_base))).expect("app base is a URL");
    url.query_pairs_mut().append_pair("runId", run_id);
    url.to_string()
}

/// The entity's page in Port.
pub fn entity_url(api_base: &str, blueprint: &str, identifier: &str) -> String {
    let mut url = Url::parse(&app_base(api_base)).expect("app base is a URL");
    url.path_segments_mut()
        .expect("http(s)")
        .pop_if_empty()
        .push(&format!("{blueprint}Entity"));
    url.query_pairs_mut().append_pair("identifier", identifier);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::shown::shown_url;
    use reqwest::Url;

    #[test]
    fn app_and_run_urls_follow_the_api_host() {
        assert_eq!(app_base("https://api.getport.io"), "https://app.getport.io");
        assert_eq!(
            app_base("https://api.us.getport.io"),
            "https://app.us.getport.io"
        );
        assert_eq!(app_base("https://api.us.port.io"), "https://app.us.port.io");
        assert_eq!(app_base("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(
            run_url("https://api.us.getport.io", "r_AbC"),
            "https://app.us.getport.io/organization/run?runId=r_AbC"
        );
        assert_eq!(
            entity_url("https://api.getport.io", "service", "pay ments"),
            "https://app.getport.io/serviceEntity?identifier=pay+ments"
        );
    }

    #[test]
    fn links_and_shown_urls_leave_user_info_out() {
        let base = "https://user:s3cretpass@proxy.example.com/port";
        assert_eq!(app_base(base), "https://proxy.example.com/port");
        assert_eq!(
            run_url(base, "r_1"),
            "https://proxy.example.com/port/organization/run?runId=r_1"
        );
        assert_eq!(
            entity_url(base, "service", "x"),
            "https://proxy.example.com/port/serviceEntity?identifier=x"
        );
        assert_eq!(
            run_url("https://u:p@api.getport.io", "r_1"),
            "https://app.getport.io/organization/run?runId=r_1"
        );
        let url = Url::parse("http://user:s3cretpass@127.0.0.1:9/v1/x?a=b").unwrap();
        assert_eq!(shown_url(&url), "http://127.0.0.1:9/v1/x");
    }
}
