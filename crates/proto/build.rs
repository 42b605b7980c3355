//! Compiles the gRPC protocol definitions with a pure-Rust compiler (no protoc).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/kserve.proto",
        "proto/model_config.proto",
        "proto/tensorflow/tensor.proto",
        "proto/tensorflow/meta_graph.proto",
        "proto/tensorflow/serving/model.proto",
        "proto/tensorflow/serving/prediction_service.proto",
        "proto/tensorflow/serving/model_service.proto",
        "proto/tensorflow/serving/ssl_config.proto",
        "proto/tensorflow/serving/batching_parameters.proto",
        "proto/tensorflow/serving/monitoring_config.proto",
        "proto/tensorflow/serving/prediction_log.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    // Kept for reading text-format messages (configuration files) at run time.
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("descriptors.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .bytes(".")
        // Maps of the TensorFlow Serving API iterate in name order, so inputs
        // are checked and outputs written in a stable order.
        .btree_map(".tensorflow")
        // google.protobuf.Int64Value and Any (TensorFlow Serving) are generated
        // here rather than taken from the prost-types crate.
        .compile_well_known_types(true)
        .compile_fds(descriptors)?;
    Ok(())
}
