//! The `setphoto` command: see `setphoto --help`.

fn main() -> std::process::ExitCode {
    setphoto::cli::run()
}
