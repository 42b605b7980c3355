//! A served model survives its files changing under it: OpenVINO must not
//! map weight files (a `.bin` truncated in place, as `cp` over it does,
//! made the next inference die of SIGBUS).

use super::tests::{backend, f32s, files_in, to_f32s};
use crate::{Backend, ModelOptions};

/// Elements of the constant: 1 MiB of f32, enough for OpenVINO to keep it
/// where it read it rather than copy it.
const N: usize = 262_144;

/// An IR computing `y = x + c` with `c` all 1.5, its weights in `model.bin`.
fn write_add_const_ir(dir: &std::path::Path) {
    let port = |id: u32, names: &str| {
        format!(r#"<port id="{id}" precision="FP32"{names}><dim>1</dim><dim>{N}</dim></port>"#)
    };
    let xml = format!(
        r#"<?xml version="1.0"?>
<net name="add_const" version="11">
  <layers>
    <layer id="0" name="x" type="Parameter" version="opset1">
      <data shape="1,{N}" element_type="f32"/>
      <output>{x}</output>
    </layer>
    <layer id="1" name="c" type="Const" version="opset1">
      <data element_type="f32" shape="1,{N}" offset="0" size="{size}"/>
      <output>{c}</output>
    </layer>
    <layer id="2" name="y" type="Add" version="opset1">
      <data auto_broadcast="numpy"/>
      <input>{in0}{in1}</input>
      <output>{y}</output>
    </layer>
    <layer id="3" name="out" type="Result" version="opset1">
      <input>{r}</input>
    </layer>
  </layers>
  <edges>
    <edge from-layer="0" from-port="0" to-layer="2" to-port="0"/>
    <edge from-layer="1" from-port="0" to-layer="2" to-port="1"/>
    <edge from-layer="2" from-port="2" to-layer="3" to-port="0"/>
  </edges>
</net>
"#,
        size = N * 4,
        x = port(0, r#" names="x""#),
        c = port(0, ""),
        in0 = port(0, ""),
        in1 = port(1, ""),
        y = port(2, r#" names="y""#),
        r = port(0, ""),
    );
    std::fs::write(dir.join("model.xml"), xml).unwrap();
    let weights: Vec<u8> = std::iter::repeat_n(1.5f32.to_le_bytes(), N)
        .flatten()
        .collect();
    std::fs::write(dir.join("model.bin"), weights).unwrap();
}

#[test]
fn a_weight_file_truncated_while_served_does_not_crash() {
    let Some(backend) = backend() else { return };
    let dir = tempfile::tempdir().unwrap();
    write_add_const_ir(dir.path());
    let model = backend
        .load(&files_in(dir.path()), &ModelOptions::default())
        .unwrap();
    let x = f32s(&[1, N], &vec![1.0; N]);
    let out = model.execute(vec![x.clone()]).unwrap();
    assert!(to_f32s(&out[0]).iter().all(|v| *v == 2.5));
    // What `cp new.bin model.bin` does first.
    std::fs::File::create(dir.path().join("model.bin")).unwrap();
    let out = model.execute(vec![x]).unwrap();
    assert!(to_f32s(&out[0]).iter().all(|v| *v == 2.5));
}
