// newsdedup: deduplicate news articles and cluster them into stories.
// A thin shell: flags are parsed here, the work is in the engine library.
#include <CLI/CLI.hpp>

#include "common/version.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "newsdedup: deduplicates news articles and clusters them into stories.\n"
      "Run 'newsdedup <command> --help' for a command's flags."};
  app.require_subcommand(1);
  app.set_version_flag("--version", newsdedup::Version());
  // Flag values may come from a TOML/INI file, one section per command:
  //   [serve]
  //   listen = "127.0.0.1:50051"
  //   window-hours = 48
  // Flags given on the command line win over the file.
  app.set_config("--config", "",
                 "TOML/INI file of flag values, one [command] section per "
                 "command (give it before the command)");
  // A misspelt key must not be ignored silently: the error names it.
  app.allow_config_extras(CLI::config_extras_mode::error);
  int exit_code = newsdedup::kExitOk;
  newsdedup::RegisterClusterCommand(&app, &exit_code);
  newsdedup::RegisterEvalCommand(&app, &exit_code);
  newsdedup::RegisterTrainTokenizerCommand(&app, &exit_code);
  newsdedup::RegisterTrainScorerCommand(&app, &exit_code);
  newsdedup::RegisterServeCommand(&app, &exit_code);
  newsdedup::RegisterClientCommand(&app, &exit_code);
  newsdedup::RegisterLoadgenCommand(&app, &exit_code);
  newsdedup::RegisterAdminCommand(&app, &exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
