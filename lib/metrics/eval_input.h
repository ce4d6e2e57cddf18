// Reading mds-eval's input: JSON Lines with a hypothesis field, a reference
// field (a string or an array of strings) and optionally a candidates array,
// or line-aligned plain text files (--hyp FILE --ref FILE [--ref FILE ...]).
// Bad records name the file and line (exit code 3) or, with skip_bad, are
// counted and left out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "metrics/example.h"

namespace mds {

struct EvalInputOptions {
  std::string input = "-";              // JSONL file, "-" = stdin (used unless hyp_file is set)
  std::string hyp_file;                 // plain-text mode: one hypothesis per line
  std::vector<std::string> ref_files;   // plain-text mode: one reference per line, per file
  std::string hyp_field = "hyp";        // empty: records carry no hypothesis (candidates only)
  std::string ref_field = "trg";
  std::string candidates_field;         // empty: candidates are not read
  bool candidates_required = false;     // every record must have them
  bool skip_bad = false;
};

struct EvalInput {
  std::vector<EvalExample> examples;
  uint64_t skipped = 0;
  bool has_hyp = true;
  size_t candidates_per_example = 0;  // 0: no candidates
  std::string source;                 // for the report: "jsonl:FILE" or "text:HYP vs REF..."
};

EvalInput read_eval_input(const EvalInputOptions& opt);

}  // namespace mds
