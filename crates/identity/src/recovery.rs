//! Recovery codes: one-time codes a staff member keeps on paper to sign in when their TOTP device is lost.
//!
//! A code is 10 characters of Crockford's base32 (digits and upper-case letters without I, L, O and U, so
//! that none can be misread as another), shown as `XXXXX-XXXXX`: 50 random bits. The caller supplies the
//! random bytes and stores only a hash of the normalised code.

/// Crockford's base32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a code, without the hyphen.
pub const CODE_CHARS: usize = 10;

/// The display form `XXXXX-XXXXX` of a code made from 7 random bytes: the first 50 of their 56 bits, five
/// bits a character, most significant first.
pub fn format_recovery_code(bytes: &[u8; 7]) -> String {
    let mut wide = [0u8; 8];
    wide[1..].copy_from_slice(bytes);
    let bits = u64::from_be_bytes(wide) >> 6; // the top 50 of the 56 bits
    let mut out = String::with_capacity(CODE_CHARS + 1);
    for i in 0..CODE_CHARS {
        if i == CODE_CHARS / 2 {
            out.push('-');
        }
        let index = (bits >> (5 * (CODE_CHARS - 1 - i))) & 0x1f;
        out.push(char::from(ALPHABET[index as usize]));
    }
    out
}

/// Normalises a code as typed to its display form `XXXXX-XXXXX`, or `None` if it is not a code. Case is
/// ignored, as are hyphens and whitespace anywhere; `I` and `L` are read as `1` and `O` as `0`, as
/// Crockford's encoding prescribes.
pub fn normalise_recovery_code(s: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_CHARS + 1);
    let mut n = 0;
    for c in s.chars().filter(|c| *c != '-' && !c.is_whitespace()) {
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || n == CODE_CHARS {
            return None;
        }
        if n == CODE_CHARS / 2 {
            out.push('-');
        }
        out.push(c);
        n += 1;
    }
    (n == CODE_CHARS).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_codes() {
        assert_eq!(format_recovery_code(&[0; 7]), "00000-00000");
        assert_eq!(format_recovery_code(&[0xff; 7]), "ZZZZZ-ZZZZZ");
        // 0x84 = 10000 100: the first character takes the bits 10000 = 16 = 'G', the second 100 followed by
        // the next byte's 00, again 16.
        assert_eq!(format_recovery_code(&[0x84, 0, 0, 0, 0, 0, 0]), "GG000-00000");
        assert_eq!(format_recovery_code(&[0x80, 0, 0, 0, 0, 0, 0]), "G0000-00000");
        // The last 6 bits are not used.
        assert_eq!(format_recovery_code(&[0, 0, 0, 0, 0, 0, 0x3f]), "00000-00000");
        assert_eq!(format_recovery_code(&[0, 0, 0, 0, 0, 0, 0x40]), "00000-00001");
    }

    #[test]
    fn normalisation() {
        assert_eq!(
            normalise_recovery_code("abcde-fghjk").as_deref(),
            Some("ABCDE-FGHJK")
        );
        assert_eq!(
            normalise_recovery_code(" ab cd e fg-hj-k\n").as_deref(),
            Some("ABCDE-FGHJK")
        );
        assert_eq!(
            normalise_recovery_code("ABCDEFGHJK").as_deref(),
            Some("ABCDE-FGHJK")
        );
        assert_eq!(
            normalise_recovery_code("oilOIL0000").as_deref(),
            Some("01101-10000")
        );
        for bad in [
            "",
            "ABCDE-FGHJ",
            "ABCDE-FGHJKM",
            "ABCDE-FGHJU",
            "ABCDE_FGHJK",
            "ABCDE-FGHJ＃",
            "ÄBCDE-FGHJK",
        ] {
            assert_eq!(normalise_recovery_code(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn formatted_codes_normalise_to_themselves(bytes in any::<[u8; 7]>()) {
            let code = format_recovery_code(&bytes);
            prop_assert_eq!(code.len(), 11);
            prop_assert_eq!(normalise_recovery_code(&code), Some(code.clone()));
            let typed = code.to_lowercase().replace('-', " ");
            prop_assert_eq!(normalise_recovery_code(&typed), Some(code.clone()));
        }

        #[test]
        fn distinct_leading_bits_give_distinct_codes(a in any::<[u8; 7]>(), b in any::<[u8; 7]>()) {
            let top = |x: &[u8; 7]| {
                let mut w = [0u8; 8];
                w[1..].copy_from_slice(x);
                u64::from_be_bytes(w) >> 6
            };
            prop_assert_eq!(top(&a) == top(&b), format_recovery_code(&a) == format_recovery_code(&b));
        }
    }
}
