//! Every field of every form, checked on the server. A refusal is a catalogue key, shown next
//! to the field in the person's language, with the rest of the form kept.
//!
//! Text is normalised to NFC, trimmed, and refused when it holds control characters (other
//! than line breaks in multi-line fields), bidirectional controls (which can make a name read
//! differently from what it is), invisible or private-use characters, or is too long.

use crate::directory::names;
use unicode_normalization::UnicodeNormalization;

/// A refusal: which catalogue message to show.
pub type Refusal = &'static str;

/// Characters that change how text around them is displayed or hide in it.
fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        | '\u{200B}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}'
        | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

fn is_unusable(c: char) -> bool {
    let u = c as u32;
    (0xE000..=0xF8FF).contains(&u)
        || u >= 0xF0000
        || (0xFDD0..=0xFDEF).contains(&u)
        || (u & 0xFFFE) == 0xFFFE
}

/// Normalise and check free text. `multiline` keeps line breaks (as `\n`).
pub fn text(input: &str, max_chars: usize, multiline: bool) -> Result<String, Refusal> {
    if input.len() > max_chars * 4 + 16 {
        return Err("err_too_long");
    }
    let s: String = input.replace("\r\n", "\n").nfc().collect();
    let s = s.trim();
    for c in s.chars() {
        if c == '\n' && multiline {
            continue;
        }
        if c.is_control() {
            return Err("err_control");
        }
        if is_deceptive(c) || is_unusable(c) {
            return Err("err_odd_unicode");
        }
    }
    if s.chars().count() > max_chars {
        return Err("err_too_long");
    }
    Ok(s.to_string())
}

pub fn display_name(input: &str) -> Result<String, Refusal> {
    let s = text(input, 128, false)?;
    if s.is_empty() {
        return Err("err_required");
    }
    names::display_name(&s).map_err(|_| "err_name")?;
    Ok(s)
}

/// Usernames are lower-cased for the person (`Ana` → `ana`); then the directory's rule.
pub fn username(input: &str) -> Result<String, Refusal> {
    let s = input.trim();
    if s.is_empty() {
        return Err("err_required");
    }
    if s.len() > 64 {
        return Err("err_too_long");
    }
    let s = s.to_lowercase();
    names::username(&s).map_err(|_| "err_username")?;
    Ok(s)
}

pub fn email(input: &str) -> Result<String, Refusal> {
    let s = input.trim();
    if s.is_empty() {
        return Err("err_required");
    }
    if s.len() > 254 {
        return Err("err_too_long");
    }
    names::email(s).map_err(|_| "err_email")?;
    // The domain is case-insensitive; keep the local part as typed.
    let (local, domain) = s.rsplit_once('@').ok_or("err_email")?;
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

pub fn message(input: &str) -> Result<String, Refusal> {
    text(input, 1000, true)
}

pub fn reason(input: &str) -> Result<String, Refusal> {
    text(input, 500, true)
}

pub fn collective_id(input: &str) -> Result<String, Refusal> {
    let s = input.trim();
    if s.is_empty() {
        return Err("err_choose_collective");
    }
    names::collective_id(s).map_err(|_| "err_choose_collective")?;
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_odd_characters_refused() {
        assert_eq!(display_name("  Ana Martí ").unwrap(), "Ana Martí");
        // e + combining acute becomes é.
        assert_eq!(display_name("Jose\u{301}").unwrap(), "José");
        assert_eq!(display_name("Ana\u{202E}ecilA"), Err("err_odd_unicode"));
        assert_eq!(display_name("Ana\u{200B}"), Err("err_odd_unicode"));
        assert_eq!(display_name("A\u{E000}"), Err("err_odd_unicode"));
        assert_eq!(display_name("Ana\nB"), Err("err_control"));
        assert_eq!(display_name("Ana\0"), Err("err_control"));
        assert_eq!(display_name(&"a".repeat(129)), Err("err_too_long"));
        assert_eq!(display_name(&"a".repeat(100_000)), Err("err_too_long"));
        assert_eq!(display_name("   "), Err("err_required"));
        assert!(display_name("Ærøskøbing 東京 👩‍💻").is_ok());
    }

    #[test]
    fn messages_keep_line_breaks() {
        assert_eq!(message("hola\r\nadéu").unwrap(), "hola\nadéu");
        assert_eq!(message("a\tb"), Err("err_control"));
        assert_eq!(message(""), Ok(String::new()));
    }

    #[test]
    fn usernames_and_emails() {
        assert_eq!(username(" Ana ").unwrap(), "ana");
        assert_eq!(username("a b"), Err("err_username"));
        assert_eq!(username("ana)(uid=*"), Err("err_username"));
        assert_eq!(email("Ana@Example.COOP").unwrap(), "Ana@example.coop");
        assert_eq!(email("ana"), Err("err_email"));
        assert_eq!(email("anà@example.coop"), Err("err_email"));
        assert_eq!(collective_id("fki").unwrap(), "fki");
        assert_eq!(collective_id("ou=x"), Err("err_choose_collective"));
    }
}
