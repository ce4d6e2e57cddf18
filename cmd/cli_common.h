// Shared glue for the thin mains in cmd/: runs a tool's body, maps library
// errors and CLI11 parse errors to the documented exit codes, and prints
// errors on stderr as "PROGRAM: error: MESSAGE".
#pragma once

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <sstream>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "completion.h"
#include "core/error.h"
#include "core/version.h"
#include "io/config_schema.h"

namespace mds::cli {

// Adds --version to app, printing version_report(program).
inline void add_version_flag(CLI::App& app, const std::string& program) {
  app.set_version_flag("--version", [program] { return version_report(program); });
}

// ---- flag validators -----------------------------------------------------
// One wording for every tool: "--seed: expected an integer >= 0, found -1".
// CLI11 alone reads unsigned flags with strtoull (so -1 becomes 2^64-1 and
// passes a range check), reads 010 as octal, and lets nan through its number
// ranges; these validators see the text first and refuse all of that.
// Attach the integer ones with ->transform(), not ->check(): they hand CLI11
// the value rewritten as plain decimal, and check() would discard that.

namespace detail {

// Reads v as a base-10 integer: an optional '-', then digits, nothing else.
// *too_big: the magnitude does not fit 64 bits.
inline bool read_integer(const std::string& v, bool* negative, unsigned long long* magnitude, bool* too_big) {
  const char* b = v.data();
  const char* e = b + v.size();
  *negative = b != e && *b == '-';
  if (*negative) ++b;
  if (b == e || *b < '0' || *b > '9') return false;
  const auto [end, ec] = std::from_chars(b, e, *magnitude);
  *too_big = ec == std::errc::result_out_of_range;
  return end == e && (ec == std::errc() || *too_big);
}

// Integers from lo to hi. at_least: word the message "an integer >= lo" when
// hi is only the flag type's limit.
inline CLI::Validator integer_validator(long long lo, unsigned long long hi, bool at_least) {
  const std::string expected =
      at_least ? fmt::format("an integer >= {}", lo) : fmt::format("an integer from {} to {}", lo, hi);
  return CLI::Validator(
      [lo, hi, expected](std::string& v) -> std::string {
        bool negative = false, too_big = false;
        unsigned long long m = 0;
        if (!read_integer(v, &negative, &m, &too_big)) return fmt::format("expected {}, found {}", expected, v);
        const bool below_zero = negative && (m != 0 || too_big);  // "-0" is 0
        // Compared as magnitudes so that no value can overflow: -m >= lo when
        // lo < 0 and m <= |lo|.
        const unsigned long long lo_magnitude = lo < 0 ? static_cast<unsigned long long>(-(lo + 1)) + 1 : 0;
        const bool below = below_zero ? (lo >= 0 || too_big || m > lo_magnitude)
                                      : (lo > 0 && !too_big && m < static_cast<unsigned long long>(lo));
        if (below) return fmt::format("expected {}, found {}", expected, v);
        if (!below_zero && (too_big || m > hi))
          return fmt::format("expected an integer from {} to {}, found {}", lo, hi, v);
        // Hand CLI11 plain decimal (it would read a leading 0 as octal).
        v = (below_zero ? "-" : "") + std::to_string(m);
        return "";
      },
      at_least ? fmt::format("INT>={}", lo) : fmt::format("INT in [{} - {}]", lo, hi));
}

// Reads v as a whole decimal or exponent number. An overflow (1e999) reads
// as an infinity and an underflow (1e-999) as the tiny value strtod gives,
// so the caller's range check words both.
inline bool read_number(const std::string& v, double* x) {
  if (v.empty()) return false;
  char* end = nullptr;
  *x = std::strtod(v.c_str(), &end);
  return end == v.c_str() + v.size();
}

}  // namespace detail

// An integer >= lo that fits the flag's type T.
template <typename T>
CLI::Validator integer_at_least(long long lo) {
  return detail::integer_validator(lo, static_cast<unsigned long long>(std::numeric_limits<T>::max()), true);
}
// An integer from lo to hi.
inline CLI::Validator integer_in_range(long long lo, unsigned long long hi) {
  return detail::integer_validator(lo, hi, false);
}
// A finite number > 0.
inline CLI::Validator positive_number() {
  return CLI::Validator(
      [](std::string& v) -> std::string {
        double x = 0;
        if (!detail::read_number(v, &x) || !(x > 0) || !std::isfinite(x))
          return fmt::format("expected a number > 0, found {}", v);
        return "";
      },
      "X>0");
}
// A finite number >= lo.
inline CLI::Validator number_at_least(double lo) {
  return CLI::Validator(
      [lo](std::string& v) -> std::string {
        double x = 0;
        if (!detail::read_number(v, &x) || !(x >= lo) || !std::isfinite(x))
          return fmt::format("expected a finite number >= {}, found {}", lo, v);
        return "";
      },
      fmt::format("X>={}", lo));
}
// A number from lo to hi (nan refused).
inline CLI::Validator number_in_range(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& v) -> std::string {
        double x = 0;
        if (!detail::read_number(v, &x) || !(x >= lo && x <= hi))
          return fmt::format("expected a number from {} to {}, found {}", lo, hi, v);
        return "";
      },
      fmt::format("X in [{} - {}]", lo, hi));
}

// ---- flags that set config schema fields ------------------------------------
// A flag that sets one field of a config schema (io/config_schema.h) is read
// through the schema, so its range, its message and its default are the
// schema's (docs/config.md), worded for the flag: "--seed: expected an integer
// >= 0, found -1". The text is read as the field's type first, as the
// validators above read it: an integer only in plain decimal (not 1e3, and 010
// is ten), a number as strtod reads the whole text (nan and overflows reach
// the range check), anything else as a string.
template <typename T>
class SchemaFlags {
 public:
  SchemaFlags(CLI::App& app, const ConfigSchema<T>& schema, T& target) : app_(app), schema_(schema), target_(target) {}

  // Adds `flag` (one long name) setting `field`; help shows the schema's default.
  CLI::Option* add(const std::string& flag, const std::string& field, const std::string& description) {
    const FieldInfo& info = field_info(field);
    flags_.emplace_back(field, flag);
    const ConfigSchema<T>& schema = schema_;
    T& target = target_;
    const std::string type = info.type;
    CLI::Option* o = app_.add_option_function<std::string>(
        flag, [&schema, &target, field, type](const std::string& v) { schema.set(target, field, value(type, v), ""); },
        description);
    o->check(CLI::Validator(
        [&schema, field, type](std::string& v) -> std::string {
          T scratch;
          try {
            schema.set(scratch, field, value(type, v), "");
          } catch (const schema::BadValue& e) {
            return fmt::format("expected {}, found {}", e.expected(), v);
          }
          return "";
        },
        ""));
    o->type_name(type_name(type));
    if (!info.default_value.is_null()) o->default_str(flag_text(info.default_value));
    return o;
  }

  // The schema's checks across fields (after the last flag is read); a field
  // set by a flag is named by its flag.
  void validate(const std::string& where) const {
    try {
      schema_.validate(target_, where);
    } catch (const schema::BadValue& e) {
      for (const auto& [field, flag] : flags_)
        if (field == e.field()) throw_usage("{}: expected {}, found {}", flag, e.expected(), flag_text(e.found()));
      throw;
    }
  }

 private:
  const FieldInfo& field_info(const std::string& field) const {
    for (const FieldInfo& f : schema_.fields())
      if (f.name == field) return f;
    throw std::logic_error("no config field " + field);
  }
  // The flag's text as the JSON value the field's setter reads.
  static nlohmann::json value(const std::string& type, const std::string& v) {
    if (type == "integer") {
      bool negative = false, too_big = false;
      unsigned long long m = 0;
      if (!detail::read_integer(v, &negative, &m, &too_big)) return v;
      // Beyond 64 bits: a double, which the range check refuses with its words.
      if (too_big) return negative ? -1e30 : 1e30;
      if (!negative) return m;
      if (m > static_cast<unsigned long long>(std::numeric_limits<long long>::max())) return -1e30;
      return -static_cast<long long>(m);
    }
    if (type.rfind("number", 0) == 0) {
      double x = 0;
      if (detail::read_number(v, &x)) return x;
    }
    return v;
  }
  // "INT", "FLOAT", or the choices "TEXT:{a,b}" (shell completion offers them).
  static std::string type_name(const std::string& type) {
    if (type == "integer") return "INT";
    if (type.rfind("number", 0) == 0) return "FLOAT";
    const size_t open = type.find('('), close = type.rfind(')');
    if (type.rfind("string (", 0) == 0 && close != std::string::npos) {
      std::string names;
      for (char c : type.substr(open + 1, close - open - 1))
        if (c != ' ') names += c;
      return "TEXT:{" + names + "}";
    }
    return "TEXT";
  }
  // A value as a flag shows it: strings bare.
  static std::string flag_text(const nlohmann::json& v) {
    return v.is_string() ? v.get<std::string>() : schema::show(v);
  }

  CLI::App& app_;
  const ConfigSchema<T>& schema_;
  T& target_;
  std::vector<std::pair<std::string, std::string>> flags_;  // field, flag
};

// ---- options shared by the tools ------------------------------------------
// One definition, wording and validator each, so that --threads means the
// same in every tool.

// --threads N: CPU worker threads, 0 = all cores. names: "-t,--threads" where
// a tool also has the short form.
inline CLI::Option* add_threads_option(CLI::App* app, int& threads, const std::string& names = "--threads") {
  return app->add_option(names, threads, "CPU threads (0 = all cores)")
      ->transform(integer_in_range(0, 1024))
      ->capture_default_str();
}

// --device NAME: the backend of mds-train and mds-sample.
inline CLI::Option* add_device_option(CLI::App* app, std::string& device) {
  return app
      ->add_option("--device", device,
                   "auto (cuda when a GPU is usable, else cpu), cpu, or in CUDA builds cuda (bf16 tensor-core "
                   "products) or cuda-f32")
      ->check(CLI::IsMember({"auto", "cpu", "cpu-f64", "cuda", "cuda-f32"}))
      ->capture_default_str();
}

// --progress: progress on standard error, which is otherwise shown only when
// standard error is a terminal.
inline CLI::Option* add_progress_flag(CLI::App* app, bool& progress) {
  return app->add_flag("--progress", progress, "show progress on standard error even when it is not a terminal");
}
// Whether to show progress: asked for, or standard error is a terminal and
// the tool was not asked to be quiet.
inline bool show_progress(bool progress_flag, bool quiet) {
  return progress_flag || (!quiet && isatty(fileno(stderr)));
}

// -o,--output FILE: where the tool writes its result, atomically ('-' =
// standard output). what: "the tokenizer (.mds)". A tool whose output
// cannot go to standard output (mds-train's checkpoint) passes
// to_stdout = false and its own names.
inline CLI::Option* add_output_option(CLI::App* app, std::string& path, const std::string& what,
                                      bool to_stdout = true, const std::string& names = "-o,--output") {
  return app->add_option(names, path, what + (to_stdout ? ", written atomically ('-' = standard output)"
                                                        : ", written atomically"))
      ->type_name("FILE");
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

// Thrown by the hidden --completion option's callback, which CLI11 runs
// before it checks required options and subcommands, so that
// `mds-tokenize --completion bash` needs no subcommand.
struct CompletionRequest {
  std::string shell;
};

// Parses argv with CLI11 and runs body. Exit codes: 0 ok, 1 runtime failure,
// 2 usage error, 3 bad input data.
inline int run(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  const std::string program = app.get_name();
  ignore_output_signals();
  app.add_option_function<std::string>(
         "--completion", [](const std::string& shell) { throw CompletionRequest{shell}; },
         "Print the bash or zsh completion script")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            return v == "bash" || v == "zsh" ? "" : "--completion: expected bash or zsh, found " + v;
          },
          "SHELL"))
      ->group("");  // hidden: installed scripts serve users (docs/library.md)
  try {
    app.parse(argc, argv);
  } catch (const CompletionRequest& r) {
    const std::string script = completion_script(app, r.shell);
    std::fwrite(script.data(), 1, script.size(), stdout);
    return check_stdout(program, 0);
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
#ifdef MDS_CLI_PARSE_ONLY
  // The CLI fuzzer (tests/fuzz/fuzz_cli.cpp) compiles the mains with this
  // defined: it tests the parsing of arguments, not the tools' work (which
  // would read and write the files its arguments name).
  (void)body;
  return 0;
#endif
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
