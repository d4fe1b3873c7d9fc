//! Signature Version 2 (HmacSHA256) and Content-MD5, as pure functions (MWS.md §1, §3.1).
//!
//! Nothing here reads the clock: the caller puts `Timestamp` into the parameters.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

/// The `SignatureMethod` this module produces.
pub const SIGNATURE_METHOD: &str = "HmacSHA256";

/// RFC 3986 percent-encoding as MWS wants it: unreserved `A-Z a-z 0-9 - _ . ~` stay literal,
/// every other UTF-8 byte becomes `%XY` with upper-case hex (space is `%20`, never `+`).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(HEX[(b >> 4) as usize]));
            out.push(char::from(HEX[(b & 15) as usize]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Decodes `%XY` escapes (either case); with `plus_is_space`, `+` means a space (form bodies).
/// Returns `None` for a broken escape or bytes that are not UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `a=1&b=2` (query string or form body) into pairs, decoding both sides.
/// Returns `None` when an escape is broken.
pub fn parse_query(s: &str, plus_is_space: bool) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((
            percent_decode(k, plus_is_space)?,
            percent_decode(v, plus_is_space)?,
        ));
    }
    Some(out)
}

/// The canonical query: every parameter except `Signature`, sorted by name in byte order,
/// names and values percent-encoded, joined as `name=value` with `&`.
pub fn canonical_query<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut pairs: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(k, _)| *k != "Signature")
        .collect();
    pairs.sort_by(|a, b| {
        a.0.as_bytes()
            .cmp(b.0.as_bytes())
            .then(a.1.as_bytes().cmp(b.1.as_bytes()))
    });
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(k));
        out.push('=');
        out.push_str(&percent_encode(v));
    }
    out
}

/// The host line: lower-cased, with a default port (`:80`, `:443`) removed.
pub fn canonical_host(host: &str) -> String {
    let h = host.to_ascii_lowercase();
    h.strip_suffix(":443")
        .or_else(|| h.strip_suffix(":80"))
        .map(str::to_owned)
        .unwrap_or(h)
}

/// The string to sign: `VERB\nhost\npath\ncanonical-query`, with no trailing newline.
pub fn string_to_sign<'a, I>(method: &str, host: &str, path: &str, params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let path = if path.is_empty() { "/" } else { path };
    format!(
        "{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        canonical_host(host),
        path,
        canonical_query(params)
    )
}

/// `base64(HMAC-SHA256(secret, string_to_sign))`.
pub fn hmac_sha256_base64(secret: &str, string_to_sign: &str) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Signs a request: the `Signature` value (not yet percent-encoded) for these parameters.
pub fn sign<'a, I>(secret: &str, method: &str, host: &str, path: &str, params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    hmac_sha256_base64(secret, &string_to_sign(method, host, path, params))
}

/// Compares two signatures in time independent of where they differ.
pub fn signatures_match(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `base64(MD5(bytes))`: the `ContentMD5Value` of a feed and the `Content-MD5` of a report.
pub fn content_md5(bytes: &[u8]) -> String {
    STANDARD.encode(Md5::digest(bytes))
}

/// Encodes the parameters (including `Signature`) as a query string or form body.
pub fn encode_params<'a, I>(params: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    params
        .into_iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Formats a time as MWS wants it in `Timestamp`: ISO 8601 UTC with milliseconds and `Z`.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_follows_rfc3986_with_upper_hex() {
        assert_eq!(percent_encode("a b~c*d+é/"), "a%20b~c%2Ad%2B%C3%A9%2F");
        assert_eq!(
            percent_encode("2017-08-12T19:40:35Z"),
            "2017-08-12T19%3A40%3A35Z"
        );
        assert_eq!(percent_decode("a%20b+c", true).unwrap(), "a b c");
        assert_eq!(percent_decode("a%2bb+c", false).unwrap(), "a+b+c");
        assert!(percent_decode("%G1", false).is_none());
        assert!(percent_decode("%4", false).is_none());
    }

    #[test]
    fn byte_order_sort() {
        let q = canonical_query([
            ("MarketplaceId", "x"),
            ("MWSAuthToken", "y"),
            ("A10", "1"),
            ("A1", "2"),
        ]);
        assert_eq!(q, "A1=2&A10=1&MWSAuthToken=y&MarketplaceId=x");
    }

    #[test]
    fn host_drops_default_ports_only() {
        assert_eq!(
            canonical_host("MWS.AmazonServices.com:443"),
            "mws.amazonservices.com"
        );
        assert_eq!(canonical_host("127.0.0.1:8080"), "127.0.0.1:8080");
    }

    #[test]
    fn md5_vectors() {
        assert_eq!(content_md5(b"abc\tdef"), "Zj+Bh1BJ8HzBb9ToK28qFQ==");
        assert_eq!(content_md5(b"mws"), "mA5nPbh1CSx9M3dbkr3Cyg==");
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }

    #[test]
    fn doc_vector_b() {
        let sts = "POST\nmws.amazonservices.com\n/Orders/2013-09-01\nAWSAccessKeyId=AKIAEXAMPLE&Action=ListOrders&CreatedAfter=2017-02-01T00%3A00%3A00Z&FulfillmentChannel.Channel.1=MFN&MWSAuthToken=amzn.mws.00000000-0000-0000-0000-000000000000&MarketplaceId.Id.1=ATVPDKIKX0DER&Note=a%20b~c%2Ad%2B%C3%A9%2F&OrderStatus.Status.1=Unshipped&OrderStatus.Status.2=PartiallyShipped&SellerId=A1EXAMPLE&SignatureMethod=HmacSHA256&SignatureVersion=2&Timestamp=2017-02-05T18%3A12%3A21.687Z&Version=2013-09-01";
        assert_eq!(
            hmac_sha256_base64("SECRETEXAMPLE", sts),
            "TU9qI0gvWFxnoHmRCwu+ELd2HmfE7CRVJAKlXkniCIY="
        );
        assert!(
            signatures_match("abc", "abc")
                && !signatures_match("abc", "abd")
                && !signatures_match("a", "ab")
        );
    }
}
