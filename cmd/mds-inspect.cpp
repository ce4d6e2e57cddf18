// mds-inspect: show any .mds file (header, metadata, sections; shard
// statistics; tokenizer details) as text or JSON. Thin main over
// lib/inspect. See man/mds-inspect.1.
#include <CLI/CLI.hpp>

#include "cli_common.h"
#include "inspect/inspect.h"
#include "io/stream.h"

int main(int argc, char** argv) {
  CLI::App app{"Show an .mds file: header, metadata and sections; statistics for token shards; vocabulary and "
               "self-test samples for tokenizers.",
               "mds-inspect"};
  mds::cli::add_version_flag(app, "mds-inspect");
  std::vector<std::string> files;
  mds::InspectOptions opts;
  bool as_json = false;
  app.add_option("files", files, "Files to inspect ('-' = stdin)")->default_val(std::vector<std::string>{"-"});
  app.add_flag("--json", as_json, "Print one JSON report per file (one per line) instead of text");
  app.add_option("--tokenizer", opts.tokenizer, "Tokenizer file used to show shard tokens as text")
      ->check(CLI::ExistingFile);
  app.add_option("--top", opts.top, "Most frequent shard tokens to list")->default_val(20)->check(CLI::Range(0, 100000));
  app.add_option("--samples", opts.samples, "Tokenizer self-test samples to show")
      ->default_val(5)
      ->check(CLI::Range(0, 100000));
  return mds::cli::run(app, argc, argv, [&]() -> int {
    mds::OutputFile out("-");
    for (size_t i = 0; i < files.size(); ++i) {
      const nlohmann::json report = mds::inspect_file(files[i], opts);
      if (as_json) {
        out.write(report.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      } else {
        if (i) out.write("\n");
        out.write(mds::render_inspect_text(report));
      }
    }
    out.commit();
    return 0;
  });
}
