//! The nesting limit for JSON request bodies, checked before parsing.

use super::ApiError;

/// Deepest nesting of arrays and objects a REST request body may have.
pub const MAX_JSON_DEPTH: usize = 100;

/// Refuses a body whose arrays and objects nest deeper than
/// [`MAX_JSON_DEPTH`], with a 400 that says so. One pass over the bytes;
/// brackets inside strings do not count. Malformed JSON is left to the parser.
pub fn check_json_depth(json: &[u8]) -> Result<(), ApiError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(ApiError::bad_request(format!(
                        "JSON nesting exceeds the limit of {MAX_JSON_DEPTH} levels"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn the_limit_is_inclusive() {
        assert!(check_json_depth(nested(MAX_JSON_DEPTH).as_bytes()).is_ok());
        let err = check_json_depth(nested(MAX_JSON_DEPTH + 1).as_bytes()).unwrap_err();
        assert_eq!(err.message, "JSON nesting exceeds the limit of 100 levels");
    }

    #[test]
    fn brackets_in_strings_do_not_count() {
        let deep_text = format!(r#"{{"a": "{}\"{}"}}"#, "[".repeat(500), "{".repeat(500));
        assert!(check_json_depth(deep_text.as_bytes()).is_ok());
        let objects = format!("{}{}", r#"{"a":"#.repeat(101), "}".repeat(101));
        assert!(check_json_depth(objects.as_bytes()).is_err());
    }
}
