// One evaluation example as every metric sees it: a hypothesis, its
// references, optionally several candidates (samples) for the same source,
// and where it came from (for messages and per-example output).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mds {

struct EvalExample {
  std::string hyp;
  std::vector<std::string> refs;
  std::vector<std::string> candidates;
  uint64_t line = 0;  // input line number (1-based), 0 when not from a file
};

}  // namespace mds
