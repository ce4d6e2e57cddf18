// Error values of the library. The library throws mds::Error and never exits;
// the mains in cmd/ map Error::code() to the documented exit codes.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace mds {

// Exit codes shared by every binary (docs/design.md §1).
enum class ExitCode : int {
  ok = 0,
  runtime = 1,    // I/O failure, non-finite loss, device error, ...
  usage = 2,      // bad flags or configuration
  bad_input = 3,  // malformed input data (JSONL, .mds, text)
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, std::string message) : std::runtime_error(std::move(message)), code_(code) {}
  ExitCode code() const { return code_; }
  int exit_status() const { return static_cast<int>(code_); }

 private:
  ExitCode code_;
};

template <typename... Args>
[[noreturn]] void throw_error(ExitCode code, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(code, fmt::format(f, std::forward<Args>(args)...));
}

// Convenience helpers for the three families of failure.
template <typename... Args>
[[noreturn]] void throw_bad_input(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ExitCode::bad_input, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
[[noreturn]] void throw_usage(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ExitCode::usage, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
[[noreturn]] void throw_runtime(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(ExitCode::runtime, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace mds
