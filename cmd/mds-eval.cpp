// mds-eval: ROUGE (rouge-score), BLEU/chrF (sacrebleu) and DiffuSeq's
// evaluation, reproducing the reference implementations' numbers exactly.
// Thin main: parses flags, reads the input, calls the report, prints JSON.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli_common.h"
#include "io/stream.h"
#include "metrics/eval_input.h"
#include "metrics/eval_report.h"

namespace {

struct Common {
  mds::EvalInputOptions input;
  std::string output = "-";
  bool per_example = false, pretty = false, timing = false;
  int threads = 0;
};

void add_common(CLI::App* cmd, Common& c, const std::string& default_ref_field) {
  c.input.ref_field = default_ref_field;
  cmd->add_option("-i,--input,input", c.input.input, "JSONL input with hypothesis and reference fields ('-' = stdin)")
      ->capture_default_str();
  cmd->add_option("--hyp", c.input.hyp_file, "plain-text hypotheses, one per line (instead of JSONL)");
  cmd->add_option("--ref", c.input.ref_files, "plain-text references, line-aligned with --hyp (repeat for several)");
  cmd->add_option("--hyp-field", c.input.hyp_field, "JSONL field holding the hypothesis")->capture_default_str();
  cmd->add_option("--ref-field", c.input.ref_field, "JSONL field holding the reference (string or array of strings)")
      ->capture_default_str();
  cmd->add_flag("--skip-bad", c.input.skip_bad, "skip malformed records and report how many were skipped");
  cmd->add_flag("--per-example", c.per_example, "print one JSON line per example before the summary");
  mds::cli::add_output_option(cmd, c.output, "output file")->capture_default_str();
  mds::cli::add_threads_option(cmd, c.threads, "-t,--threads");
  cmd->add_flag("--pretty", c.pretty, "indent the JSON summary");
  cmd->add_flag("--timing", c.timing, "report the scoring time on stderr");
}

// Runs a report and writes per-example lines and the summary.
template <typename Fn>
int emit(const Common& c, const char* what, Fn&& report) {
  std::vector<mds::NamedPath> inputs;
  if (c.input.hyp_file.empty()) inputs.push_back({"-i", c.input.input});
  else inputs.push_back({"--hyp", c.input.hyp_file});
  for (const std::string& r : c.input.ref_files) inputs.push_back({"--ref", r});
  mds::refuse_output_overwriting_input({"-o", c.output}, inputs);
  mds::EvalInput in = mds::read_eval_input(c.input);
  mds::OutputFile out(c.output);
  mds::PerExampleSink sink;
  if (c.per_example)
    sink = [&](const mds::Json& j) { out.write(j.dump(-1, ' ', false, mds::Json::error_handler_t::replace) + "\n"); };
  mds::Report rep = report(in, sink);
  // The summary names the input files, which need not be UTF-8.
  out.write(rep.summary.dump(c.pretty ? 2 : -1, ' ', false, mds::Json::error_handler_t::replace) + "\n");
  out.commit();
  if (in.skipped) std::fprintf(stderr, "mds-eval: skipped %llu bad record(s)\n", static_cast<unsigned long long>(in.skipped));
  if (c.timing)
    std::fprintf(stderr,
                 "mds-eval %s: scored %zu examples in %.3f s (%.1f examples/s) on %d thread(s), %.3f s CPU\n", what,
                 in.examples.size(), rep.scoring_seconds,
                 rep.scoring_seconds > 0 ? static_cast<double>(in.examples.size()) / rep.scoring_seconds : 0.0,
                 rep.threads, rep.scoring_cpu_seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mds-eval: ROUGE, BLEU/chrF and DiffuSeq metrics that reproduce rouge-score, sacrebleu and "
               "DiffuSeq exactly"};
  app.name("mds-eval");
  mds::cli::add_version_flag(app, "mds-eval");
  app.require_subcommand(1);

  // rouge
  Common rc;
  mds::RougeReportOptions ro;
  std::string tokenizer = "default", lsum_split = "newline";
  bool no_bootstrap = false;
  auto* rouge = app.add_subcommand("rouge", "ROUGE-N/L/Lsum as Google's rouge-score");
  add_common(rouge, rc, "trg");
  rouge->add_option("--types", ro.rouge.types, "comma-separated ROUGE types (rouge1..rouge9, rougeL, rougeLsum)")
      ->delimiter(',')
      ->capture_default_str();
  rouge->add_flag("--stem", ro.rouge.tokenize.stem, "Porter-stem tokens longer than 3 characters (nltk 3.8)");
  rouge->add_option("--tokenizer", tokenizer, "default (rouge-score) or unicode")
      ->check(CLI::IsMember({"default", "unicode"}))
      ->capture_default_str();
  rouge->add_option("--lsum-split", lsum_split, "ROUGE-Lsum sentences: newline (rouge-score) or sentence")
      ->check(CLI::IsMember({"newline", "sentence"}))
      ->capture_default_str();
  rouge->add_option("--bootstrap-samples", ro.boot.n_samples, "bootstrap resamples")
      ->transform(mds::cli::integer_at_least<size_t>(1))
      ->capture_default_str();
  rouge->add_option("--confidence", ro.boot.confidence_interval, "bootstrap confidence interval")
      ->check(mds::cli::number_in_range(0, 1))
      ->capture_default_str();
  rouge->add_option("--seed", ro.boot.seed, "np.random.seed value before the bootstrap")
      ->transform(mds::cli::integer_at_least<uint32_t>(0))
      ->capture_default_str();
  rouge->add_flag("--no-bootstrap", no_bootstrap, "report only the mean");

  // bleu
  Common bc;
  mds::BleuReportOptions bo;
  std::string tokenize = "13a", smooth = "exp";
  double smooth_value = -1;
  bool no_chrf = false;
  auto* bleu = app.add_subcommand("bleu", "corpus BLEU and chrF as sacrebleu 2.6.0");
  add_common(bleu, bc, "trg");
  bleu->add_flag("--lowercase", bo.bleu.lowercase, "lower-case hypotheses and references (BLEU and chrF)");
  bleu->add_option("--tokenize", tokenize, "13a or none")->check(CLI::IsMember({"13a", "none"}))->capture_default_str();
  bleu->add_option("--smooth", smooth, "exp, floor, add-k or none")
      ->check(CLI::IsMember({"exp", "floor", "add-k", "none"}))
      ->capture_default_str();
  bleu->add_option("--smooth-value", smooth_value, "value for floor (default 0.1) or add-k (default 1)")
      ->check(mds::cli::number_at_least(0));
  bleu->add_option("--max-order", bo.bleu.max_order, "maximum n-gram order")
      ->transform(mds::cli::integer_in_range(1, 16))
      ->capture_default_str();
  bleu->add_flag("--effective-order", bo.bleu.effective_order, "stop at orders without n-grams (sentence BLEU)");
  bleu->add_flag("--no-chrf", no_chrf, "do not compute chrF");
  bleu->add_option("--chrf-char-order", bo.chrf_opt.char_order, "chrF character n-gram order")
      ->transform(mds::cli::integer_in_range(0, 32))
      ->capture_default_str();
  bleu->add_option("--chrf-word-order", bo.chrf_opt.word_order, "chrF word n-gram order (2 = chrF++)")
      ->transform(mds::cli::integer_in_range(0, 32))
      ->capture_default_str();
  bleu->add_option("--chrf-beta", bo.chrf_opt.beta, "chrF beta")
      ->transform(mds::cli::integer_at_least<int>(0))
      ->capture_default_str();
  bleu->add_flag("--chrf-whitespace", bo.chrf_opt.whitespace, "keep whitespace in character n-grams");
  bleu->add_flag("--chrf-eps-smoothing", bo.chrf_opt.eps_smoothing, "chrF++.py-style epsilon smoothing");

  // diffuseq
  Common dc;
  mds::DiffuSeqReportOptions dso;
  bool keep_special = false;
  auto* diffuseq = app.add_subcommand("diffuseq", "DiffuSeq's eval_seq2seq.py: BLEU, ROUGE-L, dist-1, self-BLEU, "
                                                  "div-4, MBR");
  add_common(diffuseq, dc, "trg");
  dc.input.candidates_field = "candidates";
  diffuseq->add_option("--candidates-field", dc.input.candidates_field,
                       "JSONL array of candidates (samples) per record")
      ->capture_default_str();
  diffuseq->add_flag("--keep-special", keep_special, "do not remove the special tokens");
  diffuseq->add_option("--sos", dso.tokens.sos, "start token removed from texts")->capture_default_str();
  diffuseq->add_option("--eos", dso.tokens.eos, "end token removed from texts")->capture_default_str();
  diffuseq->add_option("--sep", dso.tokens.sep, "separator token removed from texts")->capture_default_str();
  diffuseq->add_option("--pad", dso.tokens.pad, "padding token removed from hypotheses")->capture_default_str();

  return mds::cli::run(app, argc, argv, [&]() -> int {
    if (rouge->parsed()) {
      ro.threads = rc.threads;
      ro.bootstrap = !no_bootstrap;
      ro.rouge.tokenize.kind =
          tokenizer == "unicode" ? mds::RougeTokenizerKind::unicode : mds::RougeTokenizerKind::rouge_score;
      ro.rouge.tokenize.lsum_split = lsum_split == "sentence" ? mds::LsumSplit::sentence : mds::LsumSplit::newline;
      mds::check_rouge_types(ro.rouge.types);
      if (rc.input.hyp_field.empty()) mds::throw_usage("--hyp-field must not be empty for rouge");
      return emit(rc, "rouge", [&](const mds::EvalInput& in, const mds::PerExampleSink& s) {
        return mds::rouge_report(in, ro, s);
      });
    }
    if (bleu->parsed()) {
      bo.threads = bc.threads;
      bo.chrf = !no_chrf;
      bo.chrf_opt.lowercase = bo.bleu.lowercase;
      bo.bleu.tokenize = tokenize == "none" ? mds::BleuTokenizer::none : mds::BleuTokenizer::t13a;
      bo.bleu.smooth = smooth == "floor"   ? mds::BleuSmooth::floor
                       : smooth == "add-k" ? mds::BleuSmooth::add_k
                       : smooth == "none"  ? mds::BleuSmooth::none
                                           : mds::BleuSmooth::exp;
      bo.bleu.smooth_value = smooth_value;
      if (bo.chrf && bo.chrf_opt.char_order + bo.chrf_opt.word_order == 0)
        mds::throw_usage("--chrf-char-order and --chrf-word-order cannot both be 0 (or pass --no-chrf)");
      if (bc.input.hyp_field.empty()) mds::throw_usage("--hyp-field must not be empty for bleu");
      return emit(bc, "bleu", [&](const mds::EvalInput& in, const mds::PerExampleSink& s) {
        return mds::bleu_report(in, bo, s);
      });
    }
    dso.threads = dc.threads;
    dso.tokens.remove = !keep_special;
    if (!dc.input.hyp_file.empty()) dc.input.candidates_field.clear();  // plain text has no candidates
    if (dc.input.hyp_field.empty() && dc.input.candidates_field.empty())
      mds::throw_usage("diffuseq needs a hypothesis field, a candidates field, or both");
    return emit(dc, "diffuseq", [&](const mds::EvalInput& in, const mds::PerExampleSink& s) {
      return mds::diffuseq_report(in, dso, s);
    });
  });
}
