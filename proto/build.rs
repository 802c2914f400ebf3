//! Compiles `minoots/v1/*.proto` with protox, so no system `protoc` is needed.
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["minoots/v1/timer.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let fds = protox::compile(protos, ["."])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // The descriptor set feeds gRPC reflection.
    fs::write(
        out.join("minoots_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .build_server(env::var_os("CARGO_FEATURE_SERVER").is_some())
        // Clients are built on a channel their crate configures; the proto crate links no
        // transport.
        .build_transport(false)
        // Ordered maps make encodings and JSON payloads deterministic (idempotency fingerprints).
        .btree_map(".")
        .compile_fds(fds)?;
    Ok(())
}
