// mds-tokenize: train a byte-level BPE tokenizer, encode JSONL pairs into a
// token shard (or text lines into ids), decode shards or ids back to text.
// Thin main: flags here, work in lib/text and lib/data. See man/mds-tokenize.1.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli_common.h"
#include "io/stream.h"
#include "text/encode_pipeline.h"
#include "text/tokenizer.h"
#include "text/train_corpus.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Binary output goes to -o, or to stdout when that is not a terminal.
std::string binary_output(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (isatty(fileno(stdout)))
    mds::throw_usage("refusing to write a binary .mds file to a terminal: give -o FILE (or -o - to force stdout)");
  return "-";
}

// The files a command reads, for the "output is an input" check.
std::vector<mds::NamedPath> read_paths(const std::vector<std::string>& inputs, const std::string& tokenizer = "") {
  std::vector<mds::NamedPath> v;
  for (const std::string& p : inputs) v.push_back({"input", p});
  if (!tokenizer.empty()) v.push_back({"-m", tokenizer});
  return v;
}

struct TrainArgs {
  std::vector<std::string> inputs;
  std::string output;
  size_t vocab_size = 16384;
  uint64_t min_frequency = 2;
  std::string format = "auto";
  std::vector<std::string> fields{"src", "trg"};
  bool skip_bad = false;
  int threads = 0;
  size_t samples = 8;
  bool progress = false, quiet = false;
};

struct EncodeArgs {
  std::string tokenizer;
  std::vector<std::string> inputs;
  std::string output;
  bool text = false;
  mds::EncodeOptions opts;
  std::string truncate = "end";
  bool quiet = false;
};

struct DecodeArgs {
  std::string tokenizer;
  std::vector<std::string> inputs;
  std::string output = "-";
  bool ids = false, keep_special = false;
  int threads = 0;
  bool quiet = false;
};

int do_train(const TrainArgs& a) {
  const auto t0 = Clock::now();
  const std::string output = binary_output(a.output);
  mds::refuse_output_overwriting_input({"-o", output}, read_paths(a.inputs));
  // The tokenizer is written only after counting and merging, which may take
  // long: find an unwritable -o now.
  mds::check_output_writable({"-o", output});
  mds::TokenizerTrainOptions o;
  o.corpus.format = a.format;
  o.corpus.fields = a.fields;
  o.corpus.skip_bad = a.skip_bad;
  o.corpus.threads = a.threads;
  o.samples = a.samples;
  o.bpe.vocab_size = a.vocab_size;
  o.bpe.min_frequency = a.min_frequency;
  const bool show = mds::cli::show_progress(a.progress, a.quiet);
  if (show)
    o.bpe.progress = [](size_t done, size_t wanted) { std::fprintf(stderr, "\rmds-tokenize: merges %zu/%zu", done, wanted); };
  const mds::TokenizerTrainResult r = mds::train_tokenizer(a.inputs, o);
  if (show) std::fputc('\n', stderr);
  const mds::Tokenizer& tok = r.tokenizer;
  const mds::CorpusStats& cs = r.corpus;
  const mds::BpeTrainStats& bs = r.bpe;
  mds::write_container(output, tok.to_container());
  if (!a.quiet) {
    std::fprintf(stderr,
                 "mds-tokenize: trained vocabulary %zu (%zu merges, stopped by %s) from %llu texts, %.1f MB, "
                 "%zu distinct words, in %.2f s (counting %.2f s)\n",
                 tok.vocab_size(), tok.num_merges(), bs.stop_reason.c_str(),
                 static_cast<unsigned long long>(cs.texts), cs.bytes / 1e6, bs.unique_words, seconds_since(t0),
                 r.count_seconds);
    if (cs.skipped) std::fprintf(stderr, "mds-tokenize: skipped %llu bad lines\n", static_cast<unsigned long long>(cs.skipped));
    if (tok.vocab_size() < a.vocab_size)
      std::fprintf(stderr, "mds-tokenize: note: vocabulary is smaller than --vocab-size %zu: no pair occurs %llu+ times\n",
                   a.vocab_size, static_cast<unsigned long long>(a.min_frequency));
  }
  return 0;
}

int do_encode(EncodeArgs a) {
  const auto t0 = Clock::now();
  const std::string output = a.text ? (a.output.empty() ? "-" : a.output) : binary_output(a.output);
  mds::refuse_output_overwriting_input({"-o", output}, read_paths(a.inputs, a.tokenizer));
  const mds::Tokenizer tok = mds::Tokenizer::load(a.tokenizer);
  a.opts.truncate = mds::parse_truncate_policy(a.truncate);
  mds::EncodeStats st;
  if (a.text) {
    st = mds::encode_lines_to_ids(tok, a.inputs, output, a.opts.threads);
  } else {
    st = mds::encode_pairs_to_shard(tok, a.inputs, output, a.opts);
  }
  const double s = seconds_since(t0);
  if (!a.quiet) {
    if (a.text)
      std::fprintf(stderr, "mds-tokenize: encoded %llu lines (%.1f MB) into %llu tokens in %.2f s\n",
                   static_cast<unsigned long long>(st.records), st.bytes / 1e6,
                   static_cast<unsigned long long>(st.src_tokens), s);
    else
      std::fprintf(stderr,
                   "mds-tokenize: encoded %llu records (%.1f MB) into %llu src + %llu trg tokens in %.2f s; "
                   "truncated: %llu src, %llu trg (policy %s); skipped %llu bad lines\n",
                   static_cast<unsigned long long>(st.records), st.bytes / 1e6,
                   static_cast<unsigned long long>(st.src_tokens), static_cast<unsigned long long>(st.trg_tokens), s,
                   static_cast<unsigned long long>(st.truncated_src), static_cast<unsigned long long>(st.truncated_trg),
                   a.truncate.c_str(), static_cast<unsigned long long>(st.skipped));
    for (const std::string& e : st.skipped_examples) std::fprintf(stderr, "mds-tokenize: skipped %s\n", e.c_str());
  }
  return 0;
}

int do_decode(const DecodeArgs& a) {
  mds::refuse_output_overwriting_input({"-o", a.output}, read_paths(a.inputs, a.tokenizer));
  const mds::Tokenizer tok = mds::Tokenizer::load(a.tokenizer);
  const bool skip = !a.keep_special;
  mds::DecodeStats st = a.ids ? mds::decode_id_lines(tok, a.inputs, a.output, skip, a.threads)
                              : mds::decode_shard_to_jsonl(tok, a.inputs, a.output, skip, a.threads);
  if (!a.quiet && st.invalid_utf8)
    std::fprintf(stderr,
                 "mds-tokenize: %llu records were not valid UTF-8 after decoding (a truncation cut a character); "
                 "the invalid bytes were written as U+FFFD\n",
                 static_cast<unsigned long long>(st.invalid_utf8));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Byte-level BPE tokenizer for mds: train a tokenizer, encode JSONL pairs into token shards, "
               "decode shards or ids back to text.",
               "mds-tokenize"};
  mds::cli::add_version_flag(app, "mds-tokenize");
  app.require_subcommand(1, 1);

  TrainArgs ta;
  auto* train = app.add_subcommand("train", "Train a tokenizer on text files or JSONL pairs ('-' = stdin)");
  train->add_option("inputs", ta.inputs, "Input files: text (one text per line) or JSONL; .zst accepted; '-' = stdin")
      ->default_val(std::vector<std::string>{"-"});
  mds::cli::add_output_option(train, ta.output, "Tokenizer file to write (.mds)");
  train->add_option("--vocab-size", ta.vocab_size, "Vocabulary size including 4 specials and 256 bytes")
      ->default_val(16384)
      ->transform(mds::cli::integer_in_range(260, size_t{1} << 24));
  train->add_option("--min-frequency", ta.min_frequency, "Merge only pairs seen at least this often")
      ->default_val(2)
      ->transform(mds::cli::integer_at_least<uint64_t>(1));
  train->add_option("--format", ta.format, "Input format: text, jsonl, or auto (JSONL for *.jsonl[.zst])")
      ->default_val("auto")
      ->check(CLI::IsMember({"auto", "text", "jsonl"}));
  train->add_option("--fields", ta.fields, "JSONL fields to train on, comma-separated")
      ->delimiter(',')
      ->default_val(std::vector<std::string>{"src", "trg"});
  train->add_flag("--skip-bad", ta.skip_bad, "Skip malformed JSONL lines (counted on stderr) instead of failing");
  mds::cli::add_threads_option(train, ta.threads);
  train->add_option("--samples", ta.samples, "Corpus texts embedded as self-test samples (besides built-in ones)")
      ->default_val(8)
      ->transform(mds::cli::integer_in_range(0, 1000));
  mds::cli::add_progress_flag(train, ta.progress);
  train->add_flag("-q,--quiet", ta.quiet, "No summary on stderr");

  EncodeArgs ea;
  auto* encode = app.add_subcommand("encode", "Encode JSONL pairs into a token shard, or text lines into ids");
  encode->add_option("-m,--tokenizer", ea.tokenizer, "Tokenizer file (.mds)")->required();
  encode->add_option("inputs", ea.inputs, "Input files (JSONL, or text with --text); .zst accepted; '-' = stdin")
      ->default_val(std::vector<std::string>{"-"});
  mds::cli::add_output_option(encode, ea.output,
                              "Output file (default: standard output when it is not a terminal (shards) or always (--text))");
  encode->add_flag("--text", ea.text, "Text mode: each input line (raw bytes) -> a line of space-separated ids");
  encode->add_option("--max-src-len", ea.opts.max_src_len, "Source length limit in tokens (0 = none)")
      ->default_val(0)
      ->transform(mds::cli::integer_at_least<uint64_t>(0));
  encode->add_option("--max-trg-len", ea.opts.max_trg_len, "Target length limit in tokens (0 = none)")
      ->default_val(0)
      ->transform(mds::cli::integer_at_least<uint64_t>(0));
  encode->add_option("--truncate", ea.truncate,
                     "Over-long sequences: end (keep the first N ids), start (keep the last N), error (reject the line)")
      ->default_val("end")
      ->check(CLI::IsMember({"end", "start", "error"}));
  encode->add_option("--src-field", ea.opts.src_field, "JSONL field holding the source")->default_val("src");
  encode->add_option("--trg-field", ea.opts.trg_field, "JSONL field holding the target")->default_val("trg");
  encode->add_flag("--skip-bad", ea.opts.skip_bad, "Skip bad lines (counted on stderr) instead of failing");
  ea.opts.threads = 0;  // all cores unless --threads says otherwise
  mds::cli::add_threads_option(encode, ea.opts.threads);
  encode->add_option("--records-per-unit", ea.opts.records_per_unit, "Records per shard unit")
      ->default_val(8192)
      ->transform(mds::cli::integer_in_range(1, size_t{1} << 24));
  encode->add_flag("-q,--quiet", ea.quiet, "No summary on stderr");

  DecodeArgs da;
  auto* decode = app.add_subcommand("decode", "Decode a token shard into JSONL, or lines of ids into text");
  decode->add_option("-m,--tokenizer", da.tokenizer, "Tokenizer file (.mds)")->required();
  decode->add_option("inputs", da.inputs, "Shard files (or id lines with --ids); '-' = stdin")
      ->default_val(std::vector<std::string>{"-"});
  mds::cli::add_output_option(decode, da.output, "Output file")->default_val("-");
  decode->add_flag("--ids", da.ids, "Input is lines of whitespace-separated ids; output one text line each");
  decode->add_flag("--keep-special", da.keep_special, "Write special ids as their names ([SEP]) instead of dropping them");
  mds::cli::add_threads_option(decode, da.threads);
  decode->add_flag("-q,--quiet", da.quiet, "No warnings on stderr");

  return mds::cli::run(app, argc, argv, [&]() -> int {
    if (*train) return do_train(ta);
    if (*encode) return do_encode(ea);
    return do_decode(da);
  });
}
