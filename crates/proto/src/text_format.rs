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
    let message = DynamicMessage::parse_text_format(descriptor, text)
        .map_err(|e| TextFormatError::Syntax(e.to_string()))?;
    message
        .transcode_to::<M>()
        .map_err(|e| TextFormatError::Syntax(e.to_string()))
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
    fn refuses_an_unknown_message() {
        assert!(matches!(
            parse::<SslConfig>("tensorflow.serving.Nope", ""),
            Err(TextFormatError::UnknownMessage(_))
        ));
    }
}
