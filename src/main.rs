//! The `hallwatch` binary: everything is in the library.

fn main() -> anyhow::Result<()> {
    hallwatch::cli::main()
}
