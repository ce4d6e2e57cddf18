// Helpers shared by the metrics tests: locating ../shared/testvectors (env
// MDS_SHARED_DIR overrides the compiled-in path), reading JSON / JSONL files,
// and comparing doubles to 1e-9 while counting the bit-exact matches.
#pragma once

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mds_test {

inline std::string shared_dir() {
  const char* env = std::getenv("MDS_SHARED_DIR");
  return env && *env ? std::string(env) : std::string(MDS_SHARED_DIR);
}

inline std::string vectors_path(const std::string& rel) { return shared_dir() + "/testvectors/" + rel; }

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

// Counts comparisons; expects |got - want| <= 1e-9 and remembers exact equality.
struct Tally {
  size_t compared = 0, exact = 0;
  void check(double got, double want, const std::string& what) {
    ++compared;
    if (got == want) ++exact;
    EXPECT_NEAR(got, want, 1e-9) << what;
  }
  void report(const char* name) const {
    std::printf("[ %s ] %zu values compared, %zu bit-exact\n", name, compared, exact);
  }
};

}  // namespace mds_test
