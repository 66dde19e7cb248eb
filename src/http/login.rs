//! Logging a browser in to a side server (web terminal, recordings page) with the API token.
//!
//! Browsers cannot put an `Authorization` header on a page load, a `<video>` or a websocket, so
//! with `--token` a side server answers a login form; the right token sets an HttpOnly,
//! SameSite=Strict cookie carrying a random key made at start (never the token; a restart logs
//! everyone out). Programs may send `Authorization: Bearer <token>` instead. Without a token
//! the server is open, as the API is.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

/// Who may use one side server, and its login cookie.
#[derive(Debug, Clone)]
pub struct BrowserLogin {
    token: Option<Arc<str>>,
    /// The cookie's name: one per server, so logging in to one does not log in to the other.
    cookie: &'static str,
    /// The cookie's value: random per start.
    key: Arc<str>,
    /// What the login form calls the server.
    title: &'static str,
}

impl BrowserLogin {
    pub fn new(token: Option<&str>, cookie: &'static str, title: &'static str) -> Self {
        let bytes: [u8; 32] = rand::random();
        BrowserLogin {
            token: token.filter(|t| !t.is_empty()).map(Arc::from),
            cookie,
            key: Arc::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            title,
        }
    }

    pub fn token_required(&self) -> bool {
        self.token.is_some()
    }

    /// Whether the request may use the server: no token configured, the bearer token, or the
    /// login cookie.
    pub fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = self.token.as_deref() else { return true };
        if crate::http::middleware::bearer_token(headers).is_some_and(|bearer| equal(bearer, token)) {
            return true;
        }
        cookie(headers, self.cookie).is_some_and(|value| equal(&value, &self.key))
    }

    /// The answer to a submitted login form: the cookie and a redirect to `/`, or the form again.
    pub fn login(&self, submitted: &str) -> Response {
        let Some(token) = self.token.as_deref() else { return Redirect::to("/").into_response() };
        if !equal(submitted, token) {
            tracing::warn!("{}: refused a login with a wrong token", self.title);
            return (StatusCode::UNAUTHORIZED, Html(self.form(Some("Wrong token.")))).into_response();
        }
        let cookie = format!("{}={}; Path=/; HttpOnly; SameSite=Strict", self.cookie, self.key);
        ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
    }

    /// The login form; `error` says why the last attempt failed.
    pub fn form(&self, error: Option<&str>) -> String {
        let title = escape(self.title);
        let error = error.map(|e| format!("<p class=\"error\">{}</p>", escape(e))).unwrap_or_default();
        format!(
            r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>toolboxd {lower}: log in</title>
<style>body {{ font-family: sans-serif; margin: 3em; }} .error {{ color: #b00; }}</style></head>
<body>
<h1>{title}</h1>
{error}
<form method="post" action="login">
<label>Token <input type="password" name="token" autofocus autocomplete="current-password"></label>
<button type="submit">Log in</button>
</form>
</body>
</html>
"#,
            lower = title.to_lowercase()
        )
    }
}

/// The body of `POST /login`.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub token: String,
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn equal(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name`, if the request carries it.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A cross-site page must not act with the visitor's cookie: when the browser says where the
/// request came from, it must be this server.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map
    }

    #[test]
    fn the_token_or_this_servers_cookie_let_a_browser_in() {
        let login = BrowserLogin::new(Some("secret"), "toolboxd_a", "A");
        assert!(!login.authorized(&headers(&[])));
        assert!(login.authorized(&headers(&[("authorization", "bearer secret")])));
        assert!(!login.authorized(&headers(&[("authorization", "Bearer wrong")])));
        let set = login.login("secret");
        let cookie =
            set.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
        assert!(!cookie.contains("secret"));
        assert!(login.authorized(&headers(&[("cookie", &format!("x=1; {cookie}"))])));
        let other = BrowserLogin::new(Some("secret"), "toolboxd_b", "B");
        assert!(!other.authorized(&headers(&[("cookie", &cookie)])), "another server's cookie");
        assert_eq!(login.login("wrong").status(), StatusCode::UNAUTHORIZED);
        assert!(BrowserLogin::new(None, "toolboxd_a", "A").authorized(&headers(&[])));
    }
}
