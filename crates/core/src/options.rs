use std::collections::BTreeMap;

use inferd_backend::{InputPreprocessing, InputShapes, ModelOptions};
use inferd_repository::{
    BatchSize, InputSetting, InputShape, LayoutSetting, ModelConfig, ShapeSetting,
};

/// Backend load options from a model's config entry.
pub fn model_options(config: &ModelConfig) -> ModelOptions {
    let shapes = match &config.shape {
        None | Some(ShapeSetting::Auto) => InputShapes::Model,
        Some(ShapeSetting::All(dims)) => InputShapes::Single(dims.clone()),
        Some(ShapeSetting::PerInput(map)) => InputShapes::PerInput(
            map.iter()
                .filter_map(|(name, shape)| match shape {
                    InputShape::Dims(dims) => Some((name.clone(), dims.clone())),
                    InputShape::Auto => None,
                })
                .collect(),
        ),
    };
    let batch_size = match config.batch_size {
        Some(BatchSize::Fixed(n)) => Some(n),
        Some(BatchSize::Auto) | None => None,
    };
    let layouts = match &config.layout {
        None => Default::default(),
        Some(LayoutSetting::All(layout)) => [(String::new(), layout.clone())].into(),
        Some(LayoutSetting::PerInput(map)) => map.clone(),
    };
    let plugin_config = config
        .plugin_config
        .iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect();
    ModelOptions {
        shapes,
        batch_size,
        layouts,
        preprocessing: preprocessing(config),
        target_device: config.target_device.clone(),
        plugin_config,
        nireq: config.nireq,
        cache_dir: None,
        signature: None,
    }
}

/// `mean`, `scale` and `color_format` by input (`""`: the only input).
fn preprocessing(config: &ModelConfig) -> BTreeMap<String, InputPreprocessing> {
    let mut by_input: BTreeMap<String, InputPreprocessing> = BTreeMap::new();
    for (input, values) in config.mean.iter().flat_map(InputSetting::by_input) {
        by_input.entry(input).or_default().mean = Some(values.0);
    }
    for (input, values) in config.scale.iter().flat_map(InputSetting::by_input) {
        by_input.entry(input).or_default().scale = Some(values.0);
    }
    for (input, format) in config.color_format.iter().flat_map(InputSetting::by_input) {
        by_input.entry(input).or_default().reverse_channels = format.reverses_channels();
    }
    by_input
}

#[cfg(test)]
mod tests {
    use inferd_tensor::Dim;

    use super::*;

    #[test]
    fn config_maps_to_options() {
        let mut config = ModelConfig::new("m", "/m");
        config.shape = Some(ShapeSetting::All(vec![Dim::Fixed(1), Dim::Any]));
        config.layout = Some(LayoutSetting::All("NCHW".into()));
        config.plugin_config = Some(
            serde_json::from_str(r#"{"INFERENCE_NUM_THREADS": 2, "PERFORMANCE_HINT": "LATENCY"}"#)
                .unwrap(),
        );
        let options = model_options(&config);
        assert_eq!(
            options.shapes,
            InputShapes::Single(vec![Dim::Fixed(1), Dim::Any])
        );
        assert_eq!(options.layouts[""], "NCHW");
        assert_eq!(options.plugin_config["INFERENCE_NUM_THREADS"], "2");
        assert_eq!(options.plugin_config["PERFORMANCE_HINT"], "LATENCY");
        assert!(options.preprocessing.is_empty());
        config.mean = Some(serde_json::from_str("[1, 2, 3]").unwrap());
        config.color_format = Some(serde_json::from_str(r#"{"x": "BGR:RGB"}"#).unwrap());
        let options = model_options(&config);
        assert_eq!(options.preprocessing[""].mean, Some(vec![1.0, 2.0, 3.0]));
        assert!(options.preprocessing["x"].reverse_channels);
    }
}
