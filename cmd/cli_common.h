// Shared glue for the thin mains in cmd/: runs a tool's body, maps library
// errors and CLI11 parse errors to the documented exit codes, and prints
// errors on stderr as "PROGRAM: error: MESSAGE".
#pragma once

#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/error.h"
#include "core/version.h"

namespace mds::cli {

// Adds --version to app, printing version_report(program).
inline void add_version_flag(CLI::App& app, const std::string& program) {
  app.set_version_flag("--version", [program] { return version_report(program); });
}

// Parses argv with CLI11 and runs body. Exit codes: 0 ok, 1 runtime failure,
// 2 usage error, 3 bad input data.
inline int run(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  const std::string program = app.get_name();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: error: %s\nRun '%s --help' for usage.\n", program.c_str(), e.what(), program.c_str());
    return static_cast<int>(ExitCode::usage);
  }
  try {
    return body();
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), e.what());
    return e.exit_status();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: error: out of memory\n", program.c_str());
    return static_cast<int>(ExitCode::runtime);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program.c_str(), e.what());
    return static_cast<int>(ExitCode::runtime);
  }
}

}  // namespace mds::cli
