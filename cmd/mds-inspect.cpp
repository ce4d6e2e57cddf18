// mds-inspect: show any .mds file (header, metadata, sections; shard
// statistics; tokenizer details) as text or JSON. Thin main over
// lib/inspect; --export-sampling writes a sampling checkpoint through
// lib/train/export.h. See man/mds-inspect.1.
#include <CLI/CLI.hpp>

#include "cli_common.h"
#include "inspect/inspect.h"
#include "io/stream.h"
#include "train/export.h"

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
  app.add_option("--top", opts.top, "Most frequent shard tokens to list")->default_val(20)->transform(mds::cli::integer_in_range(0, 100000));
  app.add_option("--samples", opts.samples, "Tokenizer self-test samples to show")
      ->default_val(5)
      ->transform(mds::cli::integer_in_range(0, 100000));
  std::string export_path, export_dtype = "bf16", export_about;
  auto* o_export = app.add_option("--export-sampling", export_path,
                                  "Write the training checkpoint given as FILE as a sampling checkpoint: its EMA "
                                  "weights, config and tokenizer only (atomically)")
                       ->type_name("OUT");
  app.add_option("--export-dtype", export_dtype, "Weight type of --export-sampling: bf16 or f32")
      ->check(CLI::IsMember({"bf16", "f32"}))
      ->capture_default_str()
      ->needs(o_export);
  app.add_option("--export-about", export_about,
                 "JSON object file stored in the export's metadata (data, scores, training time)")
      ->type_name("JSON")
      ->needs(o_export);
  return mds::cli::run(app, argc, argv, [&]() -> int {
    if (!export_path.empty()) {
      if (files.size() != 1 || files[0] == "-")
        mds::throw_usage("--export-sampling takes exactly one checkpoint file (not stdin)");
      std::vector<mds::NamedPath> inputs{{"checkpoint", files[0]}};
      if (!export_about.empty()) inputs.push_back({"--export-about", export_about});
      mds::refuse_output_overwriting_input({"--export-sampling", export_path}, inputs);
      mds::train::ExportOptions eo;
      eo.weight_dtype = export_dtype == "f32" ? mds::DType::f32 : mds::DType::bf16;
      if (!export_about.empty()) eo.about = mds::train::read_json_object(export_about);
      const nlohmann::json e = mds::train::export_sampling_file(files[0], export_path, eo);
      std::fprintf(stderr, "mds-inspect: wrote %s: %lld parameters in %lld tensors as %s EMA weights (step %s)\n",
                   export_path.c_str(), static_cast<long long>(e["parameters"].get<int64_t>()),
                   static_cast<long long>(e["tensors"].get<int64_t>()), export_dtype.c_str(),
                   e["from"]["step"].dump().c_str());
      return 0;
    }
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
