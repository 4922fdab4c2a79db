//! The `image-manager` binary: everything lives in the library; see `cli::main`.

fn main() -> std::process::ExitCode {
    image_manager::cli::main()
}
