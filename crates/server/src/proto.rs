//! Generated protocol types and services.

/// KServe v2 (`inference` package).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod kserve {
    tonic::include_proto!("inference");
}
