use clap::Parser;

// mimalloc: the media server allocates and frees a packet per viewer per packet sent, and the
// system allocator's share of that was a tenth of its time (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = meetstage::cli::Cli::parse();
    match meetstage::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("meetstage: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
