//! Triton Inference Server's deployment formats: model repositories with
//! `config.pbtxt`, and its command-line flags (`cli::triton`).

pub mod config_pbtxt;
pub mod repository;

pub use repository::TritonRepositories;
