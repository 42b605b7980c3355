//! Protocol types, gRPC servers and clients generated at build time from
//! the `.proto` files under `proto/` (KServe v2 and TensorFlow Serving).

/// KServe v2 (`inference` package).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod kserve {
    tonic::include_proto!("inference");
}

/// TensorFlow's tensor and signature messages (`tensorflow` package).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod tensorflow {
    tonic::include_proto!("tensorflow");

    /// TensorFlow Serving's API (`tensorflow.serving` package).
    #[allow(missing_docs, clippy::all, clippy::pedantic)]
    pub mod serving {
        tonic::include_proto!("tensorflow.serving");
    }
}

/// The protobuf well-known types the TensorFlow Serving API uses
/// (`google.protobuf.Int64Value`, `google.protobuf.Any`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod google {
    /// `google.protobuf` package.
    #[allow(missing_docs, clippy::all, clippy::pedantic)]
    pub mod protobuf {
        tonic::include_proto!("google.protobuf");
    }
}

pub mod json;
pub mod text_format;
