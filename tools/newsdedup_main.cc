// newsdedup: deduplicate news articles and cluster them into stories.
// A thin shell: flags are parsed here, the work is in the engine library.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "common/version.h"
#include "tools/commands.h"

namespace {

// Levenshtein distance: how many one-letter edits turn `a` into `b`.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// For a command line CLI11 refused: when a word stands where a command was
// required and names none (a misspelt command), a message naming the
// closest command; "" otherwise. CLI11 alone says "A subcommand is
// required" or that the arguments were not expected.
std::string UnknownCommandMessage(CLI::App* app, int argc, char** argv) {
  CLI::App* level = app;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") return "";
    if (arg.size() > 1 && arg[0] == '-') {
      // A flag; its value, when given apart, is no command either.
      const size_t equals = arg.find('=');
      const CLI::Option* option =
          level->get_option_no_throw(arg.substr(0, equals));
      if (option != nullptr && option->get_expected_min() > 0 &&
          equals == std::string::npos) {
        ++i;
      }
      continue;
    }
    const std::vector<CLI::App*> commands =
        level->get_subcommands([](CLI::App*) { return true; });
    if (commands.empty() || level->get_require_subcommand_min() == 0) {
      return "";
    }
    std::vector<std::string> names;
    CLI::App* found = nullptr;
    for (CLI::App* command : commands) {
      names.push_back(command->get_name());
      if (command->check_name(arg)) found = command;
    }
    if (found != nullptr) {
      level = found;
      continue;
    }
    const std::string path =
        level == app ? "newsdedup" : "newsdedup " + level->get_name();
    std::string closest;
    size_t best = 3;  // at most two edits away
    for (const std::string& name : names) {
      const size_t distance = EditDistance(arg, name);
      if (distance < best) best = distance, closest = name;
    }
    std::string message = path + ": unknown command '" + arg + "'";
    message += closest.empty()
                   ? "; the commands are " + absl::StrJoin(names, ", ")
                   : "; did you mean '" + closest + "'?";
    return message + " ('" + path + " --help' lists them)";
  }
  return "";
}

// The command line with `--config FILE` moved to the front: CLI11 reads it
// only before the command, and `newsdedup serve --config nd.toml` is how
// people write it.
std::vector<std::string> WithConfigFirst(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i].rfind("--config=", 0) == 0) {
      std::rotate(args.begin() + 1, args.begin() + i, args.begin() + i + 1);
      break;
    }
    if (args[i] == "--config" && i + 1 < args.size()) {
      std::rotate(args.begin() + 1, args.begin() + i, args.begin() + i + 2);
      break;
    }
  }
  return args;
}

// CLI11 says "INI was not able to parse X" for a key that names no flag
// or a line that is no TOML, whatever the file's format.
std::string ConfigWording(std::string message,
                          const std::vector<std::string>& args) {
  const std::string ini = "INI was not able to parse ";
  if (message.rfind(ini, 0) != 0) return message;
  std::string file = "--config file";
  if (args.size() > 1 && args[1].rfind("--config=", 0) == 0) {
    file = args[1].substr(9);
  } else if (args.size() > 2 && args[1] == "--config") {
    file = args[2];
  }
  return file + ": '" + message.substr(ini.size()) +
         "' is no flag of that command, or no TOML line (keys are a "
         "command's flag names without '--', in its [command] section)";
}

}  // namespace

int main(int original_argc, char** original_argv) {
  std::vector<std::string> arguments =
      WithConfigFirst(original_argc, original_argv);
  std::vector<char*> pointers;
  for (std::string& a : arguments) pointers.push_back(a.data());
  const int argc = static_cast<int>(pointers.size());
  char** argv = pointers.data();
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
                 "TOML file of flag values, one [command] section per "
                 "command (before or after the command)");
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // Every usage error exits 2, whatever CLI11's own code for its kind
    // (105, 106, 109, ...): scripts test one number.
    const std::string unknown = UnknownCommandMessage(&app, argc, argv);
    if (!unknown.empty()) {
      std::cerr << unknown << "\n";
    } else if (dynamic_cast<const CLI::ConversionError*>(&e) != nullptr ||
               dynamic_cast<const CLI::ConfigError*>(&e) != nullptr) {
      std::cerr << ConfigWording(e.what(), arguments)
                << "\nRun with --help for more information.\n";
    } else {
      app.exit(e);
    }
    return newsdedup::kExitUsage;
  }
  return exit_code;
}
