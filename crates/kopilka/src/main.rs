fn main() -> std::process::ExitCode {
    kopilka::cli::main()
}
