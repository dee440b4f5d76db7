//! The text of an import file: UTF-8 with or without a byte-order mark, or
//! GBK (what Excel on a Chinese Windows saves "CSV" as), told apart by whether
//! the bytes are valid UTF-8. Anything else is refused by name, never guessed
//! at: a wrongly decoded archive would load names as mojibake.

use std::borrow::Cow;

/// How the file was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Gbk,
}

impl Encoding {
    pub fn label(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf8Bom => "UTF-8 (BOM)",
            Encoding::Gbk => "GBK",
        }
    }
}

/// Why a file's text cannot be read; each is a message key under `onboarding.encoding.`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A UTF-16 or UTF-32 byte-order mark ("Unicode text" in Excel).
    Utf16,
    /// NUL bytes: a binary file (a spreadsheet saved as .xlsx, say) or UTF-16 without a mark.
    Binary,
    /// Neither valid UTF-8 nor valid GBK.
    Unknown,
}

impl Refused {
    pub fn key(self) -> &'static str {
        match self {
            Refused::Utf16 => "onboarding.encoding.utf16",
            Refused::Binary => "onboarding.encoding.binary",
            Refused::Unknown => "onboarding.encoding.unknown",
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The file's text and how it was encoded.
pub fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, Encoding), Refused> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) || bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Err(Refused::Utf16);
    }
    if bytes.contains(&0) {
        return Err(Refused::Binary);
    }
    if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        return std::str::from_utf8(rest).map(|t| (Cow::Borrowed(t), Encoding::Utf8Bom)).map_err(|_| Refused::Unknown);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((Cow::Borrowed(text), Encoding::Utf8));
    }
    // GBK accepts most byte pairs, so Latin-1 or Shift-JIS text can decode
    // "successfully" into nonsense; an archive in GBK is Chinese, so most of
    // what is not ASCII must come out as Chinese characters.
    let text = encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(bytes).ok_or(Refused::Unknown)?;
    let (mut chinese, mut other) = (0usize, 0usize);
    for c in text.chars().filter(|c| !c.is_ascii()) {
        if is_chinese(c) { chinese += 1 } else { other += 1 }
    }
    if chinese < 4 * other {
        return Err(Refused::Unknown);
    }
    Ok((text, Encoding::Gbk))
}

/// CJK ideographs, their punctuation and full-width forms (what Chinese text
/// in GBK is made of).
fn is_chinese(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303F}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{FF00}'..='\u{FFEF}' | '·' | '—' | '“' | '”' | '‘' | '’' | '…')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "account_no,name,address\n3301000001,王建国,城东片区140号（北）\n";

    #[test]
    fn utf8_with_and_without_a_mark() {
        let (text, enc) = decode(TEXT.as_bytes()).unwrap();
        assert_eq!((text.as_ref(), enc), (TEXT, Encoding::Utf8));
        let marked = [UTF8_BOM, TEXT.as_bytes()].concat();
        let (text, enc) = decode(&marked).unwrap();
        assert_eq!((text.as_ref(), enc), (TEXT, Encoding::Utf8Bom));
    }

    #[test]
    fn gbk_is_detected_and_converted() {
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(TEXT);
        assert!(!unmappable);
        assert!(std::str::from_utf8(&bytes).is_err(), "the sample must not be valid UTF-8");
        let (text, enc) = decode(&bytes).unwrap();
        assert_eq!((text.as_ref(), enc), (TEXT, Encoding::Gbk));
    }

    #[test]
    fn other_encodings_are_refused_by_name() {
        let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain(TEXT.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(decode(&utf16).unwrap_err(), Refused::Utf16);
        let unmarked: Vec<u8> = TEXT.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode(&unmarked).unwrap_err(), Refused::Binary);
        // Latin-1: "café,Zoë" is neither UTF-8 nor GBK-shaped Chinese.
        let latin1 = b"name\ncaf\xE9 cr\xE8me,Zo\xEB\n";
        assert_eq!(decode(latin1).unwrap_err(), Refused::Unknown);
        // A UTF-8 mark over bytes that are not UTF-8.
        assert_eq!(decode(b"\xEF\xBB\xBFname\n\xC0\xC0\n").unwrap_err(), Refused::Unknown);
    }
}
