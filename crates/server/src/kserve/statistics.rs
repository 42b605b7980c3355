//! Triton's statistics extension over the core's per-version figures: which
//! versions a request selects, and the answer as the gRPC message or as
//! REST JSON (the same field names).

use inferd_core::telemetry::{StatDuration, StatsSnapshot};
use inferd_core::{Core, CoreError, VersionRequest, VersionStatistics};
use serde_json::{Value, json};

use crate::proto::kserve::{
    InferBatchStatistics, InferStatistics, ModelStatistics, ModelStatisticsResponse,
    StatisticDuration,
};

/// Statistics of every serving version (empty `name`), of one model's
/// serving versions (empty `version`), or of one version.
pub fn select(core: &Core, name: &str, version: &str) -> Result<Vec<VersionStatistics>, CoreError> {
    let manager = core.manager();
    if name.is_empty() {
        return manager.statistics(None, None);
    }
    match VersionRequest::parse(version)? {
        VersionRequest::Specific(v) => manager.statistics(Some(name), Some(v)),
        _ => manager.statistics(Some(name), None),
    }
}

fn duration(d: StatDuration) -> StatisticDuration {
    StatisticDuration {
        count: d.count,
        ns: d.ns,
    }
}

fn infer_statistics(s: &StatsSnapshot) -> InferStatistics {
    InferStatistics {
        success: Some(duration(s.success)),
        fail: Some(duration(s.fail)),
        queue: Some(duration(s.queue)),
        compute_input: Some(duration(s.compute_input)),
        compute_infer: Some(duration(s.compute_infer)),
        compute_output: Some(duration(s.compute_output)),
        cache_hit: Some(StatisticDuration::default()),
        cache_miss: Some(StatisticDuration::default()),
    }
}

/// The gRPC `ModelStatisticsResponse`.
pub fn to_proto(selected: &[VersionStatistics]) -> ModelStatisticsResponse {
    ModelStatisticsResponse {
        model_stats: selected
            .iter()
            .map(|v| ModelStatistics {
                name: v.name.clone(),
                version: v.version.to_string(),
                last_inference: v.stats.last_inference_ms,
                inference_count: v.stats.inference_count,
                execution_count: v.stats.execution_count,
                inference_stats: Some(infer_statistics(&v.stats)),
                batch_stats: v
                    .stats
                    .batches
                    .iter()
                    .map(|b| InferBatchStatistics {
                        batch_size: b.batch_size,
                        compute_input: Some(duration(b.compute_input)),
                        compute_infer: Some(duration(b.compute_infer)),
                        compute_output: Some(duration(b.compute_output)),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn duration_json(d: StatDuration) -> Value {
    json!({"count": d.count, "ns": d.ns})
}

/// The REST answer, `{"model_stats": [...]}`.
pub fn to_json(selected: &[VersionStatistics]) -> Value {
    let none = StatDuration::default();
    let stats: Vec<Value> = selected
        .iter()
        .map(|v| {
            let s = &v.stats;
            json!({
                "name": v.name,
                "version": v.version.to_string(),
                "last_inference": s.last_inference_ms,
                "inference_count": s.inference_count,
                "execution_count": s.execution_count,
                "inference_stats": {
                    "success": duration_json(s.success),
                    "fail": duration_json(s.fail),
                    "queue": duration_json(s.queue),
                    "compute_input": duration_json(s.compute_input),
                    "compute_infer": duration_json(s.compute_infer),
                    "compute_output": duration_json(s.compute_output),
                    "cache_hit": duration_json(none),
                    "cache_miss": duration_json(none),
                },
                "batch_stats": s.batches.iter().map(|b| json!({
                    "batch_size": b.batch_size,
                    "compute_input": duration_json(b.compute_input),
                    "compute_infer": duration_json(b.compute_infer),
                    "compute_output": duration_json(b.compute_output),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "model_stats": stats })
}
