//! Link options that make the `inferd` binary smaller, for the container
//! images: on x86_64-unknown-linux-gnu rustc links with its bundled LLD (the
//! default since Rust 1.90), which can fold identical functions and read-only
//! data (tract's generic kernels are instantiated many times over) and pack
//! the position-independent executable's relative relocations (DT_RELR,
//! glibc 2.36 and later). Together about 3.4 MB off the stripped binary
//! (47.4 → 44 MB), which is what keeps the `tract-only` image under 50 MB.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target == "x86_64-unknown-linux-gnu" {
        // Rust functions have no address identity (unnamed_addr), so folding
        // identical ones is safe for them.
        println!("cargo:rustc-link-arg-bin=inferd=-Wl,--icf=all");
        println!("cargo:rustc-link-arg-bin=inferd=-Wl,-z,pack-relative-relocs");
    }
}
