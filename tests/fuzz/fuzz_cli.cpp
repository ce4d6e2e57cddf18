// libFuzzer target: command-line parsing of the five tools. The mains in
// cmd/ are compiled into this target with main renamed and
// MDS_CLI_PARSE_ONLY defined (see CMakeLists.txt), so each input runs one
// tool's real CLI11 setup and flag validators on fuzzed arguments and stops
// after parsing. The first byte picks the tool; the rest, split at NUL
// bytes, is argv[1..]. Every outcome must be an exit status (0, 2, or the
// --help/--version text): a crash or an escaping exception is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

int mds_tokenize_main(int argc, char** argv);
int mds_inspect_main(int argc, char** argv);
int mds_train_main(int argc, char** argv);
int mds_sample_main(int argc, char** argv);
int mds_eval_main(int argc, char** argv);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  struct Tool {
    const char* name;
    int (*main)(int, char**);
  };
  static constexpr Tool kTools[] = {{"mds-tokenize", mds_tokenize_main},
                                    {"mds-inspect", mds_inspect_main},
                                    {"mds-train", mds_train_main},
                                    {"mds-sample", mds_sample_main},
                                    {"mds-eval", mds_eval_main}};
  const Tool& tool = kTools[data[0] % 5];
  std::vector<std::string> args{tool.name};
  std::string cur;
  for (size_t i = 1; i < size && args.size() < 64; ++i) {
    if (data[i] == 0) {
      args.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(data[i]));
    }
  }
  if (!cur.empty() && args.size() < 64) args.push_back(cur);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  (void)tool.main(static_cast<int>(args.size()), argv.data());
  return 0;
}
