use clap::Parser;

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
