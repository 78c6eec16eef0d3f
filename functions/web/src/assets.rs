//! The files of the hosted pages, compiled in. `/` is `index.html`; the rest are served under
//! `/assets/<name>`.

pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub text: &'static str,
}

pub const INDEX: Asset = Asset { name: "index.html", content_type: "text/html; charset=utf-8", text: include_str!("../assets/index.html") };

pub const FILES: &[Asset] = &[
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", text: include_str!("../assets/app.js") },
    Asset { name: "style.css", content_type: "text/css; charset=utf-8", text: include_str!("../assets/style.css") },
    Asset { name: "logo.svg", content_type: "image/svg+xml", text: include_str!("../assets/logo.svg") },
];

pub fn file(name: &str) -> Option<&'static Asset> {
    FILES.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    //! The pages hold to API.md "Hosted pages" by construction: checked here on the files
    //! themselves (the browser tests check them in Chromium).
    use super::*;
    use std::collections::BTreeMap;

    /// Every start tag of `name` in `html`, as its attributes (names lowercased; a bare
    /// attribute has an empty value).
    fn tags(html: &str, name: &str) -> Vec<BTreeMap<String, String>> {
        let mut out = Vec::new();
        let lower = html.to_ascii_lowercase();
        let open = format!("<{name}");
        let mut from = 0;
        while let Some(at) = lower[from..].find(&open) {
            let start = from + at + open.len();
            from = start;
            if !lower[start..].starts_with([' ', '>', '\n', '/']) {
                continue;
            }
            let end = start + html[start..].find('>').expect("tag ends");
            out.push(attributes(&html[start..end]));
        }
        out
    }

    fn attributes(mut text: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        loop {
            text = text.trim_start().trim_start_matches('/').trim_start();
            if text.is_empty() {
                return out;
            }
            let name_end = text.find(|c: char| c == '=' || c.is_whitespace()).unwrap_or(text.len());
            let name = text[..name_end].to_ascii_lowercase();
            text = &text[name_end..];
            let value = if let Some(rest) = text.strip_prefix('=') {
                let quote = rest.chars().next().expect("a value");
                assert!(quote == '"', "attribute {name} is not double-quoted");
                let close = rest[1..].find('"').expect("closing quote");
                text = &rest[close + 2..];
                rest[1..close + 1].to_owned()
            } else {
                String::new()
            };
            out.insert(name, value);
        }
    }

    fn html() -> &'static str {
        INDEX.text
    }

    #[test]
    fn no_inline_script_or_style_anywhere() {
        for script in tags(html(), "script") {
            assert!(script.contains_key("src"), "an inline <script>: {script:?}");
        }
        assert!(tags(html(), "style").is_empty(), "a <style> element");
        for tag in ["html", "body", "main", "section", "form", "div", "p", "a", "button", "input", "img", "label", "span", "details"] {
            for attrs in tags(html(), tag) {
                assert!(!attrs.contains_key("style"), "<{tag}> with a style attribute: {attrs:?}");
                let handlers: Vec<_> = attrs.keys().filter(|k| k.starts_with("on")).collect();
                assert!(handlers.is_empty(), "<{tag}> with an inline handler: {handlers:?}");
                if let Some(href) = attrs.get("href").or(attrs.get("src")) {
                    assert!(!href.to_ascii_lowercase().starts_with("javascript:"), "<{tag}> with a javascript: URL");
                }
            }
        }
        // Every file the page loads is one of ours.
        for (tag, attr) in [("script", "src"), ("link", "href"), ("img", "src")] {
            for attrs in tags(html(), tag) {
                if let Some(url) = attrs.get(attr) {
                    let name = url.strip_prefix("/assets/").unwrap_or_else(|| panic!("<{tag} {attr}={url}> is not under /assets/"));
                    assert!(file(name).is_some(), "<{tag}> loads {url}, which is not served");
                }
            }
        }
    }

    /// API.md "Hardening": a form submitted before the script has loaded posts to the page
    /// itself, never a GET that puts a password or code in the URL; the script takes over every
    /// form's submit.
    #[test]
    fn every_form_posts_to_the_page_and_the_script_takes_it_over() {
        let forms = tags(html(), "form");
        assert!(forms.len() >= 12, "the scanner found the forms: {forms:?}");
        let script = file("app.js").unwrap().text;
        for form in &forms {
            let id = form.get("id").unwrap_or_else(|| panic!("a <form> without an id: {form:?}"));
            assert_eq!(form.get("method").map(|m| m.to_ascii_lowercase()).as_deref(), Some("post"), "#{id} has no method=\"post\"");
            // No action: the page's own URL, which the web function answers (CSP form-action 'self').
            assert!(form.get("action").is_none_or(|a| a.is_empty() || a == "/"), "#{id} posts elsewhere: {form:?}");
            assert!(!form.contains_key("target"), "#{id} has a target: {form:?}");
            assert!(script.contains(&format!("onSubmit(\"{id}\"")), "app.js does not handle the submit of #{id}");
        }
        // No button overrides its form's method or action.
        for button in tags(html(), "button").into_iter().chain(tags(html(), "input")) {
            for attr in ["formmethod", "formaction", "formtarget"] {
                assert!(!button.contains_key(attr), "{attr} on {button:?}");
            }
        }
        // onSubmit stops the browser's own submission before anything else.
        let handler = &script[script.find("function onSubmit(").expect("onSubmit in app.js")..];
        let handler = &handler[..handler.find("\n}\n").expect("onSubmit ends")];
        let listener = handler.find("addEventListener(\"submit\"").expect("a submit listener");
        assert!(
            handler[listener..]
                .trim_start_matches(|c| c != '{')
                .trim_start_matches('{')
                .trim_start()
                .starts_with("event.preventDefault();"),
            "{handler}"
        );
    }

    #[test]
    fn every_input_has_a_label_and_code_inputs_are_one_time_codes() {
        let labelled: Vec<String> = tags(html(), "label").into_iter().filter_map(|l| l.get("for").cloned()).collect();
        let mut ids = std::collections::BTreeSet::new();
        for tag in ["input", "select", "textarea"] {
            for attrs in tags(html(), tag) {
                let id = attrs.get("id").unwrap_or_else(|| panic!("<{tag}> without an id: {attrs:?}"));
                assert!(ids.insert(id.clone()), "id {id} is used twice");
                assert!(labelled.contains(id), "<{tag} id={id}> has no <label for>");
                let name = attrs.get("name").map(String::as_str).unwrap_or_default();
                if matches!(name, "code" | "totp_code") {
                    assert_eq!(attrs.get("autocomplete").map(String::as_str), Some("one-time-code"), "#{id}");
                    assert_eq!(attrs.get("inputmode").map(String::as_str), Some("numeric"), "#{id}");
                }
            }
        }
        assert!(ids.len() > 20, "the scanner found the inputs: {ids:?}");
    }

    #[test]
    fn the_script_stores_nothing_that_outlives_the_page_and_injects_no_markup() {
        let script = file("app.js").unwrap().text;
        let code: String = script.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        for banned in [
            "localStorage",
            "sessionStorage",
            "document.cookie",
            "indexedDB",
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!code.contains(banned), "app.js uses {banned}");
        }
        // Every element the script looks up exists in the page.
        let mut rest = code.as_str();
        while let Some(at) = rest.find("$(\"") {
            let after = &rest[at + 3..];
            let id = &after[..after.find('"').unwrap()];
            assert!(html().contains(&format!("id=\"{id}\"")), "app.js uses #{id}, which index.html lacks");
            rest = after;
        }
    }
}
