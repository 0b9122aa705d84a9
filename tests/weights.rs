//! Reading published weight files: the PyTorch checkpoint container (`torch.save`, as
//! `syncdreamer-pretrain.ckpt` and `flownet.pkl` are) gives the same tensors as the safetensors copy.

use efficient4d::weights::{read_any, read_pytorch, read_safetensors};
use std::path::PathBuf;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden").join(name)
}

#[test]
fn a_torch_checkpoint_reads_the_same_as_its_safetensors_copy() {
    let ckpt = read_pytorch(&golden("tiny_syncdreamer.ckpt"), Some("state_dict")).unwrap();
    let st = read_safetensors(&golden("tiny_syncdreamer.safetensors")).unwrap();
    assert!(st.len() > 1000, "{} tensors", st.len());
    for (name, want) in &st {
        let got = ckpt.get(name).unwrap_or_else(|| panic!("{name} missing from the .ckpt"));
        assert_eq!(got.shape, want.shape, "{name}");
        assert_eq!(got.values, want.values, "{name}");
    }
    // By content, whatever the name: the .ckpt goes through the PyTorch reader, a safetensors file
    // named like a pickle through the safetensors reader.
    assert_eq!(read_any(&golden("tiny_syncdreamer.ckpt"), Some("state_dict")).unwrap().len(), ckpt.len());
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("flownet.pkl");
    std::fs::copy(golden("rife_ifnet_hdv3_random_f16.safetensors"), &renamed).unwrap();
    assert_eq!(read_any(&renamed, None).unwrap().len(), 160);
}

#[test]
fn broken_weight_files_give_errors_that_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("flownet.pkl");
    std::fs::write(&bad, b"not a pickle at all").unwrap();
    let err = read_pytorch(&bad, None).unwrap_err().to_string();
    assert!(err.contains("flownet.pkl"), "{err}");
    // A truncated checkpoint.
    let bytes = std::fs::read(golden("tiny_syncdreamer.ckpt")).unwrap();
    let cut = dir.path().join("cut.ckpt");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(read_pytorch(&cut, Some("state_dict")).is_err());
    let err = read_safetensors(&dir.path().join("missing.safetensors")).unwrap_err().to_string();
    assert!(err.contains("missing.safetensors"), "{err}");
}
