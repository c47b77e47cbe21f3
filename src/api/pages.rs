//! The staff pages: static HTML, JS and CSS compiled into the binary (no build
//! step, no CDN). They call the JSON API; the API does all the checking.

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Scripts and styles only from this origin; no inline code, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

macro_rules! page {
    ($ct:literal, $file:literal) => {
        get(|| async { asset($ct, include_str!(concat!("web/", $file))) })
    };
}

/// `/`, `/login`, `/nurse`, `/supervisor`, `/supervisor/reports` and `/web/*` (state-free).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/nurse") }))
        .route("/login", page!("text/html; charset=utf-8", "login.html"))
        .route("/nurse", page!("text/html; charset=utf-8", "nurse.html"))
        .route(
            "/supervisor",
            page!("text/html; charset=utf-8", "supervisor.html"),
        )
        .route(
            "/supervisor/reports",
            page!("text/html; charset=utf-8", "reports.html"),
        )
        .route(
            "/web/reports.js",
            page!("text/javascript; charset=utf-8", "reports.js"),
        )
        // Chart.js 4 (MIT, licence header kept), vendored: no CDN.
        .route(
            "/web/vendor/chart.umd.min.js",
            page!("text/javascript; charset=utf-8", "vendor/chart.umd.min.js"),
        )
        .route("/web/app.css", page!("text/css; charset=utf-8", "app.css"))
        .route(
            "/web/common.js",
            page!("text/javascript; charset=utf-8", "common.js"),
        )
        .route(
            "/web/i18n.js",
            page!("text/javascript; charset=utf-8", "i18n.js"),
        )
        .route(
            "/web/login.js",
            page!("text/javascript; charset=utf-8", "login.js"),
        )
        .route(
            "/web/nurse.js",
            page!("text/javascript; charset=utf-8", "nurse.js"),
        )
        .route(
            "/web/supervisor.js",
            page!("text/javascript; charset=utf-8", "supervisor.js"),
        )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    const I18N: &str = include_str!("web/i18n.js");
    const PAGES: [&str; 4] = [
        include_str!("web/login.html"),
        include_str!("web/nurse.html"),
        include_str!("web/supervisor.html"),
        include_str!("web/reports.html"),
    ];
    const SCRIPTS: [&str; 5] = [
        include_str!("web/common.js"),
        include_str!("web/login.js"),
        include_str!("web/nurse.js"),
        include_str!("web/supervisor.js"),
        include_str!("web/reports.js"),
    ];

    /// The ids of one dictionary: the `"id": "text",` lines of `const <lang> = {`.
    fn dictionary(lang: &str) -> BTreeSet<&'static str> {
        let start = I18N
            .find(&format!("const {lang} = {{"))
            .expect("dictionary");
        let body = &I18N[start..];
        let end = body.find("\n  };").expect("dictionary end");
        body[..end]
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split_once("\":"))
            .map(|(id, _)| id)
            .collect()
    }

    /// Every `attr="value"` in the pages.
    fn attribute_values(attr: &str) -> Vec<&'static str> {
        let marker = format!("{attr}=\"");
        PAGES
            .iter()
            .flat_map(|p| p.match_indices(&marker).map(move |(i, _)| &p[i..]))
            .filter_map(|rest| rest[marker.len()..].split_once('"').map(|(v, _)| v))
            .collect()
    }

    /// String literals in the scripts that look like message ids (`nurse.took_case`).
    fn script_ids(prefixes: &BTreeSet<&str>) -> Vec<&'static str> {
        SCRIPTS
            .iter()
            .flat_map(|s| s.lines())
            .filter(|l| !l.trim_start().starts_with("//"))
            .flat_map(|l| l.split('"').skip(1).step_by(2))
            .filter(|lit| {
                let mut parts = lit.split('.');
                let first = parts.next().unwrap_or_default();
                prefixes.contains(first)
                    && lit.contains('.')
                    && !lit.ends_with('.')
                    && lit
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c))
            })
            .collect()
    }

    #[test]
    fn swedish_and_english_have_the_same_message_ids() {
        let sv = dictionary("sv");
        let en = dictionary("en");
        assert!(sv.len() > 100, "{}", sv.len());
        let only_sv: Vec<_> = sv.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&sv).collect();
        assert!(
            only_sv.is_empty() && only_en.is_empty(),
            "only sv: {only_sv:?}, only en: {only_en:?}"
        );
    }

    #[test]
    fn every_message_id_the_pages_and_scripts_use_is_in_the_dictionary() {
        let sv = dictionary("sv");
        let prefixes: BTreeSet<&str> = sv.iter().filter_map(|id| id.split('.').next()).collect();
        let mut used = Vec::new();
        for attr in [
            "data-i18n",
            "data-i18n-title",
            "data-i18n-aria-label",
            "data-i18n-placeholder",
        ] {
            used.extend(attribute_values(attr));
        }
        let from_scripts = script_ids(&prefixes);
        assert!(
            from_scripts.contains(&"nurse.took_case"),
            "{from_scripts:?}"
        );
        // A kind passed to I18N.word ("call.state") is a prefix, not an id.
        let kinds = |id: &str| sv.iter().any(|k| k.starts_with(&format!("{id}.")));
        used.extend(from_scripts.into_iter().filter(|id| !kinds(id)));
        let missing: Vec<_> = used.iter().filter(|id| !sv.contains(*id)).collect();
        assert!(missing.is_empty(), "not in i18n.js: {missing:?}");
    }

    #[test]
    fn every_page_loads_i18n_first_and_has_the_language_switch() {
        for page in PAGES {
            let i18n = page.find("/web/i18n.js").expect("loads i18n.js");
            let common = page.find("/web/common.js").expect("loads common.js");
            assert!(i18n < common, "i18n.js before common.js");
            assert!(page.contains("id=\"lang-switch\""));
            assert!(page.contains("<html lang=\"sv\">"));
        }
    }
}
