//! Compiles the gRPC protocol definitions with a pure-Rust compiler (no protoc).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/kserve.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        .bytes(".")
        .compile_fds(descriptors)?;
    Ok(())
}
