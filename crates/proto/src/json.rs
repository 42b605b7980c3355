//! Protobuf messages as JSON in the protobuf JSON mapping with the fields'
//! proto names (`max_batch_size`, enums by name, 64-bit integers as strings,
//! fields at their default value included), as Triton answers its
//! configuration extension over HTTP.

use prost_reflect::{DynamicMessage, SerializeOptions};

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
    }
}
