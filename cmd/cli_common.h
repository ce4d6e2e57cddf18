// Shared glue for the thin mains in cmd/: runs a tool's body, maps library
// errors and CLI11 parse errors to the documented exit codes, and prints
// errors on stderr as "PROGRAM: error: MESSAGE".
#pragma once

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <sstream>
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

// Output failures become errors, not deaths: with SIGPIPE ignored a write to
// a closed pipe fails with EPIPE, and with SIGXFSZ ignored a write past
// `ulimit -f` fails with EFBIG; either is then reported with the file's name,
// and an unfinished atomic output's temp file is removed. The default actions
// would kill the process silently, leaving temp files and, for mds-train,
// losing the training since the last checkpoint.
inline void ignore_output_signals() {
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGXFSZ, SIG_IGN);
}

// Standard output is written through stdio's buffer: whatever is still in it
// at exit, or a write that failed unnoticed, must fail the run too (a full
// disk behind "> file" must not end in exit 0 with a short file).
inline int check_stdout(const std::string& program, int status) {
  errno = 0;
  const bool bad = std::fflush(stdout) != 0 || std::ferror(stdout);
  if (!bad || status != 0) return status;  // a failed run has reported its error
  const int e = errno;
  std::fprintf(stderr, "%s: error: <stdout>: write failed: %s\n", program.c_str(),
               e != 0 ? std::strerror(e) : "the error was not reported");
  return static_cast<int>(ExitCode::runtime);
}

// CLI11's --help and --version text, written through stdio so that a failed
// write is seen by check_stdout with its errno (std::cout's std::endl would
// flush, fail and lose the errno before the check).
inline int print_cli_exit(const CLI::App& app, const CLI::Error& e, const std::string& program) {
  std::ostringstream text;
  const int status = app.exit(e, text, std::cerr);
  const std::string s = text.str();
  std::fwrite(s.data(), 1, s.size(), stdout);
  return check_stdout(program, status);
}

// Parses argv with CLI11 and runs body. Exit codes: 0 ok, 1 runtime failure,
// 2 usage error, 3 bad input data.
inline int run(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  const std::string program = app.get_name();
  ignore_output_signals();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return print_cli_exit(app, e, program);
  } catch (const CLI::CallForAllHelp& e) {
    return print_cli_exit(app, e, program);
  } catch (const CLI::CallForVersion& e) {
    return print_cli_exit(app, e, program);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: error: %s\nRun '%s --help' for usage.\n", program.c_str(), e.what(), program.c_str());
    return static_cast<int>(ExitCode::usage);
  }
  try {
    return check_stdout(program, body());
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
