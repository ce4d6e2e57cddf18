// mds-inspect: show any .mds file (header, metadata, sections; shard
// statistics; tokenizer details) as text or JSON. Thin main over
// lib/inspect; --export-sampling writes a sampling checkpoint through
// lib/train/export.h, --export-safetensors / --import-safetensors convert
// through lib/train/safetensors_io.h. See man/mds-inspect.1.
#include <CLI/CLI.hpp>

#include "cli_common.h"
#include "inspect/inspect.h"
#include "inspect/plot.h"
#include "io/stream.h"
#include "train/export.h"
#include "train/safetensors_io.h"

namespace {

// The line each conversion ends with: "wrote OUT: N parameters in M tensors"
// and then `what` they are.
void report_written(const std::string& path, const nlohmann::json& e, const std::string& what) {
  std::fprintf(stderr, "mds-inspect: wrote %s: %lld parameters in %lld tensors%s\n", path.c_str(),
               static_cast<long long>(e["parameters"].get<int64_t>()), static_cast<long long>(e["tensors"].get<int64_t>()),
               what.c_str());
}

}  // namespace

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
  std::string safetensors_path, import_path;
  bool export_ema = false;
  auto* o_safetensors =
      app.add_option("--export-safetensors", safetensors_path,
                     "Write the checkpoint given as FILE as safetensors: its weights, with the config and tokenizer "
                     "in the metadata (atomically)")
          ->type_name("OUT");
  auto* o_dtype = app.add_option("--export-dtype", export_dtype,
                                 "Weight type of --export-sampling and --export-safetensors: bf16 or f32")
                      ->check(CLI::IsMember({"bf16", "f32"}))
                      ->capture_default_str();
  app.add_flag("--export-ema", export_ema,
               "With --export-safetensors: also write the EMA weights, as tensors named 'ema.' + name")
      ->needs(o_safetensors);
  auto* o_about = app.add_option("--export-about", export_about,
                                 "JSON object file stored in the export's metadata (data, scores, training time)")
                      ->type_name("JSON");
  auto* o_import = app.add_option("--import-safetensors", import_path,
                                  "Read the safetensors file given as FILE (as written by --export-safetensors), "
                                  "check every tensor name and shape against its config, write a checkpoint")
                       ->type_name("OUT");
  std::string plot_path;
  auto* o_plot = app.add_option("--plot", plot_path,
                                "Draw the file given as FILE as an SVG picture (atomically): a training log (mds-train "
                                "--log) as loss, validation loss, learning rate, tokens/s and expert load over steps; "
                                "a config file or checkpoint as its attention pattern")
                     ->type_name("SVG");
  o_plot->excludes(o_export)->excludes(o_safetensors)->excludes(o_import);
  o_export->excludes(o_safetensors)->excludes(o_import);
  o_safetensors->excludes(o_import);
  o_import->excludes(o_dtype)->excludes(o_about);
  return mds::cli::run(app, argc, argv, [&]() -> int {
    if ((!o_dtype->empty() || !o_about->empty()) && export_path.empty() && safetensors_path.empty())
      mds::throw_usage("{} needs --export-sampling or --export-safetensors",
                       o_dtype->empty() ? "--export-about" : "--export-dtype");
    if (!plot_path.empty()) {
      if (files.size() != 1 || files[0] == "-") mds::throw_usage("--plot takes exactly one file (not stdin)");
      mds::refuse_output_overwriting_input({"--plot", plot_path}, {{"input", files[0]}});
      const std::string kind = mds::plot_file(files[0], plot_path);
      std::fprintf(stderr, "mds-inspect: wrote %s: %s of %s\n", plot_path.c_str(),
                   kind == "log" ? "the training curves" : "the attention pattern", files[0].c_str());
      return 0;
    }
    const std::string& out_path =
        !export_path.empty() ? export_path : !safetensors_path.empty() ? safetensors_path : import_path;
    const std::string out_flag = !export_path.empty()      ? "--export-sampling"
                                 : !safetensors_path.empty() ? "--export-safetensors"
                                                             : "--import-safetensors";
    if (!out_path.empty()) {
      if (files.size() != 1 || files[0] == "-")
        mds::throw_usage("{} takes exactly one {} file (not stdin)", out_flag,
                         import_path.empty() ? "checkpoint" : "safetensors");
      std::vector<mds::NamedPath> inputs{{import_path.empty() ? "checkpoint" : "safetensors", files[0]}};
      if (!export_about.empty()) inputs.push_back({"--export-about", export_about});
      mds::refuse_output_overwriting_input({out_flag, out_path}, inputs);
    }
    const mds::DType dtype = export_dtype == "f32" ? mds::DType::f32 : mds::DType::bf16;
    const nlohmann::json about =
        export_about.empty() ? nlohmann::json::object() : mds::train::read_json_object(export_about);
    if (!export_path.empty()) {
      mds::train::ExportOptions eo;
      eo.weight_dtype = dtype;
      eo.about = about;
      const nlohmann::json e = mds::train::export_sampling_file(files[0], export_path, eo);
      report_written(export_path, e, " as " + export_dtype + " EMA weights (step " + e["from"]["step"].dump() + ")");
      return 0;
    }
    if (!safetensors_path.empty()) {
      mds::train::SafetensorsExportOptions so;
      so.weight_dtype = dtype;
      so.ema = export_ema;
      so.about = about;
      const nlohmann::json e = mds::train::export_safetensors_file(files[0], safetensors_path, so);
      report_written(safetensors_path, e,
                     " as " + export_dtype + (e["weights"] == "ema" ? " EMA weights" : " weights") +
                         (export_ema ? " and their EMA" : ""));
      return 0;
    }
    if (!import_path.empty()) {
      const nlohmann::json e = mds::train::import_safetensors_file(files[0], import_path);
      report_written(import_path, e, e["ema"].get<bool>() ? " with their EMA" : " (a sampling checkpoint)");
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
