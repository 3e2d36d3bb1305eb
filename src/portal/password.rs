//! Password strength, estimated with zxcvbn (the estimator Dropbox published and password
//! managers use): a password must need at least 10^9 guesses, taking the person's own name,
//! username and email into account, and have 10 to 256 characters.

use crate::directory::names;

/// A password must take zxcvbn at least 10^9 guesses: between its scores 3 ("safely
/// unguessable", 10^8) and 4 (10^10). Score 3 alone lets a name plus `1234` through.
const MIN_GUESSES_LOG10: f64 = 9.0;

/// The catalogue key of a refusal.
pub fn check(password: &str, hints: &[&str]) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 10 {
        return Err("err_password_short");
    }
    if n > 256 || names::password(password).is_err() {
        return Err("err_password_long");
    }
    if password.chars().any(char::is_control) {
        return Err("err_control");
    }
    let words = hint_words(hints);
    let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &inputs);
    if estimate.guesses_log10() < MIN_GUESSES_LOG10 {
        return Err("err_password_weak");
    }
    Ok(())
}

/// The person's own words, as zxcvbn should know them: each hint whole, its words (a name's
/// parts, an address's local part), and each without accents (`Martí` → `marti`).
fn hint_words(hints: &[&str]) -> Vec<String> {
    use unicode_normalization::UnicodeNormalization;
    let mut out: Vec<String> = vec![];
    for h in hints {
        let lower = h.to_lowercase();
        let folded: String = lower.nfd().filter(char::is_ascii).collect();
        for s in [lower, folded] {
            out.extend(
                s.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() >= 2)
                    .map(String::from),
            );
            out.push(s.split('@').next().unwrap_or_default().to_string());
            out.push(s);
        }
    }
    out.retain(|w| !w.is_empty());
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_and_strong() {
        assert_eq!(check("short", &[]), Err("err_password_short"));
        assert_eq!(check("password1234", &[]), Err("err_password_weak"));
        assert_eq!(
            check("anamarti2024", &["ana", "Ana Martí", "anamarti"]),
            Err("err_password_weak")
        );
        assert_eq!(check(&"x".repeat(300), &[]), Err("err_password_long"));
        assert!(check("correct horse battery staple", &[]).is_ok());
        assert!(check("vermell-tortuga-finestra-41", &["ana"]).is_ok());
        assert!(check("lantern-pebble-orchard-47", &["ana"]).is_ok());
        assert!(check("violet-harbour-cactus-82", &["fran"]).is_ok());
    }
}
