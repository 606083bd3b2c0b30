//! WebSocket extensions (RFC 6455 §9): the `Sec-WebSocket-Extensions`
//! grammar, and permessage-deflate (RFC 7692).
//!
//! The handshake hands each comma-separated element of the header over as a
//! string (`Request::extensions`, `Response::extensions`); this module reads
//! one element's parameters. The grammar (RFC 6455 §9.1):
//!
//! ```text
//! extension       = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//!     ; a quoted-string value, once unescaped, MUST be a token
//! ```
//!
//! Syntax errors are reported, not skipped: a server declines an offer it
//! cannot read (RFC 7692 §5.1), and a client fails on an answer it cannot
//! read.

pub(crate) mod compress;
pub mod deflate;
pub(crate) mod inflate;

use crate::token::{is_tchar, is_token};

/// One `extension-param`: a name and, if present, its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Param<'a> {
    /// The parameter's name, a token.
    pub(crate) name: &'a str,
    /// The value as written: a token, or the inside of a quoted-string with
    /// its escapes still in place (see [`Param::value_bytes`]).
    pub(crate) value: Option<&'a str>,
}

impl Param<'_> {
    /// The value with quoted-string escapes removed (`\x` stands for `x`).
    pub(crate) fn value_bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let mut escaped = false;
        self.value.unwrap_or("").bytes().filter(move |&b| {
            if !escaped && b == b'\\' {
                escaped = true;
                return false;
            }
            escaped = false;
            true
        })
    }
}

/// The syntax of an element is not RFC 6455 §9.1's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyntaxError;

/// Splits one element into its name and parameters, checking the grammar.
/// Linear in the element's length; allocates nothing.
pub(crate) fn parse_element(element: &str) -> Result<(&str, Params<'_>), SyntaxError> {
    let (name, rest) = match element.find(';') {
        Some(i) => (&element[..i], &element[i..]),
        None => (element, ""),
    };
    let name = name.trim_matches([' ', '\t']);
    if !is_token(name.as_bytes()) {
        return Err(SyntaxError);
    }
    // Check every parameter now, so callers can iterate without errors.
    let params = Params { rest };
    for param in params.clone() {
        param?;
    }
    Ok((name, params))
}

/// The parameters of an element, in order.
#[derive(Debug, Clone)]
pub(crate) struct Params<'a> {
    /// The unread part, starting at a ';' (or empty).
    rest: &'a str,
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<Param<'a>, SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        let body = self.rest.strip_prefix(';')?;
        // The parameter ends at the next ';' outside a quoted-string.
        let mut in_quotes = false;
        let mut escaped = false;
        let mut end = body.len();
        for (i, b) in body.bytes().enumerate() {
            if in_quotes {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_quotes = false,
                    _ => {}
                }
            } else if b == b'"' {
                in_quotes = true;
            } else if b == b';' {
                end = i;
                break;
            }
        }
        // ';' is ASCII, so the cut is on a character boundary.
        let (param, rest) = body.split_at(end);
        self.rest = rest;
        Some(parse_param(param.trim_matches([' ', '\t'])))
    }
}

fn parse_param(param: &str) -> Result<Param<'_>, SyntaxError> {
    let Some((name, value)) = param.split_once('=') else {
        return if is_token(param.as_bytes()) {
            Ok(Param {
                name: param,
                value: None,
            })
        } else {
            Err(SyntaxError)
        };
    };
    let name = name.trim_matches([' ', '\t']);
    let value = value.trim_matches([' ', '\t']);
    if !is_token(name.as_bytes()) {
        return Err(SyntaxError);
    }
    let value = match value.strip_prefix('"') {
        Some(quoted) => {
            let inner = quoted.strip_suffix('"').ok_or(SyntaxError)?;
            let param = Param {
                name,
                value: Some(inner),
            };
            // The unescaped value must be a token: no quote, no space, and an
            // escape must escape something.
            let bytes = param.value_bytes();
            let mut count = 0;
            for b in bytes {
                if !is_tchar(b) {
                    return Err(SyntaxError);
                }
                count += 1;
            }
            // A trailing lone '\' escapes the closing quote: unterminated.
            if count == 0 || inner.ends_with('\\') {
                return Err(SyntaxError);
            }
            inner
        }
        None if is_token(value.as_bytes()) => value,
        None => return Err(SyntaxError),
    };
    Ok(Param {
        name,
        value: Some(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    type Parsed<'a> = (&'a str, Vec<(&'a str, Option<&'a str>)>);

    fn params(element: &str) -> Result<Parsed<'_>, SyntaxError> {
        let (name, params) = parse_element(element)?;
        let list = params
            .map(|p| p.map(|p| (p.name, p.value)))
            .collect::<Result<_, _>>()?;
        Ok((name, list))
    }

    #[test]
    fn rfc_7692_examples() {
        assert_eq!(
            params("permessage-deflate"),
            Ok(("permessage-deflate", vec![]))
        );
        assert_eq!(
            params("permessage-deflate; client_max_window_bits"),
            Ok(("permessage-deflate", vec![("client_max_window_bits", None)]))
        );
        assert_eq!(
            params("permessage-deflate; client_no_context_takeover; server_max_window_bits=10"),
            Ok((
                "permessage-deflate",
                vec![
                    ("client_no_context_takeover", None),
                    ("server_max_window_bits", Some("10"))
                ]
            ))
        );
    }

    #[test]
    fn quoted_values_unescape_to_tokens() {
        let (_, mut p) = parse_element("x; a=\"1\\0\"").unwrap();
        let param = p.next().unwrap().unwrap();
        assert_eq!(param.value_bytes().collect::<Vec<_>>(), b"10");
        assert!(parse_element("x; a=\"\"").is_err());
        assert!(parse_element("x; a=\"1 0\"").is_err());
        assert!(parse_element("x; a=\"10").is_err());
        assert!(parse_element("x; a=\"1;0\"").is_err());
    }

    #[test]
    fn malformed_elements_are_errors() {
        for bad in [
            "", "; a", "x;", "x; =1", "x; a=", "x; a b", "x y", "x; a=1=2", "x; a=@",
        ] {
            assert!(parse_element(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn whitespace_around_parts_is_allowed() {
        assert_eq!(
            params("x ;  a = 1 ;b"),
            Ok(("x", vec![("a", Some("1")), ("b", None)]))
        );
    }
}
