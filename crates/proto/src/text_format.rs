//! Protobuf text format (the `.pbtxt` syntax of TensorFlow Serving's and
//! Triton's configuration files), read into the generated message types
//! through the descriptors of inferd's own `.proto` files.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage};

/// The descriptors of every message compiled into this crate.
static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));

/// Why a text-format message was refused.
#[derive(Debug, thiserror::Error)]
pub enum TextFormatError {
    /// The text does not parse as the message (the text names line and column).
    #[error("{0}")]
    Syntax(String),
    /// `message` is not one of this crate's messages (a programming error).
    #[error("unknown message type {0}")]
    UnknownMessage(String),
}

pub(crate) fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(DESCRIPTORS).expect("descriptors written by build.rs decode")
    })
}

/// Parses `text` as the message called `full_name` (e.g.
/// `tensorflow.serving.SSLConfig`) into `M`, its generated type.
pub fn parse<M: prost::Message + Default>(
    full_name: &str,
    text: &str,
) -> Result<M, TextFormatError> {
    let descriptor = pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| TextFormatError::UnknownMessage(full_name.to_string()))?;
    let text = colon_before_message_lists(text);
    let message = DynamicMessage::parse_text_format(descriptor, &text)
        .map_err(|e| TextFormatError::Syntax(e.to_string()))?;
    message
        .transcode_to::<M>()
        .map_err(|e| TextFormatError::Syntax(e.to_string()))
}

/// The text format lets a list of messages follow its field name without a
/// colon (`input [ { ... } ]`, as nearly every Triton `config.pbtxt` writes
/// it); prost-reflect's parser wants `input: [ ... ]`. Adds the colon where a
/// `[` outside strings and comments directly follows a field name.
fn colon_before_message_lists(text: &str) -> std::borrow::Cow<'_, str> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut comment = false;
    let mut changed = false;
    for c in text.chars() {
        if comment {
            comment = c != '\n';
        } else if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
        } else if c == '"' || c == '\'' {
            quote = Some(c);
        } else if c == '#' {
            comment = true;
        } else if c == '['
            && out
                .trim_end()
                .chars()
                .next_back()
                .is_some_and(|p| p.is_ascii_alphanumeric() || p == '_')
        {
            let trimmed = out.trim_end().len();
            out.insert(trimmed, ':');
            changed = true;
        }
        out.push(c);
    }
    if changed {
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensorflow::serving::SslConfig;

    #[test]
    fn reads_an_ssl_config() {
        let text =
            "server_key: \"KEY\"\nserver_cert: 'CERT'\ncustom_ca: \"CA\" client_verify: true\n";
        let config: SslConfig = parse("tensorflow.serving.SSLConfig", text).unwrap();
        assert_eq!(config.server_key, "KEY");
        assert_eq!(config.server_cert, "CERT");
        assert_eq!(config.custom_ca, "CA");
        assert!(config.client_verify);
    }

    #[test]
    fn names_the_line_of_an_unknown_field() {
        let error = parse::<SslConfig>(
            "tensorflow.serving.SSLConfig",
            "server_key: \"k\"\nserver_kee: \"x\"\n",
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("server_kee"), "{text}");
    }

    #[test]
    fn lists_of_messages_need_no_colon() {
        let text = "input [ { a: 1 } ] # not [ here\nname: \"x [ y\" dims [1]";
        assert_eq!(
            colon_before_message_lists(text),
            "input: [ { a: 1 } ] # not [ here\nname: \"x [ y\" dims: [1]"
        );
        assert!(matches!(
            colon_before_message_lists("dims: [1]"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn refuses_an_unknown_message() {
        assert!(matches!(
            parse::<SslConfig>("tensorflow.serving.Nope", ""),
            Err(TextFormatError::UnknownMessage(_))
        ));
    }
}
