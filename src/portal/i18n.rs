//! Languages: Catalan, Spanish and English. Every string a person reads is in a message
//! catalogue (`templates/portal/i18n/<lang>.yaml`, a flat map of key → text, built into the
//! binary); templates get the catalogue of the request's language as `t`. Placeholders are
//! written `{name}` and filled with tera's `replace`, after which the text is escaped like any
//! other value.
//!
//! The language of a request: the `lang` cookie (the switcher), else the first of the browser's
//! `Accept-Language` that we speak, else the configured default.

use std::collections::BTreeMap;

pub type Catalogue = BTreeMap<String, String>;

const SOURCES: &[(&str, &str)] = &[
    ("ca", include_str!("../../templates/portal/i18n/ca.yaml")),
    ("es", include_str!("../../templates/portal/i18n/es.yaml")),
    ("en", include_str!("../../templates/portal/i18n/en.yaml")),
];

/// Every catalogue, parsed at start.
#[derive(Debug, Clone)]
pub struct I18n {
    catalogues: BTreeMap<&'static str, Catalogue>,
    default: &'static str,
}

impl I18n {
    /// Parse the built-in catalogues. Fails (at start, and in the unit test) when one does
    /// not parse or lacks a key another has.
    pub fn load(default: &str) -> Result<I18n, String> {
        let mut catalogues = BTreeMap::new();
        for (lang, text) in SOURCES {
            let c: Catalogue = serde_saphyr::from_str(text)
                .map_err(|e| format!("templates/portal/i18n/{lang}.yaml: {e}"))?;
            catalogues.insert(*lang, c);
        }
        let en = &catalogues["en"];
        for (lang, c) in &catalogues {
            for key in en.keys() {
                if !c.contains_key(key) {
                    return Err(format!("templates/portal/i18n/{lang}.yaml lacks `{key}`"));
                }
            }
            for key in c.keys() {
                if !en.contains_key(key) {
                    return Err(format!(
                        "templates/portal/i18n/{lang}.yaml has `{key}`, which en.yaml lacks"
                    ));
                }
            }
        }
        let default = SOURCES
            .iter()
            .map(|(l, _)| *l)
            .find(|l| *l == default)
            .unwrap_or("en");
        Ok(I18n {
            catalogues,
            default,
        })
    }

    pub fn default_language(&self) -> &'static str {
        self.default
    }

    /// The catalogue of `lang` (the default's when unknown).
    pub fn catalogue(&self, lang: &str) -> &Catalogue {
        self.catalogues
            .get(lang)
            .or_else(|| self.catalogues.get(self.default))
            .unwrap_or_else(|| &self.catalogues["en"])
    }

    /// One message, `{placeholders}` filled.
    pub fn text(&self, lang: &str, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self
            .catalogue(lang)
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_string());
        for (k, v) in args {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        s
    }

    /// A language we speak, as a static string.
    pub fn known(&self, lang: &str) -> Option<&'static str> {
        SOURCES.iter().map(|(l, _)| *l).find(|l| *l == lang)
    }

    /// Choose the language of a request.
    pub fn negotiate(&self, cookie: Option<&str>, accept_language: Option<&str>) -> &'static str {
        if let Some(l) = cookie.and_then(|c| self.known(c)) {
            return l;
        }
        if let Some(header) = accept_language {
            let mut offers: Vec<(f32, usize, &str)> = header
                .split(',')
                .enumerate()
                .filter_map(|(i, part)| {
                    let mut bits = part.split(';');
                    let tag = bits.next()?.trim();
                    let q = bits
                        .find_map(|b| b.trim().strip_prefix("q="))
                        .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
                        .unwrap_or(1.0);
                    (q > 0.0).then_some((q, i, tag))
                })
                .collect();
            offers.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            for (_, _, tag) in offers {
                let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
                if let Some(l) = self.known(&primary) {
                    return l;
                }
            }
        }
        self.default
    }

    pub fn languages() -> impl Iterator<Item = &'static str> {
        SOURCES.iter().map(|(l, _)| *l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_have_the_same_keys() {
        let i = I18n::load("ca").unwrap();
        assert_eq!(i.default_language(), "ca");
        assert!(i.catalogue("es").len() > 50);
    }

    #[test]
    fn negotiation() {
        let i = I18n::load("en").unwrap();
        assert_eq!(i.negotiate(None, Some("es-ES,es;q=0.9,en;q=0.8")), "es");
        assert_eq!(i.negotiate(None, Some("fr-FR, ca;q=0.5, es;q=0.7")), "es");
        assert_eq!(i.negotiate(None, Some("fr, de")), "en");
        assert_eq!(i.negotiate(Some("ca"), Some("es")), "ca");
        assert_eq!(i.negotiate(Some("xx"), Some("CA-es")), "ca");
        assert_eq!(i.negotiate(None, Some("es;q=0, en")), "en");
        assert_eq!(i.negotiate(None, None), "en");
        assert_eq!(i.text("en", "missing_key", &[]), "missing_key");
    }
}
