//! Protobuf messages as JSON in the protobuf JSON mapping with the fields'
//! proto names (`max_batch_size`, enums by name, 64-bit integers as strings,
//! fields at their default value included), as Triton answers its
//! configuration extension over HTTP.

use prost_reflect::{DeserializeOptions, DynamicMessage, SerializeOptions};

use crate::text_format::TextFormatError;

/// `message`, whose full protobuf name is `full_name`, as JSON.
pub fn to_json<M: prost::Message>(
    full_name: &str,
    message: &M,
) -> Result<serde_json::Value, TextFormatError> {
    let descriptor = crate::text_format::pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| TextFormatError::UnknownMessage(full_name.to_string()))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .map_err(|e| TextFormatError::Syntax(e.to_string()))?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| TextFormatError::Syntax(e.to_string()))
}

/// Parses JSON text in the protobuf JSON mapping (either field name
/// spelling, 64-bit values as numbers or strings, unknown fields refused)
/// as the message `full_name`, into `M`, its generated type.
pub fn from_json<M: prost::Message + Default>(
    full_name: &str,
    text: &str,
) -> Result<M, TextFormatError> {
    let descriptor = crate::text_format::pool()
        .get_message_by_name(full_name)
        .ok_or_else(|| TextFormatError::UnknownMessage(full_name.to_string()))?;
    let mut json = serde_json::Deserializer::from_str(text);
    let dynamic =
        DynamicMessage::deserialize_with_options(descriptor, &mut json, &DeserializeOptions::new())
            .map_err(|e| TextFormatError::Syntax(e.to_string()))?;
    dynamic
        .transcode_to::<M>()
        .map_err(|e| TextFormatError::Syntax(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kserve::{DataType, ModelConfig, ModelInput};

    #[test]
    fn a_model_config_reads_as_tritons_json() {
        let config = ModelConfig {
            name: "add".into(),
            max_batch_size: 8,
            input: vec![ModelInput {
                name: "a".into(),
                data_type: DataType::TypeFp32 as i32,
                dims: vec![16],
                ..Default::default()
            }],
            ..Default::default()
        };
        let json = to_json("inference.ModelConfig", &config).unwrap();
        assert_eq!(json["name"], "add");
        assert_eq!(json["max_batch_size"], 8);
        assert_eq!(json["input"][0]["data_type"], "TYPE_FP32");
        assert_eq!(json["input"][0]["dims"], serde_json::json!(["16"]));
        assert_eq!(json["input"][0]["format"], "FORMAT_NONE");
        let back: ModelConfig = from_json("inference.ModelConfig", &json.to_string()).unwrap();
        assert_eq!(back, config);
        let plain: ModelConfig = from_json(
            "inference.ModelConfig",
            r#"{"maxBatchSize": 2, "input": [{"name": "a", "dims": [4]}]}"#,
        )
        .unwrap();
        assert_eq!((plain.max_batch_size, plain.input[0].dims[0]), (2, 4));
        let e = from_json::<ModelConfig>("inference.ModelConfig", r#"{"bogus": 1}"#).unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }
}
