//! Documents attached to an application (identity card, property proof, a
//! transfer agreement…): the checks on an upload and how a stored one is
//! served. Only PDF, JPEG and PNG are taken, recognised by their first bytes
//! rather than by the name or the type the browser claims, up to 5 MB; the
//! name is kept for display only. A document is always served as a download
//! (never shown inline in our origin), with its recorded type and no sniffing.
//! No database, no HTTP.

use sha2::{Digest, Sha256};

use crate::web::error::FieldErrors;

/// The largest document taken.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// Characters of a file name kept.
pub const MAX_NAME_CHARS: usize = 120;
/// Documents one application may hold.
pub const MAX_PER_APPLICATION: i64 = 20;

/// The documents an application of `kind` may carry: a change of use's by
/// its kind, an expansion's (业扩报装) any of the list (which of them its
/// review needs depends on the customer type).
pub fn accepted(kind: &str) -> &'static [&'static str] {
    if crate::work_orders::change::is_change_kind(kind) {
        crate::work_orders::change::required_documents(kind)
    } else {
        &crate::work_orders::model::DOCUMENTS
    }
}

/// The content types taken, each with the bytes its files start with. Three
/// fixed signatures: a sniffing crate would add a dependency for a table this size.
const SIGNATURES: [(&str, &[u8]); 3] = [
    ("application/pdf", b"%PDF-"),
    ("image/jpeg", &[0xFF, 0xD8, 0xFF]),
    ("image/png", &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]),
];

/// The type of a file by its first bytes, if it is one we take.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    SIGNATURES.iter().find(|(_, magic)| bytes.starts_with(magic)).map(|(t, _)| *t)
}

/// A file name as the browser sent it, made safe to keep and show: the last
/// path component, without control or bidirectional-override characters,
/// at most [`MAX_NAME_CHARS`]; "document" when nothing is left.
pub fn clean_file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let kept: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .take(MAX_NAME_CHARS)
        .collect();
    let kept = kept.trim().trim_start_matches('.').trim();
    if kept.is_empty() { "document".to_owned() } else { kept.to_owned() }
}

/// An upload that passed the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub document: String,
    pub file_name: String,
    pub content_type: &'static str,
    pub sha256: Vec<u8>,
}

/// Checks an upload: the document is one of `allowed`, the file is not
/// empty, at most [`MAX_BYTES`], and a PDF, JPEG or PNG by its content.
/// Errors name the fields `document` and `file`.
pub fn check_upload(document: &str, allowed: &[&str], file_name: &str, bytes: &[u8]) -> Result<Upload, FieldErrors> {
    let mut errors = FieldErrors::default();
    let document = document.trim();
    if document.is_empty() {
        errors.add("document", "required");
    } else if !allowed.contains(&document) {
        errors.add("document", "unknown_code");
    }
    let content_type = if bytes.is_empty() {
        errors.add("file", "required");
        None
    } else if bytes.len() > MAX_BYTES {
        errors.add("file", "document_too_large");
        None
    } else {
        let sniffed = sniff(bytes);
        if sniffed.is_none() {
            errors.add("file", "document_type");
        }
        sniffed
    };
    let upload = Upload {
        document: document.to_owned(),
        file_name: clean_file_name(file_name),
        content_type: content_type.unwrap_or_default(),
        sha256: Sha256::digest(bytes).to_vec(),
    };
    errors.finish(upload)
}

/// The Content-Disposition of a stored document: always a download, with
/// an ASCII fallback name and the real one in RFC 5987 form.
pub fn content_disposition(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(file_name, percent_encoding::NON_ALPHANUMERIC);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: [&str; 2] = ["identity", "property_proof"];

    #[test]
    fn only_pdf_jpeg_and_png_are_taken_by_their_content_not_their_name() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff(b"<html><script>alert(1)</script>"), None);
        assert_eq!(sniff(b"MZ\x90\0"), None, "a Windows program");
        assert_eq!(sniff(b"%PD"), None, "too short to be a PDF");
        let html_named_pdf = check_upload("identity", &ALLOWED, "id.pdf", b"<html></html>").unwrap_err();
        assert!(html_named_pdf.has("file"));
        let ok = check_upload("identity", &ALLOWED, "身份证.jpg", &[0xFF, 0xD8, 0xFF, 1]).unwrap();
        assert_eq!((ok.content_type, ok.file_name.as_str(), ok.sha256.len()), ("image/jpeg", "身份证.jpg", 32));
    }

    #[test]
    fn an_upload_names_what_is_wrong_with_it() {
        let e = check_upload("", &ALLOWED, "a.pdf", b"").unwrap_err();
        assert!(e.has("document") && e.has("file"));
        let e = check_upload("bank_statement", &ALLOWED, "a.pdf", b"%PDF-1.4").unwrap_err();
        assert!(e.has("document") && !e.has("file"));
        let mut big = b"%PDF-1.4".to_vec();
        big.resize(MAX_BYTES + 1, b' ');
        assert!(check_upload("identity", &ALLOWED, "a.pdf", &big).unwrap_err().has("file"));
        big.truncate(MAX_BYTES);
        assert!(check_upload("identity", &ALLOWED, "a.pdf", &big).is_ok(), "exactly the limit is taken");
    }

    #[test]
    fn file_names_are_kept_for_display_only_and_made_harmless() {
        assert_eq!(clean_file_name("C:\\Users\\wang\\房产证.pdf"), "房产证.pdf");
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("evil\u{202E}fdp.exe"), "evilfdp.exe");
        assert_eq!(clean_file_name("a\r\nb.png"), "ab.png");
        assert_eq!(clean_file_name("..."), "document");
        assert_eq!(clean_file_name(""), "document");
        assert_eq!(clean_file_name(&"长".repeat(300)).chars().count(), MAX_NAME_CHARS);
        assert_eq!(
            content_disposition("房产证 \"1\".pdf"),
            "attachment; filename=\"___ _1_.pdf\"; filename*=UTF-8''%E6%88%BF%E4%BA%A7%E8%AF%81%20%221%22%2Epdf"
        );
    }
}
