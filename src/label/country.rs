//! Country names as carriers want them on a label: ISO 3166-1's English short name in
//! capitals ("DE" -> "GERMANY"), from the `rust_iso3166` crate's copy of the standard.

/// The English short name of ISO 3166-1 alpha-2 `code`, in capitals; a code the standard does
/// not list (or a malformed one) is printed as Amazon sent it, in capitals.
pub fn country_name(code: &str) -> String {
    let code = code.trim().to_ascii_uppercase();
    match rust_iso3166::from_alpha2(&code) {
        Some(c) => c.name.to_uppercase(),
        None => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_become_english_names_in_capitals() {
        assert_eq!(country_name("DE"), "GERMANY");
        assert_eq!(country_name("fr"), "FRANCE");
        assert_eq!(country_name("US"), "UNITED STATES OF AMERICA");
        assert_eq!(country_name("JP"), "JAPAN");
        // Not in ISO 3166-1 (Kosovo's user-assigned code): kept as it came.
        assert_eq!(country_name("XK"), "XK");
    }

    #[test]
    fn every_name_is_latin_1_so_the_pdf_font_shows_it() {
        for c in rust_iso3166::ALL {
            let n = country_name(c.alpha2);
            assert!(n.chars().all(|ch| (ch as u32) < 0x100), "{n}");
        }
    }
}
