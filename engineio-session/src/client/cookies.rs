//! A small cookie jar, so non-browser clients keep the sticky-session cookie a load balancer
//! or the server sets (the `io` cookie) and send it back on every request.

use http::header::{self, HeaderMap, HeaderValue};

/// Cookies set by the server, by name. Bounded: at most [`CookieJar::MAX`] cookies of at most
/// [`CookieJar::MAX_LEN`] bytes each; more are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieJar {
    cookies: Vec<(String, String)>,
}

impl CookieJar {
    /// Most cookies kept.
    pub const MAX: usize = 32;
    /// Longest `name=value` kept, in bytes.
    pub const MAX_LEN: usize = 4096;

    /// Takes every `Set-Cookie` of a response: stores, replaces, or (with `Max-Age` zero or
    /// less) removes the cookie. Attributes other than `Max-Age` are not enforced: the jar
    /// serves one server.
    pub fn store(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let mut parts = v.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty() || name.len() + value.len() > Self::MAX_LEN {
                continue;
            }
            let expired = parts.any(|a| {
                a.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("max-age")
                        && v.trim().parse::<i64>().is_ok_and(|n| n <= 0)
                })
            });
            self.cookies.retain(|(n, _)| n != name);
            if !expired && self.cookies.len() < Self::MAX {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    /// The `Cookie` header for a request, if any cookie is kept.
    pub fn header(&self) -> Option<HeaderValue> {
        if self.cookies.is_empty() {
            return None;
        }
        let s: Vec<String> = self
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        HeaderValue::from_str(&s.join("; ")).ok()
    }

    /// The value of cookie `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(header::SET_COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn keeps_replaces_and_expires() {
        let mut jar = CookieJar::default();
        jar.store(&set(&["io=abc; Path=/; HttpOnly; SameSite=Lax", "lb=n1"]));
        assert_eq!(jar.header().unwrap(), "io=abc; lb=n1");
        jar.store(&set(&["io=def"]));
        assert_eq!(jar.get("io"), Some("def"));
        jar.store(&set(&["lb=; Max-Age=0"]));
        assert_eq!(jar.header().unwrap(), "io=def");
        jar.store(&set(&["junk", "=x"]));
        assert_eq!(jar.header().unwrap(), "io=def");
    }

    #[test]
    fn is_bounded() {
        let mut jar = CookieJar::default();
        for i in 0..100 {
            jar.store(&set(&[&format!("c{i}=v")]));
        }
        assert_eq!(jar.cookies.len(), CookieJar::MAX);
        jar.store(&set(&[&format!("big={}", "x".repeat(5000))]));
        assert_eq!(jar.get("big"), None);
    }
}
